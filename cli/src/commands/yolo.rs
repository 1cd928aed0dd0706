//! `exo yolo`: build, start a throwaway Postgres with a `yolo` database, create the schema,
//! and serve with development settings. Ctrl-C stops the server and removes the cluster.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use exo_pg_ephemeral::EphemeralPostgres;
use exo_pg_schema::{apply, create_statements};
use exo_server::{log, Server, ServerConfig};

use crate::commands::{runtime, schema};
use crate::project::{self, Project, IR_FILE};
use crate::{Context, Failure};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Port to listen on (overrides `EXO_SERVER_PORT`; default 9876).
    #[arg(long, short)]
    pub port: Option<u16>,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), Failure> {
    let project = Project::locate(ctx.project.as_deref())?;
    let built = project.build(ctx.quiet)?;
    let say = |s: &str| {
        if !ctx.quiet {
            println!("{s}");
        }
    };
    say(&format!("Built {IR_FILE} ({}) in {}", project::summary(&built.ir), project::millis(built.elapsed)));

    say("Starting a throwaway Postgres cluster (removed on exit)...");
    let pg = EphemeralPostgres::start().map_err(|e| {
        Failure::new(format!("{}; `exo yolo` needs local PostgreSQL binaries (initdb, pg_ctl)", e.message()))
    })?;
    let url = pg.create_database("yolo")?;

    let secret = match std::env::var("EXO_JWT_SECRET").ok().filter(|s| !s.is_empty()) {
        Some(s) => s,
        None => random_secret()?,
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let claims = serde_json::json!({ "sub": 1, "role": "admin", "roles": ["admin"], "exp": now + 24 * 3600 });
    let token = exo_runtime::jwt::sign_hs256(&claims, secret.as_bytes());

    // yolo's settings win over the process environment; everything else reads through.
    let overrides: HashMap<&'static str, String> = HashMap::from([
        ("EXO_ENV", "yolo".to_string()),
        ("EXO_POSTGRES_URL", url.clone()),
        ("EXO_POSTGRES_READ_WRITE", "true".to_string()),
        ("EXO_INTROSPECTION", "enabled".to_string()),
        ("EXO_CORS_DOMAINS", "*".to_string()),
        ("EXO_JWT_SECRET", secret.clone()),
    ]);
    let env = move |k: &str| overrides.get(k).cloned().or_else(|| std::env::var(k).ok());
    let mut config = ServerConfig::from_env(&env)?;
    if let Some(port) = args.port {
        config.port = port;
    }
    log::set_level(if ctx.quiet { log::Level::Warn } else { config.log_level });

    let rt = runtime()?;
    let result = rt.block_on(async {
        let client = schema::connect(&url).await?;
        apply(&client, &create_statements(&built.ir.database))
            .await
            .map_err(|e| Failure::new(format!("cannot create the schema in the throwaway database: {e}; please report this")))?;
        drop(client);
        say(&format!("Database: {url}"));
        say(&format!("JWT secret: {secret}"));
        say(&format!(
            "Example token (HS256; claims sub=1, role=\"admin\", roles=[\"admin\"], expires in 24 hours):\n  Authorization: Bearer {token}"
        ));
        let server = Server::from_ir_bytes(&built.bytes, config, Box::new(env)).await?;
        Arc::new(server).serve(ctx.started).await?;
        Ok(())
    });
    drop(rt);
    say("Removing the throwaway Postgres cluster...");
    if let Err(e) = pg.stop() {
        eprintln!("warning: {}; the cluster's watchdog will remove it when exo exits", e.message());
    }
    result
}

/// 32 random bytes as hex.
pub fn random_secret() -> Result<String, Failure> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Failure::new(format!("cannot generate a random JWT secret: {e}; set `EXO_JWT_SECRET`")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
