//! The documents stay true to the code: every `MAITRE_*` variable the product reads is in the
//! README's configuration table, the chart's defaults equal the code's, and every repository
//! path the documents cite exists.

use std::path::{Path, PathBuf};

/// The workspace root (this crate lives in `tests/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// Every `"MAITRE_…"` string literal (a complete variable name) in `text`.
fn variables_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("\"MAITRE_") {
        let name: String = text[at + 1..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let closed = text[at + 1 + name.len()..].starts_with('"');
        if closed && !name.ends_with('_') {
            found.push(name);
        }
    }
    found
}

#[test]
fn every_variable_the_product_reads_is_in_the_readme() {
    let root = root();
    let mut files = Vec::new();
    for dir in ["services", "gateway/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let mut missing: Vec<String> = files
        .iter()
        // Each service's tests set variables; they are not configuration.
        .filter(|f| !f.components().any(|c| c.as_os_str() == "tests"))
        .flat_map(|f| variables_in(&std::fs::read_to_string(f).expect("source")))
        .filter(|v| !readme.contains(&format!("`{v}`")))
        .collect();
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "read by the code but not in README.md's configuration table: {missing:?}"
    );
}

#[test]
fn the_variable_scan_finds_names_and_skips_prefixes() {
    let text =
        r#"lookup("MAITRE_ENV"); format!("MAITRE_{}_URL"); "MAITRE_X_"; "MAITRE_POOL_SIZE2""#;
    assert_eq!(variables_in(text), ["MAITRE_ENV", "MAITRE_POOL_SIZE2"]);
}

/// The value of the first `key: value` line under `section:` in a YAML file (two-space indent).
fn chart_value(yaml: &str, section: &str, key: &str) -> String {
    let mut inside = false;
    for line in yaml.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
            inside = line.trim_end() == format!("{section}:");
            continue;
        }
        if inside && let Some(value) = line.trim().strip_prefix(&format!("{key}:")) {
            return value.trim().to_owned();
        }
    }
    panic!("{section}.{key} not in the chart's values");
}

#[test]
fn the_charts_defaults_are_the_codes() {
    let values = std::fs::read_to_string(root().join("charts/maitre/values.yaml")).expect("values");
    let code = maitre_gateway::GatewayOptions::default();
    assert_eq!(
        chart_value(&values, "gateway", "rateLimitPerMinute"),
        code.rate_limits.per_token_per_minute.to_string(),
        "gateway.rateLimitPerMinute differs from MAITRE_RATE_LIMIT_PER_MINUTE's default"
    );
    assert_eq!(
        chart_value(&values, "events", "partitions"),
        maitre_kit::config::DEFAULT_POSTGRES_PARTITIONS.to_string(),
        "events.partitions differs from MAITRE_EVENT_PARTITIONS's PostgreSQL default"
    );
}

#[test]
fn every_path_the_documents_cite_exists() {
    let root = root();
    let tops = [
        "services/",
        "gateway/",
        "proto/",
        "tests/",
        "charts/",
        "bench/",
        "docs/",
        ".ci/",
    ];
    let mut documents = vec![root.join("README.md"), root.join("bench/README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs") {
        let path = entry.expect("entry").path();
        // Documents only: docs/screenshots holds the README's images.
        if path.extension().is_some_and(|e| e == "md") {
            documents.push(path);
        }
    }
    let mut missing = Vec::new();
    for document in documents {
        let text = std::fs::read_to_string(&document).expect("document");
        for (i, quoted) in text.split('`').enumerate() {
            // Odd pieces are inside backquotes; paths with placeholders are patterns.
            let cited = quoted.trim_end_matches(['.', ',']);
            if i % 2 == 1
                && tops.iter().any(|top| cited.starts_with(top))
                && !cited.contains(['<', '*', ' ', '{'])
                && !root.join(cited).exists()
            {
                missing.push(format!("{}: {cited}", document.display()));
            }
        }
    }
    assert!(missing.is_empty(), "cited but missing: {missing:#?}");
}
