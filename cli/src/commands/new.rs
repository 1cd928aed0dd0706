//! `exo new NAME`: a starter project that `exo yolo` serves and `exo test` passes at once: a
//! todo model with access rules, seed data (`tests/init.gql`), one `.exotest` and a
//! `.gitignore`. The files live in `cli/templates/new/` and are compiled into the binary.
//!
//! `exo new NAME --from-database URL` writes the model `exo schema import` makes of that
//! database instead (and the `.gitignore`); its tests are for the user to write.

use std::fs;
use std::path::PathBuf;

use crate::{Context, Failure};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory to create (must not exist, or be empty).
    pub name: PathBuf,
    /// Import the model from this database (`exo schema import`) instead of the todo starter.
    #[arg(long, value_name = "URL")]
    pub from_database: Option<String>,
    /// With `--from-database`: the access rule for queries on every type.
    #[arg(long, value_name = "EXPR", default_value = "false", requires = "from_database")]
    pub query_access: String,
    /// With `--from-database`: the access rule for mutations on every type.
    #[arg(long, value_name = "EXPR", default_value = "false", requires = "from_database")]
    pub mutation_access: String,
}

/// (path in the project, contents).
const FILES: &[(&str, &str)] = &[
    ("src/index.exo", include_str!("../../templates/new/src/index.exo")),
    ("tests/init.gql", include_str!("../../templates/new/tests/init.gql")),
    ("tests/own-todos.exotest", include_str!("../../templates/new/tests/own-todos.exotest")),
    // Stored without the dot so git does not apply it to the template directory itself.
    (".gitignore", include_str!("../../templates/new/gitignore")),
];

pub fn run(ctx: &Context, args: Args) -> Result<(), Failure> {
    let dir = match &ctx.project {
        Some(base) => base.join(&args.name),
        None => args.name.clone(),
    };
    if dir.exists() {
        let empty = fs::read_dir(&dir).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !dir.is_dir() || !empty {
            return Err(Failure::new(format!(
                "`{}` already exists and is not an empty directory; choose another name, or remove it first",
                dir.display()
            )));
        }
    }
    let imported = match &args.from_database {
        Some(url) => Some(super::schema::import(&super::schema::ImportArgs {
            database: Some(url.clone()),
            schemas: Vec::new(),
            tables: Vec::new(),
            query_access: args.query_access.clone(),
            mutation_access: args.mutation_access.clone(),
            fragments: false,
            output: None,
        })?),
        None => None,
    };
    let files: Vec<(&str, &str)> = match &imported {
        Some(m) => FILES
            .iter()
            .filter(|(path, _)| *path == ".gitignore")
            .copied()
            .chain(std::iter::once(("src/index.exo", m.text.as_str())))
            .collect(),
        None => FILES.to_vec(),
    };
    for (path, contents) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| {
                Failure::new(format!("cannot create `{}`: {e}; check the path and its permissions", parent.display()))
            })?;
        }
        fs::write(&target, contents).map_err(|e| {
            Failure::new(format!("cannot write `{}`: {e}; check the path and its permissions", target.display()))
        })?;
    }
    if let Some(m) = &imported {
        super::schema::report_import(ctx, m, Some(&dir.join("src/index.exo")));
        if !ctx.quiet {
            let shown = dir.display();
            println!("Created `{shown}` with the model imported from the database (src/index.exo).");
            println!("Next: review its access rules, then");
            println!("  cd {shown}");
            println!("  exo build");
            println!("  exo schema verify --database <URL>   # the database matches the model");
            println!("  exo serve                            # with EXO_POSTGRES_URL set");
        }
        return Ok(());
    }
    if !ctx.quiet {
        let shown = dir.display();
        println!("Created `{shown}`: a todo model with access rules (src/index.exo), seed data and a test (tests/).");
        println!("Next:");
        println!("  cd {shown}");
        println!(
            "  exo yolo    # serve it on a throwaway Postgres, with a playground at http://127.0.0.1:9876/playground"
        );
        println!("  exo test    # run tests/*.exotest");
        println!("  exo dev     # serve against EXO_POSTGRES_URL, migrating as you edit");
    }
    Ok(())
}
