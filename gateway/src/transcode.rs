//! REST → protobuf: builds an RPC's request message from the JSON body, the query string and
//! the path variables of its route (google/api/http.proto, "HTTP/JSON to gRPC mapping"), and
//! names the offending field when the input does not fit the message.
//!
//! Field names are accepted as written in the contract (`page_size`) or in proto3 JSON
//! (`pageSize`); nested fields use dots (`filter.store_id`); repeated fields repeat the
//! parameter (`?tag_ids=a&tag_ids=b`).

use prost_reflect::{DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value};

use crate::routes::{Binding, BodyBinding, Route};

/// Input that does not fit the request message, naming the field (proto path, e.g.
/// `event.amount.amount_fen`; empty when the whole body is wrong).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RequestError {
    /// The field, as a proto field path.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn request_error(field: impl Into<String>, message: impl Into<String>) -> RequestError {
    RequestError {
        field: field.into(),
        message: message.into(),
    }
}

/// The field of `message` called `name` in the contract or in proto3 JSON.
pub fn field_by_any_name(message: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    message
        .get_field_by_name(name)
        .or_else(|| message.get_field_by_json_name(name))
}

/// Resolves a dotted field path; every step but the last must be a singular message.
pub fn resolve_field_path(
    message: &MessageDescriptor,
    dotted: &str,
) -> Option<Vec<FieldDescriptor>> {
    let mut current = message.clone();
    let mut fields = Vec::new();
    let parts: Vec<&str> = dotted.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let field = field_by_any_name(&current, part)?;
        if i + 1 < parts.len() {
            match field.kind() {
                Kind::Message(next) if !field.is_list() && !field.is_map() => current = next,
                _ => return None,
            }
        }
        fields.push(field);
    }
    Some(fields)
}

/// The request message of `route` from the body, the raw query string and the path bindings.
/// Path variables win over the query string, which wins over the body.
pub fn request_message(
    route: &Route,
    body: &[u8],
    query: Option<&str>,
    bindings: &[Binding],
) -> Result<DynamicMessage, RequestError> {
    let input = route.method.input();
    let body_is_empty = body.iter().all(u8::is_ascii_whitespace);
    let mut root = Map::new();
    match &route.body {
        BodyBinding::Whole if !body_is_empty => match parse_json(body)? {
            Value::Object(object) => root = object,
            _ => return Err(request_error("", "the body must be a JSON object")),
        },
        BodyBinding::Field(field) if !body_is_empty => {
            let value = parse_json(body)?;
            let key = input
                .get_field_by_name(field)
                .map(|f| f.json_name().to_owned())
                .unwrap_or_else(|| field.clone());
            root.insert(key, value);
        }
        BodyBinding::None if !body_is_empty => {
            return Err(request_error("", "this route takes no body"));
        }
        _ => {}
    }
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        set_parameter(&mut root, &input, &key, &value, true)?;
    }
    for (path, value) in bindings {
        set_parameter(&mut root, &input, &path.join("."), value, false)?;
    }
    let mut root = Value::Object(root);
    camel_case_field_masks(&input, &mut root);
    let message = maitre_proto::json::dynamic_from_json(input.clone(), &root)
        .map_err(|_| locate_error(&input, &root))?;
    // The bounds every service holds a request to (`kit::request_bounds`), checked where the
    // request arrives too: one past them (a noisy caller's 100,000 list items) costs no
    // encoding, no upstream call and no second decode. The services still check (gRPC).
    if let Some(found) = maitre_kit::request_bounds::violation(&message) {
        return Err(request_error(found.field, found.message));
    }
    Ok(message)
}

/// Field masks are documented with both names (`display_name` as in the contract,
/// `displayName` as in proto3 JSON), but the proto3 JSON parser takes only lowerCamelCase
/// paths: write every mask path in lowerCamelCase so either spelling means the same field.
fn camel_case_field_masks(message: &MessageDescriptor, value: &mut Value) {
    let Value::Object(object) = value else {
        return;
    };
    for field in message.fields() {
        let Kind::Message(inner) = field.kind() else {
            continue;
        };
        let key = if object.contains_key(field.json_name()) {
            field.json_name().to_owned()
        } else {
            field.name().to_owned()
        };
        let Some(value) = object.get_mut(&key) else {
            continue;
        };
        if inner.full_name() == "google.protobuf.FieldMask" {
            if let Value::String(paths) = value {
                *paths = paths
                    .split(',')
                    .map(|path| {
                        path.split('.')
                            .map(lower_camel_case)
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .collect::<Vec<_>>()
                    .join(",");
            }
        } else if field.is_map() || inner.full_name().starts_with("google.protobuf.") {
            continue;
        } else if let Value::Array(items) = value {
            for item in items {
                camel_case_field_masks(&inner, item);
            }
        } else {
            camel_case_field_masks(&inner, value);
        }
    }
}

/// `display_name` → `displayName`; names already in lowerCamelCase are unchanged.
fn lower_camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.trim().chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The proto3 JSON of an RPC's response bytes.
pub fn response_json(route: &Route, bytes: &[u8]) -> Result<Value, String> {
    let message =
        DynamicMessage::decode(route.method.output(), bytes).map_err(|e| e.to_string())?;
    maitre_proto::json::dynamic_to_json(&message).map_err(|e| e.to_string())
}

fn parse_json(body: &[u8]) -> Result<Value, RequestError> {
    serde_json::from_slice(body).map_err(|e| request_error("", format!("malformed JSON: {e}")))
}

/// Writes one path or query parameter into the JSON tree at its field path.
fn set_parameter(
    root: &mut Map<String, Value>,
    input: &MessageDescriptor,
    dotted: &str,
    raw: &str,
    append_repeated: bool,
) -> Result<(), RequestError> {
    let fields = resolve_field_path(input, dotted)
        .ok_or_else(|| request_error(dotted, "no such field in the request"))?;
    let proto_path = fields
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(".");
    let Some((last, parents)) = fields.split_last() else {
        return Err(request_error(dotted, "empty field path"));
    };
    let mut object = root;
    for field in parents {
        let key = canonical_key(object, field);
        let entry = object
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new()));
        object = entry
            .as_object_mut()
            .ok_or_else(|| request_error(&proto_path, "expected an object in the body"))?;
    }
    if last.is_map() {
        return Err(request_error(
            &proto_path,
            "maps cannot be set from the path or query",
        ));
    }
    let value = parameter_json(&last.kind(), raw).map_err(|m| request_error(&proto_path, m))?;
    let key = canonical_key(object, last);
    if last.is_list() {
        match object.get_mut(&key) {
            Some(Value::Array(items)) if append_repeated => items.push(value),
            _ => {
                object.insert(key, Value::Array(vec![value]));
            }
        }
    } else {
        object.insert(key, value);
    }
    Ok(())
}

/// The JSON key of `field` in `object`, moving a snake_case key to the proto3 JSON name so a
/// body and a parameter never set one field twice.
fn canonical_key(object: &mut Map<String, Value>, field: &FieldDescriptor) -> String {
    let json_name = field.json_name().to_owned();
    if field.name() != json_name
        && let Some(value) = object.remove(field.name())
    {
        object.entry(json_name.clone()).or_insert(value);
    }
    json_name
}

/// The proto3 JSON value of a textual parameter for a field of `kind`.
fn parameter_json(kind: &Kind, raw: &str) -> Result<Value, String> {
    let integer = |raw: &str| {
        raw.parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("`{raw}` is not an integer"))
    };
    match kind {
        Kind::Bool => match raw {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("`{raw}` is not true or false")),
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Uint32 | Kind::Fixed32 => integer(raw),
        // 64-bit integers are strings in proto3 JSON; the message parser checks them.
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
            Ok(Value::String(raw.to_owned()))
        }
        Kind::Float | Kind::Double => Ok(raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            // "NaN", "Infinity": proto3 JSON strings.
            .unwrap_or_else(|| Value::String(raw.to_owned()))),
        Kind::String | Kind::Bytes | Kind::Enum(_) => Ok(Value::String(raw.to_owned())),
        Kind::Message(message) => match message.full_name() {
            "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask" => Ok(Value::String(raw.to_owned())),
            name if name.starts_with("google.protobuf.") && name.ends_with("Value") => message
                .get_field_by_name("value")
                .ok_or_else(|| format!("{name} cannot be set from a parameter"))
                .and_then(|inner| parameter_json(&inner.kind(), raw)),
            name => Err(format!(
                "{name} cannot be set from a path or query parameter"
            )),
        },
    }
}

/// Re-reads the JSON with path tracking to name the field the parser refused.
fn locate_error(input: &MessageDescriptor, root: &Value) -> RequestError {
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_path_to_error::Deserializer::new(root, &mut track);
    let message = match DynamicMessage::deserialize_with_options(
        input.clone(),
        deserializer,
        &DeserializeOptions::new(),
    ) {
        Ok(_) => return request_error("", "the request does not fit the message"),
        Err(e) => e.to_string(),
    };
    let (mut field, last) = proto_path(input, &track.path());
    // A value outside an enum: say which values it takes.
    let message = match last.map(|f| f.kind()) {
        Some(Kind::Enum(enumeration)) => {
            let values: Vec<String> = enumeration.values().map(|v| v.name().to_owned()).collect();
            format!("{message}; accepted values: {}", values.join(", "))
        }
        _ => message,
    };
    // An unknown key fails before the path enters it: name it from the message.
    let unknown = message
        .strip_prefix("unrecognized field name '")
        .and_then(|rest| rest.split('\'').next())
        .or_else(|| {
            message
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split('`').next())
        });
    if let Some(name) = unknown {
        field = if field.is_empty() {
            name.to_owned()
        } else {
            format!("{field}.{name}")
        };
    }
    request_error(field, message)
}

/// A serde path (`event.identityKeys[0].kind`) as a proto field path
/// (`event.identity_keys[0].kind`), with the field the path ends at.
fn proto_path(
    input: &MessageDescriptor,
    path: &serde_path_to_error::Path,
) -> (String, Option<FieldDescriptor>) {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    let mut current = Some(input.clone());
    let mut map_value: Option<Option<MessageDescriptor>> = None;
    let mut last = None;
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if let Some(next) = map_value.take() {
                    out.push_str(&format!("[{key}]"));
                    current = next;
                    continue;
                }
                let field = current.as_ref().and_then(|m| field_by_any_name(m, key));
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(field.as_ref().map(|f| f.name()).unwrap_or(key));
                current = None;
                last.clone_from(&field);
                if let Some(field) = field
                    && let Kind::Message(message) = field.kind()
                {
                    if field.is_map() {
                        map_value = Some(match message.map_entry_value_field().kind() {
                            Kind::Message(value) => Some(value),
                            _ => None,
                        });
                    } else {
                        current = Some(message);
                    }
                }
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    (out, last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{RouteMatch, RouteTable};
    use http::Method;
    use serde_json::json;

    fn build(method: Method, path_and_query: &str, body: &str) -> Result<Value, RequestError> {
        let table = RouteTable::from_pool(
            maitre_proto::descriptor_pool(),
            &maitre_proto::SERVICE_NAMES,
        )
        .unwrap();
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let RouteMatch::Found(route, bindings) = table.find(&method, path) else {
            panic!("no route for {path}");
        };
        let message = request_message(route, body.as_bytes(), query, &bindings)?;
        Ok(maitre_proto::json::dynamic_to_json(&message).unwrap())
    }

    #[test]
    fn path_variables_fill_nested_fields_and_merge_with_the_body() {
        let json = build(
            Method::PATCH,
            "/v1/stores/s%2F1",
            r#"{"store": {"name": "Main", "store_id": "ignored"}}"#,
        )
        .unwrap();
        assert_eq!(json["store"]["storeId"], "s/1");
        assert_eq!(json["store"]["name"], "Main");
    }

    #[test]
    fn query_parameters_map_by_either_name_and_repeat_for_lists() {
        let json = build(Method::GET, "/v1/customers?page_size=20&pageToken=abc", "").unwrap();
        assert_eq!(json["pageSize"], 20);
        assert_eq!(json["pageToken"], "abc");
        let pool = maitre_proto::descriptor_pool();
        // Any route whose request has a top-level repeated string, to exercise repetition.
        let table = RouteTable::from_pool(pool, &maitre_proto::SERVICE_NAMES).unwrap();
        let (route, field) = table
            .routes()
            .iter()
            .find_map(|r| {
                r.method
                    .input()
                    .fields()
                    .find(|f| f.is_list() && matches!(f.kind(), Kind::String))
                    .map(|f| (r, f))
            })
            .expect("some list RPC filters by a repeated string");
        let query = format!("{0}=a&{0}=b", field.name());
        let bindings: Vec<Binding> = route
            .template
            .variables()
            .map(|v| (v.split('.').map(str::to_owned).collect(), "x".to_owned()))
            .collect();
        let message = request_message(route, b"", Some(&query), &bindings).unwrap();
        let json = maitre_proto::json::dynamic_to_json(&message).unwrap();
        assert_eq!(json[field.json_name()], json!(["a", "b"]));
    }

    /// A request past the bounds every service enforces is refused where it arrives, naming
    /// the field, before anything is encoded or sent upstream.
    #[test]
    fn requests_past_their_bounds_are_refused_at_the_edge() {
        let habits = vec!["少辣"; 31];
        let body = json!({"profile": {"dietaryHabits": habits}, "requestId": "r"}).to_string();
        let err = build(Method::POST, "/v1/customers", &body).unwrap_err();
        assert_eq!(err.field, "profile.dietary_habits", "{err}");
        let err = build(Method::GET, "/v1/customers?page_size=501", "").unwrap_err();
        assert_eq!(err.field, "page_size", "{err}");
        assert!(build(Method::GET, "/v1/customers?page_size=500", "").is_ok());
    }

    #[test]
    fn bad_input_names_the_field() {
        let err = build(Method::GET, "/v1/customers?page_size=many", "").unwrap_err();
        assert_eq!(err.field, "page_size");
        let err = build(Method::GET, "/v1/customers?no_such=1", "").unwrap_err();
        assert_eq!(err.field, "no_such");
        let err = build(Method::POST, "/v1/stores", r#"{"stor": {}}"#).unwrap_err();
        assert_eq!(err.field, "stor", "{err}");
        let err = build(
            Method::POST,
            "/v1/events",
            r#"{"event": {"amount": {"amountFen": "lots"}}}"#,
        )
        .unwrap_err();
        assert_eq!(err.field, "event.amount.amount_fen", "{err}");
        let err = build(Method::POST, "/v1/stores", "{not json").unwrap_err();
        assert!(err.message.contains("malformed JSON"), "{err}");
        let err = build(Method::POST, "/v1/stores", "[1]").unwrap_err();
        assert!(err.message.contains("JSON object"), "{err}");
        let err = build(Method::GET, "/v1/stores", "{}").unwrap_err();
        assert!(err.message.contains("no body"), "{err}");
    }

    #[test]
    fn a_bad_enum_value_lists_the_accepted_values() {
        let err = build(
            Method::POST,
            "/v1/events",
            r#"{"event": {"channel": "CARRIER_PIGEON"}}"#,
        )
        .unwrap_err();
        assert_eq!(err.field, "event.channel", "{err}");
        assert!(err.message.contains("accepted values:"), "{err}");
        assert!(err.message.contains("EVENT_CHANNEL_POS"), "{err}");
        // The same from a query parameter.
        let table = RouteTable::from_pool(
            maitre_proto::descriptor_pool(),
            &maitre_proto::SERVICE_NAMES,
        )
        .unwrap();
        let (route, field) = table
            .routes()
            .iter()
            .filter(|r| r.body == crate::routes::BodyBinding::None)
            .find_map(|r| {
                r.method
                    .input()
                    .fields()
                    .find(|f| !f.is_list() && matches!(f.kind(), Kind::Enum(_)))
                    .map(|f| (r, f))
            })
            .expect("some GET route filters by an enum");
        let bindings: Vec<Binding> = route
            .template
            .variables()
            .map(|v| (v.split('.').map(str::to_owned).collect(), "x".to_owned()))
            .collect();
        let query = format!("{}=NOT_A_VALUE", field.name());
        let err = request_message(route, b"", Some(&query), &bindings).unwrap_err();
        assert_eq!(err.field, field.name(), "{err}");
        assert!(err.message.contains("accepted values:"), "{err}");
    }

    #[test]
    fn field_masks_take_the_proto_name_and_the_json_name() {
        for mask in ["display_name,description", "displayName,description"] {
            let body = format!(r#"{{"tag": {{"displayName": "VIP"}}, "updateMask": "{mask}"}}"#);
            let json = build(Method::PATCH, "/v1/tags/t1", &body).unwrap();
            assert_eq!(json["updateMask"], "displayName,description", "{mask}");
        }
        let json = build(
            Method::PATCH,
            "/v1/tags/t1",
            r#"{"tag": {}, "update_mask": "display_name"}"#,
        )
        .unwrap();
        assert_eq!(json["updateMask"], "displayName");
        assert_eq!(lower_camel_case("profile_birthday"), "profileBirthday");
        assert_eq!(lower_camel_case("notes"), "notes");
    }

    #[test]
    fn parameters_convert_by_field_kind() {
        assert_eq!(parameter_json(&Kind::Bool, "true"), Ok(json!(true)));
        assert!(parameter_json(&Kind::Bool, "yes").is_err());
        assert_eq!(parameter_json(&Kind::Int32, "-5"), Ok(json!(-5)));
        assert_eq!(
            parameter_json(&Kind::Int64, "9007199254740993"),
            Ok(json!("9007199254740993"))
        );
        assert_eq!(parameter_json(&Kind::Double, "1.5"), Ok(json!(1.5)));
        let timestamp = maitre_proto::descriptor_pool()
            .get_message_by_name("google.protobuf.Timestamp")
            .unwrap();
        assert_eq!(
            parameter_json(&Kind::Message(timestamp), "2026-01-01T00:00:00Z"),
            Ok(json!("2026-01-01T00:00:00Z"))
        );
    }
}
