//! Proto3 JSON mapping for every generated message, through the descriptor pool.
//!
//! One implementation serves the gateway (dynamic messages) and typed callers (tests,
//! tools): a typed message is encoded and re-read as a `DynamicMessage`, whose serde
//! implementation follows the proto3 JSON mapping (lowerCamelCase names, enums as names,
//! int64 as strings, Timestamps as RFC 3339).

use prost::{Message, Name};
use prost_reflect::{
    DeserializeOptions, DynamicMessage, MessageDescriptor, ReflectMessage, SerializeOptions,
};

use crate::descriptor_pool;

/// Why a JSON conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The message type is not part of the contract.
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    /// The JSON does not match the message.
    #[error("invalid JSON for `{type_name}`: {reason}")]
    Invalid { type_name: String, reason: String },
}

/// The descriptor of a message by its full name (e.g. `maitre.profile.v1.Customer`).
pub fn message_descriptor(full_name: &str) -> Result<MessageDescriptor, JsonError> {
    descriptor_pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| JsonError::UnknownType(full_name.to_owned()))
}

/// Serialises a generated message to proto3 JSON.
pub fn to_json<M: Message + Name>(message: &M) -> Result<serde_json::Value, JsonError> {
    let descriptor = message_descriptor(&M::full_name())?;
    let dynamic =
        DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice()).map_err(|e| {
            JsonError::Invalid {
                type_name: M::full_name(),
                reason: e.to_string(),
            }
        })?;
    dynamic_to_json(&dynamic)
}

/// Parses proto3 JSON into a generated message; unknown fields are rejected.
pub fn from_json<M: Message + Name + Default>(value: &serde_json::Value) -> Result<M, JsonError> {
    let descriptor = message_descriptor(&M::full_name())?;
    let dynamic = dynamic_from_json(descriptor, value)?;
    M::decode(dynamic.encode_to_vec().as_slice()).map_err(|e| JsonError::Invalid {
        type_name: M::full_name(),
        reason: e.to_string(),
    })
}

/// Serialises a dynamic message to proto3 JSON (default values omitted).
pub fn dynamic_to_json(message: &DynamicMessage) -> Result<serde_json::Value, JsonError> {
    let options = SerializeOptions::new().skip_default_fields(true);
    message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| JsonError::Invalid {
            type_name: message.descriptor().full_name().to_owned(),
            reason: e.to_string(),
        })
}

/// Parses proto3 JSON into a dynamic message of the given type.
pub fn dynamic_from_json(
    descriptor: MessageDescriptor,
    value: &serde_json::Value,
) -> Result<DynamicMessage, JsonError> {
    let type_name = descriptor.full_name().to_owned();
    DynamicMessage::deserialize_with_options(descriptor, value, &DeserializeOptions::new()).map_err(
        |e| JsonError::Invalid {
            type_name,
            reason: e.to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::v1::{IdentityKey, IdentityKind, Money};
    use crate::profile::v1::{ContactEvent, RecordEventRequest};

    #[test]
    fn round_trips_a_nested_message_with_proto3_names() {
        let request = RecordEventRequest {
            event: Some(ContactEvent {
                external_id: "pos-1".into(),
                identity_keys: vec![IdentityKey {
                    kind: IdentityKind::Phone as i32,
                    value: "13800138000".into(),
                    ..Default::default()
                }],
                amount: Some(Money {
                    amount_fen: 25_000,
                    currency: "CNY".into(),
                }),
                occurred_at: Some(prost_types::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 0,
                }),
                ..Default::default()
            }),
        };
        let json = to_json(&request).expect("serialises");
        assert_eq!(json["event"]["externalId"], "pos-1");
        assert_eq!(
            json["event"]["identityKeys"][0]["kind"],
            "IDENTITY_KIND_PHONE"
        );
        // int64 is a string in proto3 JSON.
        assert_eq!(json["event"]["amount"]["amountFen"], "25000");
        assert_eq!(json["event"]["occurredAt"], "2023-11-14T22:13:20Z");
        let back: RecordEventRequest = from_json(&json).expect("parses");
        assert_eq!(back, request);
    }

    #[test]
    fn rejects_unknown_fields_naming_them() {
        let err = from_json::<RecordEventRequest>(&serde_json::json!({"evnt": {}})).unwrap_err();
        assert!(err.to_string().contains("evnt"), "{err}");
    }

    #[test]
    fn http_annotations_survive_in_the_descriptor_set() {
        let pool = descriptor_pool();
        let http = pool
            .get_extension_by_name("google.api.http")
            .expect("google.api.http extension");
        let method = pool
            .get_service_by_name("maitre.profile.v1.ProfileService")
            .and_then(|s| s.methods().find(|m| m.name() == "CreateStore"))
            .expect("CreateStore");
        let options = method.options();
        assert!(
            options.has_extension(&http),
            "CreateStore keeps its HTTP rule"
        );
        let rule = options.get_extension(&http);
        let post = rule
            .as_message()
            .and_then(|m| m.get_field_by_name("post"))
            .map(|v| v.as_str().unwrap_or_default().to_owned());
        assert_eq!(post.as_deref(), Some("/v1/stores"));
    }

    #[test]
    fn every_service_is_in_the_pool() {
        for name in crate::SERVICE_NAMES {
            let service = descriptor_pool().get_service_by_name(name).expect(name);
            assert!(
                service.methods().any(|m| m.name() == "Watch"),
                "{name} has Watch"
            );
        }
    }
}
