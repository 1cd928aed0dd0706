//! `exo test [DIR] [PATTERN]`: runs `.exotest` files with `exo_testing`, providing one shared
//! throwaway Postgres cluster, an in-process build per project, and per test file a fresh
//! database and an in-process server (no HTTP).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use exo_pg_ephemeral::EphemeralPostgres;
use exo_pg_schema::{apply, create_statements, diff, introspect, model_schemas};
use exo_server::{Server, ServerConfig};
use exo_testing::{PrepareError, TestEnvironment, TestRequest, TestResponse, TestServer};
use md5::{Digest, Md5};
use tokio::runtime::Runtime;
use tokio_postgres::Client;

use crate::commands::test_worker::{WorkerFileServer, WorkerMode};
use crate::commands::{runtime, schema};
use crate::project::Project;
use crate::{Context, Failure};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory holding one project or several (default: the current directory, or `--project`).
    pub dir: Option<PathBuf>,
    /// Run only tests whose name matches this pattern (`*` wildcards).
    pub pattern: Option<String>,
    /// Compile every operation of the tests as a trusted document and run the suites through
    /// the precompiled plans (projects with a `trusted-documents/` of their own keep it).
    #[arg(long)]
    pub trusted: bool,
    /// Serve each test file through the Cloudflare Worker build of the runtime in local
    /// workerd (`wrangler dev`) instead of in-process.
    #[arg(long)]
    pub cf_worker: bool,
    /// With `--cf-worker`: reach Postgres through a local Hyperdrive binding.
    #[arg(long, requires = "cf_worker")]
    pub hyperdrive: bool,
    /// Create each test file's database on this existing server (a URL whose user may create
    /// databases; TLS parameters apply) instead of a throwaway cluster. Also read from
    /// `EXO_SQL_EXISTING_DB_URL` when `EXO_SQL_EPHEMERAL_DATABASE_LAUNCH_PREFERENCE` is
    /// `existing-db-only`, as Exograph does. `EXO_POSTGRES_PREPARED_STATEMENTS` then applies
    /// to the test servers too (`false` behind a transaction-pooling PgBouncer before 1.21).
    #[arg(long, conflicts_with = "cf_worker")]
    pub database_url: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), Failure> {
    let root = match args.dir.or_else(|| ctx.project.clone()) {
        Some(d) => d,
        None => std::env::current_dir().map_err(|e| Failure::new(format!("cannot read the current directory: {e}")))?,
    };
    if !root.is_dir() {
        return Err(Failure::new(format!(
            "`{}` is not a directory; pass a project directory to `exo test`",
            root.display()
        )));
    }
    let worker = if args.cf_worker { Some(WorkerMode::new(args.hyperdrive)?) } else { None };
    let env_var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let existing = args.database_url.or_else(|| {
        (env_var("EXO_SQL_EPHEMERAL_DATABASE_LAUNCH_PREFERENCE").as_deref() == Some("existing-db-only"))
            .then(|| env_var("EXO_SQL_EXISTING_DB_URL"))
            .flatten()
    });
    let env = Environment {
        rt: runtime()?,
        existing: existing.map(Arc::new),
        pg: Mutex::new(None),
        builds: Mutex::new(HashMap::new()),
        trusted: args.trusted,
        stats: Arc::new((AtomicU64::new(0), AtomicU64::new(0))),
        worker,
    };
    if env.worker.is_some() {
        crate::commands::test_worker::stop_on_signal(&env.rt);
    }
    let mut stdout = std::io::stdout();
    let summary = exo_testing::run(&root, args.pattern.as_deref(), &env, &mut stdout);
    let _ = stdout.flush();
    let (hits, fallbacks) = (env.stats.0.load(Ordering::Relaxed), env.stats.1.load(Ordering::Relaxed));
    if args.trusted && args.cf_worker {
        // The Worker runs in workerd: its counters are out of reach. The suites passing with
        // the trusted-documents IR (which refuses every other document) is the evidence.
        println!("trusted documents: served by the Worker from the IR (plan counters are kept in workerd)");
    } else if args.trusted {
        println!("trusted documents: {hits} requests ran precompiled plans, {fallbacks} were planned at request time");
        if hits == 0 {
            return Err(Failure::new("no request ran a precompiled trusted plan"));
        }
    }
    if summary.is_success() {
        Ok(())
    } else {
        Err(Failure::reported())
    }
}

struct Environment {
    rt: Runtime,
    /// `--database-url`: test databases are made on this server instead of a throwaway one.
    existing: Option<Arc<String>>,
    /// The shared cluster, started when the first test file needs it.
    pg: Mutex<Option<&'static EphemeralPostgres>>,
    /// The IR bytes of each prepared project.
    builds: Mutex<HashMap<PathBuf, Vec<u8>>>,
    /// `--trusted`: build each project with its tests' operations as trusted documents.
    trusted: bool,
    /// Requests answered by precompiled trusted plans, and trusted requests planned late.
    stats: Arc<(AtomicU64, AtomicU64)>,
    /// `--cf-worker`: serve through `wrangler dev` instead of in-process.
    worker: Option<WorkerMode>,
}

impl Environment {
    fn postgres(&self) -> Result<&'static EphemeralPostgres, String> {
        let mut pg = self.pg.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pg) = *pg {
            return Ok(pg);
        }
        let started = EphemeralPostgres::shared().map_err(|e| e.message().to_string())?;
        *pg = Some(started);
        Ok(started)
    }
}

impl TestEnvironment for Environment {
    fn prepare_project(&self, dir: &Path) -> Result<(), PrepareError> {
        let project = Project { dir: dir.to_path_buf() };
        // Before the build scripts: those of Wasm projects compile the module exo would refuse.
        if let Some(reason) = unsupported_feature(&project) {
            return Err(PrepareError::Unsupported(reason));
        }
        run_build_scripts(dir)?;
        let (mut ir, _warnings) = project.compile_to_text(100, false)?;
        // A project with trusted documents of its own keeps them (its tests exercise them).
        if self.trusted && !dir.join("trusted-documents").is_dir() {
            attach_test_operations(&mut ir, dir)?;
        }
        let bytes = project.write_ir(&ir).map_err(|f| f.message().unwrap_or("cannot write the IR").to_string())?;
        self.builds.lock().unwrap_or_else(|e| e.into_inner()).insert(dir.to_path_buf(), bytes);
        if let Some(worker) = &self.worker {
            worker.prepare_project(dir)?;
        }
        Ok(())
    }

    fn start_file(
        &self,
        project: &Path,
        test_name: &str,
        jwt_secret: &str,
        envs: &[(String, String)],
    ) -> Result<Box<dyn TestServer>, String> {
        let bytes = self
            .builds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(project)
            .cloned()
            .ok_or_else(|| format!("`{}` was not built", project.display()))?;
        let system =
            exo_runtime::System::from_bytes(&bytes).map_err(|e| format!("cannot load the built IR: {}", e.0))?;
        let db_name = format!("exotest_{}", hex(&Md5::digest(test_name.as_bytes())));
        let databases = match &self.existing {
            Some(url) => Databases::Existing(url.clone()),
            None => Databases::Ephemeral(self.postgres()?),
        };
        // A retry reuses the name: start from nothing.
        databases.drop_database(&self.rt, &db_name)?;
        let url = databases.create_database(&self.rt, &db_name)?;
        // Poolers refuse the `options` startup parameter: on an existing server (perhaps
        // behind PgBouncer) the time zone is a setting of the database instead.
        let server_url = match &databases {
            Databases::Ephemeral(_) => format!("{url}?options=-c%20TimeZone%3DUTC"),
            Databases::Existing(_) => url.clone(),
        };

        let mut vars: HashMap<String, String> = HashMap::from([
            ("EXO_ENV".into(), "test".into()),
            ("EXO_POSTGRES_URL".into(), server_url),
            ("EXO_JWT_SECRET".into(), jwt_secret.into()),
            ("EXO_CONNECTION_POOL_SIZE".into(), "1".into()),
            ("EXO_CHECK_CONNECTION_ON_STARTUP".into(), "false".into()),
            ("EXO_INTROSPECTION".into(), "enabled".into()),
            ("EXO_POSTGRES_READ_WRITE".into(), "true".into()),
        ]);
        // On an existing server (perhaps behind a pooler) how statements are sent is a
        // property of the connection, not of the test: it comes from the process.
        if self.existing.is_some() {
            if let Ok(v) = std::env::var("EXO_POSTGRES_PREPARED_STATEMENTS") {
                vars.insert("EXO_POSTGRES_PREPARED_STATEMENTS".into(), v);
            }
        }
        vars.extend(envs.iter().cloned());
        let vars_list: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let file = self.rt.block_on(async {
            let sql = schema::connect(&url).await.map_err(|f| f.message().unwrap_or_default().to_string())?;
            if matches!(databases, Databases::Existing(_)) {
                sql.batch_execute(&format!("ALTER DATABASE \"{db_name}\" SET TimeZone = 'UTC'"))
                    .await
                    .map_err(|e| format!("cannot set the test database's time zone: {e}"))?;
            }
            apply(&sql, &create_statements(&system.ir.database))
                .await
                .map_err(|e| format!("cannot create the schema: {e}"))?;
            let actual = introspect(&sql, &model_schemas(&system.ir.database))
                .await
                .map_err(|e| format!("cannot read the schema back: {e}"))?;
            let problems: Vec<String> =
                diff(&system.ir.database, &actual).into_iter().filter(|d| d.incompatible).map(|d| d.message).collect();
            if !problems.is_empty() {
                return Err(format!(
                    "the created schema does not verify against the model:\n  {}",
                    problems.join("\n  ")
                ));
            }
            if self.worker.is_some() {
                return Ok::<_, String>((None, sql));
            }
            // The test's variables, then (like Exograph, which clears every other `EXO_*`
            // variable) the process environment minus `EXO_*`.
            let lookup = move |k: &str| {
                vars.get(k).cloned().or_else(|| if k.starts_with("EXO_") { None } else { std::env::var(k).ok() })
            };
            let config = ServerConfig::from_env(&lookup).map_err(|e| e.to_string())?;
            let server = Server::new(system, config, Box::new(lookup)).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((Some(server), sql))
        });
        let (server, sql) = match file {
            Ok(f) => f,
            Err(e) => {
                let _ = databases.drop_database(&self.rt, &db_name);
                return Err(e);
            }
        };
        let Some(server) = server else {
            let Databases::Ephemeral(pg) = databases else {
                return Err("`--cf-worker` runs against a throwaway cluster only".to_string());
            };
            // `--cf-worker`: the database is ready; start a Worker on it.
            let worker = self.worker.as_ref().expect("checked above");
            let started = self
                .rt
                .block_on(sql.batch_execute(&format!("ALTER DATABASE \"{db_name}\" SET TimeZone = 'UTC'")))
                .map_err(|e| format!("cannot set the test database's time zone: {e}"))
                .and_then(|()| worker.start(project, pg.port(), &db_name, vars_list));
            return match started {
                Ok(process) => Ok(Box::new(WorkerFileServer {
                    rt: self.rt.handle().clone(),
                    worker: Some(process),
                    sql: Some(sql),
                    pg,
                    db_name,
                })),
                Err(e) => {
                    drop(sql);
                    let _ = pg.drop_database(&db_name);
                    Err(e)
                }
            };
        };
        Ok(Box::new(FileServer {
            rt: self.rt.handle().clone(),
            server: Some(server),
            sql: Some(sql),
            databases,
            db_name,
            stats: Arc::clone(&self.stats),
        }))
    }
}

/// Why exo cannot run a project at all, if it cannot: the model uses a feature exo does not
/// offer (a Deno or Wasm module, the `Vector` type: diagnostics `exo::unsupported_*`), or a
/// default that needs PostgreSQL 18 (`uuidGenerateV7()` is `uuidv7()`). Its tests are then
/// skipped with this reason instead of failing one by one.
fn unsupported_feature(project: &Project) -> Option<String> {
    let compiled = exo_compiler::compile_project(&project.entry());
    let mut reasons: Vec<String> = compiled
        .diagnostics
        .iter()
        .filter(|d| d.is_error() && d.code.starts_with("exo::unsupported"))
        .map(|d| d.message.clone())
        .collect();
    reasons.dedup();
    if !reasons.is_empty() {
        return Some(format!("the model uses what exo does not support: {}", reasons.join("; ")));
    }
    let ir = compiled.ir.as_ref()?;
    let needs_pg18 = ir
        .database
        .tables
        .iter()
        .flat_map(|t| &t.columns)
        .any(|c| matches!(&c.default, Some(exo_ir::ColumnDefault::Expr(e)) if e.starts_with("uuidv7(")));
    needs_pg18.then(|| "the model uses `uuidGenerateV7()`, whose `uuidv7()` needs PostgreSQL 18 (the test cluster runs an older PostgreSQL)".to_string())
}

/// Writes every operation of the project's tests to a scratch `trusted-documents/` (the test
/// files' operations as a hash map, the init files' as an Apollo manifest: both formats) and
/// compiles them into `ir`.
fn attach_test_operations(ir: &mut exo_ir::Ir, dir: &Path) -> Result<(), String> {
    let projects = exo_testing::discovery::discover(dir, None)?;
    let system = exo_runtime::System::new(ir.clone());
    let mut tests = serde_json::Map::new();
    let mut inits = vec![];
    for case in projects.iter().flat_map(|p| &p.tests) {
        let files = case.init_files.iter().filter(|f| f.extension().is_some_and(|e| e == "gql")).map(|f| (f, true));
        for (path, init) in files.chain([(&case.path, false)]) {
            let Ok(file) = exo_testing::loader::load_file(path, &path.display().to_string()) else { continue };
            for stage in file.stages {
                if let exo_testing::loader::Operation::GraphQl { document, .. } = stage.operation {
                    let hash = exo_runtime::trusted::sha256_hex(&document);
                    // A document that does not validate (a test of error messages) could never
                    // be a trusted document: it stays out, and the server answers it with its
                    // validation errors, which come before the refusal of untrusted documents.
                    if exo_runtime::trusted::compile(&system, &hash, &document).is_err() {
                        continue;
                    }
                    if init {
                        if !inits.iter().any(|(h, _)| *h == hash) {
                            inits.push((hash, document));
                        }
                    } else {
                        tests.insert(hash, serde_json::Value::String(document));
                    }
                }
            }
        }
    }
    let scratch = std::env::temp_dir().join(format!(
        "exo-trusted-{}-{}",
        std::process::id(),
        hex(&Md5::digest(dir.display().to_string()))
    ));
    let docs = scratch.join("trusted-documents");
    std::fs::create_dir_all(&docs).map_err(|e| format!("cannot create `{}`: {e}", docs.display()))?;
    let manifest = serde_json::json!({
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": inits.iter().map(|(id, body)| serde_json::json!({"id": id, "body": body, "type": "mutation"})).collect::<Vec<_>>(),
    });
    let written = std::fs::write(docs.join("tests.json"), serde_json::Value::Object(tests).to_string())
        .and_then(|()| std::fs::write(docs.join("init.json"), manifest.to_string()));
    let mut sources = exo_compiler::source::SourceMap::new();
    let mut diagnostics = vec![];
    if let Err(e) = written {
        return Err(format!("cannot write the trusted documents: {e}"));
    }
    exo_compiler::trusted_docs::attach(ir, &scratch, &mut sources, &mut diagnostics);
    let _ = std::fs::remove_dir_all(&scratch);
    if diagnostics.iter().any(|d| d.is_error()) {
        return Err(exo_compiler::diag::render(&diagnostics, &sources, 100, false));
    }
    Ok(())
}

/// Runs `tests/build*.sh` of a project, in name order, from the project directory.
fn run_build_scripts(dir: &Path) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir.join("tests")) else { return Ok(()) };
    let mut scripts: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("build") && name.ends_with(".sh")
        })
        .collect();
    scripts.sort();
    for script in scripts {
        let output = Command::new("sh")
            .arg(&script)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("cannot run `{}`: {e}", script.display()))?;
        if !output.status.success() {
            return Err(format!(
                "`{}` failed ({}):\n{}{}",
                script.display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    Ok(())
}

/// One test file's server and database; dropping it drops the database.
struct FileServer {
    rt: tokio::runtime::Handle,
    server: Option<Server>,
    /// A separate read-write connection for `init*.sql` files.
    sql: Option<Client>,
    databases: Databases,
    db_name: String,
    stats: Arc<(AtomicU64, AtomicU64)>,
}

impl TestServer for FileServer {
    fn request(&self, request: TestRequest) -> Result<TestResponse, String> {
        let server = self.server.as_ref().expect("present until drop");
        let body = request.body.to_string();
        let response = self.rt.block_on(server.handle(body.as_bytes(), &request.headers, Some("127.0.0.1")));
        let parsed = serde_json::from_str(&response.body)
            .map_err(|e| format!("the server answered with invalid JSON ({e}): {}", response.body))?;
        Ok(TestResponse {
            status: response.status,
            body: parsed,
            headers: vec![("content-type".into(), "application/json".into())],
        })
    }

    fn run_sql(&self, sql: &str) -> Result<(), String> {
        let client = self.sql.as_ref().expect("present until drop");
        self.rt.block_on(client.batch_execute(sql)).map_err(|e| match e.as_db_error() {
            Some(db) => db.message().to_string(),
            None => e.to_string(),
        })
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            let (hits, fallbacks) = server.engine().trusted_stats();
            self.stats.0.fetch_add(hits, Ordering::Relaxed);
            self.stats.1.fetch_add(fallbacks, Ordering::Relaxed);
        }
        self.server = None;
        self.sql = None;
        // `WITH (FORCE)` ends connections that are still closing.
        let _ = self.databases.drop_database(&self.rt, &self.db_name);
    }
}

/// Where test databases are created: the shared throwaway cluster, or an existing server
/// given by URL (`--database-url`), reached with exo's own connection settings (TLS too).
enum Databases {
    Ephemeral(&'static EphemeralPostgres),
    Existing(Arc<String>),
}

impl Databases {
    fn drop_database(&self, rt: &impl BlockOn, name: &str) -> Result<(), String> {
        match self {
            Databases::Ephemeral(pg) => pg.drop_database(name).map_err(|e| e.message().to_string()),
            Databases::Existing(url) => {
                rt.block(admin(url, &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
            }
        }
    }

    /// Creates database `name` and returns its URL.
    fn create_database(&self, rt: &impl BlockOn, name: &str) -> Result<String, String> {
        match self {
            Databases::Ephemeral(pg) => pg.create_database(name).map_err(|e| e.message().to_string()),
            Databases::Existing(url) => {
                rt.block(admin(url, &format!("CREATE DATABASE \"{name}\"")))?;
                Ok(with_database(url, name))
            }
        }
    }
}

/// One statement on the existing server's own database (names come from `exotest_<md5>`).
async fn admin(url: &str, sql: &str) -> Result<(), String> {
    let client = schema::connect(url).await.map_err(|f| f.message().unwrap_or_default().to_string())?;
    client.batch_execute(sql).await.map_err(|e| format!("`{sql}` failed on the server given by `--database-url`: {e}"))
}

/// `url` with its database replaced by `name` (the query string is kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// Runs a future to completion from a synchronous test hook.
trait BlockOn {
    fn block<T>(&self, f: impl std::future::Future<Output = T>) -> T;
}

impl BlockOn for Runtime {
    fn block<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.block_on(f)
    }
}

impl BlockOn for tokio::runtime::Handle {
    fn block<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.block_on(f)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn with_database_replaces_only_the_path() {
        use super::with_database;
        assert_eq!(
            with_database("postgres://u:p@h:6432/postgres?sslmode=require", "t1"),
            "postgres://u:p@h:6432/t1?sslmode=require"
        );
        assert_eq!(with_database("postgres://u@h", "t1"), "postgres://u@h/t1");
        assert_eq!(with_database("postgres://u@h/", "t1"), "postgres://u@h/t1");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod oidc_suite;
