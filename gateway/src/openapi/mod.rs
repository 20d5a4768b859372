//! The OpenAPI 3 document, generated from the route table and the message descriptors the
//! REST handler itself uses, so the document cannot drift from what the gateway serves.
//! Types follow the proto3 JSON mapping: 64-bit integers are strings, Timestamps are
//! RFC 3339 strings, enums are their value names.

mod schema;

use std::collections::{BTreeMap, HashMap};

use prost_reflect::{FileDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use crate::routes::{BodyBinding, Route, RouteTable};
use schema::Schemas;

/// The API reference page (`/docs`): plain HTML and JS over `/openapi.json`, no CDN.
pub const DOCS_HTML: &str = include_str!("docs.html");

/// Builds the document for every route.
pub fn document(routes: &RouteTable) -> Value {
    let comments = Comments::default();
    let mut schemas = Schemas::new(&comments);
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for route in routes.routes() {
        let names = plain_names(route);
        let operation = operation(route, &names, &mut schemas, &comments);
        let mut path = route.template.source.clone();
        for (variable, name) in &names {
            path = path.replace(&format!("{{{variable}}}"), &format!("{{{name}}}"));
        }
        paths
            .entry(path)
            .or_default()
            .insert(route.http_method.as_str().to_lowercase(), operation);
    }
    paths
        .entry("/v1/stream".into())
        .or_default()
        .insert("get".into(), stream_operation());
    let consumer_status = maitre_proto::descriptor_pool()
        .get_message_by_name("maitre.events.v1.ConsumerStatus")
        .map(|status| schemas.message(&status))
        .unwrap_or_else(|| json!({"type": "object"}));
    paths
        .entry("/v1/consumers".into())
        .or_default()
        .insert("get".into(), consumers_operation(consumer_status));
    paths
        .entry("/v1/audit".into())
        .or_default()
        .insert("get".into(), audit_operation());
    let mut components = schemas.finish();
    components.insert(
        "Error".into(),
        json!({
            "type": "object",
            "description": "Every error: the gRPC code name, a message, and the offending field (proto path) when known.",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "example": "INVALID_ARGUMENT"},
                "message": {"type": "string"},
                "field": {"type": "string", "example": "event.amount"},
            },
        }),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Maitre API",
            "version": "v1",
            "description": "Customer backend for restaurant chains. Every operation maps onto one gRPC method (x-grpc-method); bodies and responses use the proto3 JSON mapping. Authenticate with `Authorization: Bearer <JWT>`. Every request is held to the bounds and rules its schemas state (`required`, lengths, ranges, values, formats; `x-constraints` in words where a rule depends on other fields); no text may contain NUL (U+0000). A refusal is 400 with the Error body naming the field by its proto path.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    })
}

/// Path parameters as plain identifiers: generic clients cannot fill `{store.store_id}`, so
/// the document names it `{store_id}` (the last part; the parts joined by `_` when two
/// variables of one route end the same). Routing is by position, so the name is free.
fn plain_names(route: &Route) -> Vec<(String, String)> {
    let variables: Vec<String> = route.template.variables().collect();
    let last = |v: &str| v.rsplit('.').next().unwrap_or(v).to_owned();
    variables
        .iter()
        .map(|v| {
            let clash = variables.iter().filter(|o| last(o) == last(v)).count() > 1;
            let name = if clash { v.replace('.', "_") } else { last(v) };
            (v.clone(), name)
        })
        .collect()
}

fn operation(
    route: &Route,
    names: &[(String, String)],
    schemas: &mut Schemas<'_>,
    comments: &Comments,
) -> Value {
    let method = &route.method;
    let service = method.parent_service();
    let description = comments
        .of(&method.parent_file(), method.path())
        .unwrap_or_default();
    let summary = description
        .lines()
        .next()
        .unwrap_or(method.name())
        .to_owned();
    let input = method.input();
    let mut parameters: Vec<Value> = Vec::new();
    let bound: Vec<String> = route.template.variables().collect();
    for (variable, name) in names {
        let field = crate::transcode::resolve_field_path(&input, variable)
            .and_then(|fields| fields.last().cloned());
        let schema = field
            .as_ref()
            .map(|field| schemas.field(field))
            .unwrap_or_else(|| json!({"type": "string"}));
        let description = field
            .and_then(|f| comments.of(&f.parent_file(), f.path()))
            .unwrap_or_default();
        let description = format!("{description} (request field `{variable}`)")
            .trim()
            .to_owned();
        parameters.push(json!({"name": name, "in": "path", "required": true,
            "description": description, "schema": schema}));
    }
    if route.body == BodyBinding::None {
        query_parameters(&input, "", &bound, 0, schemas, comments, &mut parameters);
    }
    let output = schemas.message(&method.output());
    let ok = if method.is_server_streaming() {
        // `rest::stream_ndjson`: one response message per line.
        json!({"description": "A stream: one response message per line (newline-delimited JSON); a failure after the first line ends it with a line {\"error\": Error}.",
            "content": {"application/x-ndjson": {"schema": output}}})
    } else {
        json!({"description": "OK", "content": {"application/json": {"schema": output}}})
    };
    let mut operation = json!({
        "operationId": format!("{}_{}", service.name(), method.name()),
        "tags": [service.name()],
        "summary": summary,
        "description": description,
        "x-grpc-method": route.grpc_path,
        "parameters": parameters,
        "responses": {
            "200": ok,
            "default": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        },
    });
    let body_schema = match &route.body {
        BodyBinding::Whole => Some(schemas.message(&input)),
        BodyBinding::Field(name) => input.get_field_by_name(name).map(|f| schemas.field(&f)),
        BodyBinding::None => None,
    };
    if let Some(schema) = body_schema {
        operation["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": schema}}});
        if let BodyBinding::Field(name) = &route.body {
            // The request field the body is (errors name fields from the request down).
            operation["requestBody"]["x-request-field"] = name.as_str().into();
        }
    }
    operation
}

/// Query parameters: the scalar fields not bound by the path, one level into messages.
fn query_parameters(
    message: &MessageDescriptor,
    prefix: &str,
    bound: &[String],
    depth: usize,
    schemas: &mut Schemas<'_>,
    comments: &Comments,
    out: &mut Vec<Value>,
) {
    for field in message.fields() {
        let name = format!("{prefix}{}", field.name());
        if bound.contains(&name) || field.is_map() {
            continue;
        }
        match field.kind() {
            Kind::Message(inner) if !schema::is_scalar_like(&inner) => {
                if depth < 1 && !field.is_list() {
                    let prefix = format!("{name}.");
                    query_parameters(&inner, &prefix, bound, depth + 1, schemas, comments, out);
                }
            }
            _ => {
                let description = comments
                    .of(&field.parent_file(), field.path())
                    .unwrap_or_default();
                let required = maitre_kit::request_bounds::rules(&field)
                    .contains(&maitre_kit::request_bounds::Rule::Required);
                out.push(json!({
                    "name": name,
                    "in": "query",
                    "required": required,
                    "description": description,
                    "schema": schemas.field(&field),
                    "explode": true,
                }));
            }
        }
    }
}

fn stream_operation() -> Value {
    json!({
        "operationId": "Gateway_Stream",
        "tags": ["Live updates"],
        "summary": "Server-sent events of every service the caller may see",
        "description": "Merges the services' Watch streams for the caller (chain, stores, and for customer managers their own customers). Each event's data is the event as proto3 JSON (maitre.events.v1.Event); its id is the cursor list `<service>:<sequence>,…`, the event's own service first, then the last sequence seen of every other service (e.g. `assignment:48,profile:120`). Resume with that id in the `Last-Event-ID` header (EventSource sends it by itself) or in `?from=`; when both are given the header's cursors win per service; services not listed start from the beginning of their log. `?from=now` starts every service not named by `Last-Event-ID` at the head of its log (only what changes next) and first sends `event: ready` whose id holds those cursors. A service that refuses the caller sends one `event: error` and is left out. Customer managers see only events about themselves or about no manager.",
        "parameters": [
            {"name": "from", "in": "query", "required": false, "schema": {"type": "string"}, "example": "profile:120,assignment:48"},
            {"name": "Last-Event-ID", "in": "header", "required": false, "schema": {"type": "string"}},
        ],
        "responses": {
            "200": {"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
            "default": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        },
    })
}

fn consumers_operation(consumer_status: Value) -> Value {
    json!({
        "operationId": "Gateway_Consumers",
        "tags": ["Operations"],
        "summary": "How far each service's consumers of the other services' logs have come",
        "description": "Asks every service (maitre.events.v1.EventLogService/GetConsumerStatus) for its consumers: cursor, the upstream's head, pending events and the age of the oldest one. HQ admins see their chain's events only. A service that cannot answer is listed under `unavailable`; `caughtUp` is true when every consumer of every service has nothing pending. Lag is not an outage: services stay ready while they catch up.",
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["consumers", "unavailable", "caughtUp"],
                "properties": {
                    "consumers": {"type": "array", "items": consumer_status},
                    "unavailable": {"type": "array", "items": {"type": "object", "properties": {
                        "service": {"type": "string"}, "message": {"type": "string"}}}},
                    "caughtUp": {"type": "boolean"},
                },
            }}}},
            "default": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        },
    })
}

fn audit_operation() -> Value {
    let parameters: Vec<Value> = crate::audit::PARAMETERS
        .iter()
        .map(|(name, description)| {
            let schema = match *name {
                "pageSize" => json!({"type": "integer", "minimum": 1, "maximum": maitre_kit::audit::MAX_PAGE_SIZE}),
                "service" => json!({"type": "string", "enum": ["profile", "assignment", "tagging", "notification"]}),
                "since" | "until" => json!({"type": "string", "format": "date-time"}),
                // As every page token of the document: only a `nextPageToken` this API gave.
                "pageToken" => json!({"type": "string", "format": "page-token", "example": ""}),
                _ => json!({"type": "string"}),
            };
            json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
        })
        .collect();
    // maitre.events.v1.AuditEntry in its REST form: `before`/`after` as JSON values
    // instead of JSON text.
    let text = |description: &str| json!({"type": "string", "description": description});
    let entry = json!({
        "type": "object",
        "required": ["id", "service", "chainId", "actor", "time", "action", "targetType"],
        "properties": {
            "id": text("Unique within the service (`<service>:<number>`)."),
            "service": text("The service that made the change."),
            "chainId": text("The chain changed."),
            "actor": text("Who: the token's subject (staff id), `api_key:<id>` for an API key."),
            "actorRole": text("The actor's role (`hq_admin`, `store_manager`, `service`, …)."),
            "time": {"type": "string", "format": "date-time", "description": "When the change was committed."},
            "action": text("`<service>.<target>.<verb>`, e.g. `assignment.policy.update`."),
            "targetType": text("The kind of thing changed (`policy`, `tag`, `automation`, …)."),
            "targetId": text("Which one (`chain` for a chain-wide setting)."),
            "before": {"type": "object", "nullable": true, "description": "The target before the change as proto3 JSON (null when it did not exist). Secret fields read \"[redacted]\"."},
            "after": {"type": "object", "nullable": true, "description": "The target after the change (null when it was deleted)."},
        },
    });
    json!({
        "operationId": "Gateway_Audit",
        "tags": ["Operations"],
        "summary": "Who changed what in the chain's configuration, newest first",
        "description": "Merges every service's audit trail (maitre.events.v1.EventLogService/ListAuditEntries): changes to policies (assignment incl. the value lock, classification, notification), tags and rules, model settings, automations, API keys, provider accounts, transfers and locks, each with the actor (staff id or `api_key:<id>`), time, action, target and the target before and after. Each entry is written in the transaction of its change, so a refused or failed change leaves none. HQ admins only (others get 403); a chain sees only its own entries. A service that cannot answer is listed under `unavailable` and its entries are missing from the page.",
        "parameters": parameters,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["entries", "nextPageToken", "unavailable"],
                "properties": {
                    "entries": {"type": "array", "items": entry},
                    "nextPageToken": {"type": "string"},
                    "unavailable": {"type": "array", "items": {"type": "object", "properties": {
                        "service": {"type": "string"}, "message": {"type": "string"}}}},
                },
            }}}},
            "default": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        },
    })
}

/// Leading comments of the contract's elements, by file and source path.
#[derive(Default)]
pub(crate) struct Comments {
    files: std::sync::Mutex<HashMap<String, HashMap<Vec<i32>, String>>>,
}

impl Comments {
    /// The leading comment of the element at `path` in `file`, trimmed.
    pub(crate) fn of(&self, file: &FileDescriptor, path: &[i32]) -> Option<String> {
        let mut files = self.files.lock().ok()?;
        let by_path = files.entry(file.name().to_owned()).or_insert_with(|| {
            file.file_descriptor_proto()
                .source_code_info
                .iter()
                .flat_map(|info| info.location.iter())
                .filter_map(|l| {
                    let text = l.leading_comments.as_deref()?.trim();
                    (!text.is_empty()).then(|| (l.path.clone(), text.to_owned()))
                })
                .collect()
        });
        by_path.get(path).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> (RouteTable, Value) {
        let table = RouteTable::from_pool(
            maitre_proto::descriptor_pool(),
            &maitre_proto::SERVICE_NAMES,
        )
        .unwrap();
        let doc = document(&table);
        (table, doc)
    }

    #[test]
    fn every_route_is_an_operation_and_every_reference_resolves() {
        let (table, doc) = doc();
        let operations: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| {
                item.as_object()
                    .unwrap()
                    .values()
                    .filter(|op| op.get("x-grpc-method").is_some())
                    .count()
            })
            .sum();
        assert_eq!(operations, table.routes().len());
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "unresolved {name}");
        }
    }

    #[test]
    fn schemas_follow_the_proto3_json_mapping() {
        let (_, doc) = doc();
        let schemas = &doc["components"]["schemas"];
        let money = &schemas["maitre.common.v1.Money"]["properties"];
        assert_eq!(money["amountFen"]["type"], "string");
        assert_eq!(money["amountFen"]["format"], "int64");
        let event = &schemas["maitre.profile.v1.ContactEvent"]["properties"];
        assert_eq!(event["occurredAt"]["format"], "date-time");
        let kind = &schemas["maitre.common.v1.IdentityKind"];
        assert_eq!(kind["type"], "string");
        assert!(
            kind["enum"]
                .as_array()
                .unwrap()
                .contains(&json!("IDENTITY_KIND_PHONE"))
        );
    }

    /// The bounds every service enforces (`kit::request_bounds`) are in the contract.
    #[test]
    fn the_document_states_the_request_bounds() {
        let (_, doc) = doc();
        let schemas = &doc["components"]["schemas"];
        let profile = &schemas["maitre.profile.v1.Profile"]["properties"];
        assert_eq!(profile["dietaryHabits"]["maxItems"], 30);
        // The table's tighter limits where a field has one, MAX_CHARS elsewhere.
        assert_eq!(profile["dietaryHabits"]["items"]["maxLength"], 64);
        assert_eq!(profile["name"]["maxLength"], 64);
        assert_eq!(profile["gender"]["maxLength"], 10_000);
        assert_eq!(profile["attributes"]["maxProperties"], 50);
        let upsert = &schemas["maitre.profile.v1.UpsertCustomerRequest"]["properties"];
        assert_eq!(upsert["identityKeys"]["maxItems"], 20);
        let batch = &schemas["maitre.profile.v1.RecordEventsBatchRequest"]["properties"];
        assert_eq!(batch["events"]["maxItems"], 10_000);
        // Responses are not requests: a page of customers is bounded by its page size.
        let list = &schemas["maitre.profile.v1.ListCustomersResponse"]["properties"];
        assert!(list["customers"].get("maxItems").is_none());
        let money = &schemas["maitre.common.v1.Money"]["properties"];
        assert_eq!(money["currency"]["enum"], json!(["", "CNY"]));
        let date = &schemas["maitre.common.v1.Date"]["properties"];
        assert_eq!(date["year"]["maximum"], 2100);
        assert_eq!(date["month"]["minimum"], 1);
        let event = &schemas["maitre.profile.v1.ContactEvent"]["properties"];
        let occurred = event["occurredAt"]["description"].as_str().unwrap();
        assert!(occurred.contains("1970-01-01T00:00:00Z"), "{occurred}");
    }

    /// The rules of `kit::request_bounds::FIELD_RULES` are in the contract: required fields,
    /// required enums without `*_UNSPECIFIED`, the values a field takes, page sizes, formats,
    /// oneofs, and the rules that depend on other fields in words.
    #[test]
    fn the_document_states_the_field_rules() {
        let (_, doc) = doc();
        let schemas = &doc["components"]["schemas"];
        let create = &schemas["maitre.profile.v1.CreateStoreRequest"];
        assert_eq!(create["required"], json!(["store"]));
        let store = &schemas["maitre.profile.v1.Store"];
        assert_eq!(store["required"], json!(["name"]));
        assert_eq!(store["properties"]["name"]["minLength"], 1);
        assert_eq!(store["properties"]["name"]["maxLength"], 100);
        assert_eq!(store["properties"]["timeZone"]["example"], "Asia/Shanghai");
        let status = &schemas["maitre.assignment.v1.SetManagerStatusRequest"]["properties"];
        let values = status["status"]["enum"].as_array().unwrap();
        assert!(
            !values.contains(&json!("MANAGER_STATUS_UNSPECIFIED")),
            "{values:?}"
        );
        assert!(
            values.contains(&json!("MANAGER_STATUS_ON_DUTY")),
            "{values:?}"
        );
        let transition = &schemas["maitre.tagging.v1.TransitionTagRequest"]["properties"];
        assert_eq!(
            transition["lifecycle"]["enum"],
            json!([
                "TAG_LIFECYCLE_ACTIVE",
                "TAG_LIFECYCLE_DEPRECATED",
                "TAG_LIFECYCLE_RETIRED"
            ])
        );
        let reference = &schemas["maitre.tagging.v1.SegmentRef"];
        assert_eq!(
            reference["oneOf"],
            json!([{"required": ["segmentId"]}, {"required": ["expression"]}])
        );
        assert_eq!(reference["properties"]["segmentId"]["x-oneof"], "ref");
        let upsert = &schemas["maitre.profile.v1.UpsertCustomerRequest"]["properties"];
        assert_eq!(upsert["identityKeys"]["minItems"], 1);
        assert!(
            upsert["identityKeys"]["x-constraints"].is_array(),
            "{upsert}"
        );
        let settings = &schemas["maitre.tagging.v1.ModelSettings"]["properties"];
        assert_eq!(settings["churnThreshold"]["exclusiveMinimum"], true);
        let page_size = |path: &str| {
            let parameters = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
            let page = parameters
                .iter()
                .find(|p| p["name"] == "page_size")
                .unwrap();
            page["schema"]["maximum"].clone()
        };
        assert_eq!(page_size("/v1/customers"), 500);
        assert_eq!(page_size("/v1/tags/{tag_id}/members"), 1000);
        let stats = doc["paths"]["/v1/managers/{manager_id}/stats"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let start = stats.iter().find(|p| p["name"] == "period_start").unwrap();
        assert_eq!(start["required"], true);
        let provider = &doc["paths"]["/v1/providers/{channel}"]["put"]["parameters"][0];
        assert_eq!(provider["schema"]["enum"][0], "sms");
    }

    /// Every RPC the services serve is in the document, counted from the descriptors and not
    /// from the route table: an RPC without a REST route fails here, naming it.
    #[test]
    fn every_served_rpc_is_documented() {
        let (_, doc) = doc();
        let documented: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|op| op["x-grpc-method"].as_str())
            .collect();
        // Live server streams reach HTTP clients through `/v1/stream` (Watch, StreamInbox):
        // listed by name so a new one fails.
        let streamed = ["Watch", "StreamInbox"];
        let pool = maitre_proto::descriptor_pool();
        let mut missing = Vec::new();
        for name in maitre_proto::SERVICE_NAMES {
            for method in pool.get_service_by_name(name).unwrap().methods() {
                let path = format!("/{}/{}", name, method.name());
                if method.is_server_streaming() && streamed.contains(&method.name()) {
                    continue;
                }
                if !documented.contains(&path.as_str()) {
                    missing.push(path);
                }
            }
        }
        assert!(
            missing.is_empty(),
            "served but not in /openapi.json: {missing:?}"
        );
        let export = &doc["paths"]["/v1/segments:export"]["post"]["responses"]["200"];
        assert!(
            export["content"]["application/x-ndjson"]["schema"].is_object(),
            "{export}"
        );
        let functions = &doc["paths"]["/v1/rules/functions"]["get"];
        assert_eq!(
            functions["x-grpc-method"],
            "/maitre.tagging.v1.TaggingService/ListRuleFunctions"
        );
        for extra in ["/v1/stream", "/v1/consumers", "/v1/audit"] {
            assert!(doc["paths"][extra]["get"].is_object(), "{extra}");
        }
    }

    #[test]
    fn path_parameters_are_plain_identifiers() {
        let (_, doc) = doc();
        let plain = |name: &str| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        for (path, item) in doc["paths"].as_object().unwrap() {
            for segment in path.split('/').filter(|s| s.starts_with('{')) {
                let name = segment.trim_start_matches('{').split('}').next().unwrap();
                assert!(plain(name), "{path}");
            }
            for operation in item.as_object().unwrap().values() {
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    if parameter["in"] == "path" {
                        let name = parameter["name"].as_str().unwrap();
                        assert!(plain(name), "{path}: {name}");
                        assert!(path.contains(&format!("{{{name}}}")), "{path}: {name}");
                    }
                }
            }
        }
        let store = &doc["paths"]["/v1/stores/{store_id}"];
        assert!(store.get("get").is_some() && store.get("patch").is_some());
        assert_eq!(store["patch"]["parameters"][0]["name"], "store_id");
    }

    #[test]
    fn operations_carry_parameters_bodies_and_descriptions() {
        let (_, doc) = doc();
        let get_store = &doc["paths"]["/v1/stores/{store_id}"]["get"];
        assert_eq!(get_store["parameters"][0]["name"], "store_id");
        assert_eq!(get_store["parameters"][0]["in"], "path");
        assert!(!get_store["summary"].as_str().unwrap().is_empty());
        let list = &doc["paths"]["/v1/customers"]["get"]["parameters"];
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "page_size")
        );
        let create = &doc["paths"]["/v1/stores"]["post"];
        assert_eq!(
            create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/maitre.profile.v1.CreateStoreRequest"
        );
    }
}
