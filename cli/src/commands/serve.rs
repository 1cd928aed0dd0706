//! `exo serve`: serve `target/index.exo_ir` with the configuration from `EXO_*` variables.

use std::sync::Arc;

use exo_server::{log, Server, ServerConfig};

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
    let bytes = project.read_ir()?;
    let mut config = ServerConfig::from_env(|k| std::env::var(k).ok())?;
    if let Some(port) = args.port {
        config.port = port;
    }
    if ctx.quiet {
        log::set_level(log::Level::Warn)
    } else {
        log::set_filter(&config.log)
    }
    let rt = runtime()?;
    rt.block_on(async {
        let server = Server::from_ir_bytes(&bytes, config, Box::new(|k| std::env::var(k).ok())).await?;
        Arc::new(server).serve(ctx.started).await?;
        Ok(())
    })
}
