//! The container image: no Docker engine runs on the test machines, so this
//! checks what can be checked without one — that the Dockerfile builds and
//! runs the binary this repository defines, on the toolchain CI uses, as a
//! non-root user, with a healthcheck the binary answers. (scripts/test also
//! lints it with hadolint.)

use std::process::Command;

fn dockerfile() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).expect("Dockerfile")
}

/// Instructions of the final (runtime) stage.
fn runtime_stage(text: &str) -> String {
    let start = text.rfind("\nFROM ").expect("a FROM line");
    text[start..].to_string()
}

#[test]
fn dockerfile_builds_the_parley_binary_in_release() {
    let text = dockerfile();
    assert!(
        text.contains("cargo build --release --bin parley"),
        "the image builds the same binary target CI builds (--bin parley)"
    );
    assert!(
        text.contains("cargo chef cook --release"),
        "dependency layer cached with cargo-chef"
    );
    let bin = env!("CARGO_BIN_EXE_parley");
    assert!(
        bin.ends_with("/parley"),
        "Cargo.toml defines the parley binary"
    );
    assert!(
        runtime_stage(&text).contains("/app/target/release/parley"),
        "the runtime stage copies the release binary"
    );
}

#[test]
fn dockerfile_uses_the_toolchain_ci_uses() {
    let text = dockerfile();
    let out = Command::new("rustc")
        .arg("--version")
        .output()
        .expect("rustc runs");
    let version = String::from_utf8_lossy(&out.stdout);
    // "rustc 1.95.0 (…)" → "1.95"
    let minor: String = version
        .split_whitespace()
        .nth(1)
        .expect("a version")
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".");
    assert!(
        text.contains(&format!("FROM rust:{minor}")),
        "the builder image is rust:{minor}, the toolchain the tests run on"
    );
}

#[test]
fn runtime_stage_is_slim_non_root_and_healthchecked_by_the_binary() {
    let runtime = runtime_stage(&dockerfile());
    assert!(runtime.contains("-slim"), "slim runtime base");
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER instruction");
    assert!(
        !user.starts_with("root") && !user.starts_with("0"),
        "runs as non-root, got {user}"
    );
    assert!(runtime.contains("EXPOSE 8080"));
    assert!(
        runtime.contains("BIND_ADDR=0.0.0.0:8080"),
        "listens on the exposed port"
    );
    assert!(
        runtime.contains(r#"CMD ["/usr/local/bin/parley", "healthcheck"]"#),
        "HEALTHCHECK needs no shell tools"
    );
    // The healthcheck subcommand exists and fails (non-zero) when nothing
    // listens, as a HEALTHCHECK must.
    let status = Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("healthcheck")
        .env("BIND_ADDR", "127.0.0.1:9")
        .status()
        .expect("parley healthcheck runs");
    assert!(
        !status.success(),
        "healthcheck fails when /readyz does not answer"
    );
}
