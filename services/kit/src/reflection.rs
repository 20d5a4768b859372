//! gRPC server reflection (v1 and v1alpha) over the contract's whole descriptor set: every
//! service and the gateway serve the same files the build compiles, dependencies included.
//!
//! A file request (`file_by_filename`, `file_containing_symbol`,
//! `file_containing_extension`) is answered with the file and all its transitive
//! dependencies (`maitre.common.v1`, `google.api`, `google.protobuf`…), as the reference
//! C++ and Go servers do: reflection-driven clients (grpcurl, Postman, grpcio) build a
//! descriptor pool from one answer and cannot resolve a type whose file is missing from it.
//! tonic-reflection answers with the one file only. Files are served as the build encoded
//! them, so custom options (`google.api.http`) reach clients intact. A failed lookup is an
//! `ErrorResponse` on the stream, which stays open.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    pin::Pin,
    sync::{Arc, OnceLock},
};

use futures::{Stream, StreamExt};
use prost::Message;
use prost_reflect::{DescriptorPool, FileDescriptor};
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_reflection::pb::{v1, v1alpha};

/// An encoded `FileDescriptorSet` read as the raw bytes of each file (field 1).
#[derive(Clone, PartialEq, Message)]
struct RawFileSet {
    #[prost(bytes = "vec", repeated, tag = "1")]
    file: Vec<Vec<u8>>,
}

/// What reflection answers from: the descriptors and each file's encoded bytes.
struct Index {
    pool: DescriptorPool,
    raw_files: HashMap<String, Arc<[u8]>>,
}

impl Index {
    /// The contract and the reflection service's own descriptors.
    fn build() -> Self {
        let sets = [
            maitre_proto::FILE_DESCRIPTOR_SET,
            v1::FILE_DESCRIPTOR_SET,
            v1alpha::FILE_DESCRIPTOR_SET,
        ];
        let mut pool = maitre_proto::descriptor_pool().clone();
        let mut raw_files = HashMap::new();
        for set in sets {
            let raw = RawFileSet::decode(set).expect("descriptor sets compiled into the build");
            for bytes in raw.file {
                let file = prost_types::FileDescriptorProto::decode(bytes.as_slice())
                    .expect("descriptor sets compiled into the build");
                let name = file.name().to_owned();
                if pool.get_file_by_name(&name).is_none() {
                    pool.add_file_descriptor_proto(file)
                        .expect("descriptor sets compiled into the build");
                }
                raw_files.entry(name).or_insert_with(|| Arc::from(bytes));
            }
        }
        Self { pool, raw_files }
    }

    /// Built once per process: the descriptors never change while it runs.
    fn shared() -> Arc<Index> {
        static INDEX: OnceLock<Arc<Index>> = OnceLock::new();
        Arc::clone(INDEX.get_or_init(|| Arc::new(Index::build())))
    }

    /// `file` first, then every file it depends on, each once.
    fn with_dependencies(&self, file: FileDescriptor) -> Vec<Vec<u8>> {
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([file]);
        let mut out = Vec::new();
        while let Some(file) = queue.pop_front() {
            if !seen.insert(file.name().to_owned()) {
                continue;
            }
            if let Some(raw) = self.raw_files.get(file.name()) {
                out.push(raw.to_vec());
            }
            queue.extend(file.dependencies());
        }
        out
    }

    /// The file declaring `symbol`: a service, method, message, field, enum or extension.
    fn file_of_symbol(&self, symbol: &str) -> Option<FileDescriptor> {
        let pool = &self.pool;
        let whole = pool
            .get_service_by_name(symbol)
            .map(|s| s.parent_file())
            .or_else(|| pool.get_message_by_name(symbol).map(|m| m.parent_file()))
            .or_else(|| pool.get_enum_by_name(symbol).map(|e| e.parent_file()))
            .or_else(|| pool.get_extension_by_name(symbol).map(|e| e.parent_file()));
        whole.or_else(|| {
            // A method, a field or an enum value: the file of its parent.
            let (parent, _) = symbol.rsplit_once('.')?;
            pool.get_service_by_name(parent)
                .map(|s| s.parent_file())
                .or_else(|| pool.get_message_by_name(parent).map(|m| m.parent_file()))
                .or_else(|| pool.get_enum_by_name(parent).map(|e| e.parent_file()))
        })
    }

    fn answer(
        &self,
        services: &[String],
        request: v1::ServerReflectionRequest,
    ) -> v1::ServerReflectionResponse {
        use v1::{
            server_reflection_request::MessageRequest as Ask,
            server_reflection_response::MessageResponse as Answer,
        };
        let not_found = |what: String| {
            Answer::ErrorResponse(v1::ErrorResponse {
                error_code: Code::NotFound as i32,
                error_message: what,
            })
        };
        let files = |file: Option<FileDescriptor>, what: String| match file {
            Some(file) => Answer::FileDescriptorResponse(v1::FileDescriptorResponse {
                file_descriptor_proto: self.with_dependencies(file),
            }),
            None => not_found(what),
        };
        let answer = match request.message_request.clone() {
            Some(Ask::FileByFilename(name)) => files(
                self.pool.get_file_by_name(&name),
                format!("file `{name}` not found"),
            ),
            Some(Ask::FileContainingSymbol(symbol)) => files(
                self.file_of_symbol(&symbol),
                format!("symbol `{symbol}` not found"),
            ),
            Some(Ask::FileContainingExtension(ext)) => files(
                self.pool
                    .get_message_by_name(&ext.containing_type)
                    .and_then(|m| {
                        let number = u32::try_from(ext.extension_number).ok()?;
                        m.get_extension(number)
                    })
                    .map(|e| e.parent_file()),
                format!(
                    "extension {} of `{}` not found",
                    ext.extension_number, ext.containing_type
                ),
            ),
            Some(Ask::AllExtensionNumbersOfType(type_name)) => {
                match self.pool.get_message_by_name(&type_name) {
                    Some(message) => {
                        Answer::AllExtensionNumbersResponse(v1::ExtensionNumberResponse {
                            base_type_name: type_name,
                            extension_number: message
                                .extensions()
                                .filter_map(|e| i32::try_from(e.number()).ok())
                                .collect(),
                        })
                    }
                    None => not_found(format!("type `{type_name}` not found")),
                }
            }
            Some(Ask::ListServices(_)) => Answer::ListServicesResponse(v1::ListServiceResponse {
                service: services
                    .iter()
                    .map(|name| v1::ServiceResponse { name: name.clone() })
                    .collect(),
            }),
            None => Answer::ErrorResponse(v1::ErrorResponse {
                error_code: Code::InvalidArgument as i32,
                error_message: "empty reflection request".into(),
            }),
        };
        v1::ServerReflectionResponse {
            valid_host: request.host.clone(),
            original_request: Some(request),
            message_response: Some(answer),
        }
    }
}

/// Reflection listing `service_names`, answering from the whole descriptor set.
#[derive(Clone)]
pub struct Reflection {
    index: Arc<Index>,
    services: Arc<Vec<String>>,
}

impl Reflection {
    /// Reflection for the given fully qualified service names.
    pub fn new(service_names: &[&str]) -> Self {
        Self {
            index: Index::shared(),
            services: Arc::new(service_names.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    /// The `grpc.reflection.v1` service.
    pub fn v1(&self) -> v1::server_reflection_server::ServerReflectionServer<Self> {
        v1::server_reflection_server::ServerReflectionServer::new(self.clone())
    }

    /// The `grpc.reflection.v1alpha` service (older clients, grpcio among them).
    pub fn v1alpha(&self) -> v1alpha::server_reflection_server::ServerReflectionServer<V1Alpha> {
        v1alpha::server_reflection_server::ServerReflectionServer::new(V1Alpha(self.clone()))
    }

    fn respond(&self, request: v1::ServerReflectionRequest) -> v1::ServerReflectionResponse {
        self.index.answer(&self.services, request)
    }
}

type Answers<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl v1::server_reflection_server::ServerReflection for Reflection {
    type ServerReflectionInfoStream = Answers<v1::ServerReflectionResponse>;

    async fn server_reflection_info(
        &self,
        request: Request<Streaming<v1::ServerReflectionRequest>>,
    ) -> Result<Response<Self::ServerReflectionInfoStream>, Status> {
        let this = self.clone();
        let answers = request
            .into_inner()
            .map(move |asked| asked.map(|asked| this.respond(asked)));
        Ok(Response::new(Box::pin(answers)))
    }
}

/// v1alpha: the same messages under another package, so each request and answer is carried
/// over in its encoded form.
#[derive(Clone)]
pub struct V1Alpha(Reflection);

#[tonic::async_trait]
impl v1alpha::server_reflection_server::ServerReflection for V1Alpha {
    type ServerReflectionInfoStream = Answers<v1alpha::ServerReflectionResponse>;

    async fn server_reflection_info(
        &self,
        request: Request<Streaming<v1alpha::ServerReflectionRequest>>,
    ) -> Result<Response<Self::ServerReflectionInfoStream>, Status> {
        let this = self.0.clone();
        let answers = request.into_inner().map(move |asked| {
            let asked = v1::ServerReflectionRequest::decode(asked?.encode_to_vec().as_slice())
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            v1alpha::ServerReflectionResponse::decode(
                this.respond(asked).encode_to_vec().as_slice(),
            )
            .map_err(|e| Status::internal(e.to_string()))
        });
        Ok(Response::new(Box::pin(answers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use v1::{
        server_reflection_request::MessageRequest as Ask,
        server_reflection_response::MessageResponse as Answer,
    };

    fn ask(what: Ask) -> Option<Answer> {
        Reflection::new(&maitre_proto::SERVICE_NAMES)
            .respond(v1::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(what),
            })
            .message_response
    }

    fn file_names(answer: Option<Answer>) -> Vec<String> {
        let Some(Answer::FileDescriptorResponse(files)) = answer else {
            panic!("not files: {answer:?}");
        };
        files
            .file_descriptor_proto
            .iter()
            .map(|raw| {
                prost_types::FileDescriptorProto::decode(raw.as_slice())
                    .unwrap()
                    .name()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn a_symbol_comes_with_its_files_dependencies() {
        let names = file_names(ask(Ask::FileContainingSymbol(
            "maitre.profile.v1.ProfileService.GetStore".into(),
        )));
        assert_eq!(names[0], "maitre/profile/v1/profile.proto");
        for dependency in [
            "maitre/common/v1/common.proto",
            "maitre/events/v1/events.proto",
            "google/api/annotations.proto",
            "google/api/http.proto",
            "google/protobuf/descriptor.proto",
            "google/protobuf/timestamp.proto",
        ] {
            assert!(
                names.iter().any(|n| n == dependency),
                "{dependency} in {names:?}"
            );
        }
        let unique: HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }

    #[test]
    fn fields_messages_and_files_are_found_and_unknowns_are_errors() {
        let by_field = file_names(ask(Ask::FileContainingSymbol(
            "maitre.profile.v1.Store.name".into(),
        )));
        assert_eq!(by_field[0], "maitre/profile/v1/profile.proto");
        let by_name = file_names(ask(Ask::FileByFilename(
            "google/api/annotations.proto".into(),
        )));
        assert_eq!(by_name.len(), 3, "{by_name:?}");
        assert!(matches!(
            ask(Ask::FileContainingSymbol("no.Such".into())),
            Some(Answer::ErrorResponse(e)) if e.error_code == Code::NotFound as i32
        ));
        let Some(Answer::AllExtensionNumbersResponse(numbers)) = ask(
            Ask::AllExtensionNumbersOfType("google.protobuf.MethodOptions".into()),
        ) else {
            panic!("extension numbers");
        };
        assert!(
            numbers.extension_number.contains(&72_295_728),
            "google.api.http"
        );
    }
}
