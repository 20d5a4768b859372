//! Calling the four services: lazily connected HTTP/2 connections to each, and a
//! pass-through codec so the gateway moves encoded messages without knowing their Rust types.
//!
//! A call goes straight onto the connection (`hyper`'s `SendRequest`, cloned per call) rather
//! than through tonic's `Channel`, whose buffer puts every call through one more task (a
//! cross-thread wake-up per call at low concurrency, and a queue at high). A connection that
//! has closed is replaced by the next call; a refused connect fails that call as UNAVAILABLE.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Buf, BufMut, Bytes};
use http::uri::{Authority, Scheme, Uri};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use maitre_kit::config::{Config, ServiceName};
use tonic::{
    Code, Request, Status, Streaming,
    body::Body,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    metadata::MetadataMap,
};

/// How long connecting to a service may take (as `maitre_kit::client::lazy_channel`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// HTTP/2 keep-alive pings on an idle connection (as `maitre_kit::client::lazy_channel`).
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One lazily connected HTTP/2 connection to a service, cloned per call (a `tower::Service`
/// and so a `tonic::client::GrpcService`).
#[derive(Clone)]
pub struct Connection {
    inner: Arc<ConnectionInner>,
}

struct ConnectionInner {
    scheme: Scheme,
    authority: Authority,
    /// The live connection's sender; `None` before the first call and after it closed.
    sender: Mutex<Option<SendRequest<Body>>>,
    /// Held while connecting, so concurrent calls after a close make one connection.
    connecting: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Connection({}://{})",
            self.inner.scheme, self.inner.authority
        )
    }
}

impl Connection {
    /// A connection to `url` (`http://host:port`), made on first use.
    pub fn lazy(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{e}"))?;
        let scheme = uri.scheme().cloned().ok_or("the URL has no scheme")?;
        if scheme != Scheme::HTTP {
            return Err(format!("scheme `{scheme}` is not supported (http only)"));
        }
        let authority = uri.authority().cloned().ok_or("the URL has no host")?;
        Ok(Self {
            inner: Arc::new(ConnectionInner {
                scheme,
                authority,
                sender: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
            }),
        })
    }

    fn live(&self) -> Option<SendRequest<Body>> {
        let guard = self.inner.sender.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().filter(|s| !s.is_closed()).cloned()
    }

    /// The live connection's sender, connecting first when there is none.
    async fn sender(&self) -> Result<SendRequest<Body>, BoxError> {
        if let Some(sender) = self.live() {
            return Ok(sender);
        }
        let _connecting = self.inner.connecting.lock().await;
        if let Some(sender) = self.live() {
            return Ok(sender);
        }
        let host = self.inner.authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = self.inner.authority.port_u16().unwrap_or(80);
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect((host, port)),
        )
        .await
        .map_err(|_| format!("connecting to {} timed out", self.inner.authority))??;
        tcp.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .handshake(TokioIo::new(tcp))
            .await?;
        let authority = self.inner.authority.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(upstream = %authority, error = %e, "upstream connection closed");
            }
        });
        *self.inner.sender.lock().unwrap_or_else(|e| e.into_inner()) = Some(sender.clone());
        Ok(sender)
    }

    /// Sends one request (its URI a path) on the connection.
    pub async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<Body>, BoxError> {
        let (mut parts, body) = request.into_parts();
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(self.inner.scheme.clone());
        uri.authority = Some(self.inner.authority.clone());
        uri.path_and_query = parts.uri.path_and_query().cloned();
        parts.uri = Uri::from_parts(uri)?;
        parts.version = http::Version::HTTP_2;
        let mut sender = self.sender().await?;
        sender.ready().await?;
        let response = sender
            .send_request(http::Request::from_parts(parts, body))
            .await?;
        Ok(response.map(Body::new))
    }
}

impl tower::Service<http::Request<Body>> for Connection {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Readiness is the connection's, checked per call in `send`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.send(request).await })
    }
}

/// How long one upstream unary call may take (the gateway's request timeout).
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// The bulk import's upstream deadline (`RecordEventsBatch`: up to 10,000 events).
pub const IMPORT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(300);

/// A codec whose messages are already-encoded protobuf bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> Self::Encoder {
        BytesCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesCodec
    }
}

impl Encoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// Why the upstreams could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("upstream {service} at `{url}`: {reason}")]
pub struct UpstreamError {
    /// The service.
    pub service: &'static str,
    /// Its configured URL.
    pub url: String,
    /// What is wrong.
    pub reason: String,
}

/// HTTP/2 connections kept to each service: one per two cores, at most four. A connection's
/// framing and I/O run on one task, so a few spread a busy gateway over many cores; on few
/// cores one connection batches more streams per write and per wake-up (2 cores, profile
/// `GetStore` at c=32: 5-7% more calls/s through the gateway with one connection than four).
fn connections_per_service() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 2).clamp(1, 4)
}

/// Connections to the four services.
#[derive(Clone, Debug)]
pub struct Upstreams {
    channels: HashMap<ServiceName, Vec<Connection>>,
    /// Round robin over a service's connections.
    next: Arc<AtomicUsize>,
}

/// The four services behind the gateway.
pub const SERVICES: [ServiceName; 4] = [
    ServiceName::Profile,
    ServiceName::Assignment,
    ServiceName::Tagging,
    ServiceName::Notification,
];

impl Upstreams {
    /// Lazily connected connections to the configured upstream URLs (none for a disabled one).
    pub fn from_config(config: &Config) -> Result<Self, UpstreamError> {
        let mut channels = HashMap::new();
        for service in SERVICES {
            let url = config.upstream(service);
            if url == maitre_kit::config::DISABLED_UPSTREAM {
                continue;
            }
            let connections = (0..connections_per_service())
                .map(|_| Connection::lazy(url))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|reason| UpstreamError {
                    service: service.as_str(),
                    url: url.to_owned(),
                    reason,
                })?;
            channels.insert(service, connections);
        }
        Ok(Self {
            channels,
            next: Arc::default(),
        })
    }

    /// A connection to `service` (the gateway itself has none), taking turns over its
    /// connections.
    pub fn channel(&self, service: ServiceName) -> Option<Connection> {
        let connections = self.channels.get(&service)?;
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        connections.get(turn % connections.len()).cloned()
    }

    /// The upstream serving a fully qualified gRPC service name.
    pub fn for_grpc_service(&self, full_name: &str) -> Option<(ServiceName, Connection)> {
        if !maitre_proto::SERVICE_NAMES.contains(&full_name) {
            return None;
        }
        let package = full_name.rsplit_once('.').map(|(p, _)| p)?;
        let service = crate::routes::upstream_of(package)?;
        self.channel(service).map(|c| (service, c))
    }

    /// One unary call with encoded bytes in and out.
    pub async fn unary(
        &self,
        service: ServiceName,
        grpc_path: &str,
        message: Bytes,
        metadata: MetadataMap,
    ) -> Result<Bytes, Status> {
        let mut grpc = self.client(service).await?;
        let mut request = Request::new(message);
        *request.metadata_mut() = metadata;
        // The bulk import may take longer than an ordinary call (see the edge's deadlines).
        request.set_timeout(if grpc_path.ends_with("/RecordEventsBatch") {
            IMPORT_UPSTREAM_TIMEOUT
        } else {
            UPSTREAM_TIMEOUT
        });
        let path = path_of(grpc_path)?;
        grpc.unary(request, path, BytesCodec)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| upstream_failure(service, status))
    }

    /// One server-streaming call with encoded bytes in and a stream of encoded bytes out.
    pub async fn server_streaming(
        &self,
        service: ServiceName,
        grpc_path: &str,
        message: Bytes,
        metadata: MetadataMap,
    ) -> Result<Streaming<Bytes>, Status> {
        let mut grpc = self.client(service).await?;
        let mut request = Request::new(message);
        *request.metadata_mut() = metadata;
        let path = path_of(grpc_path)?;
        grpc.server_streaming(request, path, BytesCodec)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| upstream_failure(service, status))
    }

    async fn client(
        &self,
        service: ServiceName,
    ) -> Result<tonic::client::Grpc<Connection>, Status> {
        let channel = self.channel(service).ok_or_else(|| {
            Status::unimplemented(format!(
                "the {} service is not deployed here",
                service.as_str()
            ))
        })?;
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| maitre_kit::error::unavailable(service.as_str(), e))?;
        Ok(grpc)
    }
}

/// A failed call as the caller should see it: the service's own answer unchanged; a
/// failure to reach the service or of the connection under the call as UNAVAILABLE, which
/// callers may retry. tonic reports the latter (a transport error, an HTTP/2 reset or
/// GOAWAY) as UNKNOWN, INTERNAL, CANCELLED or even RESOURCE_EXHAUSTED (`ENHANCE_YOUR_CALM`),
/// always with the cause attached as the status's source; a status the service sent in its
/// trailers has none.
pub fn upstream_failure(service: ServiceName, status: Status) -> Status {
    let local = std::error::Error::source(&status).is_some();
    if !local || status.code() == Code::DeadlineExceeded {
        return status;
    }
    maitre_kit::error::unavailable(service.as_str(), &status)
}

fn path_of(grpc_path: &str) -> Result<http::uri::PathAndQuery, Status> {
    grpc_path
        .parse()
        .map_err(|_| Status::internal(format!("bad gRPC path `{grpc_path}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_disabled_service_has_no_channel_and_answers_not_deployed() {
        let config = Config::from_lookup(ServiceName::Gateway, |key| {
            (key == "MAITRE_NOTIFICATION_URL").then(|| "disabled".to_owned())
        })
        .unwrap();
        let upstreams = Upstreams::from_config(&config).unwrap();
        assert!(upstreams.channel(ServiceName::Notification).is_none());
        assert!(upstreams.channel(ServiceName::Profile).is_some());
        let refused = upstreams
            .client(ServiceName::Notification)
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unimplemented);
        assert!(refused.message().contains("not deployed"), "{refused}");
    }

    /// A health service on `listener` until `stop` fires.
    fn serve_health(
        listener: tokio::net::TcpListener,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (_, health) = tonic_health::server::health_reporter();
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async {
                        let _ = stopped.await;
                    },
                )
                .await
                .unwrap();
        });
        (stop, task)
    }

    #[tokio::test]
    async fn a_closed_connection_is_replaced_by_the_next_call() {
        use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
        let check = |connection: Connection| async move {
            HealthClient::new(connection)
                .check(HealthCheckRequest::default())
                .await
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connection = Connection::lazy(&format!("http://{addr}")).unwrap();
        let (stop, task) = serve_health(listener);
        check(connection.clone()).await.unwrap();
        check(connection.clone()).await.unwrap();
        // The service goes away: the connection closes and a call fails rather than hangs.
        stop.send(()).unwrap();
        task.await.unwrap();
        let refused = tokio::time::timeout(Duration::from_secs(10), check(connection.clone()))
            .await
            .expect("a call to a stopped service ends");
        assert!(refused.is_err());
        // It comes back on the same address: the next call connects again.
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let (_stop, _task) = serve_health(listener);
        check(connection.clone()).await.unwrap();
    }

    #[test]
    fn only_plain_http_urls_are_accepted() {
        assert!(Connection::lazy("http://127.0.0.1:50051").is_ok());
        assert!(Connection::lazy("https://profile:50051").is_err());
        assert!(Connection::lazy("profile:50051").is_err());
    }

    #[test]
    fn transport_failures_are_unavailable_and_answers_are_kept() {
        // As tonic reports a GOAWAY or a broken connection: a code, with the cause attached.
        for code in [
            Code::Unknown,
            Code::Internal,
            Code::Cancelled,
            Code::ResourceExhausted,
        ] {
            let mut failure = Status::new(code, "h2 protocol error");
            failure.set_source(Arc::new(std::io::Error::other("connection reset")));
            let seen = upstream_failure(ServiceName::Profile, failure);
            assert_eq!(seen.code(), Code::Unavailable, "{code:?}");
        }
        // The service's own answers pass unchanged.
        for code in [Code::Internal, Code::ResourceExhausted, Code::NotFound] {
            let answer = Status::new(code, "from the service");
            assert_eq!(upstream_failure(ServiceName::Profile, answer).code(), code);
        }
    }
}
