//! Loads `.exotest` and `init*.gql` files: `YAML text -> TestFile`.
//!
//! Everything that can be checked without a server is checked here: unknown
//! keys, the shape of each key, the JavaScript-ish sources (parsed, not yet
//! evaluated, because `$` values only exist at run time) and the GraphQL
//! documents (test directives found and stripped).

use crate::graphql::{analyze, OperationMetadata};
use crate::js::{parse, Expr, JsError, Mode};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

const STAGE_KEYS: &[&str] = &["operation", "variable", "auth", "headers", "response", "deno", "invariants"];
const FILE_KEYS: &[&str] = &["stages", "retries", "envs"];
const MAX_RETRIES: u64 = 5;

/// One loaded test (or init) file.
#[derive(Clone, Debug)]
pub struct TestFile {
    pub path: PathBuf,
    pub stages: Vec<Stage>,
    pub retries: u32,
    /// Extra environment for this file's server, in file order.
    pub envs: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct Stage {
    pub operation: Operation,
    pub variable: Option<Expr>,
    pub auth: Option<Expr>,
    pub headers: Option<Expr>,
    /// `None`: only "no `errors`" is checked.
    pub response: Option<Expr>,
    /// Helper functions for the reference runner's JavaScript engine. Kept for
    /// completeness; uses of its helpers are reported where they occur.
    pub deno: Option<String>,
    /// Invariant files, resolved against the test file's directory.
    pub invariants: Vec<PathBuf>,
}

#[derive(Clone, Debug)]
pub enum Operation {
    GraphQl {
        /// The document with `@bind` and `@unordered` removed.
        document: String,
        metadata: OperationMetadata,
    },
    /// JSON-RPC operations exist in the format but not in exo.
    Rpc,
}

/// Why a file cannot be run at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The file is malformed: the test fails.
    Invalid(String),
    /// The file uses something exo does not support: the test is reported as
    /// unsupported.
    Unsupported(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Invalid(m) | LoadError::Unsupported(m) => f.write_str(m),
        }
    }
}

/// Reads and loads a file; `shown` names it in messages.
pub fn load_file(path: &Path, shown: &str) -> Result<TestFile, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::Invalid(format!("cannot read {shown}: {e}")))?;
    load_str(&text, path, shown)
}

/// Loads file text; `path` anchors invariant paths, `shown` names the file in
/// messages.
pub fn load_str(text: &str, path: &Path, shown: &str) -> Result<TestFile, LoadError> {
    let root: Value =
        serde_saphyr::from_str(text).map_err(|e| LoadError::Invalid(format!("{shown}: invalid YAML: {e}")))?;
    let Value::Object(root) = root else {
        return Err(LoadError::Invalid(format!("{shown}: expected a YAML mapping at the top level")));
    };
    let unknown: Vec<&str> =
        root.keys().map(String::as_str).filter(|k| !STAGE_KEYS.contains(k) && !FILE_KEYS.contains(k)).collect();
    if !unknown.is_empty() {
        return Err(LoadError::Invalid(format!(
            "{shown}: unknown field(s) {}; expected {}",
            quote_list(&unknown),
            quote_list(&[STAGE_KEYS, FILE_KEYS].concat())
        )));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let stages = match root.get("stages") {
        Some(Value::Array(items)) => {
            let stray: Vec<&str> = root.keys().map(String::as_str).filter(|k| STAGE_KEYS.contains(k)).collect();
            if !stray.is_empty() {
                return Err(LoadError::Invalid(format!(
                    "{shown}: {} must be inside `stages` when `stages` is given",
                    quote_list(&stray)
                )));
            }
            if items.is_empty() {
                return Err(LoadError::Invalid(format!("{shown}: `stages` is empty")));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let Value::Object(map) = item else {
                        return Err(LoadError::Invalid(format!("{shown}: stage {} is not a mapping", i + 1)));
                    };
                    let unknown: Vec<&str> =
                        map.keys().map(String::as_str).filter(|k| !STAGE_KEYS.contains(k)).collect();
                    if !unknown.is_empty() {
                        return Err(LoadError::Invalid(format!(
                            "{shown}: stage {}: unknown field(s) {}; expected {}",
                            i + 1,
                            quote_list(&unknown),
                            quote_list(STAGE_KEYS)
                        )));
                    }
                    load_stage(map, base).map_err(|e| prefix(e, &format!("{shown}: stage {}: ", i + 1)))
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(_) => return Err(LoadError::Invalid(format!("{shown}: `stages` must be a list"))),
        None => vec![load_stage(&root, base).map_err(|e| prefix(e, &format!("{shown}: ")))?],
    };
    let retries = match root.get("retries") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|r| r <= MAX_RETRIES) => n.as_u64().unwrap_or(0) as u32,
        Some(other) => {
            return Err(LoadError::Invalid(format!(
                "{shown}: `retries` must be an integer from 0 to {MAX_RETRIES}, got {other}"
            )))
        }
    };
    let envs = match root.get("envs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(_) | Value::Bool(_) => Ok((k.clone(), v.to_string())),
                _ => Err(LoadError::Invalid(format!("{shown}: `envs.{k}` must be a string"))),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(LoadError::Invalid(format!("{shown}: `envs` must be a mapping"))),
    };
    Ok(TestFile { path: path.to_path_buf(), stages, retries, envs })
}

fn prefix(e: LoadError, prefix: &str) -> LoadError {
    match e {
        LoadError::Invalid(m) => LoadError::Invalid(format!("{prefix}{m}")),
        LoadError::Unsupported(m) => LoadError::Unsupported(format!("{prefix}{m}")),
    }
}

fn quote_list(keys: &[&str]) -> String {
    keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
}

fn load_stage(map: &Map<String, Value>, base: &Path) -> Result<Stage, LoadError> {
    let operation = match map.get("operation") {
        None | Some(Value::Null) => return Err(LoadError::Invalid("missing `operation`".to_string())),
        Some(Value::String(document)) => graphql_operation(document)?,
        Some(Value::Object(typed)) => match typed.get("type").and_then(Value::as_str) {
            Some("graphql") => {
                let unknown: Vec<&str> =
                    typed.keys().map(String::as_str).filter(|k| !["type", "query"].contains(k)).collect();
                if !unknown.is_empty() {
                    return Err(LoadError::Invalid(format!(
                        "`operation`: unknown field(s) {}; expected `type`, `query`",
                        quote_list(&unknown)
                    )));
                }
                match typed.get("query") {
                    Some(Value::String(document)) => graphql_operation(document)?,
                    _ => return Err(LoadError::Invalid("`operation.query` must be a string".to_string())),
                }
            }
            Some("rpc") => Operation::Rpc,
            other => {
                return Err(LoadError::Invalid(format!(
                    "`operation.type` must be `graphql` or `rpc`, got {}",
                    other.map_or("nothing".to_string(), |t| format!("`{t}`"))
                )))
            }
        },
        Some(other) => return Err(LoadError::Invalid(format!("`operation` must be a string, got {other}"))),
    };
    let source = |key: &str, mode: Mode| -> Result<Option<Expr>, LoadError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => parse(text, mode).map(Some).map_err(|e| match e {
                JsError::Unsupported(m) => LoadError::Unsupported(format!("`{key}`: {m}")),
                JsError::Invalid(m) => LoadError::Invalid(format!("`{key}`: {m}")),
            }),
            // A YAML mapping or list written directly is already a value.
            Some(other) => Ok(Some(json_expr(other))),
        }
    };
    let invariants = match map.get("invariants") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item.get("path") {
                Some(Value::String(p)) if item.as_object().is_some_and(|o| o.len() == 1) => Ok(base.join(p)),
                _ => Err(LoadError::Invalid(format!("`invariants` entries must be `{{path: ...}}`, got {item}"))),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(LoadError::Invalid("`invariants` must be a list".to_string())),
    };
    let deno = match map.get("deno") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(LoadError::Invalid("`deno` must be a string".to_string())),
    };
    Ok(Stage {
        operation,
        variable: source("variable", Mode::Value)?,
        auth: source("auth", Mode::Value)?,
        headers: source("headers", Mode::Value)?,
        response: source("response", Mode::Expected)?,
        deno,
        invariants,
    })
}

fn graphql_operation(document: &str) -> Result<Operation, LoadError> {
    let (metadata, document) = analyze(document).map_err(|e| LoadError::Invalid(format!("`operation`: {e}")))?;
    Ok(Operation::GraphQl { document, metadata })
}

fn json_expr(value: &Value) -> Expr {
    match value {
        Value::Null => Expr::Null,
        Value::Bool(b) => Expr::Bool(*b),
        Value::Number(n) => Expr::Number(n.clone()),
        Value::String(s) => Expr::String(s.clone()),
        Value::Array(items) => Expr::Array(items.iter().map(json_expr).collect()),
        Value::Object(map) => Expr::Object(map.iter().map(|(k, v)| (k.clone(), json_expr(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<TestFile, LoadError> {
        load_str(text, Path::new("proj/tests/a/t.exotest"), "tests/a/t.exotest")
    }

    fn invalid(text: &str) -> String {
        match load(text) {
            Err(LoadError::Invalid(m)) => m,
            other => panic!("expected an invalid file, got {other:?}"),
        }
    }

    #[test]
    fn single_stage_form() {
        let file = load(
            r#"
operation: |
  query($id: Int!) { todo(id: $id) @bind(name: "t") { id } }
variable: |
  { "id": $.ids[1] }
auth: |
  { sub: 1, role: 'admin' }
headers: |
  { "X-Secret-Header": "pancake" }
response: |
  { "data": { "todo": { "id": (x) => x > 0 } } }
invariants:
  - path: ../system-state.gql
retries: 2
envs:
  EXO_MAX_SELECTION_DEPTH: 7
"#,
        )
        .unwrap();
        assert_eq!(file.retries, 2);
        assert_eq!(file.envs, vec![("EXO_MAX_SELECTION_DEPTH".to_string(), "7".to_string())]);
        assert_eq!(file.stages.len(), 1);
        let stage = &file.stages[0];
        assert_eq!(stage.invariants, vec![PathBuf::from("proj/tests/a/../system-state.gql")]);
        assert!(stage.response.as_ref().unwrap().contains_function());
        let Operation::GraphQl { document, metadata } = &stage.operation else { panic!() };
        assert!(!document.contains("@bind"));
        assert_eq!(metadata.binds[0].0, "t");
    }

    #[test]
    fn multi_stage_and_typed_operations() {
        let file = load(
            r#"
stages:
  - operation: { type: graphql, query: "{ a }" }
  - operation:
      type: rpc
      payload: '{"method": "x"}'
      unorderedPaths: ["result"]
"#,
        )
        .unwrap();
        assert!(matches!(file.stages[0].operation, Operation::GraphQl { .. }));
        assert!(matches!(file.stages[1].operation, Operation::Rpc));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(invalid("operation: '{ a }'\nrespnse: '{}'\nfoo: 1\n").contains("unknown field(s) `foo`, `respnse`"));
        assert!(
            invalid("stages:\n  - operation: '{ a }'\n    bogus: 1\n").contains("stage 1: unknown field(s) `bogus`")
        );
        assert!(invalid("operation: '{ a }'\nstages:\n  - operation: '{ a }'\n").contains("must be inside `stages`"));
        assert!(invalid("variable: '{}'\n").contains("missing `operation`"));
        assert!(invalid("operation: '{ a }'\nretries: 9\n").contains("`retries` must be an integer from 0 to 5"));
        assert!(invalid("operation: '{ a }'\nresponse: '{\"a\": }'\n").contains("`response`: invalid JavaScript value"));
        assert!(invalid("operation: [\n").contains("invalid YAML"));
        assert!(invalid("- a\n").contains("mapping at the top level"));
        assert!(invalid("operation: { type: graphql, query: '{a}', extra: 1 }\n").contains("unknown field(s) `extra`"));
    }

    #[test]
    fn unsupported_sources_are_not_failures() {
        match load("operation: '{ a }'\nvariable: '{ id: makeId() }'\n") {
            Err(LoadError::Unsupported(m)) => {
                assert!(m.contains("`variable`: unsupported JavaScript"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
}
