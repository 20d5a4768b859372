//! Compiles the contract with the pure-Rust `protox` (no protoc on the machines) and feeds
//! the one descriptor set to code generation, to the gateway's transcoder and to reflection.

use std::{env, fs, path::PathBuf};

const PROTOS: &[&str] = &[
    "maitre/common/v1/common.proto",
    "maitre/events/v1/events.proto",
    "maitre/profile/v1/profile.proto",
    "maitre/assignment/v1/assignment.proto",
    "maitre/tagging/v1/tagging.proto",
    "maitre/notification/v1/notification.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed={}", root.join("maitre").display());
    println!("cargo:rerun-if-changed={}", root.join("google").display());

    let mut compiler = protox::Compiler::new([&root])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(PROTOS.iter().map(|p| root.join(p)))?;
    // Encoded by protox itself: re-encoding through `prost_types` would drop the
    // `google.api.http` method options the gateway routes by.
    fs::write(
        out.join("maitre_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    let fds = compiler.file_descriptor_set();

    let mut config = tonic_prost_build::Config::new();
    // `prost::Name` on every message lets `json` find its descriptor by full name.
    config.enable_type_names();
    tonic_prost_build::configure()
        // Services not yet built answer UNIMPLEMENTED instead of failing to compile.
        .generate_default_stubs(true)
        .compile_fds_with_config(fds, config)?;
    Ok(())
}
