//! `exo dev`: serve the project against `EXO_POSTGRES_URL` and reload on every change to
//! `src/`. Each reload compiles, migrates the database (safe statements at once, destructive
//! ones only after a yes on a terminal), verifies it against the new model and swaps the model
//! in behind the same socket. A model that does not compile or does not fit the database is
//! reported, and the last good one keeps serving. `exo yolo` runs the same loop against its
//! throwaway database.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exo_ir::Ir;
use exo_pg_schema::{apply, diff, introspect, migration, model_schemas, Statement};
use exo_runtime::System;
use exo_server::{log, shutdown_signal, EnvLookup, LiveServer, Server, ServerConfig};
use tokio_postgres::Client;

use crate::commands::{runtime, schema};
use crate::project::{self, Project, ENTRY};
use crate::term::{self, Tone};
use crate::watch::Watcher;
use crate::{Context, Failure};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Port to listen on (overrides `EXO_SERVER_PORT`; default 9876).
    #[arg(long, short)]
    pub port: Option<u16>,
    /// Let GraphQL mutations write (sets `EXO_POSTGRES_READ_WRITE=true`); read-only otherwise.
    #[arg(long)]
    pub read_write: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), Failure> {
    let project = Project::locate(ctx.project.as_deref())?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let url = env("EXO_POSTGRES_URL").or_else(|| env("DATABASE_URL")).ok_or_else(|| {
        Failure::new(
            "`exo dev` serves against an existing database, and none is set; set `EXO_POSTGRES_URL` \
             (such as `postgres://user@localhost:5432/mydb`), or run `exo yolo` for a throwaway one",
        )
    })?;
    let mut overrides = HashMap::from([
        ("EXO_ENV", "dev".to_string()),
        ("EXO_POSTGRES_URL", url.clone()),
        ("EXO_INTROSPECTION", "enabled".to_string()),
        ("EXO_CORS_DOMAINS", "*".to_string()),
    ]);
    if args.read_write {
        overrides.insert("EXO_POSTGRES_READ_WRITE", "true".to_string());
    }
    let session = Session::new(ctx, project, url, overrides, args.port, Destructive::Ask);
    let rt = runtime()?;
    rt.block_on(session.run(|_| {}))
}

/// What a reload does with destructive migration statements.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Destructive {
    /// Ask on a terminal; without one, refuse and say which command applies them.
    Ask,
    /// Apply them (`exo yolo`: the database is thrown away anyway).
    Apply,
}

/// One watched project served against one database.
pub struct Session<'a> {
    pub ctx: &'a Context,
    pub project: Project,
    pub url: String,
    /// Settings that win over the process environment.
    pub overrides: HashMap<&'static str, String>,
    pub port: Option<u16>,
    pub destructive: Destructive,
    /// Whether a model is being served (what a failed reload falls back to).
    serving: AtomicBool,
    /// Destructive statements the user said no to; not asked about again.
    declined: Mutex<HashSet<String>>,
    /// Time spent waiting for an answer during the current reload (left out of its timing).
    waited: Mutex<Duration>,
}

impl<'a> Session<'a> {
    pub fn new(
        ctx: &'a Context,
        project: Project,
        url: String,
        overrides: HashMap<&'static str, String>,
        port: Option<u16>,
        destructive: Destructive,
    ) -> Session<'a> {
        Session {
            ctx,
            project,
            url,
            overrides,
            port,
            destructive,
            serving: AtomicBool::new(false),
            declined: Mutex::new(HashSet::new()),
            waited: Mutex::new(Duration::ZERO),
        }
    }

    /// The environment the server and the engine read: the overrides, then the process.
    fn env(&self) -> EnvLookup {
        let overrides = self.overrides.clone();
        Box::new(move |k: &str| overrides.get(k).cloned().or_else(|| std::env::var(k).ok()))
    }

    fn say(&self, text: &str) {
        if !self.ctx.quiet {
            println!("{text}");
        }
    }

    fn say_tone(&self, text: &str, tone: Tone) {
        self.say(&term::paint(text, tone, term::stdout_color()))
    }

    /// Builds, migrates and serves, then reloads on every change until Ctrl-C. `on_serving`
    /// runs once the first model is served (yolo prints its token there).
    pub async fn run(self, on_serving: impl FnOnce(&Session)) -> Result<(), Failure> {
        let mut config = ServerConfig::from_env(&*self.env())?;
        if let Some(port) = self.port {
            config.port = port;
        }
        if self.ctx.quiet {
            log::set_level(log::Level::Warn)
        } else {
            log::set_filter(&config.log)
        }
        let mut client = schema::connect(&self.url).await?;

        // Trusted documents are compiled into the model too.
        let mut watcher = Watcher::new(vec![self.project.dir.join("src"), self.project.dir.join("trusted-documents")]);
        let ir = match self.reload(&client).await {
            Ok(ir) => ir,
            Err(Rejected) => {
                return Err(Failure::new(format!(
                    "the model cannot be served yet; fix what is reported above in `{}` and run the command again",
                    self.project.dir.join("src").display()
                )))
            }
        };
        let server = Server::new(System::new(ir), config, self.env()).await?;
        let listener = server.bind().await?;
        let addr =
            listener.local_addr().map_err(|e| Failure::new(format!("cannot read the listening address: {e}")))?;
        server.log_started(addr, self.ctx.started);
        self.serving.store(true, Ordering::Relaxed);
        on_serving(&self);
        let shown: Vec<String> =
            watcher.dirs().iter().filter(|d| d.is_dir()).map(|d| format!("`{}`", d.display())).collect();
        self.say(&format!("Watching {} for changes (Ctrl-C to stop)", shown.join(" and ")));

        let live = Arc::new(LiveServer::new(Arc::new(server)));
        let serving = tokio::spawn(live.clone().serve_on(listener, shutdown_signal()));
        tokio::pin!(serving);
        loop {
            tokio::select! {
                finished = &mut serving => {
                    return match finished {
                        Ok(result) => Ok(result?),
                        Err(e) => Err(Failure::new(format!("the server stopped unexpectedly: {e}; please report this"))),
                    };
                }
                () = watcher.changed() => {
                    if std::fs::metadata(self.project.entry()).is_ok_and(|m| m.len() == 0) {
                        // Most likely caught between an editor's truncate and write: an empty
                        // model would drop every table, so wait for the next save instead.
                        self.say(&format!("`{ENTRY}` is empty; waiting for it to be saved"));
                        continue;
                    }
                    let started = Instant::now();
                    *self.waited.lock().unwrap_or_else(|e| e.into_inner()) = Duration::ZERO;
                    self.say("Change detected; rebuilding...");
                    if client.is_closed() {
                        match schema::connect(&self.url).await {
                            Ok(c) => client = c,
                            Err(f) => {
                                self.report_kept(f.message().unwrap_or("cannot reach the database"));
                                continue;
                            }
                        }
                    }
                    if let Ok(ir) = self.reload(&client).await {
                        let summary = project::summary(&ir);
                        let next = live.current().with_system(System::new(ir), self.env());
                        live.replace(next);
                        let waited = *self.waited.lock().unwrap_or_else(|e| e.into_inner());
                        let took = started.elapsed().saturating_sub(waited);
                        self.say_tone(&format!("Reloaded in {} ({summary})", project::millis(took)), Tone::Good);
                    }
                }
            }
        }
    }

    /// Compiles, migrates and verifies; `Err` after reporting why the model cannot be served.
    async fn reload(&self, client: &Client) -> Result<Ir, Rejected> {
        let started = Instant::now();
        let (ir, warnings) =
            match self.project.compile_to_text_then(term::stderr_width(), term::stderr_color(), "save the file") {
                Ok(built) => built,
                Err(rendered) => {
                    eprint!("{rendered}");
                    self.report_kept("the model has errors");
                    return Err(Rejected);
                }
            };
        if !self.ctx.quiet && !warnings.is_empty() {
            eprint!("{warnings}");
        }
        self.say(&format!("Built {ENTRY} ({}) in {}", project::summary(&ir), project::millis(started.elapsed())));
        self.migrate(client, &ir).await?;
        if let Err(f) = self.project.write_ir(&ir) {
            // Serving does not need the file; `exo serve` later would.
            eprintln!("warning: {}", f.message().unwrap_or_default());
        }
        Ok(ir)
    }

    /// Brings the database in line with `ir` as far as allowed, then checks it fits.
    async fn migrate(&self, client: &Client, ir: &Ir) -> Result<(), Rejected> {
        let schemas = model_schemas(&ir.database);
        let read = |e: exo_pg_schema::Error| {
            self.report_kept(&format!("cannot read the database schema: {e}"));
            Rejected
        };
        let actual = introspect(client, &schemas).await.map_err(read)?;
        let mut statements = migration(&ir.database, &actual, false);
        let withheld: Vec<&Statement> = statements.iter().filter(|s| s.withheld).collect();
        if !withheld.is_empty() && self.confirm_destructive(&withheld).await {
            statements = migration(&ir.database, &actual, true);
        }
        let runnable: Vec<&Statement> = statements.iter().filter(|s| !s.withheld).collect();
        if !runnable.is_empty() {
            let started = Instant::now();
            self.say(&format!("Migrating the database ({} statement{})...", runnable.len(), plural(runnable.len())));
            for s in &runnable {
                self.say(&format!("  {}", first_line(&s.sql)));
            }
            if let Err(e) = apply(client, &statements).await {
                self.report_kept(&format!("the migration failed and was rolled back: {e}"));
                return Err(Rejected);
            }
            self.say(&format!("Migrated in {}", project::millis(started.elapsed())));
        }
        // Read the catalog again only if something changed it.
        let actual = if runnable.is_empty() { actual } else { introspect(client, &schemas).await.map_err(read)? };
        let problems: Vec<String> =
            diff(&ir.database, &actual).into_iter().filter(|d| d.incompatible).map(|d| d.message).collect();
        if !problems.is_empty() {
            eprintln!("The database does not fit the new model:");
            for p in &problems {
                eprintln!("  - {p}");
            }
            self.report_kept(&format!(
                "the database needs changes that were not applied; see them with `{}`",
                self.command("exo schema migrate")
            ));
            return Err(Rejected);
        }
        Ok(())
    }

    /// Whether to run the destructive statements: yes for yolo, a question on a terminal,
    /// and a refusal (with the command that applies them) otherwise.
    async fn confirm_destructive(&self, withheld: &[&Statement]) -> bool {
        let n = withheld.len();
        if self.destructive == Destructive::Apply {
            self.say(&format!(
                "The new model drops data: applying {n} destructive statement{} (the throwaway database allows it)",
                plural(n)
            ));
            return true;
        }
        let color = term::stderr_color();
        let declined = self.declined.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if withheld.iter().all(|s| declined.contains(&s.sql)) {
            self.say(&format!(
                "{n} destructive statement{} declined earlier still withheld (`{}` applies {})",
                plural(n),
                self.command("exo schema migrate --apply-to-database --allow-destructive-changes"),
                if n == 1 { "it" } else { "them" }
            ));
            return false;
        }
        eprintln!(
            "{} the new model needs {n} destructive statement{} (data would be lost):",
            term::paint("warning:", Tone::Warn, color),
            plural(n)
        );
        for s in withheld {
            eprintln!("  {}", first_line(&s.sql));
        }
        if !term::stdin_interactive() {
            eprintln!(
                "Not applied: there is no terminal to confirm on. To apply {}, run\n  {}\nwith the same \
                 `EXO_POSTGRES_URL`, or run `exo dev` in a terminal to be asked.",
                if n == 1 { "it" } else { "them" },
                self.command("exo schema migrate --apply-to-database --allow-destructive-changes")
            );
            self.declined.lock().unwrap_or_else(|e| e.into_inner()).extend(withheld.iter().map(|s| s.sql.clone()));
            return false;
        }
        eprint!("Apply {}? [y/N] ", if n == 1 { "it" } else { "them" });
        let _ = std::io::stderr().flush();
        // A plain thread, not `spawn_blocking`: a pending read must not hold up shutdown.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            let _ = tx.send(line);
        });
        let asked = Instant::now();
        let answer = rx.await.unwrap_or_default();
        *self.waited.lock().unwrap_or_else(|e| e.into_inner()) += asked.elapsed();
        let yes = matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
        if !yes {
            self.declined.lock().unwrap_or_else(|e| e.into_inner()).extend(withheld.iter().map(|s| s.sql.clone()));
            eprintln!(
                "Not applied. Apply {} later with `{}`.",
                if n == 1 { "it" } else { "them" },
                self.command("exo schema migrate --apply-to-database --allow-destructive-changes")
            );
        }
        yes
    }

    /// `exo ...` with `--project DIR` when exo was started with one.
    fn command(&self, base: &str) -> String {
        match &self.ctx.project {
            Some(dir) => format!("{base} --project {}", shell_word(dir)),
            None => base.to_string(),
        }
    }

    fn report_kept(&self, why: &str) {
        let color = term::stderr_color();
        if self.serving.load(Ordering::Relaxed) {
            eprintln!(
                "{} {why}; the last good model keeps serving. Save a fix in src/ to reload.",
                term::paint("not reloaded:", Tone::Bad, color)
            );
        } else {
            eprintln!("{} {why}.", term::paint("cannot start:", Tone::Bad, color));
        }
    }
}

/// A model that cannot be served; the reason was already printed.
struct Rejected;

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn first_line(sql: &str) -> String {
    let mut lines = sql.lines();
    let first = lines.next().unwrap_or_default().trim_end();
    if lines.next().is_some() {
        format!("{first} ...")
    } else {
        first.to_string()
    }
}

/// A path as one shell word (quoted when it needs to be).
fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    if text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:,".contains(c)) {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
