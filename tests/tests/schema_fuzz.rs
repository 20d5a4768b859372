//! A schema-driven fuzz test of the whole REST API (issue 21): every operation of the served
//! `/openapi.json` is called with bodies, query strings and path parameters generated from
//! its schema — valid ones, and ones that break one stated bound or type — through the real
//! gateway and services. No answer may be a 5xx; every error is the documented `Error` body;
//! every success is the documented response (no property the document does not name).
//!
//! Bounded for CI: [`CALLS_PER_OPERATION`] calls per operation (about 2,000 in all), from a
//! fixed seed, so a failure reproduces. Half the calls are valid by the document (every
//! `required` field, one member of a required oneof, values within the stated lengths,
//! ranges, enums and formats — a format's `example` where the fuzz cannot make one). A valid
//! call refused as INVALID_ARGUMENT is the document under-describing the API and fails the
//! test, naming the operation and field — unless the document states the rule the refusal
//! names in words (`x-constraints`: a rule depending on other fields or on the chain's data),
//! which is counted and printed.

use std::collections::BTreeMap;

use maitre_kit::{
    auth::Role,
    testing::{Backend, token},
};
use maitre_tests::{System, setup};
use serde_json::{Map, Value, json};

const CALLS_PER_OPERATION: usize = 20;

/// Under-descriptions found and not fixed yet, each with why: printed, not failed on. Any
/// other one fails the test. None today.
const KNOWN_GAPS: &[(&str, &str)] = &[];

/// SplitMix64, seeded per backend: the same requests every run.
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
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// The document and a way to resolve its references.
struct Doc(Value);

impl Doc {
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        if let Some(name) = schema["$ref"].as_str() {
            let name = name.trim_start_matches("#/components/schemas/");
            return self.resolve(&self.0["components"]["schemas"][name]);
        }
        if let Some([only]) = schema["allOf"].as_array().map(Vec::as_slice) {
            return self.resolve(only);
        }
        schema
    }

    /// Whether the document states, in words (`x-constraints`), a rule of the request field
    /// at proto path `field` (`policy.caps[0].window_hours`) of `operation`.
    fn constrained(&self, operation: &Value, field: &str) -> bool {
        let parts: Vec<String> = field
            .split('.')
            .map(|part| lower_camel(part.split('[').next().unwrap_or(part)))
            .collect();
        let Some(first) = field
            .split('.')
            .next()
            .map(|p| p.split('[').next().unwrap_or(p))
        else {
            return false;
        };
        let body = &operation["requestBody"];
        let body_schema = &body["content"]["application/json"]["schema"];
        let parameter = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == first);
        let (mut schema, rest) = if let Some(parameter) = parameter {
            (&parameter["schema"], &parts[1..])
        } else if body["x-request-field"] == first {
            (body_schema, &parts[1..])
        } else {
            (body_schema, &parts[..])
        };
        for part in rest {
            let mut resolved = self.resolve(schema);
            // A map's keys are not properties: its own rule speaks for them.
            if resolved["additionalProperties"].is_object() {
                return schema["x-constraints"].is_array();
            }
            if resolved["type"] == "array" {
                resolved = self.resolve(&resolved["items"]);
            }
            schema = &resolved["properties"][part.as_str()];
        }
        schema["x-constraints"].is_array()
            || self.resolve(schema)["items"]["x-constraints"].is_array()
    }

    /// A value for `schema`; with `break_one`, one node somewhere breaks its schema.
    fn value(&self, schema: &Value, rng: &mut Rng, depth: usize, break_one: &mut bool) -> Value {
        let schema = self.resolve(schema);
        if *break_one && rng.chance(4) {
            *break_one = false;
            return self.broken(schema, rng);
        }
        if let Some(values) = schema["enum"].as_array() {
            return values[rng.below(values.len())].clone();
        }
        match schema["type"].as_str() {
            Some("object") => {
                let mut object = Map::new();
                let required: Vec<&str> = schema["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if depth > 3 && required.is_empty() {
                    return Value::Object(object);
                }
                // A oneof takes at most one member; a required one exactly one.
                let mut oneof_taken: Vec<String> = Vec::new();
                if let Some(alternatives) = schema["oneOf"].as_array() {
                    let pick = &alternatives[rng.below(alternatives.len())];
                    for name in pick["required"].as_array().into_iter().flatten() {
                        let name = name.as_str().unwrap_or_default();
                        let property = &schema["properties"][name];
                        oneof_taken.push(property["x-oneof"].as_str().unwrap_or("").to_owned());
                        object.insert(
                            name.to_owned(),
                            self.value(property, rng, depth + 1, break_one),
                        );
                    }
                }
                for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                    if object.contains_key(name) {
                        continue;
                    }
                    let oneof = property["x-oneof"].as_str();
                    if oneof.is_some_and(|o| oneof_taken.iter().any(|t| t == o)) {
                        continue;
                    }
                    if required.contains(&name.as_str()) || (depth <= 3 && rng.chance(2)) {
                        if let Some(oneof) = oneof {
                            oneof_taken.push(oneof.to_owned());
                        }
                        object.insert(
                            name.clone(),
                            self.value(property, rng, depth + 1, break_one),
                        );
                    }
                }
                Value::Object(object)
            }
            Some("array") => {
                let max = schema["maxItems"].as_u64().unwrap_or(3).min(3) as usize;
                let min = schema["minItems"].as_u64().unwrap_or(0) as usize;
                let count = min.max(rng.below(max + 1));
                Value::Array(
                    (0..count)
                        .map(|_| self.value(&schema["items"], rng, depth + 1, break_one))
                        .collect(),
                )
            }
            Some("integer") => {
                let min = schema["minimum"].as_i64().unwrap_or(0);
                let max = schema["maximum"].as_i64().unwrap_or(min + 1000);
                json!(min + rng.below((max - min + 1) as usize) as i64)
            }
            Some("number") => match (schema["minimum"].as_f64(), schema["maximum"].as_f64()) {
                // Strictly inside a stated range.
                (Some(low), Some(high)) => {
                    json!(low + (high - low) * (1 + rng.below(98)) as f64 / 100.0)
                }
                _ => json!(rng.below(1000) as f64 / 10.0),
            },
            Some("boolean") => json!(rng.chance(2)),
            Some("string") => match schema["format"].as_str() {
                Some("date-time") => json!(
                    (chrono::Utc::now() - chrono::Duration::days(rng.below(400) as i64))
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                Some("int64" | "uint64") => json!(rng.below(10_000).to_string()),
                Some("byte") => json!("aGVsbG8="),
                // A form the fuzz cannot make (a time zone, a rule): the document's example.
                _ if schema["example"].is_string() => schema["example"].clone(),
                _ if schema["pattern"].is_string() => json!("3.5s"),
                _ => {
                    let texts = ["x", "fuzz", "王", "+8613800138000", ""];
                    let nonempty = schema["minLength"].as_u64().unwrap_or(0) > 0;
                    json!(texts[rng.below(if nonempty { 4 } else { 5 })])
                }
            },
            _ => json!("x"),
        }
    }

    /// A value that breaks `schema`: the wrong type, past a bound, outside the enum.
    fn broken(&self, schema: &Value, rng: &mut Rng) -> Value {
        if let Some(max) = schema["maxItems"].as_u64() {
            return Value::Array(vec![json!("x"); max as usize + 1]);
        }
        if let Some(max) = schema["maximum"].as_i64() {
            return json!(max + 1);
        }
        if schema["enum"].is_array() {
            return json!("NOT_A_VALUE");
        }
        match (schema["type"].as_str(), schema["format"].as_str()) {
            (_, Some("date-time")) => json!("0001-01-01T00:00:00Z"),
            (_, Some("int64")) => json!("12x"),
            (Some("object"), _) => json!([1]),
            (Some("array"), _) => json!({"a": 1}),
            (Some("string"), _) => [json!(["wrong"]), json!(1), json!({})][rng.below(3)].clone(),
            _ => json!({"unexpected": true}),
        }
    }
}

fn lower_camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
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

struct Operation {
    method: reqwest::Method,
    path: String,
    spec: Value,
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, spec) in item.as_object().unwrap() {
            // Live streams never end; they have journeys of their own.
            if path == "/v1/stream" {
                continue;
            }
            out.push(Operation {
                method: method.to_uppercase().parse().unwrap(),
                path: path.clone(),
                spec: spec.clone(),
            });
        }
    }
    out
}

#[derive(Default)]
struct Findings {
    calls: usize,
    server_errors: Vec<String>,
    contradictions: Vec<String>,
    /// Valid-by-schema requests refused, by operation and field.
    under_described: BTreeMap<String, usize>,
    /// Valid-by-schema requests refused by a rule the document states in words.
    constrained: BTreeMap<String, usize>,
}

async fn every_operation_answers_as_documented(backend: Backend) {
    let system = System::start(backend).await;
    let hq = token("chain-fuzz", Role::HqAdmin, "hq-1", &[]);
    let admin = maitre_tests::rest::Rest::new(&system.gateway.url, &hq);
    let store = setup::store(&admin, "Main", "M1").await;
    let http = maitre_kit::http::client();
    let doc: Value = http
        .get(format!("{}/openapi.json", system.gateway.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let doc = Doc(doc);
    let mut rng = Rng(match backend {
        Backend::Embedded => 21,
        _ => 2121,
    });
    let mut findings = Findings::default();
    for operation in operations(&doc.0) {
        for call in 0..CALLS_PER_OPERATION {
            let mut break_one = call % 2 == 1;
            let mut path = operation.path.clone();
            let mut query = Vec::new();
            for parameter in operation.spec["parameters"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let name = parameter["name"].as_str().unwrap();
                let schema = doc.resolve(&parameter["schema"]);
                if parameter["in"] == "path" {
                    let id = match rng.below(4) {
                        // Values the document lists, or its example of the form.
                        _ if schema["enum"].is_array() => {
                            let values = schema["enum"].as_array().unwrap();
                            values[rng.below(values.len())].as_str().unwrap().to_owned()
                        }
                        _ if schema["example"].is_string() => {
                            schema["example"].as_str().unwrap().to_owned()
                        }
                        0 => store.clone(),
                        // NUL is refused in any text: only the calls meant to break a bound.
                        1 if break_one => {
                            break_one = false;
                            "fz-%00".to_owned()
                        }
                        _ => format!("fz-{}", rng.below(100)),
                    };
                    path = path.replace(&format!("{{{name}}}"), &id);
                } else if parameter["required"] == true || rng.chance(3) {
                    let value = match doc.value(&parameter["schema"], &mut rng, 3, &mut break_one) {
                        Value::String(text) => text,
                        Value::Array(items) => match items.first() {
                            Some(v) => v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                            None => continue,
                        },
                        other => other.to_string(),
                    };
                    query.push((name.to_owned(), value));
                }
            }
            let mut request = http
                .request(
                    operation.method.clone(),
                    format!("{}{path}", system.gateway.url),
                )
                .bearer_auth(&hq)
                .query(&query);
            let body_schema =
                &operation.spec["requestBody"]["content"]["application/json"]["schema"];
            if !body_schema.is_null() {
                request = request.json(&doc.value(body_schema, &mut rng, 0, &mut break_one));
            }
            let valid = call % 2 == 0;
            let response = request.send().await.expect("gateway reachable");
            findings.calls += 1;
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            let label = format!("{} {}", operation.method, operation.path);
            if status >= 500 {
                findings
                    .server_errors
                    .push(format!("{label} ({path}) → {status} {text}"));
                continue;
            }
            if (200..300).contains(&status) {
                let ok = &operation.spec["responses"]["200"]["content"];
                if let Some(schema) = ok.get("application/json").map(|c| &c["schema"]) {
                    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let schema = doc.resolve(schema);
                    let known = schema["properties"].as_object();
                    match (body.as_object(), known) {
                        (Some(body), Some(known)) => {
                            for key in body.keys().filter(|k| !known.contains_key(*k)) {
                                findings
                                    .contradictions
                                    .push(format!("{label}: undocumented property {key}"));
                            }
                        }
                        (None, _) => findings
                            .contradictions
                            .push(format!("{label}: {status} body is not an object: {text}")),
                        _ => {}
                    }
                }
                continue;
            }
            let error: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if !error["code"].is_string() || !error["message"].is_string() {
                findings
                    .contradictions
                    .push(format!("{label}: {status} is not the Error body: {text}"));
            }
            // A valid call refused for its form (not for the chain's state, FAILED_PRECONDITION,
            // nor for what it names, NOT_FOUND): the document did not say.
            if valid && status == 400 && error["code"] == "INVALID_ARGUMENT" {
                let field = error["field"].as_str().unwrap_or("?");
                let message = error["message"].as_str().unwrap_or("");
                let entry = format!("{label} [{field}]: {message}");
                let list = if doc.constrained(&operation.spec, field) {
                    &mut findings.constrained
                } else {
                    &mut findings.under_described
                };
                *list.entry(entry).or_default() += 1;
            }
        }
    }
    eprintln!(
        "schema fuzz ({backend:?}): {} calls, {} 5xx, {} contradictions, {} operation/field pairs refused though valid by the document, {} refused by a rule it states in words",
        findings.calls,
        findings.server_errors.len(),
        findings.contradictions.len(),
        findings.under_described.len(),
        findings.constrained.len()
    );
    for (what, count) in &findings.constrained {
        eprintln!("  refused by a stated constraint: {what} ×{count}");
    }
    for (what, count) in &findings.under_described {
        eprintln!("  valid by the document, refused: {what} ×{count}");
    }
    assert!(findings.calls >= 1_000, "{} calls", findings.calls);
    assert!(
        findings.server_errors.is_empty(),
        "5xx answers:\n{}",
        findings.server_errors.join("\n")
    );
    assert!(
        findings.contradictions.is_empty(),
        "answers the document does not describe:\n{}",
        findings.contradictions.join("\n")
    );
    let under: Vec<String> = findings
        .under_described
        .iter()
        .filter(|(what, _)| !KNOWN_GAPS.iter().any(|(gap, _)| what.starts_with(gap)))
        .map(|(what, count)| format!("{what} ×{count}"))
        .collect();
    assert!(
        under.is_empty(),
        "valid by /openapi.json but refused (the document under-describes the API):\n{}",
        under.join("\n")
    );
}

maitre_kit::on_both_backends!(every_operation_answers_as_documented);
