//! `exo yolo`: start a throwaway Postgres with a `yolo` database, then run the `exo dev` loop
//! against it (build, migrate, serve, reload on changes to `src/`) with development settings.
//! Ctrl-C stops the server and removes the cluster.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use exo_pg_ephemeral::EphemeralPostgres;

use crate::commands::dev::{Destructive, Session};
use crate::commands::runtime;
use crate::project::Project;
use crate::{Context, Failure};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Port to listen on (overrides `EXO_SERVER_PORT`; default 9876).
    #[arg(long, short)]
    pub port: Option<u16>,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), Failure> {
    let project = Project::locate(ctx.project.as_deref())?;
    let say = |s: &str| {
        if !ctx.quiet {
            println!("{s}");
        }
    };
    say("Starting a throwaway Postgres cluster (removed on exit)...");
    let pg = EphemeralPostgres::start().map_err(|e| {
        Failure::new(format!(
            "{}; `exo yolo` needs local PostgreSQL binaries (initdb, pg_ctl): install PostgreSQL \
             (`apt-get install postgresql`), or set `EXO_POSTGRES_URL` and use `exo dev`",
            e.message()
        ))
    })?;
    let url = pg.create_database("yolo")?;

    // With `EXO_OIDC_URL` the provider's tokens are used, as in Exograph; otherwise a secret
    // (generated unless `EXO_JWT_SECRET` is set) and a token signed with it are printed.
    let oidc_url = std::env::var("EXO_OIDC_URL").ok().filter(|s| !s.trim().is_empty());
    let secret = match (&oidc_url, std::env::var("EXO_JWT_SECRET").ok().filter(|s| !s.is_empty())) {
        (Some(_), _) => None,
        (None, Some(s)) => Some(s),
        (None, None) => Some(random_secret()?),
    };

    // yolo's settings win over the process environment; everything else reads through.
    let mut overrides: HashMap<&'static str, String> = HashMap::from([
        ("EXO_ENV", "yolo".to_string()),
        ("EXO_POSTGRES_URL", url.clone()),
        ("EXO_POSTGRES_READ_WRITE", "true".to_string()),
        ("EXO_INTROSPECTION", "enabled".to_string()),
        ("EXO_CORS_DOMAINS", "*".to_string()),
    ]);
    if let Some(secret) = &secret {
        overrides.insert("EXO_JWT_SECRET", secret.clone());
    }
    let session = Session::new(ctx, project, url.clone(), overrides, args.port, Destructive::Apply);
    let rt = runtime()?;
    let result = rt.block_on(session.run(|_| {
        say(&format!("Database: {url}"));
        match (&secret, &oidc_url) {
            (Some(secret), _) => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
                let claims = serde_json::json!({ "sub": 1, "role": "admin", "roles": ["admin"], "exp": now + 24 * 3600 });
                let token = exo_runtime::jwt::sign_hs256(&claims, secret.as_bytes());
                say(&format!("JWT secret: {secret}"));
                say(&format!(
                    "Example token (HS256; claims sub=1, role=\"admin\", roles=[\"admin\"], expires in 24 hours):\n  Authorization: Bearer {token}"
                ));
            }
            (None, Some(oidc)) => say(&format!(
                "OIDC URL: {oidc} (from EXO_OIDC_URL); paste a token from your provider into the playground's JWT field"
            )),
            (None, None) => {}
        }
    }));
    drop(rt);
    say("Removing the throwaway Postgres cluster...");
    if let Err(e) = pg.stop() {
        eprintln!("warning: {}; the cluster's watchdog will remove it when exo exits", e.message());
    }
    result
}

/// A random JWT secret (`exo_testing::jwt::random_secret`: 30 alphanumeric characters).
pub fn random_secret() -> Result<String, Failure> {
    exo_testing::jwt::random_secret()
        .map_err(|e| Failure::new(format!("cannot generate a random JWT secret: {e}; set `EXO_JWT_SECRET`")))
}
