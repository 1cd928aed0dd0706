//! A project on disk: where its files are, compiling it (diagnostics rendered here, at the
//! edge) and reading and writing `target/index.exo_ir`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use exo_compiler::diag;
use exo_ir::Ir;

use crate::{term, Failure};

pub const ENTRY: &str = "src/index.exo";
pub const IR_FILE: &str = "target/index.exo_ir";

pub struct Project {
    pub dir: PathBuf,
}

/// A successful build.
pub struct Built {
    pub ir: Ir,
    pub elapsed: Duration,
}

impl Project {
    /// The project in `dir` (default: the current directory); it must hold `src/index.exo`.
    pub fn locate(dir: Option<&Path>) -> Result<Project, Failure> {
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => std::env::current_dir()
                .map_err(|e| Failure::new(format!("cannot read the current directory: {e}; pass `--project DIR`")))?,
        };
        let project = Project { dir };
        if !project.entry().is_file() {
            return Err(Failure::new(format!(
                "no `{ENTRY}` in `{}`; run exo inside a project directory, or pass `--project DIR`",
                project.dir.display()
            )));
        }
        Ok(project)
    }

    pub fn entry(&self) -> PathBuf {
        self.dir.join(ENTRY)
    }

    pub fn ir_path(&self) -> PathBuf {
        self.dir.join(IR_FILE)
    }

    /// Compiles the model, rendering diagnostics (warnings too, unless `quiet`) on stderr.
    pub fn compile(&self, quiet: bool) -> Result<Ir, Failure> {
        match self.compile_to_text(term::stderr_width(), term::stderr_color()) {
            Ok((ir, warnings)) => {
                if !quiet && !warnings.is_empty() {
                    eprint!("{warnings}");
                }
                Ok(ir)
            }
            Err(rendered) => {
                eprint!("{rendered}");
                Err(Failure::reported())
            }
        }
    }

    /// Compiles the model; `Err` holds the rendered diagnostics (errors and warnings), `Ok`
    /// the IR and the rendered warnings.
    pub fn compile_to_text(&self, width: usize, color: bool) -> Result<(Ir, String), String> {
        self.compile_to_text_then(width, color, "run the command again")
    }

    /// As [`Project::compile_to_text`], the errors ending with "fix it and {next_step}".
    pub fn compile_to_text_then(&self, width: usize, color: bool, next_step: &str) -> Result<(Ir, String), String> {
        let compiled = exo_compiler::compile_project(&self.entry());
        let rendered = diag::render(&compiled.diagnostics, &compiled.sources, width, color);
        match compiled.ir {
            Some(ir) if !compiled.has_errors() => Ok((ir, rendered)),
            _ => {
                let errors = compiled.diagnostics.iter().filter(|d| d.is_error()).count();
                Err(format!(
                    "{rendered}\n{errors} error{} in `{}`; fix {} and {next_step}\n",
                    if errors == 1 { "" } else { "s" },
                    self.entry().display(),
                    if errors == 1 { "it" } else { "them" }
                ))
            }
        }
    }

    /// Writes `target/index.exo_ir`.
    pub fn write_ir(&self, ir: &Ir) -> Result<Vec<u8>, Failure> {
        let bytes = exo_ir::encode(ir);
        let path = self.ir_path();
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| {
                Failure::new(format!("cannot create `{}`: {e}; check its permissions", parent.display()))
            })?;
        }
        // Write-then-rename so a running `exo serve` never reads half a file.
        let tmp = path.with_extension("exo_ir.tmp");
        fs::write(&tmp, &bytes)
            .and_then(|()| fs::rename(&tmp, &path))
            .map_err(|e| Failure::new(format!("cannot write `{}`: {e}; check its permissions", path.display())))?;
        Ok(bytes)
    }

    /// Compiles and writes the IR.
    pub fn build(&self, quiet: bool) -> Result<Built, Failure> {
        let started = Instant::now();
        let ir = self.compile(quiet)?;
        self.write_ir(&ir)?;
        Ok(Built { ir, elapsed: started.elapsed() })
    }

    /// Reads `target/index.exo_ir`, refusing a missing file or one older than a source file.
    pub fn read_ir(&self) -> Result<Vec<u8>, Failure> {
        let path = self.ir_path();
        let ir_time = match fs::metadata(&path).and_then(|m| m.modified()) {
            Ok(t) => t,
            Err(_) => {
                return Err(Failure::new(format!(
                    "no compiled model at `{}`; run `exo build` first (or `exo yolo` to build and serve in one go)",
                    path.display()
                )))
            }
        };
        // `exo.toml` holds the MCP profiles compiled into the IR.
        let config = self.dir.join("exo.toml");
        let config_newer = fs::metadata(&config).and_then(|m| m.modified()).is_ok_and(|m| m > ir_time);
        if let Some(newer) = newest_source_after(&self.dir.join("src"), ir_time).or(config_newer.then_some(config)) {
            return Err(Failure::new(format!(
                "`{IR_FILE}` is older than `{}`; run `exo build` to rebuild it",
                newer.strip_prefix(&self.dir).unwrap_or(&newer).display()
            )));
        }
        fs::read(&path)
            .map_err(|e| Failure::new(format!("cannot read `{}`: {e}; run `exo build` again", path.display())))
    }
}

/// A `.exo` file under `dir` modified after `time`, if any.
fn newest_source_after(dir: &Path, time: SystemTime) -> Option<PathBuf> {
    let entries = fs::read_dir(dir).ok()?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(p) = newest_source_after(&path, time) {
                return Some(p);
            }
        } else if path.extension().is_some_and(|e| e == "exo")
            && entry.metadata().and_then(|m| m.modified()).is_ok_and(|m| m > time)
        {
            return Some(path);
        }
    }
    None
}

/// `N types, M queries, K mutations`.
pub fn summary(ir: &Ir) -> String {
    let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut s = format!(
        "{}, {}, {}",
        plural(ir.entities.len(), "type", "types"),
        plural(ir.graphql.queries.len(), "query", "queries"),
        plural(ir.graphql.mutations.len(), "mutation", "mutations")
    );
    if !ir.trusted_documents.is_empty() {
        // A document registered under two ids (its hash and a manifest id) counts once.
        let mut seen = std::collections::HashSet::new();
        let docs: Vec<_> = ir.trusted_documents.iter().filter(|d| seen.insert(&d.document)).collect();
        let ops: usize = docs.iter().map(|d| d.operations.len()).sum();
        let plans: usize = docs.iter().flat_map(|d| &d.operations).map(|o| o.plans.len()).sum();
        s.push_str(&format!(
            ", {} compiled to {}",
            plural(ops, "trusted operation", "trusted operations"),
            plural(plans, "SQL plan", "SQL plans")
        ));
    }
    s
}

/// `12.34 ms`.
pub fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
