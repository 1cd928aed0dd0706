//! MCP at `/mcp` against a real `exo serve`: the official MCP TypeScript SDK client
//! (`integration/mcp-js/mcp-test.mjs`) lists the tools and calls them as admin, owner and
//! anonymous callers, comparing every answer with `/graphql`'s, then sends malformed JSON-RPC.
//! The todo example is served twice: without `exo.toml` (the default `execute_query`) and with
//! two profiles (`reader` hides `User`, `writer` may create todos).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use exo_pg_ephemeral::{unique_db_name, EphemeralPostgres};
use exo_server::DatabaseConfig;

use crate::{example, exo, temp_copy, workspace};

const SECRET: &str = "mcp-test-secret";

/// The profiles the `profiles` scenario expects.
pub const PROFILES_TOML: &str = r#"# MCP tools for agents: one per profile.
[[mcp.profiles]]
name = "reader"
queries.models.exclude = ["User"]

[[mcp.profiles]]
name = "writer"
queries.models.exclude = ["User"]
mutations.models.include = ["Todo"]
mutations.operations.include = ["createTodo"]
"#;

fn mcp_js() -> PathBuf {
    workspace().join("integration/mcp-js")
}

/// Kills the server on every path out of the test.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Builds the todo example (with `exo_toml` written beside it, if any), creates its database
/// and starts `exo serve` on a free port; returns the server and its base URL.
fn serve_todo(prefix: &str, exo_toml: Option<&str>) -> (tempfile::TempDir, Kill, String, String) {
    serve_todo_with(prefix, exo_toml, &[])
}

/// As [`serve_todo`], with these extra environment variables for `exo serve`.
fn serve_todo_with(
    prefix: &str,
    exo_toml: Option<&str>,
    vars: &[(&str, &str)],
) -> (tempfile::TempDir, Kill, String, String) {
    let (tmp, project) = temp_copy(&example("ok/todo"));
    if let Some(toml) = exo_toml {
        std::fs::write(project.join("exo.toml"), toml).unwrap();
    }
    let built = exo().args(["build", "-q", "--project"]).arg(&project).output().unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let ir = exo_ir::decode(&std::fs::read(project.join("target/index.exo_ir")).unwrap()).unwrap();
    let pg = EphemeralPostgres::shared().expect("ephemeral Postgres");
    let db = unique_db_name(prefix);
    let url = pg.create_database(&db).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let config = DatabaseConfig {
            url: Some(url.clone()),
            pool_size: 1,
            read_write: true,
            check_on_startup: true,
            prepared_statements: true,
        };
        let client = exo_server::connect_client(&config).await.unwrap();
        exo_pg_schema::apply(&client, &exo_pg_schema::create_statements(&ir.database)).await.unwrap();
    });
    let port = crate::free_port();
    let mut child = exo()
        .args(["serve", "--port", &port.to_string(), "--project"])
        .arg(&project)
        .env("EXO_POSTGRES_URL", &url)
        .env("EXO_POSTGRES_READ_WRITE", "true")
        .env("EXO_JWT_SECRET", SECRET)
        .env("EXO_SERVER_HOST", "127.0.0.1")
        .env("EXO_CONNECTION_POOL_SIZE", "2")
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let child = Kill(child);
    let mut seen = String::new();
    let mut lines = BufReader::new(stdout).lines().chain(BufReader::new(stderr).lines());
    let started = lines.by_ref().map_while(Result::ok).any(|line| {
        seen.push_str(&line);
        seen.push('\n');
        line.contains("Started server on")
    });
    assert!(started, "exo serve did not start:\n{seen}");
    // Keep draining its output: a closed pipe would end the server at its next log line.
    std::thread::spawn(move || lines.for_each(drop));
    (tmp, child, format!("http://127.0.0.1:{port}"), db)
}

/// Runs the SDK client script; returns its output, failing the test when a check failed.
pub fn run_client(base: &str, secret: &str, scenario: &str) -> String {
    let dir = mcp_js();
    assert!(
        dir.join("node_modules/@modelcontextprotocol/sdk").exists(),
        "the MCP SDK is not installed: run `npm ci --prefix integration/mcp-js` (scripts/install-toolchain.sh does)"
    );
    let out = Command::new("node")
        .arg(dir.join("mcp-test.mjs"))
        .args([base, secret, scenario])
        .current_dir(&dir)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the MCP client failed ({scenario}):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
    stdout
}

fn drop_database(db: &str) {
    if let Ok(pg) = EphemeralPostgres::shared() {
        let _ = pg.drop_database(db);
    }
}

#[test]
fn sdk_client_without_profiles() {
    let (_tmp, server, base, db) = serve_todo("exo_mcp_default", None);
    let out = run_client(&base, SECRET, "default");
    for check in [
        "execute_query as owner answers exactly as /graphql",
        "a mutation is refused without a profile",
        "malformed JSON is a parse error",
    ] {
        assert!(out.contains(&format!("ok   {check}")), "{out}");
    }
    drop(server);
    drop_database(&db);
}

#[test]
fn sdk_client_with_profiles() {
    let (_tmp, server, base, db) = serve_todo("exo_mcp_profiles", Some(PROFILES_TOML));
    let out = run_client(&base, SECRET, "profiles");
    for check in ["the reader profile hides the User model", "allowed by the writer profile"] {
        assert!(out.contains(check), "{out}");
    }
    drop(server);
    drop_database(&db);
}

/// `EXO_MCP_MODE=separate`: the schema is served by `introspect_<profile>` tools.
#[test]
fn sdk_client_in_separate_mode() {
    let (_tmp, server, base, db) =
        serve_todo_with("exo_mcp_separate", Some(PROFILES_TOML), &[("EXO_MCP_MODE", "separate")]);
    let out = run_client(&base, SECRET, "separate");
    for check in ["an introspect tool beside each execute_query tool", "introspect returns the profile's schema"] {
        assert!(out.contains(check), "{out}");
    }
    drop(server);
    drop_database(&db);
}

/// `EXO_ENABLE_MCP=false` leaves nothing at `/mcp`.
#[test]
fn mcp_can_be_disabled() {
    let (_tmp, project) = temp_copy(&example("ok/todo"));
    let built = exo().args(["build", "-q", "--project"]).arg(&project).output().unwrap();
    assert!(built.status.success());
    let bytes = std::fs::read(project.join("target/index.exo_ir")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // The database is never reached: nothing answers at `/mcp`.
        let vars = [
            ("EXO_ENABLE_MCP", "false"),
            ("EXO_CHECK_CONNECTION_ON_STARTUP", "false"),
            ("EXO_POSTGRES_URL", "postgres://127.0.0.1:1/unused"),
        ];
        let config =
            exo_server::ServerConfig::from_env(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
                .unwrap();
        assert!(!config.engine.mcp.enabled);
        let server =
            std::sync::Arc::new(exo_server::Server::from_ir_bytes(&bytes, config, Box::new(|_| None)).await.unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve_on(listener, async {
            let _ = stopped.await;
        }));
        let reply = post(addr, "/mcp", r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).await;
        assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
        let _ = stop.send(());
        serving.await.unwrap().unwrap();
    });
}

async fn post(addr: std::net::SocketAddr, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    raw
}

/// A mistake in `exo.toml` fails the build with a diagnostic pointing into the file; a pattern
/// matching nothing is a warning.
#[test]
fn exo_toml_mistakes_are_diagnostics() {
    let (_tmp, project) = temp_copy(&example("ok/todo"));
    std::fs::write(project.join("exo.toml"), "[[mcp.profiles]]\nname = \"x\"\nqueries.model.include = [\"Todo\"]\n")
        .unwrap();
    let built = exo().args(["build", "--project"]).arg(&project).output().unwrap();
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(!built.status.success(), "{stderr}");
    assert!(stderr.contains("exo::mcp_profile") && stderr.contains("exo.toml") && stderr.contains("model"), "{stderr}");
    std::fs::write(project.join("exo.toml"), "[[mcp.profiles]]\nname = \"x\"\nqueries.models.include = [\"Todos\"]\n")
        .unwrap();
    let built = exo().args(["build", "--project"]).arg(&project).output().unwrap();
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success(), "{stderr}");
    assert!(stderr.contains("`queries.models.include` pattern `Todos` of MCP profile `x` matches nothing"), "{stderr}");
    assert!(stderr.contains("exposes no operation"), "{stderr}");
}
