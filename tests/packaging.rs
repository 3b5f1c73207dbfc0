//! The container image: no Docker engine runs on the test machines, so this
//! checks what can be checked without one — that the Dockerfile builds and
//! runs the binary this repository defines, on the toolchain CI uses, as a
//! non-root user, with a healthcheck the binary answers. (scripts/test also
//! lints it with hadolint.) The Dockerfile is parsed into its stages and
//! instructions, so a comment or a substring elsewhere cannot satisfy a
//! check.

use std::process::Command;

/// One instruction: its keyword (upper case) and its arguments, with line
/// continuations joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

impl Instruction {
    /// Shell-form arguments split on whitespace.
    fn words(&self) -> Vec<&str> {
        self.args.split_whitespace().collect()
    }

    /// Exec-form (JSON array) arguments, after any `--flag=value` options.
    fn exec_form(&self) -> Vec<String> {
        let json = self.args.trim_start_matches(|c| c != '[');
        serde_json::from_str(json).unwrap_or_else(|_| panic!("{self:?} is not in exec form"))
    }
}

/// A build stage: its `FROM` line and what follows it.
#[derive(Debug)]
struct Stage {
    image: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

impl Stage {
    fn all<'a>(&'a self, keyword: &str) -> impl Iterator<Item = &'a Instruction> + use<'a> {
        let keyword = keyword.to_string();
        self.instructions
            .iter()
            .filter(move |i| i.keyword == keyword)
    }

    fn one(&self, keyword: &str) -> &Instruction {
        let mut found = self.all(keyword);
        let first = found
            .next()
            .unwrap_or_else(|| panic!("stage {:?} has no {keyword}", self.name));
        assert!(
            found.next().is_none(),
            "stage {:?} has several {keyword}",
            self.name
        );
        first
    }

    /// Whether a RUN of this stage runs `command` (a sequence of words,
    /// possibly one command of a `&&` chain).
    fn runs(&self, command: &str) -> bool {
        let wanted: Vec<&str> = command.split_whitespace().collect();
        self.all("RUN")
            .any(|run| run.words().windows(wanted.len()).any(|w| w == wanted))
    }

    /// `KEY=value` pairs of the stage's ENV instructions.
    fn env(&self, key: &str) -> Option<String> {
        self.all("ENV").flat_map(|e| e.words()).find_map(|w| {
            w.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix('='))
                .map(str::to_string)
        })
    }
}

fn parse(text: &str) -> Vec<Stage> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let instruction = Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_string(),
        };
        if instruction.keyword == "FROM" {
            let words = instruction.words();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                _ => None,
            };
            stages.push(Stage {
                image: words[0].to_string(),
                name,
                instructions: Vec::new(),
            });
        } else {
            stages
                .last_mut()
                .expect("an instruction before the first FROM")
                .instructions
                .push(instruction);
        }
    }
    stages
}

fn stages() -> Vec<Stage> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile"))
        .expect("Dockerfile");
    parse(&text)
}

fn stage<'a>(stages: &'a [Stage], name: &str) -> &'a Stage {
    stages
        .iter()
        .find(|s| s.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no stage named {name}"))
}

#[test]
fn dockerfile_builds_the_parley_binary_in_release() {
    let stages = stages();
    let builder = stage(&stages, "builder");
    assert!(
        builder.runs("cargo build --release --bin parley"),
        "the image builds the same binary target CI builds (--bin parley)"
    );
    assert!(
        builder.runs("cargo chef cook --release"),
        "dependency layer cached with cargo-chef"
    );
    let bin = env!("CARGO_BIN_EXE_parley");
    assert!(
        bin.ends_with("/parley"),
        "Cargo.toml defines the parley binary"
    );
    let runtime = stages.last().expect("a runtime stage");
    let copies_binary = runtime.all("COPY").any(|c| {
        c.words()
            == [
                "--from=builder",
                "/app/target/release/parley",
                "/usr/local/bin/parley",
            ]
    });
    assert!(
        copies_binary,
        "the runtime stage copies the builder's release binary"
    );
}

#[test]
fn dockerfile_uses_the_toolchain_ci_uses() {
    let stages = stages();
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
    let first = &stages[0];
    assert!(
        first.image == format!("rust:{minor}")
            || first.image.starts_with(&format!("rust:{minor}-")),
        "the builder image is rust:{minor}, the toolchain the tests run on; got {}",
        first.image
    );
}

#[test]
fn runtime_stage_is_slim_non_root_and_healthchecked_by_the_binary() {
    let stages = stages();
    let runtime = stages.last().expect("a runtime stage");
    assert!(
        runtime.image.ends_with("-slim"),
        "slim runtime base, got {}",
        runtime.image
    );
    let user = runtime.one("USER").args.clone();
    let uid = user.split(':').next().unwrap_or_default();
    assert!(
        uid != "root" && uid != "0" && !uid.is_empty(),
        "runs as non-root, got {user}"
    );
    assert_eq!(runtime.one("EXPOSE").args, "8080");
    assert_eq!(
        runtime.env("BIND_ADDR").as_deref(),
        Some("0.0.0.0:8080"),
        "listens on the exposed port"
    );
    let healthcheck = runtime.one("HEALTHCHECK");
    assert!(
        healthcheck.words().contains(&"CMD"),
        "HEALTHCHECK runs a command: {healthcheck:?}"
    );
    assert_eq!(
        healthcheck.exec_form(),
        ["/usr/local/bin/parley", "healthcheck"],
        "HEALTHCHECK needs no shell tools"
    );
    assert_eq!(
        runtime.one("ENTRYPOINT").exec_form(),
        ["/usr/local/bin/parley"]
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

#[test]
fn the_parser_joins_continuations_and_skips_comments() {
    let stages = parse(
        "# comment\nFROM a:1 AS one\nRUN x \\\n    && cargo build --release\n# RUN fake\nFROM b-slim\nUSER 1:1\n",
    );
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[0].name.as_deref(), Some("one"));
    assert!(stages[0].runs("cargo build --release"));
    assert!(!stages[0].runs("fake"));
    assert_eq!(stages[1].one("USER").args, "1:1");
}
