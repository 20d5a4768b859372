//! Fuzzing the gateway's decoders (issue 21): every REST route's JSON body, query string and
//! path variables through the transcoder the REST handler itself calls, and every request
//! type's protobuf bytes through the decoder and the bounds every service applies
//! (`kit::request_text`, `kit::request_bounds`). None may panic; each input is either a
//! request message or a refusal naming a field. Bounded for CI by proptest's case count.

use maitre_gateway::{
    routes::{Binding, Route, RouteTable},
    transcode,
};
use proptest::prelude::*;
use prost::Message;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

fn table() -> RouteTable {
    RouteTable::from_pool(
        maitre_proto::descriptor_pool(),
        &maitre_proto::SERVICE_NAMES,
    )
    .unwrap()
}

/// SplitMix64: one seed from proptest drives a whole schema-shaped value.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

const TEXTS: &[&str] = &[
    "",
    "x",
    "王经理",
    "\u{0}",
    "+8613800138000",
    "1e400",
    "-1",
    "null",
    "a.b",
    "%00",
    "🙂",
    "2026-12-07T10:00:00Z",
    "0001-01-01T00:00:00Z",
    "3s",
    "CNY",
    "XXX'; --",
];

fn text(rng: &mut Rng) -> Value {
    if rng.chance(20) {
        return Value::String("長".repeat(rng.below(5_000)));
    }
    Value::String(TEXTS[rng.below(TEXTS.len())].to_owned())
}

/// Something of the wrong shape for any field.
fn junk(rng: &mut Rng) -> Value {
    match rng.below(6) {
        0 => Value::Null,
        1 => json!(rng.next() as i64),
        2 => json!(f64::from(rng.below(1000) as u32) / 7.0),
        3 => json!([1, "a", null]),
        4 => json!({"x": 1}),
        _ => text(rng),
    }
}

fn scalar(kind: &Kind, rng: &mut Rng) -> Value {
    if rng.chance(8) {
        return junk(rng);
    }
    match kind {
        Kind::String | Kind::Bytes => text(rng),
        Kind::Bool => Value::Bool(rng.chance(2)),
        Kind::Double | Kind::Float => json!((rng.next() % 100_000) as f64 / 3.0),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
            Value::String((rng.next() as i64 >> rng.below(63)).to_string())
        }
        Kind::Enum(e) => {
            let values: Vec<_> = e.values().collect();
            Value::String(values[rng.below(values.len())].name().to_owned())
        }
        _ => json!((rng.next() as i64 >> rng.below(63)) as i32),
    }
}

fn field_value(field: &FieldDescriptor, rng: &mut Rng, depth: usize) -> Value {
    let one = |rng: &mut Rng| match field.kind() {
        Kind::Message(m) => message_value(&m, rng, depth + 1),
        kind => scalar(&kind, rng),
    };
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return junk(rng);
        };
        let value = entry.map_entry_value_field();
        let mut map = Map::new();
        for _ in 0..rng.below(3) {
            map.insert(
                text(rng).as_str().unwrap_or("k").to_owned(),
                field_value(&value, rng, depth + 1),
            );
        }
        return Value::Object(map);
    }
    if field.is_list() {
        let count = if rng.chance(30) { 150 } else { rng.below(4) };
        return Value::Array((0..count).map(|_| one(rng)).collect());
    }
    one(rng)
}

fn message_value(message: &MessageDescriptor, rng: &mut Rng, depth: usize) -> Value {
    match message.full_name() {
        "google.protobuf.Timestamp" | "google.protobuf.Duration" | "google.protobuf.FieldMask" => {
            return text(rng);
        }
        "google.protobuf.Struct" | "google.protobuf.Value" => return junk(rng),
        _ => {}
    }
    if depth > 3 || rng.chance(30) {
        return junk(rng);
    }
    let mut object = Map::new();
    for field in message.fields() {
        if rng.chance(2) {
            let name = if rng.chance(2) {
                field.json_name().to_owned()
            } else {
                field.name().to_owned()
            };
            object.insert(name, field_value(&field, rng, depth));
        }
    }
    if rng.chance(10) {
        object.insert("noSuchField".into(), junk(rng));
    }
    Value::Object(object)
}

fn bindings(route: &Route, rng: &mut Rng) -> Vec<Binding> {
    route
        .template
        .variables()
        .map(|v| {
            let value = text(rng).as_str().unwrap_or("").to_owned();
            (v.split('.').map(str::to_owned).collect(), value)
        })
        .collect()
}

fn query(route: &Route, rng: &mut Rng) -> String {
    let mut pairs = Vec::new();
    for field in route.method.input().fields() {
        if rng.chance(3) {
            let value = match field_value(&field, rng, 3) {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let value: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
            pairs.push(format!("{}={value}", field.name()));
        }
    }
    if rng.chance(5) {
        pairs.push("%zz=%%".into());
    }
    pairs.join("&")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, failure_persistence: None, ..ProptestConfig::default() })]

    /// JSON shaped like each route's request (right and wrong types, unknown fields, huge
    /// lists and texts, bad enums) is a request message or a refusal naming a field; the
    /// message it makes survives encoding, decoding and the services' bounds.
    #[test]
    fn any_request_json_transcodes_or_is_refused(seed in any::<u64>()) {
        let table = table();
        let mut rng = Rng(seed);
        let route = &table.routes()[rng.below(table.routes().len())];
        let body = if rng.chance(10) {
            // Not JSON at all, or JSON of the wrong kind.
            [b"{".to_vec(), b"[]".to_vec(), b"\"x\"".to_vec(), vec![0xff, 0xfe]][rng.below(4)].clone()
        } else {
            message_value(&route.method.input(), &mut rng, 0).to_string().into_bytes()
        };
        let query = query(route, &mut rng);
        let bindings = bindings(route, &mut rng);
        match transcode::request_message(route, &body, Some(&query), &bindings) {
            Ok(message) => {
                let bytes = message.encode_to_vec();
                match DynamicMessage::decode(route.method.input(), bytes.as_slice()) {
                    Ok(decoded) => {
                        let _ = maitre_kit::request_bounds::violation(&decoded);
                    }
                    Err(e) => {
                        let failure = format!("{}: re-decode failed: {e}", route.grpc_path);
                        return Err(TestCaseError::fail(failure));
                    }
                }
            }
            Err(refusal) => prop_assert!(!refusal.message.is_empty(), "{}", route.grpc_path),
        }
    }

    /// Arbitrary and corrupted protobuf bytes of every request type, as a direct gRPC caller
    /// may send them: decoding and the bounds check never panic, and a response of any shape
    /// the gateway may receive turns into JSON or a plain error.
    #[test]
    fn any_protobuf_bytes_decode_or_are_refused(seed in any::<u64>(), noise in proptest::collection::vec(any::<u8>(), 0..64)) {
        let table = table();
        let mut rng = Rng(seed);
        let route = &table.routes()[rng.below(table.routes().len())];
        let valid = transcode::request_message(route, b"{}", None, &bindings(route, &mut rng))
            .map(|m| m.encode_to_vec())
            .unwrap_or_default();
        let mut bytes = valid;
        bytes.extend_from_slice(&noise);
        if !bytes.is_empty() && rng.chance(2) {
            let at = rng.below(bytes.len());
            bytes[at] ^= (rng.next() & 0xff) as u8;
        }
        if let Ok(message) = DynamicMessage::decode(route.method.input(), bytes.as_slice()) {
            let _ = maitre_kit::request_bounds::violation(&message);
        }
        let _ = transcode::response_json(route, &noise);
    }
}
