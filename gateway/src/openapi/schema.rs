//! JSON Schemas (OpenAPI 3.0 dialect) of messages and enums under the proto3 JSON mapping,
//! collected transitively from the operations that reference them.

use std::collections::{BTreeMap, BTreeSet};

use maitre_kit::request_bounds::{self as bounds, Rule};
use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use super::Comments;

/// The schemas referenced so far, and the messages still to describe.
pub(crate) struct Schemas<'a> {
    comments: &'a Comments,
    done: BTreeMap<String, Value>,
    seen: BTreeSet<String>,
    pending: Vec<MessageDescriptor>,
    /// Messages some request carries: their fields are held to `kit::request_bounds`.
    in_requests: BTreeSet<String>,
}

/// Well-known messages whose JSON form is a scalar (or a free-form value).
pub(crate) fn is_scalar_like(message: &MessageDescriptor) -> bool {
    well_known(message).is_some()
}

fn well_known(message: &MessageDescriptor) -> Option<Value> {
    let schema = match message.full_name() {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => {
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$", "example": "3.5s"})
        }
        "google.protobuf.FieldMask" => {
            json!({"type": "string", "description": "Comma-separated field paths in lowerCamelCase", "example": "profile.birthday,notes"})
        }
        "google.protobuf.Struct" => json!({"type": "object", "additionalProperties": true}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({"type": "array", "items": {}}),
        "google.protobuf.Empty" => json!({"type": "object"}),
        "google.protobuf.Any" => {
            json!({"type": "object", "properties": {"@type": {"type": "string"}}, "additionalProperties": true})
        }
        name if name.starts_with("google.protobuf.") && name.ends_with("Value") => {
            let inner = message.get_field_by_name("value")?;
            scalar(&inner.kind())?
        }
        _ => return None,
    };
    Some(schema)
}

/// The schema of a scalar kind; `None` for enums and messages.
fn scalar(kind: &Kind) -> Option<Value> {
    Some(match kind {
        Kind::Double => json!({"type": "number", "format": "double"}),
        Kind::Float => json!({"type": "number", "format": "float"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "format": "int64", "minimum": 0}),
        // proto3 JSON: 64-bit integers are decimal strings.
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => json!({"type": "string", "format": "int64"}),
        Kind::Uint64 | Kind::Fixed64 => json!({"type": "string", "format": "uint64"}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "format": "byte"}),
        Kind::Enum(_) | Kind::Message(_) => return None,
    })
}

impl<'a> Schemas<'a> {
    pub(crate) fn new(comments: &'a Comments) -> Self {
        Self {
            comments,
            done: BTreeMap::new(),
            seen: BTreeSet::new(),
            pending: Vec::new(),
            in_requests: messages_in_requests(),
        }
    }

    /// A reference to a message's schema (or the inline schema of a well-known type).
    pub(crate) fn message(&mut self, message: &MessageDescriptor) -> Value {
        if let Some(schema) = well_known(message) {
            return schema;
        }
        let name = message.full_name().to_owned();
        if self.seen.insert(name.clone()) {
            self.pending.push(message.clone());
        }
        reference(&name)
    }

    fn enumeration(&mut self, enumeration: &EnumDescriptor) -> Value {
        let name = enumeration.full_name().to_owned();
        if self.seen.insert(name.clone()) {
            let values: Vec<String> = enumeration.values().map(|v| v.name().to_owned()).collect();
            let description = self
                .comments
                .of(&enumeration.parent_file(), enumeration.path())
                .unwrap_or_default();
            self.done.insert(
                name.clone(),
                json!({"type": "string", "enum": values, "description": description}),
            );
        }
        reference(&name)
    }

    fn kind(&mut self, kind: &Kind) -> Value {
        match kind {
            Kind::Enum(e) => self.enumeration(e),
            Kind::Message(m) => self.message(m),
            other => scalar(other).unwrap_or_else(|| json!({})),
        }
    }

    /// The schema of a field: lists are arrays, maps are objects keyed by string. A field of
    /// a request carries the bounds and rules of `kit::request_bounds`.
    pub(crate) fn field(&mut self, field: &FieldDescriptor) -> Value {
        let mut schema = self.field_shape(field);
        if self.in_request(field) {
            apply_rules(field, &mut schema);
        }
        schema
    }

    /// Whether `field` belongs to a message some request carries.
    pub(crate) fn in_request(&self, field: &FieldDescriptor) -> bool {
        self.in_requests
            .contains(field.parent_message().full_name())
    }

    fn field_shape(&mut self, field: &FieldDescriptor) -> Value {
        let bounded = self.in_request(field);
        if field.is_map()
            && let Kind::Message(entry) = field.kind()
        {
            let value_kind = entry.map_entry_value_field().kind();
            let mut value = self.kind(&value_kind);
            if bounded {
                bound_text(&value_kind, &mut value);
            }
            let mut schema = json!({"type": "object", "additionalProperties": value});
            if bounded {
                schema["maxProperties"] = bounds::max_items(field).into();
            }
            return schema;
        }
        let mut item = self.kind(&field.kind());
        if bounded {
            bound_text(&field.kind(), &mut item);
        }
        if field.is_list() {
            let mut schema = json!({"type": "array", "items": item});
            if bounded {
                schema["maxItems"] = bounds::max_items(field).into();
            }
            schema
        } else {
            item
        }
    }

    /// Describes every referenced message (transitively) and returns all schemas.
    pub(crate) fn finish(mut self) -> Map<String, Value> {
        while let Some(message) = self.pending.pop() {
            let schema = self.describe(&message);
            self.done.insert(message.full_name().to_owned(), schema);
        }
        self.done.into_iter().collect()
    }

    fn describe(&mut self, message: &MessageDescriptor) -> Value {
        let mut properties = Map::new();
        for field in message.fields() {
            let mut schema = self.field(&field);
            let mut description = self
                .comments
                .of(&field.parent_file(), field.path())
                .unwrap_or_default();
            if matches!(field.kind(), Kind::Message(m) if m.full_name() == "google.protobuf.Timestamp")
            {
                description = format!(
                    "{description} From {} (inclusive) to {} (exclusive).",
                    bounds::MIN_TIME,
                    bounds::END_TIME
                )
                .trim()
                .to_owned();
            }
            if let Some(oneof) = field.containing_oneof().filter(|o| !o.is_synthetic()) {
                description = format!("{description} (one of `{}`)", oneof.name())
                    .trim()
                    .to_owned();
            }
            if !description.is_empty() {
                schema = if schema.get("$ref").is_some() {
                    // OpenAPI 3.0 ignores siblings of $ref; wrap to keep the description.
                    json!({"allOf": [schema], "description": description})
                } else {
                    let mut schema = schema;
                    schema["description"] = Value::String(description);
                    schema
                };
            }
            restrict(message, &field, &mut schema);
            if let Some(oneof) = field.containing_oneof().filter(|o| !o.is_synthetic()) {
                // Generic clients set at most one member of a oneof.
                wrap(&mut schema)["x-oneof"] = oneof.name().into();
            }
            properties.insert(field.json_name().to_owned(), schema);
        }
        let description = self
            .comments
            .of(&message.parent_file(), message.path())
            .unwrap_or_default();
        let mut schema =
            json!({"type": "object", "description": description, "properties": properties});
        if self.in_requests.contains(message.full_name()) {
            let required: Vec<Value> = message
                .fields()
                .filter(|f| {
                    bounds::rules(f).iter().any(|rule| {
                        *rule == Rule::Required || matches!(rule, Rule::MinItems(n) if *n > 0)
                    })
                })
                .map(|f| Value::from(f.json_name()))
                .collect();
            if !required.is_empty() {
                schema["required"] = Value::Array(required);
            }
            // A oneof one of whose fields must be given: exactly one of them.
            let alternatives: Vec<Value> = message
                .oneofs()
                .filter(|o| !o.is_synthetic() && bounds::oneof_required(o.full_name()))
                .flat_map(|o| {
                    o.fields()
                        .map(|f| json!({"required": [f.json_name()]}))
                        .collect::<Vec<_>>()
                })
                .collect();
            if !alternatives.is_empty() {
                schema["oneOf"] = Value::Array(alternatives);
            }
        }
        schema
    }
}

/// The rules of `kit::request_bounds::FIELD_RULES` for `field` (of a request), on its schema:
/// `required` is the parent's (see `describe`); here a required text is not empty, a required
/// list not empty, a required enum without its `*_UNSPECIFIED`; the lengths, ranges, values,
/// forms and, in words, the rules that depend on other fields (`x-constraints`).
fn apply_rules(field: &FieldDescriptor, schema: &mut Value) {
    let rules = bounds::rules(field);
    if rules.is_empty() {
        return;
    }
    let list = field.is_list();
    let mut constraints = Vec::new();
    for rule in &rules {
        match rule {
            Rule::Required if list => {
                schema["minItems"] = 1.into();
                if matches!(field.kind(), Kind::String) {
                    schema["items"]["minLength"] = 1.into();
                }
            }
            Rule::Required => match field.kind() {
                Kind::String => schema["minLength"] = 1.into(),
                // Given means not 0; a range the table states says more.
                Kind::Int32 | Kind::Uint32 | Kind::Sint32
                    if !rules.iter().any(|r| matches!(r, Rule::Range(..))) =>
                {
                    schema["minimum"] = 1.into();
                }
                Kind::Enum(e) => {
                    let values: Vec<String> = e
                        .values()
                        .filter(|v| v.number() != 0)
                        .map(|v| v.name().to_owned())
                        .collect();
                    if !rules.iter().any(|r| matches!(r, Rule::OneOf(_))) {
                        let values: Vec<&str> = values.iter().map(String::as_str).collect();
                        inline_enum(schema, &values);
                    }
                }
                _ => {}
            },
            Rule::MinItems(min) => schema["minItems"] = (*min).into(),
            Rule::MaxChars(max) => item(schema, list)["maxLength"] = (*max).into(),
            Rule::Range(min, max) => {
                let target = item(schema, list);
                target["minimum"] = (*min).into();
                target["maximum"] = (*max).into();
            }
            Rule::Between(low, high) => {
                let target = item(schema, list);
                target["minimum"] = (*low).into();
                target["maximum"] = (*high).into();
                target["exclusiveMinimum"] = true.into();
                target["exclusiveMaximum"] = true.into();
            }
            Rule::OneOf(values) => inline_enum(item(schema, list), values),
            Rule::Format { name, example } => {
                let target = item(schema, list);
                target["format"] = (*name).into();
                target["example"] = (*example).into();
            }
            Rule::Pattern(pattern) => item(schema, list)["pattern"] = (*pattern).into(),
            Rule::When(text) => constraints.push(Value::from(*text)),
        }
    }
    if !constraints.is_empty() {
        let target = if schema.get("$ref").is_some() {
            wrap(schema)
        } else {
            schema
        };
        target["x-constraints"] = Value::Array(constraints);
    }
}

/// The schema of one value of `schema`: its items for a list.
fn item(schema: &mut Value, list: bool) -> &mut Value {
    let target = if list { &mut schema["items"] } else { schema };
    if target.get("$ref").is_some() {
        wrap(target)
    } else {
        target
    }
}

/// `schema` as `{"allOf": [schema]}`, so keywords beside a `$ref` are read (OpenAPI 3.0
/// ignores siblings of `$ref`).
fn wrap(schema: &mut Value) -> &mut Value {
    if schema.get("$ref").is_some() {
        *schema = json!({"allOf": [schema.take()]});
    }
    schema
}

/// The values an enum field (or a text field) takes, in place of the enum's own list.
fn inline_enum(schema: &mut Value, values: &[&str]) {
    let values: Vec<Value> = values.iter().map(|v| Value::from(*v)).collect();
    *schema = json!({"type": "string", "enum": values});
}

/// Text of a request: at most `kit::request_bounds::MAX_CHARS` characters.
fn bound_text(kind: &Kind, schema: &mut Value) {
    if matches!(kind, Kind::String) {
        schema["maxLength"] = bounds::MAX_CHARS.into();
    }
}

/// The value bounds `kit::request_bounds` holds shared types to: a date's parts and money's
/// currency.
fn restrict(message: &MessageDescriptor, field: &FieldDescriptor, schema: &mut Value) {
    match (message.full_name(), field.name()) {
        // 0 (unknown) is the field left out, so an explicit year is 1900 or later.
        ("maitre.common.v1.Date", "year") => {
            schema["minimum"] = bounds::MIN_YEAR.into();
            schema["maximum"] = bounds::MAX_YEAR.into();
        }
        ("maitre.common.v1.Date", "month") => {
            schema["minimum"] = 1.into();
            schema["maximum"] = 12.into();
        }
        ("maitre.common.v1.Date", "day") => {
            schema["minimum"] = 1.into();
            schema["maximum"] = 31.into();
        }
        ("maitre.common.v1.Money", "currency") => {
            let mut codes = vec![Value::from("")];
            codes.extend(bounds::CURRENCIES.iter().map(|c| Value::from(*c)));
            schema["enum"] = Value::Array(codes);
        }
        _ => {}
    }
}

/// Every message reachable from a request of a served RPC.
fn messages_in_requests() -> BTreeSet<String> {
    let pool = maitre_proto::descriptor_pool();
    let mut found = BTreeSet::new();
    let mut pending: Vec<MessageDescriptor> = maitre_proto::SERVICE_NAMES
        .iter()
        .filter_map(|name| pool.get_service_by_name(name))
        .flat_map(|service| service.methods().map(|m| m.input()).collect::<Vec<_>>())
        .collect();
    while let Some(message) = pending.pop() {
        if !found.insert(message.full_name().to_owned()) {
            continue;
        }
        for field in message.fields() {
            if let Kind::Message(inner) = field.kind() {
                pending.push(inner);
            }
        }
    }
    found
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}
