//! The exo compiler: `.exo` sources in, an [`exo_ir::Ir`] and diagnostics out.
//!
//! Stages: `source` loads files and `parser` builds the AST (`&str -> ast`); `typecheck`
//! resolves names, annotations, relations, defaults and access rules (`ast -> Model +
//! diagnostics`); `lower` decides the physical schema (`Model -> Ir`); `graphql_schema`
//! derives the GraphQL API (`Ir -> graphql::Schema`); `mcp` resolves the MCP tool sets
//! (`exo.toml` profiles) against that schema.
pub mod ast;
pub mod diag;
pub mod dump;
pub mod graphql_schema;
pub mod lower;
pub mod mcp;
pub mod names;
pub mod parser;
pub mod sdl;
pub mod source;
pub mod trusted_docs;
pub mod typecheck;

use std::path::Path;

use diag::Diagnostic;

/// The result of compiling a project: the IR when there were no errors, every diagnostic
/// (errors and warnings), and the sources the diagnostics point into.
pub struct Compiled {
    pub ir: Option<exo_ir::Ir>,
    pub diagnostics: Vec<Diagnostic>,
    pub sources: source::SourceMap,
}

impl Compiled {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Loads `entry` and its imports, then typechecks, lowers and builds the GraphQL schema.
pub fn compile_project(entry: &Path) -> Compiled {
    let (sources, files, diagnostics) = source::load_project(entry);
    let mut compiled = finish(sources, files, diagnostics);
    // `<project>/src/index.exo`: trusted documents live in `<project>/trusted-documents/`.
    let project = entry.parent().and_then(Path::parent).unwrap_or(Path::new("."));
    if let Some(ir) = compiled.ir.as_mut() {
        trusted_docs::attach(ir, project, &mut compiled.sources, &mut compiled.diagnostics);
        // `<project>/exo.toml`: MCP profiles.
        mcp::attach(ir, project, &mut compiled.sources, &mut compiled.diagnostics);
        if compiled.diagnostics.iter().any(Diagnostic::is_error) {
            compiled.ir = None;
        }
    }
    compiled
}

/// Compiles one in-memory file (its imports are not followed).
pub fn compile_str(name: &str, src: &str) -> Compiled {
    let (sources, files, mut diagnostics) = source::parse_str(name, src);
    for import in files.iter().flat_map(|f| f.imports.iter()) {
        diagnostics.push(
            diag::Diagnostic::warning("exo::import_ignored", format!("`import \"{}\"` is not followed", import.path))
                .with_primary(import.span, "ignored")
                .with_help("a single source string is compiled on its own; use `compile_project` to load imports"),
        );
    }
    finish(sources, files, diagnostics)
}

/// Typechecks and lowers already parsed files. Returns the IR (with an empty
/// `graphql` schema) only when no error was found.
pub fn compile_files(files: &[ast::File]) -> (Option<exo_ir::Ir>, Vec<Diagnostic>) {
    let (model, mut diagnostics) = typecheck::check(files);
    dedup(&mut diagnostics);
    // Report in source order, whatever phase found the problem.
    diagnostics.sort_by_key(|d| d.primary_span().map(|s| (s.file, s.start)));
    if diagnostics.iter().any(Diagnostic::is_error) {
        return (None, diagnostics);
    }
    let (ir, more) = lower::lower(&model);
    diagnostics.extend(more);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return (None, diagnostics);
    }
    (Some(ir), diagnostics)
}

fn finish(sources: source::SourceMap, files: Vec<ast::File>, mut diagnostics: Vec<Diagnostic>) -> Compiled {
    // With a file missing or unparsable, every name it declares would be reported as
    // unknown; report the syntax or loading problem alone.
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Compiled { ir: None, diagnostics, sources };
    }
    let (ir, more) = compile_files(&files);
    diagnostics.extend(more);
    let ir = ir.map(|mut ir| {
        ir.graphql = graphql_schema::build(&ir);
        ir.mcp_profiles = mcp::default_profiles(&ir);
        ir
    });
    Compiled { ir, diagnostics, sources }
}

/// Drops repeated diagnostics (a fragment spread into several types reports its problems
/// once), keeping the first occurrence and the order.
fn dedup(diags: &mut Vec<Diagnostic>) {
    let mut seen = std::collections::HashSet::new();
    diags.retain(|d| {
        let key = (d.code, d.message.clone(), d.primary_span().map(|s| (s.file, s.start, s.end)));
        seen.insert(key)
    });
}
