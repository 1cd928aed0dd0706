//! `exo build`: compile `src/index.exo` and write `target/index.exo_ir`.

use crate::project::{self, Project, IR_FILE};
use crate::{Context, Failure};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Also print a readable dump of the compiled IR.
    #[arg(long)]
    pub dump_ir: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), Failure> {
    let project = Project::locate(ctx.project.as_deref())?;
    let built = project.build(ctx.quiet)?;
    if args.dump_ir {
        crate::commands::print_stdout(&exo_compiler::dump::dump(&built.ir));
    }
    if !ctx.quiet {
        println!("Built {IR_FILE} ({}) in {}", project::summary(&built.ir), project::millis(built.elapsed));
    }
    Ok(())
}
