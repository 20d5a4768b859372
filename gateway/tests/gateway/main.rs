//! The gateway in front of a real (in-test) tonic service, on both backends: REST/JSON,
//! errors, authentication, rate limits, OpenAPI, gRPC, gRPC-Web and server-sent events.

mod access;
mod fuzz;
mod grpc;
mod hostile;
mod rest;
mod stream;
mod support;
