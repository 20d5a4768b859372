//! Integration tests of the tagging service: the real service on both backends
//! (SQLite + in-process coordination, PostgreSQL + Redis), fed by a fake profile stream.

mod analysis;
mod catalog;
mod common;
mod live;
mod members;
mod predict;
mod recompute;
mod responders;
mod scope;
mod segments;
mod watched;
mod zones;

/// Declares the embedded and production variants of a scenario `async fn(Backend)`.
macro_rules! both_backends {
    ($scenario:path, $embedded:ident, $production:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $embedded() {
            $scenario(maitre_kit::testing::Backend::Embedded).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $production() {
            $scenario(maitre_kit::testing::Backend::Production).await;
        }
    };
}
pub(crate) use both_backends;
