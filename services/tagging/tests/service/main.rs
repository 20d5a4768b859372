//! Integration tests of the tagging service: the real service on both backends
//! (SQLite + in-process coordination, PostgreSQL + Redis), fed by a fake profile stream.

mod analysis;
mod catalog;
mod common;
mod interactions;
mod live;
mod members;
mod predict;
mod recompute;
mod responders;
mod scope;
mod segments;
mod watched;
mod zones;
