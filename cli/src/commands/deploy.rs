//! `exo deploy cf-worker [--app NAME]`: builds the IR and lays out a Cloudflare Worker beside
//! it: the runtime bundle (the same wasm for every model) in `target/cf-worker/`, plus
//! `wrangler.toml` and `.dev.vars` when they do not exist yet.
//!
//! The bundle comes from, in order: `EXO_CF_WORKER_DIST` (a directory), `cf-worker/` beside the
//! `exo` executable (a release layout), or a build from the exo workspace this binary was
//! compiled in (`scripts/build-cf-worker.sh`).

use std::path::{Path, PathBuf};

use crate::project::{Project, IR_FILE};
use crate::{Context, Failure};

/// The files of a Worker bundle, as `scripts/build-cf-worker.sh` writes them.
pub const BUNDLE_FILES: [&str; 3] = ["index.js", "exo_cf_worker.js", "exo_cf_worker_bg.wasm"];

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Lay out a Cloudflare Worker serving this project (`target/cf-worker/`, `wrangler.toml`,
    /// `.dev.vars`).
    CfWorker(CfWorkerArgs),
}

#[derive(clap::Args, Debug)]
pub struct CfWorkerArgs {
    /// The Worker's name (default: the project directory's name).
    #[arg(long, short)]
    pub app: Option<String>,
}

pub fn run(ctx: &Context, command: Command) -> Result<(), Failure> {
    match command {
        Command::CfWorker(args) => cf_worker(ctx, args),
    }
}

fn cf_worker(ctx: &Context, args: CfWorkerArgs) -> Result<(), Failure> {
    let project = Project::locate(ctx.project.as_deref())?;
    let app = match args.app {
        Some(a) => a,
        None => project
            .dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "exo-app".to_string()),
    };
    let app = worker_name(&app)?;
    project.build(ctx.quiet)?;
    let dist = bundle_dir(ctx.quiet)?;
    let out = project.dir.join("target").join("cf-worker");
    install_bundle(&dist, &out)?;

    let mut written = vec![];
    let wrangler = project.dir.join("wrangler.toml");
    if !wrangler.exists() {
        write(&wrangler, &wrangler_toml(&app))?;
        written.push("wrangler.toml");
    }
    let dev_vars = project.dir.join(".dev.vars");
    if !dev_vars.exists() {
        let url = std::env::var("EXO_POSTGRES_URL")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "postgres://USER:PASSWORD@127.0.0.1:5432/DATABASE".to_string());
        let secret = crate::commands::yolo::random_secret()?;
        write(&dev_vars, &format!("EXO_POSTGRES_URL = \"{url}\"\nEXO_JWT_SECRET = \"{secret}\"\n"))?;
        written.push(".dev.vars");
    }
    if !ctx.quiet {
        let wasm = out.join("exo_cf_worker_bg.wasm");
        let size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
        println!("Wrote the Worker `{app}` to target/cf-worker/ (runtime {} KB, model {IR_FILE})", size / 1024);
        if !written.is_empty() {
            println!("Created {} (kept as they are next time)", written.join(" and "));
        }
        println!();
        println!("Next steps:");
        println!("  1. Put your database URL and JWT secret in .dev.vars, then try it locally:");
        println!("       npx wrangler dev");
        println!("  2. Give the deployed Worker its secrets:");
        println!("       npx wrangler secret put EXO_POSTGRES_URL");
        println!("       npx wrangler secret put EXO_JWT_SECRET");
        println!("     (or use Hyperdrive: see the commented section in wrangler.toml)");
        println!("  3. Deploy:");
        println!("       npx wrangler deploy");
    }
    Ok(())
}

/// Worker names: lowercase letters, digits and dashes.
fn worker_name(app: &str) -> Result<String, Failure> {
    let name: String = app
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_string();
    if name.is_empty() || name.len() > 63 {
        return Err(Failure::new(format!(
            "`{app}` cannot be a Worker name; pass `--app` with 1 to 63 letters, digits or dashes"
        )));
    }
    Ok(name)
}

/// Where the prebuilt Worker bundle is; builds it from the workspace as a last resort.
pub fn bundle_dir(quiet: bool) -> Result<PathBuf, Failure> {
    if let Some(dir) = std::env::var_os("EXO_CF_WORKER_DIST").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return match missing_files(&dir) {
            None => Ok(dir),
            Some(m) => Err(Failure::new(format!(
                "`EXO_CF_WORKER_DIST` is `{}`, but `{m}` is not there; point it at the output of \
                 `scripts/build-cf-worker.sh` (target/cf-worker-dist)",
                dir.display()
            ))),
        };
    }
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(|p| p.join("cf-worker"))) {
        if missing_files(&dir).is_none() {
            return Ok(dir);
        }
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf);
    let script = workspace.as_ref().map(|w| w.join("scripts").join("build-cf-worker.sh"));
    match (workspace, script) {
        (Some(workspace), Some(script)) if script.is_file() => {
            if !quiet {
                eprintln!("Building the Worker runtime with {}", script.display());
            }
            let dist = workspace.join("target").join("cf-worker-dist");
            let output = std::process::Command::new("bash")
                .arg(&script)
                .env("EXO_CF_WORKER_DIST", &dist)
                .output()
                .map_err(|e| Failure::new(format!("cannot run `{}`: {e}", script.display())))?;
            if !output.status.success() {
                return Err(Failure::new(format!(
                    "building the Worker runtime failed:\n{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                )));
            }
            match missing_files(&dist) {
                None => Ok(dist),
                Some(m) => Err(Failure::new(format!("`{}` did not produce `{m}`", script.display()))),
            }
        }
        _ => Err(Failure::new(
            "the Worker runtime is missing: this `exo` has no `cf-worker/` directory beside it and was not built \
             from an exo workspace; set `EXO_CF_WORKER_DIST` to a directory holding index.js, exo_cf_worker.js and \
             exo_cf_worker_bg.wasm (built by `scripts/build-cf-worker.sh` in the exo repository)",
        )),
    }
}

fn missing_files(dir: &Path) -> Option<&'static str> {
    BUNDLE_FILES.into_iter().find(|f| !dir.join(f).is_file())
}

/// Copies the bundle (with wasm-bindgen's `snippets/`) into `out`, replacing what a previous
/// deploy left there.
pub fn install_bundle(dist: &Path, out: &Path) -> Result<(), Failure> {
    if out.exists() {
        std::fs::remove_dir_all(out)
            .map_err(|e| Failure::new(format!("cannot replace `{}`: {e}; check its permissions", out.display())))?;
    }
    copy_dir(dist, out)
        .map_err(|e| Failure::new(format!("cannot copy the Worker bundle into `{}`: {e}", out.display())))
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text).map_err(|e| Failure::new(format!("cannot write `{}`: {e}", path.display())))
}

/// The Worker's configuration: the entry, the Data rule that bundles the IR, and a commented
/// Hyperdrive section.
pub fn wrangler_toml(app: &str) -> String {
    format!(
        r#"# Written by `exo deploy cf-worker`; edit freely (it is not overwritten).
name = "{app}"
main = "target/cf-worker/index.js"
compatibility_date = "2025-01-01"

# The compiled model travels beside the runtime as binary data.
[[rules]]
type = "Data"
globs = ["**/*.exo_ir"]
fallthrough = true

[vars]
# Mutations need a read-write session; remove this for a read-only API.
EXO_POSTGRES_READ_WRITE = "true"
# EXO_INTROSPECTION = "true"
# EXO_CORS_DOMAINS = "https://app.example.com"
# Tokens from an OpenID Connect provider instead of EXO_JWT_SECRET (remove that secret then):
# EXO_OIDC_URL = "https://your-tenant.example-provider.com"

# Secrets (not here): `npx wrangler secret put EXO_POSTGRES_URL` and `EXO_JWT_SECRET`;
# locally, `wrangler dev` reads them from .dev.vars.

# To reach Postgres through Hyperdrive instead of EXO_POSTGRES_URL, create one
# (`npx wrangler hyperdrive create {app}-db --connection-string=postgres://...`) and uncomment:
# [[hyperdrive]]
# binding = "HYPERDRIVE"
# id = "<the id printed by wrangler>"
# localConnectionString = "postgres://user:password@127.0.0.1:5432/db"
# and add to [vars]:
# EXO_HYPERDRIVE_BINDING = "HYPERDRIVE"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_names() {
        assert_eq!(worker_name("My_App 2").ok().as_deref(), Some("my-app-2"));
        assert!(worker_name("___").is_err());
    }

    #[test]
    fn wrangler_toml_bundles_the_ir() {
        let t = wrangler_toml("todo");
        assert!(t.contains("name = \"todo\""));
        assert!(t.contains("globs = [\"**/*.exo_ir\"]"));
        assert!(t.contains("# [[hyperdrive]]"));
    }
}
