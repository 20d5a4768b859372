//! Outgoing HTTP (webhooks, tools, tests): one way to build a client.
//!
//! reqwest is built with rustls but without a bundled crypto provider, so the ring
//! provider that sqlx already links is installed once here before any client exists.

/// A reqwest client builder with the process's TLS crypto provider installed.
pub fn client_builder() -> reqwest::ClientBuilder {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        // Another part of the process may have installed one already; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}

/// A client with default settings.
pub fn client() -> reqwest::Client {
    client_builder()
        .build()
        .expect("an HTTP client with the installed TLS provider")
}
