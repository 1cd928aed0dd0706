//! End-to-end runs of the engine against an in-memory fake server.
//!
//! The unit under test is the runner (discovery, loading, evaluation, binding,
//! matching, auth, cookies, invariants, retries, reporting), so the server is a
//! small fake that understands a handful of fixed operations. Real servers are
//! exercised by the CLI's tests.

use exo_testing::{
    run_with_options, Outcome, PrepareError, RunOptions, TestEnvironment, TestRequest, TestResponse, TestServer,
};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

/// `(test name, JWT secret, envs)` of one `start_file` call.
type Started = (String, String, Vec<(String, String)>);

#[derive(Default)]
struct Log {
    prepared: Vec<String>,
    started: Vec<Started>,
    dropped: usize,
    requests: Vec<TestRequest>,
}

struct FakeEnv {
    log: Rc<RefCell<Log>>,
}

struct FakeServer {
    log: Rc<RefCell<Log>>,
    secret: String,
    test_name: String,
    /// How many servers this test name has had, counting this one.
    generation: usize,
    todos: RefCell<Vec<(i64, String)>>,
}

impl TestEnvironment for FakeEnv {
    fn prepare_project(&self, project: &Path) -> Result<(), PrepareError> {
        let name = project.file_name().unwrap().to_string_lossy().into_owned();
        self.log.borrow_mut().prepared.push(name.clone());
        if name == "broken" {
            return Err("model does not compile".to_string().into());
        }
        if name == "deno-app" {
            return Err(PrepareError::Unsupported("the model has a @deno module".to_string()));
        }
        Ok(())
    }

    fn start_file(
        &self,
        _project: &Path,
        test_name: &str,
        jwt_secret: &str,
        envs: &[(String, String)],
    ) -> Result<Box<dyn TestServer>, String> {
        let mut log = self.log.borrow_mut();
        log.started.push((test_name.to_string(), jwt_secret.to_string(), envs.to_vec()));
        let generation = log.started.iter().filter(|s| s.0 == test_name).count();
        Ok(Box::new(FakeServer {
            log: self.log.clone(),
            secret: jwt_secret.to_string(),
            test_name: test_name.to_string(),
            generation,
            todos: RefCell::new(Vec::new()),
        }))
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.log.borrow_mut().dropped += 1;
    }
}

fn header<'a>(request: &'a TestRequest, name: &str) -> Option<&'a str> {
    request.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

impl FakeServer {
    fn ok(data: Value) -> TestResponse {
        TestResponse { status: 200, body: json!({ "data": data }), headers: Vec::new() }
    }

    fn error(message: &str) -> TestResponse {
        TestResponse { status: 200, body: json!({ "errors": [{ "message": message }] }), headers: Vec::new() }
    }

    /// Verifies the bearer token with this file's secret and returns its claims.
    fn claims(&self, request: &TestRequest) -> Option<Value> {
        use base64::Engine;
        let token = header(request, "authorization")?.strip_prefix("Bearer ")?;
        let (signing_input, _) = token.rsplit_once('.')?;
        let payload = signing_input.split('.').nth(1)?;
        let claims: Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let resigned = exo_runtime::jwt::sign_hs256(&claims, self.secret.as_bytes());
        (resigned == token).then_some(claims)
    }
}

impl TestServer for FakeServer {
    fn request(&self, request: TestRequest) -> Result<TestResponse, String> {
        self.log.borrow_mut().requests.push(request.clone());
        let query = request.body["query"].as_str().unwrap_or_default().to_string();
        let variables = request.body.get("variables").cloned().unwrap_or(Value::Null);
        if query.contains("@bind") || query.contains("@unordered") {
            return Ok(Self::error("test directives were not stripped"));
        }
        let mut todos = self.todos.borrow_mut();
        Ok(if query.contains("createTodo") {
            let id = todos.len() as i64 + 1;
            let title = variables["title"].as_str().unwrap_or("untitled").to_string();
            todos.push((id, title.clone()));
            let key = if query.contains("created:") { "created" } else { "createTodo" };
            let mut response =
                Self::ok(json!({ key: { "id": id, "title": title, "tags": [{"name": "b"}, {"name": "a"}] } }));
            response.headers.push(("set-cookie".to_string(), format!("session=s{id}; Path=/; HttpOnly")));
            response
        } else if query.contains("todos") {
            // Newest first, so that only `@unordered` makes an id-ordered expectation pass.
            let with_id = query.contains(" id");
            let list: Vec<Value> = todos
                .iter()
                .rev()
                .map(
                    |(id, title)| {
                        if with_id {
                            json!({ "id": id, "title": title })
                        } else {
                            json!({ "title": title })
                        }
                    },
                )
                .collect();
            Self::ok(json!({ "todos": list }))
        } else if query.contains("todo(") {
            let id = variables["id"].as_i64().unwrap_or(-1);
            let found = todos.iter().find(|t| t.0 == id).map(|(id, title)| json!({ "id": id, "title": title }));
            Self::ok(json!({ "todo": found }))
        } else if query.contains("whoami") {
            match self.claims(&request) {
                Some(claims) => Self::ok(
                    json!({ "whoami": { "sub": claims["sub"], "role": claims["role"], "ttl": claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() } }),
                ),
                None => Self::error("Not authorized"),
            }
        } else if query.contains("echoHeaders") {
            Self::ok(
                json!({ "echoHeaders": { "cookie": header(&request, "cookie"), "secret": header(&request, "x-secret-header") } }),
            )
        } else if query.contains("flaky") {
            if self.generation == 1 {
                Self::error("first attempt fails")
            } else {
                Self::ok(json!({ "flaky": self.test_name }))
            }
        } else {
            Self::error(&format!("unknown operation: {query}"))
        })
    }

    fn run_sql(&self, sql: &str) -> Result<(), String> {
        let mut todos = self.todos.borrow_mut();
        for line in sql.lines().filter(|l| !l.trim().is_empty()) {
            let title = line.strip_prefix("INSERT ").ok_or_else(|| format!("syntax error at `{line}`"))?;
            let id = todos.len() as i64 + 1;
            todos.push((id, title.to_string()));
        }
        Ok(())
    }
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn fixture() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    write(r, "todo/src/index.exo", "");
    write(r, "todo/tests/init-1.sql", "INSERT Seed one\n");
    write(
        r,
        "todo/tests/init-2.gql",
        r#"
operation: |
  mutation($title: String!) { createTodo(data: {title: $title}) { id @bind(name: "seedId") } }
variable: |
  { title: 'Seed two' }
"#,
    );
    write(
        r,
        "todo/tests/basic-query.exotest",
        r#"
operation: |
  query { todos @unordered { id title } }
response: |
  {
    // Ids 1 and 2 come from the init files.
    data: { todos: [ { id: 1, title: "Seed one" }, { id: $.seedId, title: 'Seed two', }, ] },
  }
"#,
    );
    write(
        r,
        "todo/tests/bind-flow.exotest",
        r#"
envs:
  EXO_MAX_SELECTION_DEPTH: 7
stages:
  - operation: |
      mutation($title: String!) {
        created: createTodo(data: {title: $title}) @bind(name: "created") {
          id @bind(name: "newId")
          tags @unordered { name @bind(name: "tagNames") }
        }
      }
    variable: |
      { "title": "Buy milk" }
    response: |
      { "data": { "created": { "id": 3, "title": $.title, "tags": [ {"name": "a"}, {"name": "b"} ] } } }
  - operation: |
      query($id: Int!) { todo(id: $id) { id title } }
    variable: |
      { id: $.newId }
    response: |
      { data: { todo: { id: $.created.id, title: "Buy milk" } } }
  - operation: |
      query { whoami { sub role ttl } }
    auth: |
      { sub: $.newId, role: "admin" }
    response: |
      { data: { whoami: { sub: 3, role: "admin", ttl: 3600 } } }
  - operation: |
      query { echoHeaders { cookie secret } }
    headers: |
      { "X-Secret-Header": "pancake" }
    response: |
      { data: { echoHeaders: { cookie: "session=s3", secret: "pancake" } } }
  - operation: |
      query { todos { id } }
    response: |
      { data: { todos: [ { id: $.newId, title: "Buy milk" }, { id: 2, title: "Seed two" }, { id: 1, title: "Seed one" } ] } }
"#,
    );
    write(
        r,
        "todo/tests/wrong-title.exotest",
        r#"
operation: |
  query { todos { title } }
response: |
  { data: { todos: [ { title: "x" }, { title: "Seed one" } ] } }
"#,
    );
    write(
        r,
        "todo/tests/function.exotest",
        r#"
operation: |
  query { todos { id title } }
response: |
  { data: { todos: [ { id: 2, title: (t) => t.startsWith("Seed") }, { id: 1, title: "Seed one" } ] } }
"#,
    );
    write(
        r,
        "todo/tests/function-but-wrong.exotest",
        r#"
operation: |
  query { todos { id title } }
response: |
  { data: { todos: [ { id: 2, title: (t) => true }, { id: 99, title: "Seed one" } ] } }
"#,
    );
    write(
        r,
        "todo/tests/rpc.exotest",
        r#"
operation:
  type: rpc
  payload: '{"method": "get_todos"}'
"#,
    );
    write(r, "todo/tests/unexpected-errors.exotest", "operation: 'query { whoami { sub } }'\n");
    write(
        r,
        "todo/tests/stops-early.exotest",
        r#"
stages:
  - operation: 'query { whoami { sub } }'
    response: '{ data: { whoami: { sub: 1 } } }'
  - operation: 'query { stopsEarlySecondStage }'
"#,
    );
    write(r, "todo/tests/system-state.gql", "operation: 'query { todos { id title } }'\n");
    write(
        r,
        "todo/tests/invariants.exotest",
        r#"
stages:
  - operation: 'query { todo(id: 1) { id } }'
    variable: '{ id: 1 }'
    invariants:
      - path: system-state.gql
  - operation: 'mutation { createTodo(data: {}) { id } }'
    invariants:
      - path: system-state.gql
"#,
    );
    write(
        r,
        "todo/tests/retried.exotest",
        "retries: 1\noperation: 'query { flaky }'\nresponse: '{ data: { flaky: \"todo/retried\" } }'\n",
    );
    write(r, "todo/tests/unknown-key.exotest", "operation: 'query { todos { id } }'\nexpected: '{}'\n");
    write(
        r,
        "todo/tests/helper.exotest",
        "deno: 'function id() { return 1 }'\noperation: 'query { todo(id: $id) { id } }'\nvariable: '{ id: id() }'\n",
    );
    write(r, "todo/tests/sub/init.sql", "INSERT From sub\n");
    write(
        r,
        "todo/tests/sub/deep.exotest",
        r#"
operation: 'query { todos { title } }'
response: '{ data: { todos: [ { title: "From sub" }, { title: "Seed two" }, { title: "Seed one" } ] } }'
"#,
    );
    write(r, "broken/src/index.exo", "");
    write(r, "broken/tests/anything.exotest", "operation: '{ a }'\n");
    write(r, "deno-app/src/index.exo", "");
    write(r, "deno-app/tests/uses-deno.exotest", "operation: '{ a }'\n");
    tmp
}

fn run_fixture(pattern: Option<&str>) -> (exo_testing::Summary, String, Rc<RefCell<Log>>) {
    let tmp = fixture();
    let log = Rc::new(RefCell::new(Log::default()));
    let env = FakeEnv { log: log.clone() };
    let mut out = Vec::new();
    let options = RunOptions { retry_backoff: Duration::from_millis(1) };
    let summary = run_with_options(tmp.path(), pattern, &env, &mut out, &options);
    (summary, String::from_utf8(out).unwrap(), log)
}

fn outcome<'a>(summary: &'a exo_testing::Summary, name: &str) -> &'a Outcome {
    &summary.results.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no result for {name}")).outcome
}

fn failure<'a>(summary: &'a exo_testing::Summary, name: &str) -> &'a str {
    match outcome(summary, name) {
        Outcome::Failed(m) => m,
        other => panic!("{name}: expected a failure, got {other:?}"),
    }
}

#[test]
fn full_run() {
    let (summary, output, log) = run_fixture(None);
    let names: Vec<&str> = summary.results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "broken/anything",
            "deno-app/uses-deno",
            "todo/basic-query",
            "todo/bind-flow",
            "todo/function-but-wrong",
            "todo/function",
            "todo/helper",
            "todo/invariants",
            "todo/retried",
            "todo/rpc",
            "todo/stops-early",
            "todo/unexpected-errors",
            "todo/unknown-key",
            "todo/wrong-title",
            "todo/sub/deep",
        ]
    );
    for name in ["todo/basic-query", "todo/bind-flow", "todo/retried", "todo/sub/deep"] {
        assert_eq!(outcome(&summary, name), &Outcome::Passed, "{name}\n{output}");
    }

    assert!(failure(&summary, "broken/anything").contains("model does not compile"));
    assert!(failure(&summary, "todo/wrong-title").starts_with(
        "assertion failed at 'data.todos.0.title': expected \"x\", got \"Seed two\"\n--- expected\n+++ actual\n"
    ));
    assert!(failure(&summary, "todo/function-but-wrong")
        .starts_with("assertion failed at 'data.todos.1.id': expected 99, got 1"));
    // Unverifiable parts of the expectation show the actual value in the diff.
    assert!(!failure(&summary, "todo/function-but-wrong").contains("<function"));
    assert_eq!(
        outcome(&summary, "todo/rpc"),
        &Outcome::Skipped("uses the RPC API (`type: rpc`), which exo does not serve".to_string())
    );
    assert_eq!(outcome(&summary, "deno-app/uses-deno"), &Outcome::Skipped("the model has a @deno module".to_string()));
    assert!(failure(&summary, "todo/unexpected-errors").contains("unexpected errors in the response"));
    assert!(failure(&summary, "todo/stops-early")
        .starts_with("stage 1: assertion failed at 'data': expected an object, got undefined"));
    assert!(failure(&summary, "todo/invariants").starts_with("stage 2: invariant "), "{output}");
    assert!(failure(&summary, "todo/invariants").contains("changed during the stage"));
    assert!(failure(&summary, "todo/unknown-key").contains("unknown field(s) `expected`"));

    match outcome(&summary, "todo/function") {
        Outcome::Unsupported(reason) => {
            assert!(reason.contains("at 'data.todos.0.title': JavaScript function in expected response"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    match outcome(&summary, "todo/helper") {
        Outcome::Unsupported(reason) => assert!(reason.contains("`variable`: unsupported JavaScript"), "{reason}"),
        other => panic!("{other:?}"),
    }

    let log = log.borrow();
    assert_eq!(log.prepared, vec!["broken", "deno-app", "todo"]);
    // The second stage of `stops-early` never ran.
    assert!(!log.requests.iter().any(|r| r.body["query"].as_str().unwrap().contains("stopsEarlySecondStage")));
    // Every started server was dropped; files that fail at load never start one.
    assert_eq!(log.dropped, log.started.len());
    assert!(!log.started.iter().any(|s| ["todo/rpc", "todo/unknown-key", "todo/helper"].contains(&s.0.as_str())));
    // One fresh secret per file (and per retry).
    let retried: Vec<_> = log.started.iter().filter(|s| s.0 == "todo/retried").collect();
    assert_eq!(retried.len(), 2);
    assert_ne!(retried[0].1, retried[1].1);
    let bind_flow = log.started.iter().find(|s| s.0 == "todo/bind-flow").unwrap();
    assert_eq!(bind_flow.2, vec![("EXO_MAX_SELECTION_DEPTH".to_string(), "7".to_string())]);

    assert!(output.contains("PASS todo/basic-query ("), "{output}");
    assert!(output.contains("FAIL todo/wrong-title ("), "{output}");
    assert!(output.contains("\n    assertion failed at 'data.todos.0.title'"), "{output}");
    assert!(output.contains("UNSUPPORTED todo/function ("), "{output}");
    assert_eq!(output.lines().last().unwrap(), "4 passed, 7 failed, 2 unsupported, 2 skipped");
    assert_eq!((summary.passed(), summary.failed(), summary.unsupported(), summary.skipped()), (4, 7, 2, 2));
    assert!(output.contains("SKIP deno-app/uses-deno: the model has a @deno module"), "{output}");
}

#[test]
fn requests_carry_variables_auth_cookies_and_headers() {
    let (summary, output, log) = run_fixture(Some("todo/bind-*"));
    assert_eq!(summary.results.len(), 1, "{output}");
    assert_eq!(summary.results[0].outcome, Outcome::Passed, "{output}");
    let log = log.borrow();
    // Only the matching project is prepared.
    assert_eq!(log.prepared, vec!["todo"]);
    let requests = &log.requests;
    // init-2.gql, then the five stages.
    assert_eq!(requests.len(), 6);
    assert_eq!(requests[0].body["variables"], json!({"title": "Seed two"}));
    assert_eq!(requests[2].body["variables"], json!({"id": 3}));
    assert!(requests[0].body["query"].as_str().unwrap().contains("{ id  } }"));
    assert_eq!(header(&requests[0], "content-type"), Some("application/json"));
    assert!(header(&requests[3], "authorization").unwrap().starts_with("Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9."));
    assert_eq!(header(&requests[2], "authorization"), None);
    // The jar holds the latest cookie from the init file's and the first stage's responses.
    assert_eq!(header(&requests[1], "cookie"), Some("session=s2"));
    assert_eq!(header(&requests[4], "cookie"), Some("session=s3"));
    assert_eq!(output.lines().last().unwrap(), "1 passed, 0 failed, 0 unsupported, 0 skipped");
}
