//! The route table: every `google.api.http` annotation of the four services, read from the
//! contract's descriptors at start, so REST paths, the OpenAPI document and the services can
//! never disagree.
//!
//! A server-streaming RPC is a REST route when annotated (`ExportSegment`): its messages are
//! served as newline-delimited JSON (`rest::stream_ndjson`). The live ones (`Watch`,
//! `StreamInbox`) are not annotated; they reach HTTP clients through `/v1/stream`.

pub mod template;

use std::collections::HashMap;

use http::Method;
use maitre_kit::config::ServiceName;
use maitre_proto::google::api::{HttpRule, http_rule::Pattern};
use prost::Message;
use prost_reflect::{DescriptorPool, MethodDescriptor, Value};

pub use template::{Binding, PathTemplate, Segment, TemplateError};

/// Where the HTTP body goes in the request message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyBinding {
    /// `body: "*"`: the body is the whole request message.
    Whole,
    /// `body: "field"`: the body is that field.
    Field(String),
    /// No body: the fields come from the path and the query string.
    None,
}

/// One REST route onto one RPC.
#[derive(Clone, Debug)]
pub struct Route {
    /// The HTTP method.
    pub http_method: Method,
    /// The path template.
    pub template: PathTemplate,
    /// Where the body goes.
    pub body: BodyBinding,
    /// The RPC (input and output types, names).
    pub method: MethodDescriptor,
    /// The upstream that serves it.
    pub upstream: ServiceName,
    /// The gRPC path, `/<service full name>/<Method>`.
    pub grpc_path: String,
}

/// Why the route table could not be built from the contract.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// A service named in `SERVICE_NAMES` is missing from the descriptors.
    #[error("service `{0}` is not in the descriptor pool")]
    UnknownService(String),
    /// The `google.api.http` extension is not in the descriptor pool.
    #[error("the google.api.http extension is not in the descriptor pool")]
    NoHttpExtension,
    /// A service's package does not name one of the Maitre services.
    #[error("service `{0}` does not belong to a known upstream")]
    UnknownUpstream(String),
    /// An annotation that cannot be used.
    #[error("{method}: {reason}")]
    BadAnnotation { method: String, reason: String },
    /// A path template outside the supported grammar.
    #[error("{method}: {source}")]
    Template {
        method: String,
        source: TemplateError,
    },
}

/// The outcome of looking a request up.
#[derive(Debug)]
pub enum RouteMatch<'a> {
    /// A route, with the path variables it bound.
    Found(&'a Route, Vec<Binding>),
    /// The path exists with other methods.
    MethodNotAllowed(Vec<Method>),
    /// Nothing serves this path.
    NotFound,
}

/// All REST routes, indexed by segment count and second segment (`customers` of
/// `/v1/customers/{customer_id}`), so a lookup tries the few templates that can match rather
/// than all of them.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
    /// Positions in `routes` (ascending, so most specific first) by second segment's literal.
    index: HashMap<String, Vec<usize>>,
    /// Positions of templates without a plain literal second segment: tried for every path.
    unindexed: Vec<usize>,
}

/// The index key of a template: its second segment, when that is a literal without `:` (the
/// verb separator).
fn index_key(template: &PathTemplate) -> Option<&str> {
    match template.segments.get(1) {
        Some(Segment::Literal(literal)) if !literal.contains(':') => Some(literal),
        _ => None,
    }
}

impl RouteTable {
    /// Reads the annotations of `service_names` from `pool`.
    pub fn from_pool(pool: &DescriptorPool, service_names: &[&str]) -> Result<Self, RouteError> {
        let extension = pool
            .get_extension_by_name("google.api.http")
            .ok_or(RouteError::NoHttpExtension)?;
        let mut routes = Vec::new();
        for name in service_names {
            let service = pool
                .get_service_by_name(name)
                .ok_or_else(|| RouteError::UnknownService((*name).to_owned()))?;
            let upstream = upstream_of(service.package_name())
                .ok_or_else(|| RouteError::UnknownUpstream((*name).to_owned()))?;
            for method in service.methods() {
                if method.is_client_streaming() {
                    continue;
                }
                let options = method.options();
                if !options.has_extension(&extension) {
                    continue;
                }
                let rule = match options.get_extension(&extension).as_ref() {
                    Value::Message(message) => HttpRule::decode(message.encode_to_vec().as_slice())
                        .map_err(|e| bad(&method, e.to_string()))?,
                    _ => return Err(bad(&method, "google.api.http is not a message".into())),
                };
                let mut rules = vec![rule.clone()];
                rules.extend(rule.additional_bindings.iter().cloned());
                for rule in rules {
                    routes.push(route_of(&method, upstream, &rule)?);
                }
            }
        }
        // Most specific first, so `/v1/identity/blocked` beats `/v1/identity/{id}`.
        routes.sort_by_key(|r| std::cmp::Reverse(r.template.specificity()));
        Ok(Self::new(routes))
    }

    /// A table of `routes` in the order they are tried.
    pub fn new(routes: Vec<Route>) -> Self {
        let mut index: HashMap<String, Vec<usize>> = HashMap::new();
        let mut unindexed = Vec::new();
        for (position, route) in routes.iter().enumerate() {
            match index_key(&route.template) {
                Some(key) => index.entry(key.to_owned()).or_default().push(position),
                None => unindexed.push(position),
            }
        }
        Self {
            routes,
            index,
            unindexed,
        }
    }

    /// Every route, most specific first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the route of a request.
    pub fn find(&self, method: &Method, path: &str) -> RouteMatch<'_> {
        let rest = path.strip_prefix('/').unwrap_or(path);
        let segments = rest.split('/').count();
        // A template's literal second segment is the path's, up to a verb's `:`.
        let second = rest.split('/').nth(1).and_then(|s| s.split(':').next());
        let indexed = second
            .and_then(|second| self.index.get(second))
            .map_or(&[][..], Vec::as_slice);
        let mut candidates: Vec<usize> = indexed.iter().chain(&self.unindexed).copied().collect();
        if !self.unindexed.is_empty() {
            candidates.sort_unstable();
        }
        let mut allowed = Vec::new();
        let same_length = |r: &&Route| r.template.segments.len() == segments;
        for route in candidates
            .iter()
            .map(|&i| &self.routes[i])
            .filter(same_length)
        {
            if let Some(bindings) = route.template.matches(path) {
                if route.http_method == *method {
                    return RouteMatch::Found(route, bindings);
                }
                allowed.push(route.http_method.clone());
            }
        }
        if allowed.is_empty() {
            RouteMatch::NotFound
        } else {
            RouteMatch::MethodNotAllowed(allowed)
        }
    }
}

/// The upstream serving a package such as `maitre.profile.v1`.
pub fn upstream_of(package: &str) -> Option<ServiceName> {
    let name = package.split('.').nth(1)?;
    match name.parse::<ServiceName>() {
        Ok(ServiceName::Gateway) | Err(_) => None,
        Ok(service) => Some(service),
    }
}

fn route_of(
    method: &MethodDescriptor,
    upstream: ServiceName,
    rule: &HttpRule,
) -> Result<Route, RouteError> {
    let (http_method, path) = match &rule.pattern {
        Some(Pattern::Get(p)) => (Method::GET, p.as_str()),
        Some(Pattern::Post(p)) => (Method::POST, p.as_str()),
        Some(Pattern::Put(p)) => (Method::PUT, p.as_str()),
        Some(Pattern::Delete(p)) => (Method::DELETE, p.as_str()),
        Some(Pattern::Patch(p)) => (Method::PATCH, p.as_str()),
        Some(Pattern::Custom(c)) => (
            Method::from_bytes(c.kind.as_bytes())
                .map_err(|e| bad(method, format!("custom kind `{}`: {e}", c.kind)))?,
            c.path.as_str(),
        ),
        None => return Err(bad(method, "no HTTP method".into())),
    };
    let template = PathTemplate::parse(path).map_err(|source| RouteError::Template {
        method: method.full_name().to_owned(),
        source,
    })?;
    let input = method.input();
    for variable in template.variables() {
        if crate::transcode::resolve_field_path(&input, &variable).is_none() {
            return Err(bad(
                method,
                format!("path variable `{variable}` is not a field of the request"),
            ));
        }
    }
    let body = match rule.body.as_str() {
        "" => BodyBinding::None,
        "*" => BodyBinding::Whole,
        field => {
            if input.get_field_by_name(field).is_none() {
                return Err(bad(method, format!("body field `{field}` does not exist")));
            }
            BodyBinding::Field(field.to_owned())
        }
    };
    Ok(Route {
        http_method,
        template,
        body,
        upstream,
        grpc_path: format!("/{}/{}", method.parent_service().full_name(), method.name()),
        method: method.clone(),
    })
}

fn bad(method: &MethodDescriptor, reason: String) -> RouteError {
    RouteError::BadAnnotation {
        method: method.full_name().to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable::from_pool(
            maitre_proto::descriptor_pool(),
            &maitre_proto::SERVICE_NAMES,
        )
        .expect("the contract's annotations are all supported")
    }

    /// Every RPC with an annotation, counted from the descriptors independently.
    fn annotated_rpcs() -> usize {
        let pool = maitre_proto::descriptor_pool();
        let ext = pool.get_extension_by_name("google.api.http").unwrap();
        maitre_proto::SERVICE_NAMES
            .iter()
            .map(|n| {
                pool.get_service_by_name(n)
                    .unwrap()
                    .methods()
                    .filter(|m| m.options().has_extension(&ext))
                    .count()
            })
            .sum()
    }

    #[test]
    fn every_annotated_rpc_has_a_route_and_live_streams_have_none() {
        let table = table();
        assert!(table.routes().len() >= 90, "{}", table.routes().len());
        assert_eq!(table.routes().len(), annotated_rpcs());
        assert!(table.routes().iter().all(|r| r.method.name() != "Watch"));
        let export = table
            .routes()
            .iter()
            .find(|r| r.method.name() == "ExportSegment")
            .expect("segment export has a REST route");
        assert!(export.method.is_server_streaming());
    }

    /// The index finds what trying every template in order finds, for a path of every
    /// template (with and without its verb, with another method) and some that match none.
    #[test]
    fn the_index_finds_what_a_scan_of_every_route_finds() {
        let table = table();
        let scan = |method: &Method, path: &str| -> Option<String> {
            table
                .routes()
                .iter()
                .find(|r| r.http_method == *method && r.template.matches(path).is_some())
                .map(|r| r.template.source.clone())
        };
        let mut paths = vec!["/".to_owned(), "/v1".to_owned(), "/v1/nothing/x".to_owned()];
        for route in table.routes() {
            let mut path = String::new();
            for segment in &route.template.segments {
                path.push('/');
                match segment {
                    Segment::Literal(literal) => path.push_str(literal),
                    Segment::Variable(_) => path.push_str("x%20y"),
                }
            }
            paths.push(path.clone());
            if let Some(verb) = &route.template.verb {
                paths.push(format!("{path}:{verb}"));
            }
        }
        for path in &paths {
            for method in [
                Method::GET,
                Method::POST,
                Method::PATCH,
                Method::PUT,
                Method::DELETE,
            ] {
                let found = match table.find(&method, path) {
                    RouteMatch::Found(route, _) => Some(route.template.source.clone()),
                    _ => None,
                };
                assert_eq!(found, scan(&method, path), "{method} {path}");
            }
        }
    }

    #[test]
    fn finds_routes_with_variables_verbs_and_nested_fields() {
        let table = table();
        match table.find(&Method::POST, "/v1/customers/c1:merge") {
            RouteMatch::Found(route, bindings) => {
                assert_eq!(
                    route.grpc_path,
                    "/maitre.profile.v1.ProfileService/MergeCustomers"
                );
                assert_eq!(route.upstream, ServiceName::Profile);
                assert_eq!(
                    bindings,
                    vec![(vec!["survivor_id".to_owned()], "c1".to_owned())]
                );
            }
            other => panic!("{other:?}"),
        }
        match table.find(&Method::PATCH, "/v1/stores/s1") {
            RouteMatch::Found(route, bindings) => {
                assert_eq!(route.method.name(), "UpdateStore");
                assert_eq!(route.body, BodyBinding::Whole);
                assert_eq!(bindings[0].0, ["store", "store_id"]);
            }
            other => panic!("{other:?}"),
        }
        match table.find(&Method::GET, "/v1/managers/m1/customers") {
            RouteMatch::Found(route, _) => assert_eq!(route.upstream, ServiceName::Assignment),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            table.find(&Method::DELETE, "/v1/stores"),
            RouteMatch::MethodNotAllowed(_)
        ));
        assert!(matches!(
            table.find(&Method::GET, "/v1/nothing"),
            RouteMatch::NotFound
        ));
    }

    #[test]
    fn packages_map_to_upstreams() {
        assert_eq!(upstream_of("maitre.tagging.v1"), Some(ServiceName::Tagging));
        assert_eq!(upstream_of("maitre.gateway.v1"), None);
        assert_eq!(upstream_of("google.api"), None);
    }
}
