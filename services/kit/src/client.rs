//! Calling other services: lazily connected channels, and requests carrying the caller's
//! token and the current trace context.

use std::time::Duration;

use tonic::{
    Request,
    transport::{Channel, Endpoint},
};

use crate::{auth::attach_token, telemetry};

/// A channel to `url` that connects on first use and reconnects by itself.
pub fn lazy_channel(url: &str) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(3))
        // A ceiling only: calls set their own deadlines (the bulk import's is 300 s).
        .timeout(Duration::from_secs(300))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .connect_lazy())
}

/// An outgoing request with `token` and the current trace context.
pub fn outgoing<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    attach_token(&mut request, token);
    telemetry::inject_into_request(&mut request);
    request
}
