//! Source files: the map from [`FileId`] to path and text, and project loading.
//!
//! `load_project` is the only place the compiler front end touches the file
//! system, and even there reading goes through a loader function so tests can
//! load a multi-file project from memory ([`load_project_with`]).

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::ast::{self, FileId, Span};
use crate::diag::Diagnostic;
use crate::parser;

/// One loaded file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as it will be shown to users.
    pub path: String,
    pub text: String,
}

/// Every file the compiler has read, indexed by [`FileId`].
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    pub fn add(&mut self, path: impl Into<String>, text: impl Into<String>) -> FileId {
        let id = FileId(self.files.len() as u32);
        self.files.push(SourceFile { path: path.into(), text: text.into() });
        id
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn path(&self, id: FileId) -> Option<&str> {
        self.get(id).map(|f| f.path.as_str())
    }

    pub fn text(&self, id: FileId) -> Option<&str> {
        self.get(id).map(|f| f.text.as_str())
    }

    /// The text a span covers (empty when the span is out of range).
    pub fn snippet(&self, span: Span) -> &str {
        self.text(span.file).and_then(|t| t.get(span.range())).unwrap_or("")
    }

    /// 1-based line and column (in chars) of a byte offset.
    pub fn line_col(&self, file: FileId, offset: u32) -> Option<(usize, usize)> {
        let text = self.text(file)?;
        let offset = (offset as usize).min(text.len());
        let before = text.get(..offset)?;
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Some((line, before[line_start..].chars().count() + 1))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i as u32), f))
    }
}

/// Parses one in-memory file. Imports are recorded in the returned
/// [`ast::File`] but **not followed**; use [`load_project_with`] to resolve
/// them against an in-memory map.
pub fn parse_str(name: &str, src: &str) -> (SourceMap, Vec<ast::File>, Vec<Diagnostic>) {
    let mut sources = SourceMap::new();
    let id = sources.add(name, src);
    match parser::parse_file(id, src) {
        Ok(mut file) => {
            file.path = name.to_string();
            (sources, vec![file], Vec::new())
        }
        Err(diag) => (sources, Vec::new(), vec![diag]),
    }
}

/// Loads `entry` and, transitively, every file it imports, from disk.
///
/// See [`load_project_with`] for the rules.
pub fn load_project(entry: &Path) -> (SourceMap, Vec<ast::File>, Vec<Diagnostic>) {
    load_project_with(entry, &|path: &Path| std::fs::read_to_string(path))
}

/// Loads `entry` and every file it imports, reading through `read`.
///
/// - `import "x"` is resolved relative to the directory of the importing file.
///   A target without the `.exo` extension is tried as `x.exo`, then as
///   `x/index.exo`.
/// - Paths are normalised lexically (`.` and `..` removed), and each file is
///   loaded once, so import cycles are harmless.
/// - Files come back in load order, entry first. A file with a syntax error
///   contributes its diagnostic but no [`ast::File`].
pub fn load_project_with(
    entry: &Path,
    read: &dyn Fn(&Path) -> io::Result<String>,
) -> (SourceMap, Vec<ast::File>, Vec<Diagnostic>) {
    let mut sources = SourceMap::new();
    let mut files = Vec::new();
    let mut diags = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();

    let entry = normalize(entry);
    match read(&entry) {
        Ok(text) => {
            seen.push(entry.clone());
            load_one(&mut sources, &mut files, &mut diags, &entry, text);
        }
        Err(err) => {
            diags.push(
                Diagnostic::error("exo::io", format!("cannot read `{}`", entry.display())).with_help(err.to_string()),
            );
            return (sources, files, diags);
        }
    }

    // Breadth-first over files already parsed: `files` grows as we go.
    let mut next = 0;
    while next < files.len() {
        let (importer, imports) = {
            let file: &ast::File = &files[next];
            (PathBuf::from(&file.path), file.imports.clone())
        };
        next += 1;
        let dir = importer.parent().map(Path::to_path_buf).unwrap_or_default();
        for import in imports {
            let candidates = import_candidates(&dir, &import.path);
            if candidates.iter().any(|c| seen.contains(c)) {
                continue;
            }
            let mut first_error = None;
            let mut loaded = false;
            for candidate in &candidates {
                match read(candidate) {
                    Ok(text) => {
                        seen.push(candidate.clone());
                        load_one(&mut sources, &mut files, &mut diags, candidate, text);
                        loaded = true;
                        break;
                    }
                    Err(err) => {
                        first_error.get_or_insert(err);
                    }
                }
            }
            if !loaded {
                let tried = candidates.iter().map(|c| format!("`{}`", c.display())).collect::<Vec<_>>().join(", ");
                let reason = first_error.map(|e| e.to_string()).unwrap_or_default();
                diags.push(
                    Diagnostic::error("exo::import", format!("cannot read imported file `{}`", import.path))
                        .with_primary(import.span, "imported here")
                        .with_help(format!("tried {tried}: {reason}")),
                );
            }
        }
    }
    (sources, files, diags)
}

fn load_one(
    sources: &mut SourceMap,
    files: &mut Vec<ast::File>,
    diags: &mut Vec<Diagnostic>,
    path: &Path,
    text: String,
) {
    let shown = path.to_string_lossy().into_owned();
    let id = sources.add(shown.clone(), text);
    let text = sources.text(id).unwrap_or("");
    match parser::parse_file(id, text) {
        Ok(mut file) => {
            file.path = shown;
            files.push(file);
        }
        Err(diag) => diags.push(diag),
    }
}

fn import_candidates(dir: &Path, target: &str) -> Vec<PathBuf> {
    let joined = dir.join(target);
    if target.ends_with(".exo") {
        vec![normalize(&joined)]
    } else {
        let mut with_ext = joined.clone().into_os_string();
        with_ext.push(".exo");
        vec![normalize(Path::new(&with_ext)), normalize(&joined.join("index.exo"))]
    }
}

/// Removes `.` and resolves `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                let ends_with_normal = matches!(out.components().next_back(), Some(Component::Normal(_)));
                if ends_with_normal {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
