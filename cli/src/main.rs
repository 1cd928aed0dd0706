//! `exo`: the command-line front end. It parses arguments, runs one command and turns its
//! [`Failure`] into a message and an exit code; the work itself lives in the library crates.

mod commands;
mod failure;
mod import;
mod project;
mod term;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

pub use failure::Failure;

#[derive(Parser, Debug)]
#[command(name = "exo", version, about = "Build and run GraphQL APIs over PostgreSQL from `.exo` models")]
struct Cli {
    /// Print only errors (and what a command was asked to print, such as a schema).
    #[arg(long, short, global = true)]
    quiet: bool,
    /// The project directory (holding `src/index.exo`); defaults to the current directory.
    #[arg(long, global = true, value_name = "DIR")]
    project: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a starter project (a todo model with access rules, seed data and a test).
    New(commands::new::Args),
    /// Compile `src/index.exo` into `target/index.exo_ir`.
    Build(commands::build::Args),
    /// GraphQL tools.
    Graphql {
        #[command(subcommand)]
        command: commands::graphql::Command,
    },
    /// Database schema tools: create, verify, migrate, and import an existing database.
    Schema {
        #[command(subcommand)]
        command: commands::schema::Command,
    },
    /// Serve the compiled model (`target/index.exo_ir`) over HTTP.
    Serve(commands::serve::Args),
    /// Start a throwaway Postgres, build, serve and reload on changes (the database is deleted on exit).
    Yolo(commands::yolo::Args),
    /// Serve against `EXO_POSTGRES_URL`, migrating and reloading on every change to `src/`.
    Dev(commands::dev::Args),
    /// Run the `.exotest` integration tests of one or more projects.
    Test(commands::test::Args),
    /// Lay out a deployment of the project (`exo deploy cf-worker`).
    Deploy {
        #[command(subcommand)]
        command: commands::deploy::Command,
    },
}

/// What every command receives besides its own arguments.
pub struct Context {
    pub quiet: bool,
    pub project: Option<PathBuf>,
    /// When the process started, for timings such as the server's startup line.
    pub started: Instant,
}

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    let ctx = Context { quiet: cli.quiet, project: cli.project, started };
    let result = match cli.command {
        Command::New(args) => commands::new::run(&ctx, args),
        Command::Build(args) => commands::build::run(&ctx, args),
        Command::Graphql { command } => commands::graphql::run(&ctx, command),
        Command::Schema { command } => commands::schema::run(&ctx, command),
        Command::Serve(args) => commands::serve::run(&ctx, args),
        Command::Yolo(args) => commands::yolo::run(&ctx, args),
        Command::Dev(args) => commands::dev::run(&ctx, args),
        Command::Test(args) => commands::test::run(&ctx, args),
        Command::Deploy { command } => commands::deploy::run(&ctx, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if let Some(message) = failure.message() {
                eprintln!("{} {message}", term::paint("error:", term::Tone::Bad, term::stderr_color()));
            }
            ExitCode::from(failure.code())
        }
    }
}
