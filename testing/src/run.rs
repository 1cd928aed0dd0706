//! Runs discovered tests: `(Project, TestEnvironment) -> Summary`.
//!
//! Projects and the files inside a project run one after another. Each test
//! file gets a fresh server (and database) from the environment, a fresh JWT
//! secret, an empty cookie jar and empty test variables; its init files run
//! first, then its stages, and the first failing stage ends the file.

use crate::discovery::{discover, Project, TestCase};
use crate::graphql::OperationMetadata;
use crate::js::{Expr, JsValue};
use crate::jwt;
use crate::loader::{load_file, LoadError, Operation, Stage, TestFile};
use crate::matcher::{assert_matches, render_diff, Unverified};
use crate::{PrepareError, TestEnvironment, TestRequest, TestResponse, TestServer};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How one test ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// The message says what differed, with a diff where there is one.
    Failed(String),
    /// The test uses something exo cannot check (a JavaScript function in an
    /// expected response, helpers from `deno:`, ...). Nothing that could be
    /// checked failed.
    Unsupported(String),
    /// The test needs a feature exo does not offer (a Deno or Wasm module,
    /// the `Vector` type, a PostgreSQL 18 function, the RPC API); it was not
    /// run. The reason names the feature.
    Skipped(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    pub name: String,
    pub outcome: Outcome,
    pub duration: Duration,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// In run order.
    pub results: Vec<TestResult>,
}

impl Summary {
    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| f(&r.outcome)).count()
    }
    pub fn passed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Passed))
    }
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed(_)))
    }
    pub fn unsupported(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Unsupported(_)))
    }
    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Skipped(_)))
    }
    /// No failures. Unsupported and skipped tests do not fail a run.
    pub fn is_success(&self) -> bool {
        self.failed() == 0
    }
}

/// Knobs that tests of this crate need; the CLI uses the defaults.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The first retry waits this long, and each later one twice as long.
    pub retry_backoff: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { retry_backoff: Duration::from_millis(1000) }
    }
}

/// Runs the tests under `root` whose names match `pattern`, printing one line
/// per test and a final `N passed, M failed, K unsupported, S skipped` line to `out`.
pub fn run(root: &Path, pattern: Option<&str>, env: &dyn TestEnvironment, out: &mut dyn Write) -> Summary {
    run_with_options(root, pattern, env, out, &RunOptions::default())
}

pub fn run_with_options(
    root: &Path,
    pattern: Option<&str>,
    env: &dyn TestEnvironment,
    out: &mut dyn Write,
    options: &RunOptions,
) -> Summary {
    let mut summary = Summary::default();
    // Output is best-effort: a closed pipe must not change the results.
    match discover(root, pattern) {
        Err(e) => {
            let result = TestResult {
                name: root.display().to_string(),
                outcome: Outcome::Failed(format!("cannot discover tests: {e}")),
                duration: Duration::ZERO,
            };
            print_result(out, &result);
            summary.results.push(result);
        }
        Ok(projects) => {
            if projects.is_empty() {
                let _ = writeln!(out, "no tests found under {}", root.display());
            }
            for project in &projects {
                run_project(project, env, out, options, &mut summary);
            }
        }
    }
    print_summary(out, &summary);
    summary
}

fn run_project(
    project: &Project,
    env: &dyn TestEnvironment,
    out: &mut dyn Write,
    options: &RunOptions,
    summary: &mut Summary,
) {
    let started = Instant::now();
    if let Err(e) = env.prepare_project(&project.dir) {
        for case in &project.tests {
            let outcome = match &e {
                PrepareError::Failed(e) => Outcome::Failed(format!("building {} failed: {e}", project.dir.display())),
                PrepareError::Unsupported(reason) => Outcome::Skipped(reason.clone()),
            };
            let result = TestResult { name: case.name.clone(), outcome, duration: started.elapsed() };
            print_result(out, &result);
            summary.results.push(result);
        }
        return;
    }
    let mut inits = InitCache::default();
    for case in &project.tests {
        let started = Instant::now();
        let outcome = run_case(project, case, env, options, &mut inits);
        let result = TestResult { name: case.name.clone(), outcome, duration: started.elapsed() };
        print_result(out, &result);
        summary.results.push(result);
    }
}

fn print_result(out: &mut dyn Write, result: &TestResult) {
    let ms = result.duration.as_millis();
    let _ = match &result.outcome {
        Outcome::Passed => writeln!(out, "PASS {} ({ms} ms)", result.name),
        Outcome::Failed(message) => {
            writeln!(out, "FAIL {} ({ms} ms)\n{}", result.name, indent(message))
        }
        Outcome::Unsupported(reason) => {
            writeln!(out, "UNSUPPORTED {} ({ms} ms): {reason}", result.name)
        }
        Outcome::Skipped(reason) => writeln!(out, "SKIP {}: {reason}", result.name),
    };
}

fn print_summary(out: &mut dyn Write, summary: &Summary) {
    let failed: Vec<&str> =
        summary.results.iter().filter(|r| matches!(r.outcome, Outcome::Failed(_))).map(|r| r.name.as_str()).collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "\nfailed:");
        for name in failed {
            let _ = writeln!(out, "    {name}");
        }
    }
    let _ = writeln!(
        out,
        "{} passed, {} failed, {} unsupported, {} skipped",
        summary.passed(),
        summary.failed(),
        summary.unsupported(),
        summary.skipped()
    );
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

/// Init files of one project, loaded once.
#[derive(Default)]
struct InitCache {
    files: HashMap<PathBuf, Result<InitFile, LoadError>>,
    invariants: HashMap<PathBuf, Result<TestFile, LoadError>>,
}

#[derive(Clone)]
enum InitFile {
    Gql(TestFile),
    Sql(String),
}

/// A path as users see it in messages: relative to the project.
fn shown(project: &Project, path: &Path) -> String {
    path.strip_prefix(&project.dir).unwrap_or(path).display().to_string()
}

impl InitCache {
    fn get(&mut self, path: &Path, shown: &str) -> Result<InitFile, LoadError> {
        self.files
            .entry(path.to_path_buf())
            .or_insert_with(|| {
                if path.extension().is_some_and(|e| e == "sql") {
                    std::fs::read_to_string(path)
                        .map(InitFile::Sql)
                        .map_err(|e| LoadError::Invalid(format!("cannot read {shown}: {e}")))
                } else {
                    load_file(path, shown).map(InitFile::Gql)
                }
            })
            .clone()
    }

    fn invariant(&mut self, path: &Path, shown: &str) -> Result<TestFile, LoadError> {
        self.invariants.entry(path.to_path_buf()).or_insert_with(|| load_file(path, shown)).clone()
    }
}

fn run_case(
    project: &Project,
    case: &TestCase,
    env: &dyn TestEnvironment,
    options: &RunOptions,
    cache: &mut InitCache,
) -> Outcome {
    let file = match load_file(&case.path, &shown(project, &case.path)) {
        Ok(file) => file,
        Err(LoadError::Invalid(m)) => return Outcome::Failed(m),
        Err(LoadError::Unsupported(m)) => return Outcome::Unsupported(m),
    };
    let mut inits = Vec::new();
    for path in &case.init_files {
        match cache.get(path, &shown(project, path)) {
            Ok(init) => inits.push((path.clone(), init)),
            Err(LoadError::Invalid(m)) => return Outcome::Failed(format!("init file {m}")),
            Err(LoadError::Unsupported(m)) => return Outcome::Unsupported(format!("init file {m}")),
        }
    }
    let mut invariant_files = Vec::new();
    for path in file.stages.iter().flat_map(|s| &s.invariants) {
        match cache.invariant(path, &shown(project, path)) {
            Ok(invariant) => invariant_files.push((path.clone(), invariant)),
            Err(LoadError::Invalid(m)) => return Outcome::Failed(format!("invariant file {m}")),
            Err(LoadError::Unsupported(m)) => return Outcome::Unsupported(format!("invariant file {m}")),
        }
    }
    let uses_rpc = file
        .stages
        .iter()
        .chain(inits.iter().flat_map(|(_, i)| match i {
            InitFile::Gql(f) => f.stages.as_slice(),
            InitFile::Sql(_) => &[],
        }))
        .chain(invariant_files.iter().flat_map(|(_, f)| &f.stages))
        .any(|s| matches!(s.operation, Operation::Rpc));
    if uses_rpc {
        return Outcome::Skipped("uses the RPC API (`type: rpc`), which exo does not serve".to_string());
    }
    let invariant_files: HashMap<PathBuf, TestFile> = invariant_files.into_iter().collect();

    let mut attempt = 0;
    loop {
        let outcome = run_attempt(project, case, &file, &inits, &invariant_files, env);
        if !matches!(outcome, Outcome::Failed(_)) || attempt >= file.retries {
            return outcome;
        }
        std::thread::sleep(options.retry_backoff * 2u32.pow(attempt));
        attempt += 1;
    }
}

/// Why a file stopped early: the failure message.
struct Stop(String);

fn run_attempt(
    project: &Project,
    case: &TestCase,
    file: &TestFile,
    inits: &[(PathBuf, InitFile)],
    invariants: &HashMap<PathBuf, TestFile>,
    env: &dyn TestEnvironment,
) -> Outcome {
    let secret = match jwt::random_secret() {
        Ok(secret) => secret,
        Err(e) => return Outcome::Failed(format!("cannot generate a JWT secret: {e}")),
    };
    let server = match env.start_file(&project.dir, &case.name, &secret, &file.envs) {
        Ok(server) => server,
        Err(e) => return Outcome::Failed(format!("cannot start the test server: {e}")),
    };
    let mut state = FileRun {
        project,
        server: server.as_ref(),
        secret,
        variables: Map::new(),
        cookies: Vec::new(),
        unverified: Vec::new(),
    };
    let result = (|| -> Result<(), Stop> {
        for (path, init) in inits {
            let label = format!("init file {}", shown(project, path));
            match init {
                InitFile::Sql(sql) => state.server.run_sql(sql).map_err(|e| Stop(format!("{label}: {e}")))?,
                InitFile::Gql(init) => {
                    for (i, stage) in init.stages.iter().enumerate() {
                        let label = stage_label(&label, i, init.stages.len());
                        state.run_stage(stage, &label, invariants)?;
                    }
                }
            }
        }
        for (i, stage) in file.stages.iter().enumerate() {
            let label = stage_label("", i, file.stages.len());
            state.run_stage(stage, &label, invariants)?;
        }
        Ok(())
    })();
    let unverified = std::mem::take(&mut state.unverified);
    // The server (and its database) goes before the outcome is reported.
    drop(state);
    drop(server);
    match result {
        Err(Stop(m)) => Outcome::Failed(m),
        Ok(()) if unverified.is_empty() => Outcome::Passed,
        Ok(()) => {
            let parts: Vec<String> = unverified
                .iter()
                .map(|(label, u)| {
                    let at = if u.path.is_empty() { "<root>" } else { &u.path };
                    format!("{label}at '{at}': {}", u.reason)
                })
                .collect();
            Outcome::Unsupported(format!(
                "{} part(s) of the expected response could not be checked (everything else matched): {}",
                parts.len(),
                parts.join("; ")
            ))
        }
    }
}

fn stage_label(prefix: &str, index: usize, count: usize) -> String {
    match (prefix.is_empty(), count > 1) {
        (true, false) => String::new(),
        (true, true) => format!("stage {}: ", index + 1),
        (false, false) => format!("{prefix}: "),
        (false, true) => format!("{prefix}, stage {}: ", index + 1),
    }
}

struct FileRun<'a> {
    project: &'a Project,
    server: &'a dyn TestServer,
    secret: String,
    /// The `$` object.
    variables: Map<String, Value>,
    /// Cookie jar: name, value, in first-seen order.
    cookies: Vec<(String, String)>,
    /// Parts of expected responses that could not be checked, with stage labels.
    unverified: Vec<(String, Unverified)>,
}

impl FileRun<'_> {
    fn run_stage(&mut self, stage: &Stage, label: &str, invariants: &HashMap<PathBuf, TestFile>) -> Result<(), Stop> {
        let fail = |m: String| Stop(format!("{label}{m}"));
        let Operation::GraphQl { document, metadata } = &stage.operation else {
            return Err(fail("RPC operations are not supported by exo".to_string()));
        };
        let before = self.snapshot(stage, invariants).map_err(&fail)?;

        let request = self.build_request(stage, document, true).map_err(&fail)?;
        let response = self.server.request(request).map_err(|e| fail(format!("request failed: {e}")))?;
        self.store_cookies(&response);
        self.bind(metadata, &response.body);
        self.check(stage, metadata, &response, label)?;

        let after = self.snapshot(stage, invariants).map_err(&fail)?;
        for ((path, before), (_, after)) in before.iter().zip(&after) {
            if before != after {
                return Err(fail(format!(
                    "invariant {} changed during the stage\n{}",
                    shown(self.project, path),
                    render_diff(before, after)
                )));
            }
        }
        Ok(())
    }

    /// Runs each invariant's operations and collects the response bodies.
    fn snapshot(
        &mut self,
        stage: &Stage,
        invariants: &HashMap<PathBuf, TestFile>,
    ) -> Result<Vec<(PathBuf, Value)>, String> {
        let mut results = Vec::new();
        for path in &stage.invariants {
            let Some(file) = invariants.get(path) else {
                continue;
            };
            let mut bodies = Vec::new();
            for invariant_stage in &file.stages {
                let Operation::GraphQl { document, .. } = &invariant_stage.operation else {
                    return Err("RPC operations are not supported by exo".to_string());
                };
                // Invariant queries observe state: they neither bind variables
                // nor change the cookie jar.
                let request = self.build_request(invariant_stage, document, false)?;
                let response = self
                    .server
                    .request(request)
                    .map_err(|e| format!("invariant {} request failed: {e}", shown(self.project, path)))?;
                bodies.push(response.body);
            }
            results.push((path.clone(), Value::Array(bodies)));
        }
        Ok(results)
    }

    fn evaluate(&self, expr: &Expr, key: &str) -> Result<JsValue, String> {
        expr.eval(&self.variables).map_err(|e| format!("`{key}`: {e}"))
    }

    fn evaluate_json(&self, expr: &Expr, key: &str) -> Result<Value, String> {
        self.evaluate(expr, key)?.to_json().map_err(|e| format!("`{key}`: {e}"))
    }

    fn build_request(&mut self, stage: &Stage, document: &str, merge_variables: bool) -> Result<TestRequest, String> {
        let mut body = json!({ "query": document });
        if let Some(expr) = &stage.variable {
            let variables = self.evaluate_json(expr, "variable")?;
            match &variables {
                Value::Object(map) => {
                    if merge_variables {
                        for (k, v) in map {
                            self.variables.insert(k.clone(), v.clone());
                        }
                    }
                }
                Value::Null => {}
                other => return Err(format!("`variable` must evaluate to an object, got {other}")),
            }
            body["variables"] = variables;
        }
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        if let Some(expr) = &stage.auth {
            let Value::Object(claims) = self.evaluate_json(expr, "auth")? else {
                return Err("`auth` must evaluate to an object of claims".to_string());
            };
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let token =
                exo_runtime::jwt::sign_hs256(&Value::Object(jwt::with_validity(claims, now)), self.secret.as_bytes());
            headers.push(("Authorization".to_string(), format!("Bearer {token}")));
        }
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            headers.push(("Cookie".to_string(), jar.join("; ")));
        }
        if let Some(expr) = &stage.headers {
            let Value::Object(map) = self.evaluate_json(expr, "headers")? else {
                return Err("`headers` must evaluate to an object".to_string());
            };
            for (name, value) in map {
                let value = match value {
                    Value::String(s) => s,
                    Value::Number(_) | Value::Bool(_) => value.to_string(),
                    other => return Err(format!("header `{name}` must be a string, got {other}")),
                };
                headers.push((name, value));
            }
        }
        Ok(TestRequest { body, headers })
    }

    fn store_cookies(&mut self, response: &TestResponse) {
        for (name, value) in &response.headers {
            if !name.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let pair = value.split(';').next().unwrap_or("");
            let Some((cookie, cookie_value)) = pair.split_once('=') else {
                continue;
            };
            let (cookie, cookie_value) = (cookie.trim().to_string(), cookie_value.trim().to_string());
            match self.cookies.iter_mut().find(|(k, _)| *k == cookie) {
                Some(slot) => slot.1 = cookie_value,
                None => self.cookies.push((cookie, cookie_value)),
            }
        }
    }

    fn bind(&mut self, metadata: &OperationMetadata, body: &Value) {
        for (name, path) in &metadata.binds {
            self.variables.insert(name.clone(), value_at(body, path));
        }
    }

    fn check(
        &mut self,
        stage: &Stage,
        metadata: &OperationMetadata,
        response: &TestResponse,
        label: &str,
    ) -> Result<(), Stop> {
        let fail = |m: String| Stop(format!("{label}{m}"));
        let Some(expected) = &stage.response else {
            return match response.body.get("errors") {
                None | Some(Value::Null) => Ok(()),
                Some(errors) => Err(fail(format!(
                    "unexpected errors in the response: {}",
                    serde_json::to_string_pretty(errors).unwrap_or_default()
                ))),
            };
        };
        // Evaluated after binding, so `$` can refer to values this operation bound.
        let expected = self.evaluate(expected, "response").map_err(fail)?;
        match assert_matches(&expected, &response.body, &metadata.unordered) {
            Ok(unverified) => {
                self.unverified.extend(unverified.into_iter().map(|u| (label.to_string(), u)));
                Ok(())
            }
            Err(mismatch) => Err(fail(format!(
                "{mismatch}\n{}",
                render_diff(&diffable_expected(&expected, Some(&response.body)), &response.body)
            ))),
        }
    }
}

/// The expected value for a diff: parts that cannot be checked show the actual
/// value, so that only real differences are marked.
fn diffable_expected(expected: &JsValue, actual: Option<&Value>) -> Value {
    match (expected, actual) {
        (JsValue::Function(_) | JsValue::Opaque(_), Some(actual)) => actual.clone(),
        (JsValue::Array(items), Some(Value::Array(actual))) => {
            Value::Array(items.iter().enumerate().map(|(i, e)| diffable_expected(e, actual.get(i))).collect())
        }
        (JsValue::Object(entries), Some(Value::Object(actual))) => {
            Value::Object(entries.iter().map(|(k, e)| (k.clone(), diffable_expected(e, actual.get(k)))).collect())
        }
        (other, _) => other.to_display_json(),
    }
}

/// The value at a response path; arrays are mapped element-wise, so a path
/// through a list yields a list (nested lists yield nested lists). Missing
/// values bind as `null`.
fn value_at(value: &Value, path: &[String]) -> Value {
    let Some((first, rest)) = path.split_first() else {
        return value.clone();
    };
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|item| value_at(item, path)).collect()),
        Value::Object(map) => map.get(first).map_or(Value::Null, |inner| value_at(inner, rest)),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_maps_arrays_element_wise() {
        let body = json!({"data": {"users": [
            {"id": 1, "todos": [{"id": 10}, {"id": 11}]},
            {"id": 2, "todos": [{"id": 20}]},
        ], "one": {"id": 5}, "none": null}});
        let path = |p: &str| p.split('.').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(value_at(&body, &path("data.users.id")), json!([1, 2]));
        assert_eq!(value_at(&body, &path("data.users.todos.id")), json!([[10, 11], [20]]));
        assert_eq!(value_at(&body, &path("data.one")), json!({"id": 5}));
        assert_eq!(value_at(&body, &path("data.none.id")), json!(null));
        assert_eq!(value_at(&body, &path("data.missing")), json!(null));
    }
}
