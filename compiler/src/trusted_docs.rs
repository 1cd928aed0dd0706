//! `trusted-documents/`: the operations a production server will run, compiled into the IR.
//!
//! Files anywhere under the directory, in either format Exograph accepts: a map
//! `{ "<sha256>": "<document>" }`, or an Apollo persisted-query manifest
//! `{ "operations": [{ "id": "...", "body": "..." }] }`. Every operation is validated and
//! planned by the planner the runtime uses (`exo_planner::trusted::compile`), so a bad operation is
//! a build error naming its file and operation.

use std::path::{Path, PathBuf};

use exo_ir::Ir;
use serde_json::Value as Json;

use crate::ast::Span;
use crate::diag::Diagnostic;
use crate::source::SourceMap;

/// Compiles the project's trusted documents into `ir.trusted_documents`.
pub fn attach(ir: &mut Ir, project_dir: &Path, sources: &mut SourceMap, diagnostics: &mut Vec<Diagnostic>) {
    let dir = project_dir.join("trusted-documents");
    if !dir.is_dir() {
        return;
    }
    let mut files = vec![];
    collect_json(&dir, &mut files);
    files.sort();
    let system = exo_planner::System::new(ir.clone());
    let mut docs = vec![];
    for path in files {
        let shown = path.strip_prefix(project_dir).unwrap_or(&path).display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                diagnostics.push(Diagnostic::error("exo::trusted_document", format!("cannot read `{shown}`: {e}")));
                continue;
            }
        };
        let file = sources.add(shown.clone(), text.clone());
        let whole = Span { file, start: 0, end: text.len() as u32 };
        let entries = match entries(&text) {
            Ok(e) => e,
            Err(message) => {
                diagnostics.push(
                    Diagnostic::error("exo::trusted_document", format!("`{shown}` is not a trusted-documents file: {message}"))
                        .with_primary(Span { end: whole.start, ..whole }, "here")
                        .with_help("use `{ \"<sha256>\": \"<document>\" }` or `{ \"operations\": [{ \"id\": ..., \"body\": ... }] }`"),
                );
                continue;
            }
        };
        for (id, body) in entries {
            let span =
                locate(&text, &id).map(|(s, e)| Span { file, start: s, end: e }).unwrap_or(Span { end: 0, ..whole });
            let hash = exo_planner::trusted::sha256_hex(&body);
            match exo_planner::trusted::compile(&system, &hash, &body) {
                Ok(doc) => {
                    for op in &doc.operations {
                        if let Some(reason) = &op.fallback {
                            let name = op
                                .name
                                .as_deref()
                                .map(|n| format!("operation `{n}`"))
                                .unwrap_or_else(|| "the operation".into());
                            diagnostics.push(
                                Diagnostic::warning(
                                    "exo::trusted_fallback",
                                    format!(
                                        "{name} of `{shown}` is planned at request time for some requests: {reason}"
                                    ),
                                )
                                .with_primary(span, "this document"),
                            );
                        }
                    }
                    // Clients may send the manifest's id or the document's own hash.
                    if !id.eq_ignore_ascii_case(&hash) && id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()) {
                        docs.push(exo_ir::TrustedDocument { sha256: id.to_ascii_lowercase(), ..doc.clone() });
                    }
                    docs.push(doc);
                }
                Err(e) => {
                    let op = e.operation.map(|n| format!(", operation `{n}`")).unwrap_or_default();
                    diagnostics.push(
                        Diagnostic::error(
                            "exo::trusted_document",
                            format!("trusted document `{id}` in `{shown}`{op}: {}", e.message),
                        )
                        .with_primary(span, "this document")
                        .with_help("fix the operation or remove it from the trusted documents"),
                    );
                }
            }
        }
    }
    ir.trusted_documents = docs;
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(read) = std::fs::read_dir(dir) else { return };
    for entry in read.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_json(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// `(id, document)` pairs of either format.
fn entries(text: &str) -> Result<Vec<(String, String)>, String> {
    let json: Json = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let Json::Object(map) = json else { return Err("the top level is not an object".into()) };
    if let Some(ops) = map.get("operations") {
        let Json::Array(ops) = ops else { return Err("`operations` is not a list".into()) };
        return ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let body = op
                    .get("body")
                    .and_then(Json::as_str)
                    .ok_or_else(|| format!("operation {i} has no `body` string"))?;
                let id = op
                    .get("id")
                    .and_then(Json::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| exo_planner::trusted::sha256_hex(body));
                Ok((id, body.to_string()))
            })
            .collect();
    }
    map.into_iter()
        .map(|(k, v)| match v {
            Json::String(s) => Ok((k, s)),
            _ => Err(format!("the value of `{k}` is not a document string")),
        })
        .collect()
}

/// The byte range of `"id"` in the file, for the diagnostic's label.
fn locate(text: &str, id: &str) -> Option<(u32, u32)> {
    let needle = format!("\"{id}\"");
    let start = text.find(&needle)?;
    Some((start as u32, (start + needle.len()) as u32))
}
