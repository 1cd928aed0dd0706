//! Integration tests of the `exo` command and the native server, one module per surface:
//! `http` serves a built model over real sockets, `commands` runs the `exo` binary, `dev` runs
//! `exo dev` / `exo yolo` while editing the model, `import` runs `exo schema import` on real databases,
//! `mcp` drives `/mcp` with the MCP SDK client, `production` runs `exo serve` and `exo test`
//! through PgBouncer and checks readiness and request logs, `telemetry` receives its
//! OpenTelemetry spans with OTLP receivers of its own.

mod bounds;
mod commands;
mod dev;
mod http;
mod import;
mod mcp;
mod production;
mod telemetry;

use std::path::{Path, PathBuf};

/// The workspace root (`schema-examples/` lives there).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("cli/ has a parent").to_path_buf()
}

pub fn example(name: &str) -> PathBuf {
    workspace().join("schema-examples").join(name)
}

/// Copies a project into a fresh temporary directory (without its `target/`), so commands that
/// write `target/index.exo_ir` never touch the repository.
pub fn temp_copy(project: &Path) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dest = tmp.path().join(project.file_name().expect("named"));
    copy_dir(project, &dest);
    (tmp, dest)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let path = entry.path();
        if path.is_dir() {
            if entry.file_name() != "target" {
                copy_dir(&path, &to.join(entry.file_name()));
            }
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy");
        }
    }
}

/// The `exo` binary built with these tests.
pub fn exo() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_exo"));
    // The tests must not pick up a developer's database or settings.
    for (k, _) in std::env::vars() {
        if k.starts_with("EXO_") || k == "DATABASE_URL" {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// A port for an `exo` process to listen on (see `exo_testing::free_port`).
pub fn free_port() -> u16 {
    exo_testing::free_port().expect("a free port")
}
