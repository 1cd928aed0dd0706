//! The engine behind `exo test [DIR] [PATTERN]`: discovers `.exotest` files,
//! loads them, runs them against servers provided by a [`TestEnvironment`],
//! and reports what passed, failed, or could not be checked.
//!
//! The crate never builds projects, starts Postgres or serves requests itself;
//! the CLI supplies those through [`TestEnvironment`] and [`TestServer`]. See
//! `ARCHITECTURE.md` next to this crate for the stages and their boundaries.

pub mod discovery;
pub mod graphql;
pub mod js;
pub mod jwt;
pub mod loader;
pub mod matcher;
pub mod oidc_issuer;
mod port;
mod run;

pub use port::free_port;
pub use run::{run, run_with_options, Outcome, RunOptions, Summary, TestResult};

/// Why a project could not be prepared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrepareError {
    /// The project needs something exo does not offer (a Deno or Wasm module, the `Vector`
    /// type, a PostgreSQL 18 function): its tests are skipped with this reason, not failed.
    Unsupported(String),
    /// The build failed: its tests fail with this message.
    Failed(String),
}

impl From<String> for PrepareError {
    fn from(message: String) -> Self {
        PrepareError::Failed(message)
    }
}

use std::path::Path;

/// One request to the server under test. It stands for an in-memory
/// `POST /graphql` with a JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct TestRequest {
    /// `{"query": ..., "variables": ...}`; `variables` is left out when the
    /// stage has none. There is no `operationName`.
    pub body: serde_json::Value,
    /// Always `Content-Type: application/json`, then `Authorization` (if the
    /// stage has `auth`), `Cookie` (if the jar is not empty) and the stage's
    /// `headers`.
    pub headers: Vec<(String, String)>,
}

/// The server's answer. Headers are matched case-insensitively by the runner.
#[derive(Clone, Debug, PartialEq)]
pub struct TestResponse {
    pub status: u16,
    /// The parsed JSON body. Only the body is compared with `response`.
    pub body: serde_json::Value,
    pub headers: Vec<(String, String)>,
}

/// A running server with its own fresh database, for one test file.
///
/// The interface is synchronous: the runner runs one file at a time, and an
/// async implementation can block on its runtime inside these methods.
/// Dropping the server must stop it and drop its database.
pub trait TestServer {
    /// Serves one GraphQL request.
    fn request(&self, request: TestRequest) -> Result<TestResponse, String>;
    /// The loopback port it listens on, when it is a separate process (a Worker under
    /// `wrangler dev`), for tests that send requests of their own (concurrent ones).
    fn port(&self) -> Option<u16> {
        None
    }
    /// Runs an `init*.sql` file verbatim (several statements) on this server's
    /// database.
    fn run_sql(&self, sql: &str) -> Result<(), String>;
}

/// What the CLI provides: building projects and starting per-file servers.
pub trait TestEnvironment {
    /// Called once per project that has tests to run, before any of them
    /// (e.g. run `tests/build*.sh`, then `exo build`).
    fn prepare_project(&self, project: &Path) -> Result<(), PrepareError>;

    /// Creates a fresh database for one test file, applies the project's
    /// schema, and starts a server with `EXO_JWT_SECRET = jwt_secret` plus
    /// `envs`. Called again for each retry.
    fn start_file(
        &self,
        project: &Path,
        test_name: &str,
        jwt_secret: &str,
        envs: &[(String, String)],
    ) -> Result<Box<dyn TestServer>, String>;
}
