//! `exo schema create|verify|migrate|import`: the model's DDL, comparing and migrating a live
//! database, and writing a model from an existing one.

use std::path::PathBuf;

use exo_pg_schema::{
    apply, create_statements, diff, introspect, migration, model_schemas, read_catalog, to_sql_script, user_schemas,
};
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
    /// Write a model (or fragments) for the tables and views of an existing database.
    Import(ImportArgs),
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// Database URL (default: `EXO_POSTGRES_URL`, then `DATABASE_URL`).
    #[arg(long, short, value_name = "URL")]
    pub database: Option<String>,
    /// Import this Postgres schema (repeatable; default: every schema but Postgres's own).
    #[arg(long = "schema", value_name = "NAME")]
    pub schemas: Vec<String>,
    /// Import only tables and views whose `name` or `schema.name` matches (repeatable; `*` and
    /// `?` wildcards).
    #[arg(long = "tables", value_name = "PATTERN")]
    pub tables: Vec<String>,
    /// The access rule for queries written on every type.
    #[arg(long, value_name = "EXPR", default_value = "false")]
    pub query_access: String,
    /// The access rule for mutations written on every type.
    #[arg(long, value_name = "EXPR", default_value = "false")]
    pub mutation_access: String,
    /// Write fragments instead of types, for a database exo must not manage.
    #[arg(long, alias = "generate-fragments")]
    pub fragments: bool,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(ctx: &Context, command: Command) -> Result<(), Failure> {
    if let Command::Import(args) = command {
        // An import usually starts a project, so none is needed.
        let imported = import(&args)?;
        write_output(args.output.as_deref(), &imported.text)?;
        report_import(ctx, &imported, args.output.as_deref());
        return Ok(());
    }
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
        Command::Import(_) => unreachable!("handled before a project is located"),
    }
}

/// Reads the database named by `args` and generates the model. The generated model (not
/// fragments, which are completed by hand) is compiled before it is returned: a model that
/// `exo build` would reject is a bug of the import, reported as such.
pub fn import(args: &ImportArgs) -> Result<crate::import::Imported, Failure> {
    for (flag, rule) in [("--query-access", &args.query_access), ("--mutation-access", &args.mutation_access)] {
        check_access_rule(flag, rule)?;
    }
    let url = database_url(args.database.clone())?;
    let rt = runtime()?;
    let catalog = rt.block_on(async {
        let client = connect(&url).await?;
        let fail = |e: exo_pg_schema::Error| Failure::new(format!("cannot read the database schema: {e}"));
        // One snapshot of the catalog, even if someone changes the schema meanwhile.
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(|e| Failure::new(format!("cannot start a read-only transaction: {e}")))?;
        let existing = user_schemas(&client).await.map_err(fail)?;
        let schemas = if args.schemas.is_empty() {
            existing
        } else {
            if let Some(missing) = args.schemas.iter().find(|s| !existing.contains(s)) {
                return Err(Failure::new(format!(
                    "the database has no schema `{missing}`; it has: {}",
                    existing.join(", ")
                )));
            }
            args.schemas.clone()
        };
        let catalog = read_catalog(&client, &schemas).await.map_err(fail)?;
        let _ = client.batch_execute("COMMIT").await;
        Ok::<_, Failure>(catalog)
    })?;
    let opts = crate::import::Options {
        query_access: args.query_access.clone(),
        mutation_access: args.mutation_access.clone(),
        fragments: args.fragments,
        tables: args.tables.clone(),
    };
    let imported = crate::import::generate(&catalog, &opts);
    if !args.fragments {
        let compiled = exo_compiler::compile_str("index.exo", &imported.text);
        if compiled.has_errors() {
            let messages: Vec<String> = compiled.diagnostics.iter().map(|d| format!("- {}", d.message)).collect();
            return Err(Failure::new(format!(
                "the imported model does not compile (a bug in `exo schema import`; please report it with the schema):\n{}\n\n{}",
                messages.join("\n"),
                imported.text
            )));
        }
    }
    Ok(imported)
}

/// An access rule from the command line must compile on its own (the imported model declares
/// no contexts, so it may use `true`, `false` and comparisons of literals only); its errors are
/// the user's, not the import's.
fn check_access_rule(flag: &str, rule: &str) -> Result<(), Failure> {
    let probe = format!("@postgres\nmodule Probe {{\n  @access({rule})\n  type Probe {{ @pk id: Int }}\n}}\n");
    let compiled = exo_compiler::compile_str("access.exo", &probe);
    if rule.trim().is_empty() || compiled.has_errors() {
        let why: Vec<String> =
            compiled.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
        return Err(Failure::new(format!(
            "`{flag} {rule}` is not an access rule exo can use here{}; write `true`, `false` or an expression over \
             literals, and edit the rules in the model afterwards (contexts such as `AuthContext` must be declared there first)",
            if why.is_empty() { String::new() } else { format!(" ({})", why.join("; ")) }
        )));
    }
    Ok(())
}

/// What was imported and what could not be expressed, on stderr (stdout may hold the model).
pub fn report_import(ctx: &Context, imported: &crate::import::Imported, output: Option<&std::path::Path>) {
    for n in &imported.notes {
        eprintln!("note: {n}");
    }
    if !ctx.quiet {
        if let Some(path) = output {
            eprintln!("Imported {} table(s) and view(s) into `{}`:", imported.types.len(), path.display());
            for t in &imported.types {
                eprintln!("  {t}");
            }
        }
    }
}

/// A read-write connection for schema work.
pub async fn connect(url: &str) -> Result<Client, Failure> {
    let config =
        DatabaseConfig { url: Some(url.to_string()), pool_size: 1, read_write: true, ..DatabaseConfig::default() };
    Ok(exo_server::connect_client(&config).await?)
}
