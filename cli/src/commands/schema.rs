//! `exo schema create|verify|migrate`: the model's DDL, and comparing and migrating a live
//! database.

use std::path::PathBuf;

use exo_pg_schema::{apply, create_statements, diff, introspect, migration, model_schemas, to_sql_script};
use exo_server::DatabaseConfig;
use tokio_postgres::Client;

use crate::commands::{database_url, runtime, write_output};
use crate::project::Project;
use crate::{Context, Failure};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print the SQL that creates the model's tables, enums, sequences and indexes.
    Create {
        /// Write to this file instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Compare the model with a database; exits non-zero if they are incompatible.
    Verify {
        /// Database URL (default: `EXO_POSTGRES_URL`, then `DATABASE_URL`).
        #[arg(long, short, value_name = "URL")]
        database: Option<String>,
    },
    /// Print (or apply) the SQL that brings a database in line with the model.
    Migrate {
        /// Database URL (default: `EXO_POSTGRES_URL`, then `DATABASE_URL`).
        #[arg(long, short, value_name = "URL")]
        database: Option<String>,
        /// Write the migration to this file instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Run the migration against the database (in one transaction).
        #[arg(long)]
        apply_to_database: bool,
        /// Include destructive statements (drops, narrowing changes) instead of commenting them out.
        #[arg(long)]
        allow_destructive_changes: bool,
    },
}

pub fn run(ctx: &Context, command: Command) -> Result<(), Failure> {
    let project = Project::locate(ctx.project.as_deref())?;
    match command {
        Command::Create { output } => {
            let ir = project.compile(ctx.quiet)?;
            write_output(output.as_deref(), &to_sql_script(&create_statements(&ir.database)))
        }
        Command::Verify { database } => {
            let url = database_url(database)?;
            let ir = project.compile(ctx.quiet)?;
            let rt = runtime()?;
            rt.block_on(async {
                let client = connect(&url).await?;
                let actual = introspect(&client, &model_schemas(&ir.database))
                    .await
                    .map_err(|e| Failure::new(format!("cannot read the database schema: {e}")))?;
                let differences = diff(&ir.database, &actual);
                if differences.is_empty() {
                    if !ctx.quiet {
                        println!("The database schema matches the model.");
                    }
                    return Ok(());
                }
                for d in &differences {
                    let tag = if d.incompatible { "incompatible" } else { "note" };
                    println!("- [{tag}] {}", d.message);
                }
                let incompatible = differences.iter().filter(|d| d.incompatible).count();
                if incompatible > 0 {
                    Err(Failure::new(format!(
                        "{incompatible} incompatible difference{} between the model and the database; \
                         run `exo schema migrate` to see the SQL that fixes {}",
                        if incompatible == 1 { "" } else { "s" },
                        if incompatible == 1 { "it" } else { "them" }
                    )))
                } else {
                    if !ctx.quiet {
                        println!("The database is compatible with the model (the differences above are harmless).");
                    }
                    Ok(())
                }
            })
        }
        Command::Migrate { database, output, apply_to_database, allow_destructive_changes } => {
            let url = database_url(database)?;
            let ir = project.compile(ctx.quiet)?;
            let rt = runtime()?;
            rt.block_on(async {
                let client = connect(&url).await?;
                let actual = introspect(&client, &model_schemas(&ir.database))
                    .await
                    .map_err(|e| Failure::new(format!("cannot read the database schema: {e}")))?;
                let statements = migration(&ir.database, &actual, allow_destructive_changes);
                let withheld = statements.iter().filter(|s| s.withheld).count();
                if statements.is_empty() {
                    if !ctx.quiet {
                        eprintln!("The database schema already matches the model; there is nothing to migrate.");
                    }
                } else if output.is_some() || !apply_to_database {
                    write_output(output.as_deref(), &to_sql_script(&statements))?;
                }
                if apply_to_database && !statements.is_empty() {
                    apply(&client, &statements)
                        .await
                        .map_err(|e| Failure::new(format!("the migration failed and was rolled back: {e}")))?;
                    if !ctx.quiet {
                        eprintln!("Applied {} statement(s) to the database.", statements.len() - withheld);
                    }
                }
                if withheld > 0 {
                    eprintln!(
                        "warning: {withheld} destructive statement(s) were left commented out; review them and pass \
                         `--allow-destructive-changes` to include them"
                    );
                }
                Ok(())
            })
        }
    }
}

/// A read-write connection for schema work.
pub async fn connect(url: &str) -> Result<Client, Failure> {
    let config = DatabaseConfig { url: Some(url.to_string()), pool_size: 1, read_write: true, ..DatabaseConfig::default() };
    Ok(exo_server::connect_client(&config).await?)
}
