//! Calling the four services: one lazily connected channel each, and a pass-through codec so
//! the gateway moves encoded messages without knowing their Rust types.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::{Buf, BufMut, Bytes};
use maitre_kit::config::{Config, ServiceName};
use tonic::{
    Code, Request, Status, Streaming,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    metadata::MetadataMap,
    transport::Channel,
};

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

/// Channels to the four services.
#[derive(Clone, Debug)]
pub struct Upstreams {
    channels: HashMap<ServiceName, Vec<Channel>>,
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
    /// Lazily connected channels to the configured upstream URLs (none for a disabled one).
    pub fn from_config(config: &Config) -> Result<Self, UpstreamError> {
        let mut channels = HashMap::new();
        for service in SERVICES {
            let url = config.upstream(service);
            if url == maitre_kit::config::DISABLED_UPSTREAM {
                continue;
            }
            let connections = (0..connections_per_service())
                .map(|_| maitre_kit::client::lazy_channel(url))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| UpstreamError {
                    service: service.as_str(),
                    url: url.to_owned(),
                    reason: e.to_string(),
                })?;
            channels.insert(service, connections);
        }
        Ok(Self {
            channels,
            next: Arc::default(),
        })
    }

    /// A channel to `service` (the gateway itself has none), taking turns over its
    /// connections.
    pub fn channel(&self, service: ServiceName) -> Option<Channel> {
        let connections = self.channels.get(&service)?;
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        connections.get(turn % connections.len()).cloned()
    }

    /// The upstream serving a fully qualified gRPC service name.
    pub fn for_grpc_service(&self, full_name: &str) -> Option<(ServiceName, Channel)> {
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

    async fn client(&self, service: ServiceName) -> Result<tonic::client::Grpc<Channel>, Status> {
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
