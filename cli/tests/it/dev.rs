//! `exo dev` as a user runs it: the binary against a real Postgres, the model edited on disk,
//! every effect observed over HTTP (and in the database).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use exo_pg_ephemeral::{unique_db_name, EphemeralPostgres};
use serde_json::{json, Value};

use crate::{example, exo, free_port, temp_copy};

/// How long any one expected event may take before the test gives up (a bound against hangs,
/// not a speed assertion: the reload time is reported by `exo dev` itself).
const PATIENCE: Duration = Duration::from_secs(60);

/// A running `exo` process whose output goes to files; interrupted (like Ctrl-C) on drop.
struct Running {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    port: u16,
}

impl Running {
    /// Runs `command --port <a free port>`.
    fn start(mut command: std::process::Command, logs: &Path) -> Running {
        let port = free_port();
        command.arg("--port").arg(port.to_string());
        Running::start_with_stdin(command, logs, Stdio::null(), port)
    }

    /// Runs `command` as is; it must make exo listen on `port`.
    fn start_with_stdin(mut command: std::process::Command, logs: &Path, stdin: Stdio, port: u16) -> Running {
        let stdout = logs.join("stdout.log");
        let stderr = logs.join("stderr.log");
        let child = command
            .stdin(stdin)
            .stdout(std::fs::File::create(&stdout).expect("stdout log"))
            .stderr(std::fs::File::create(&stderr).expect("stderr log"))
            .spawn()
            .expect("start exo");
        Running { child, stdout, stderr, port }
    }

    fn output(&self) -> (String, String) {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        (read(&self.stdout), read(&self.stderr))
    }

    /// Waits until `condition` holds for (stdout, stderr); fails with both logs otherwise.
    fn wait_for_output(&mut self, what: &str, condition: impl Fn(&str, &str) -> bool) {
        let started = Instant::now();
        loop {
            let (out, err) = self.output();
            if condition(&out, &err) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("exo exited ({status}) while waiting for {what}\nstdout:\n{out}\nstderr:\n{err}");
            }
            assert!(started.elapsed() < PATIENCE, "gave up waiting for {what}\nstdout:\n{out}\nstderr:\n{err}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn graphql(&self, query: &str) -> Value {
        self.graphql_as(query, "")
    }

    /// A request carrying `Authorization: Bearer <token>` (none when `token` is empty).
    fn graphql_as(&self, query: &str, token: &str) -> Value {
        let auth = if token.is_empty() { String::new() } else { format!("Authorization: Bearer {token}\r\n") };
        let reply = http_with(self.port, "POST", "/graphql", &auth, &json!({ "query": query }).to_string());
        serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", reply.body))
    }

    /// The field names of `Todo`, through introspection.
    fn todo_fields(&self) -> Vec<String> {
        let answer = self.graphql(r#"{ __type(name: "Todo") { fields { name } } }"#);
        answer["data"]["__type"]["fields"]
            .as_array()
            .unwrap_or_else(|| panic!("no Todo fields in {answer}"))
            .iter()
            .map(|f| f["name"].as_str().expect("a name").to_string())
            .collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        // Under `script`, the interrupt reaches exo through the terminal: end of input.
        drop(self.child.stdin.take());
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// One HTTP/1.1 request on a fresh connection.
pub fn http(port: u16, method: &str, path: &str, body: &str) -> Reply {
    http_with(port, method, path, "", body)
}

/// `extra_headers` are whole `Name: value\r\n` lines.
fn http_with(port: u16, method: &str, path: &str, extra_headers: &str, body: &str) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n\
         {extra_headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete reply");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let content_type = head
        .lines()
        .filter_map(|l| l.split_once(": "))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    Reply { status, content_type, body: body.to_string() }
}

/// Rewrites the model with `edit` (a save in an editor).
fn edit_model(project: &Path, edit: impl Fn(&str) -> String) {
    let path = project.join("src/index.exo");
    let text = std::fs::read_to_string(&path).expect("read the model");
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit changed nothing");
    std::fs::write(&path, edited).expect("write the model");
}

const SECRET: &str = "dev-test-secret";

fn admin_token() -> String {
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() + 3600;
    exo_runtime::jwt::sign_hs256(&json!({ "sub": 1, "role": "admin", "exp": exp }), SECRET.as_bytes())
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn dev_reloads_keeps_the_last_good_model_and_refuses_destructive_changes() {
    let pg = EphemeralPostgres::shared().expect("ephemeral Postgres");
    let db = unique_db_name("dev");
    let url = pg.create_database(&db).expect("create database");
    let (tmp, project) = temp_copy(&example("ok/todo"));

    let mut cmd = exo();
    cmd.arg("dev")
        .arg("--project")
        .arg(&project)
        .arg("--read-write")
        .env("EXO_POSTGRES_URL", &url)
        .env("EXO_JWT_SECRET", SECRET);
    let mut dev = Running::start(cmd, tmp.path());
    dev.wait_for_output("the first model to be served", |out, _| out.contains("Watching"));
    let (out, _) = dev.output();
    assert!(out.contains("CREATE TABLE \"todos\""), "the empty database was migrated:\n{out}");
    assert!(!dev.todo_fields().contains(&"notes".to_string()));
    let column = "SELECT count(*) FROM information_schema.columns WHERE table_name = 'todos' AND column_name = 'notes'";

    // 1. A new field: migrated and served without restarting the process.
    edit_model(&project, |m| {
        m.replace("    completed: Boolean = false\n", "    completed: Boolean = false\n    notes: String?\n")
    });
    dev.wait_for_output("the reload with `notes`", |out, _| count(out, "Reloaded in") == 1);
    assert!(dev.todo_fields().contains(&"notes".to_string()), "`notes` is served after the reload");
    assert_eq!(pg.psql(&db, column).expect("psql").trim(), "1", "the column was added");
    let (out, _) = dev.output();
    assert!(out.contains(r#"ALTER TABLE "todos" ADD COLUMN "notes" TEXT"#), "{out}");

    // 2. A broken model: diagnostics printed, the previous model still answers.
    edit_model(&project, |m| m.replace("notes: String?", "notes: Strin?"));
    dev.wait_for_output("the rejected reload", |_, err| err.contains("not reloaded"));
    let (_, err) = dev.output();
    assert!(err.contains("unknown type `Strin`"), "the compiler's diagnostic is shown:\n{err}");
    assert!(err.contains("did you mean `String`?"), "{err}");
    assert!(dev.todo_fields().contains(&"notes".to_string()), "the last good model keeps serving");
    let created =
        dev.graphql_as(r#"mutation { createUser(data: {email: "a@example.com", name: "A"}) { id } }"#, &admin_token());
    assert!(created["data"]["createUser"]["id"].is_number(), "--read-write lets mutations write: {created}");

    // 3. Removing the field needs a destructive DROP COLUMN: refused without a terminal,
    //    with the command that would apply it; the column (and its data) stays.
    edit_model(&project, |m| m.replace("    notes: Strin?\n", ""));
    dev.wait_for_output("the refusal", |_, err| err.contains("Not applied"));
    let (_, err) = dev.output();
    assert!(err.contains(r#"ALTER TABLE "todos" DROP COLUMN "notes""#), "the statement is shown:\n{err}");
    assert!(
        err.contains("exo schema migrate --apply-to-database --allow-destructive-changes --project"),
        "the exact command is given:\n{err}"
    );
    assert_eq!(pg.psql(&db, column).expect("psql").trim(), "1", "the column was not dropped");
    // The leftover nullable column does not stop the new model from being served.
    dev.wait_for_output("the reload without `notes`", |out, _| count(out, "Reloaded in") == 2);
    assert!(!dev.todo_fields().contains(&"notes".to_string()), "the model without `notes` is served");
    drop(dev);
    pg.drop_database(&db).expect("drop database");
}

/// On a terminal (a pseudo-terminal from util-linux `script`), a destructive change is asked
/// about, and a yes applies it.
#[test]
fn dev_asks_on_a_terminal_before_destructive_changes() {
    let pg = EphemeralPostgres::shared().expect("ephemeral Postgres");
    let db = unique_db_name("devtty");
    let url = pg.create_database(&db).expect("create database");
    let (tmp, project) = temp_copy(&example("ok/todo"));
    let port = free_port();
    let exo_cmd = format!("exec '{}' dev --project '{}' --port {port}", env!("CARGO_BIN_EXE_exo"), project.display());
    let mut cmd = std::process::Command::new("script");
    // `-e`: exit with exo's status; `-f`: flush output at once; the typescript is thrown away.
    cmd.args(["-qefc", &exo_cmd, "/dev/null"]);
    for (k, _) in std::env::vars() {
        if k.starts_with("EXO_") || k == "DATABASE_URL" {
            cmd.env_remove(k);
        }
    }
    cmd.env("EXO_POSTGRES_URL", &url).env("NO_COLOR", "1");
    let mut running = Running::start_with_stdin(cmd, tmp.path(), Stdio::piped(), port);
    running.wait_for_output("the first model to be served", |out, _| out.contains("Watching"));

    edit_model(&project, |m| m.replace("    completed: Boolean = false\n", ""));
    running.wait_for_output("the question", |out, _| out.contains("Apply it? [y/N]"));
    let (out, _) = running.output();
    assert!(out.contains(r#"ALTER TABLE "todos" DROP COLUMN "completed""#), "{out}");
    running.child.stdin.as_mut().expect("piped stdin").write_all(b"y\n").expect("answer");
    running.wait_for_output("the reload", |out, _| out.contains("Reloaded in"));
    let column =
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'todos' AND column_name = 'completed'";
    assert_eq!(pg.psql(&db, column).expect("psql").trim(), "0", "the column was dropped after the yes");
    assert!(!running.todo_fields().contains(&"completed".to_string()));
    drop(running);
    pg.drop_database(&db).expect("drop database");
}

#[test]
fn dev_without_a_database_says_what_to_set() {
    let (tmp, project) = temp_copy(&example("ok/todo"));
    let output = exo().arg("dev").arg("--project").arg(&project).current_dir(tmp.path()).output().expect("run exo");
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("set `EXO_POSTGRES_URL`") && err.contains("exo yolo"), "{err}");
}

#[test]
fn yolo_serves_the_playground_and_reloads() {
    let (tmp, project) = temp_copy(&example("ok/todo"));
    let mut cmd = exo();
    cmd.arg("yolo").arg("--project").arg(&project);
    let mut yolo = Running::start(cmd, tmp.path());
    yolo.wait_for_output("yolo to serve", |out, _| out.contains("Watching"));
    let (out, _) = yolo.output();
    assert!(out.contains(&format!("Playground: http://127.0.0.1:{}/playground", yolo.port)), "{out}");

    let page = http(yolo.port, "GET", "/playground", "");
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("text/html"), "{}", page.content_type);
    assert!(
        page.body.contains(r#"data-endpoint="/graphql""#) && page.body.contains("/playground/playground.js"),
        "{}",
        page.body
    );
    let script = http(yolo.port, "GET", "/playground/playground.js", "");
    assert_eq!(script.status, 200);
    assert!(script.content_type.starts_with("text/javascript"));
    assert!(script.body.contains("GraphiQL"), "the bundle holds GraphiQL");
    let licences = http(yolo.port, "GET", "/playground/LICENSES.txt", "");
    assert!(licences.body.contains("graphiql@") && licences.body.contains("react@"), "licences are served");
    assert_eq!(http(yolo.port, "POST", "/playground", "{}").status, 405);

    // yolo watches too, and applies destructive changes to its throwaway database.
    edit_model(&project, |m| m.replace("    completed: Boolean = false\n", ""));
    yolo.wait_for_output("the reload", |out, _| out.contains("Reloaded in"));
    let (out, _) = yolo.output();
    assert!(out.contains(r#"ALTER TABLE "todos" DROP COLUMN "completed""#), "{out}");
    assert!(!yolo.todo_fields().contains(&"completed".to_string()));
}

/// `exo serve` serves the playground only when introspection is enabled.
#[test]
fn serve_has_the_playground_only_with_introspection() {
    let (tmp, project) = temp_copy(&example("ok/todo"));
    let built = exo().arg("build").arg("--project").arg(&project).output().expect("run exo build");
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    for (introspection, expected) in [("false", 404), ("true", 200)] {
        let logs = tmp.path().join(format!("introspection-{introspection}"));
        std::fs::create_dir_all(&logs).expect("mkdir");
        let mut cmd = exo();
        cmd.arg("serve")
            .arg("--project")
            .arg(&project)
            .env("EXO_POSTGRES_URL", "postgres://nobody@127.0.0.1:1/none")
            .env("EXO_CHECK_CONNECTION_ON_STARTUP", "false")
            .env("EXO_SERVER_HOST", "127.0.0.1")
            .env("EXO_INTROSPECTION", introspection);
        let mut serve = Running::start(cmd, &logs);
        serve.wait_for_output("the server to start", |out, _| out.contains("Started server"));
        let reply = http(serve.port, "GET", "/playground", "");
        assert_eq!(reply.status, expected, "EXO_INTROSPECTION={introspection}: {}", reply.body);
        let (out, _) = serve.output();
        assert_eq!(out.contains("Playground: "), expected == 200, "{out}");
    }
}

/// A provider's test issuer on a runtime of its own (the exo processes under test are
/// blocking children); dropped with the runtime.
struct Provider {
    rt: tokio::runtime::Runtime,
    issuer: Option<exo_testing::oidc_issuer::Issuer>,
    key: exo_testing::oidc_issuer::TestKey,
}

impl Provider {
    fn start() -> Provider {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let key = exo_testing::oidc_issuer::TestKey::ec("dev-key", "ES256");
        let issuer = rt.block_on(exo_testing::oidc_issuer::Issuer::start(&[&key], None));
        Provider { rt, issuer: Some(issuer), key }
    }

    fn url(&self) -> String {
        self.issuer.as_ref().expect("issuer").url.clone()
    }

    /// A provider-signed token with these claims (plus `iss` and an hour of validity).
    fn token(&self, mut claims: Value) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
        claims["iss"] = json!(self.url());
        claims["exp"] = json!(now + 3600);
        self.key.sign(&claims)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        if let Some(issuer) = self.issuer.take() {
            self.rt.block_on(issuer.stop());
        }
    }
}

/// What both `exo yolo` and `exo dev` must do with `EXO_OIDC_URL`: the provider's tokens drive
/// the model's `@jwt` context, a token of anyone else is refused, and no secret is made up.
fn assert_provider_tokens_are_used(running: &Running, provider: &Provider) {
    let admin = provider.token(json!({ "sub": 1, "role": "admin" }));
    let created =
        running.graphql_as(r#"mutation { createUser(data: {name: "Ada", email: "ada@example.com"}) { id } }"#, &admin);
    assert_eq!(created["data"]["createUser"]["id"], json!(1), "{created}");
    let mine = provider.token(json!({ "sub": 1 }));
    let todo = running
        .graphql_as(r#"mutation { createTodo(data: {title: "from the provider", user: {id: 1}}) { id } }"#, &mine);
    assert!(todo["errors"].is_null(), "{todo}");
    let read = running.graphql_as("{ todos { title } }", &mine);
    assert_eq!(read["data"]["todos"], json!([{ "title": "from the provider" }]), "{read}");
    // Another user (sub 2) sees none of user 1's todos; an anonymous caller neither.
    let other = running.graphql_as("{ todos { title } }", &provider.token(json!({ "sub": 2 })));
    assert_eq!(other["data"]["todos"], json!([]), "{other}");
    // A token the provider did not sign (another key, same kid) and an HS256 token are refused.
    let forged = exo_testing::oidc_issuer::TestKey::ec("dev-key", "ES256").sign(&json!({
        "sub": 1, "role": "admin", "iss": provider.url(), "exp": 4_000_000_000u64
    }));
    let hs256 = exo_runtime::jwt::sign_hs256(&json!({ "sub": 1, "role": "admin", "exp": 4_000_000_000u64 }), b"guess");
    for token in [forged, hs256] {
        let refused = running.graphql_as("{ todos { title } }", &token);
        assert_eq!(refused["errors"][0]["message"], json!("Not authorized"), "{refused}");
        assert!(refused["data"].is_null(), "{refused}");
    }
}

#[test]
fn yolo_and_dev_use_the_oidc_provider_instead_of_a_secret() {
    let provider = Provider::start();

    let (tmp, project) = temp_copy(&example("ok/todo"));
    let mut cmd = exo();
    cmd.arg("yolo").arg("--project").arg(&project).env("EXO_OIDC_URL", provider.url()).env_remove("EXO_JWT_SECRET");
    let mut yolo = Running::start(cmd, tmp.path());
    yolo.wait_for_output("yolo to serve", |out, _| out.contains("Watching"));
    let (out, _) = yolo.output();
    assert!(out.contains(&format!("OIDC URL: {}", provider.url())), "{out}");
    assert!(!out.contains("JWT secret") && !out.contains("Bearer"), "no secret or token is made up:\n{out}");
    assert_provider_tokens_are_used(&yolo, &provider);
    drop(yolo);

    let pg = EphemeralPostgres::shared().expect("ephemeral Postgres");
    let url = pg.create_database(&unique_db_name("dev_oidc")).expect("create database");
    let (tmp, project) = temp_copy(&example("ok/todo"));
    let mut cmd = exo();
    cmd.arg("dev")
        .arg("--project")
        .arg(&project)
        .arg("--read-write")
        .env("EXO_POSTGRES_URL", &url)
        .env("EXO_OIDC_URL", provider.url())
        .env_remove("EXO_JWT_SECRET");
    let mut dev = Running::start(cmd, tmp.path());
    dev.wait_for_output("dev to serve", |out, _| out.contains("Watching"));
    assert_provider_tokens_are_used(&dev, &provider);
}
