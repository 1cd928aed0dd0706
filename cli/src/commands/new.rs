//! `exo new NAME`: a starter project that `exo yolo` serves and `exo test` passes at once: a
//! todo model with access rules, seed data (`tests/init.gql`), one `.exotest` and a
//! `.gitignore`. The files live in `cli/templates/new/` and are compiled into the binary.

use std::fs;
use std::path::PathBuf;

use crate::{Context, Failure};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory to create (must not exist, or be empty).
    pub name: PathBuf,
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
    for (path, contents) in FILES {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| Failure::new(format!("cannot create `{}`: {e}; check the path and its permissions", parent.display())))?;
        }
        fs::write(&target, contents)
            .map_err(|e| Failure::new(format!("cannot write `{}`: {e}; check the path and its permissions", target.display())))?;
    }
    if !ctx.quiet {
        let shown = dir.display();
        println!("Created `{shown}`: a todo model with access rules (src/index.exo), seed data and a test (tests/).");
        println!("Next:");
        println!("  cd {shown}");
        println!("  exo yolo    # serve it on a throwaway Postgres, with a playground at http://127.0.0.1:9876/playground");
        println!("  exo test    # run tests/*.exotest");
        println!("  exo dev     # serve against EXO_POSTGRES_URL, migrating as you edit");
    }
    Ok(())
}
