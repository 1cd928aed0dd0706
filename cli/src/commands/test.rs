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
use exo_testing::{TestEnvironment, TestRequest, TestResponse, TestServer};
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
}

pub fn run(ctx: &Context, args: Args) -> Result<(), Failure> {
    let root = match args.dir.or_else(|| ctx.project.clone()) {
        Some(d) => d,
        None => std::env::current_dir().map_err(|e| Failure::new(format!("cannot read the current directory: {e}")))?,
    };
    if !root.is_dir() {
        return Err(Failure::new(format!("`{}` is not a directory; pass a project directory to `exo test`", root.display())));
    }
    let worker = if args.cf_worker { Some(WorkerMode::new(args.hyperdrive)?) } else { None };
    let env = Environment {
        rt: runtime()?,
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
    fn prepare_project(&self, dir: &Path) -> Result<(), String> {
        run_build_scripts(dir)?;
        let project = Project { dir: dir.to_path_buf() };
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
        let system = exo_runtime::System::from_bytes(&bytes).map_err(|e| format!("cannot load the built IR: {}", e.0))?;
        let pg = self.postgres()?;
        let db_name = format!("exotest_{}", hex(&Md5::digest(test_name.as_bytes())));
        // A retry reuses the name: start from nothing.
        pg.drop_database(&db_name).map_err(|e| e.message().to_string())?;
        let url = pg.create_database(&db_name).map_err(|e| e.message().to_string())?;

        let mut vars: HashMap<String, String> = HashMap::from([
            ("EXO_ENV".into(), "test".into()),
            ("EXO_POSTGRES_URL".into(), format!("{url}?options=-c%20TimeZone%3DUTC")),
            ("EXO_JWT_SECRET".into(), jwt_secret.into()),
            ("EXO_CONNECTION_POOL_SIZE".into(), "1".into()),
            ("EXO_CHECK_CONNECTION_ON_STARTUP".into(), "false".into()),
            ("EXO_INTROSPECTION".into(), "enabled".into()),
            ("EXO_POSTGRES_READ_WRITE".into(), "true".into()),
        ]);
        vars.extend(envs.iter().cloned());
        let vars_list: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let file = self.rt.block_on(async {
            let sql = schema::connect(&url).await.map_err(|f| f.message().unwrap_or_default().to_string())?;
            apply(&sql, &create_statements(&system.ir.database))
                .await
                .map_err(|e| format!("cannot create the schema: {e}"))?;
            let actual = introspect(&sql, &model_schemas(&system.ir.database))
                .await
                .map_err(|e| format!("cannot read the schema back: {e}"))?;
            let problems: Vec<String> =
                diff(&system.ir.database, &actual).into_iter().filter(|d| d.incompatible).map(|d| d.message).collect();
            if !problems.is_empty() {
                return Err(format!("the created schema does not verify against the model:\n  {}", problems.join("\n  ")));
            }
            if self.worker.is_some() {
                return Ok::<_, String>((None, sql));
            }
            // The test's variables, then (like Exograph, which clears every other `EXO_*`
            // variable) the process environment minus `EXO_*`.
            let lookup = move |k: &str| vars.get(k).cloned().or_else(|| if k.starts_with("EXO_") { None } else { std::env::var(k).ok() });
            let config = ServerConfig::from_env(&lookup).map_err(|e| e.to_string())?;
            let server = Server::new(system, config, Box::new(lookup)).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((Some(server), sql))
        });
        let (server, sql) = match file {
            Ok(f) => f,
            Err(e) => {
                let _ = pg.drop_database(&db_name);
                return Err(e);
            }
        };
        let Some(server) = server else {
            // `--cf-worker`: the database is ready; start a Worker on it.
            let worker = self.worker.as_ref().expect("checked above");
            let started = self.rt.block_on(sql.batch_execute(&format!("ALTER DATABASE \"{db_name}\" SET TimeZone = 'UTC'")))
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
            pg,
            db_name,
            stats: Arc::clone(&self.stats),
        }))
    }
}

/// Writes every operation of the project's tests to a scratch `trusted-documents/` (the test
/// files' operations as a hash map, the init files' as an Apollo manifest: both formats) and
/// compiles them into `ir`.
fn attach_test_operations(ir: &mut exo_ir::Ir, dir: &Path) -> Result<(), String> {
    let projects = exo_testing::discovery::discover(dir, None)?;
    let mut tests = serde_json::Map::new();
    let mut inits = vec![];
    for case in projects.iter().flat_map(|p| &p.tests) {
        let files = case.init_files.iter().filter(|f| f.extension().is_some_and(|e| e == "gql")).map(|f| (f, true));
        for (path, init) in files.chain([(&case.path, false)]) {
            let Ok(file) = exo_testing::loader::load_file(path, &path.display().to_string()) else { continue };
            for stage in file.stages {
                if let exo_testing::loader::Operation::GraphQl { document, .. } = stage.operation {
                    let hash = exo_runtime::trusted::sha256_hex(&document);
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
    let scratch = std::env::temp_dir().join(format!("exo-trusted-{}-{}", std::process::id(), hex(&Md5::digest(dir.display().to_string()))));
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
    pg: &'static EphemeralPostgres,
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
        let _ = self.pg.drop_database(&self.db_name);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod oidc_suite;
