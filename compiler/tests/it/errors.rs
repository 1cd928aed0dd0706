//! Bad models: every directory under `schema-examples/err/` must fail to compile. The rendered
//! diagnostics are snapshotted (the text users see) and checked for sane spans.

use std::path::Path;

use exo_compiler::diag::render;
use exo_compiler::{compile_project, compile_str};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema-examples");

/// The backticked names in the `// expect:` line, and their dotted parts.
fn expected_names(text: &str) -> Vec<String> {
    let Some(line) = text.lines().find(|l| l.trim_start().starts_with("// expect:")) else { return Vec::new() };
    let mut out = Vec::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 1 && !part.is_empty() {
            out.push(part.to_string());
            out.extend(part.split(['.', '(', ')', '"', ' ', '<', '>', '?', '@']).filter(|p| p.len() > 1).map(str::to_string));
        }
    }
    out
}

#[test]
fn err_examples_fail_with_snapshotted_diagnostics() {
    let dir = Path::new(EXAMPLES).join("err");
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert!(!names.is_empty());
    let mut off_line = Vec::new();
    for name in names {
        let entry = dir.join(&name).join("src/index.exo");
        if !entry.exists() {
            continue;
        }
        let c = compile_project(&entry);
        assert!(c.ir.is_none(), "{name}: expected compilation to fail");
        assert!(c.has_errors(), "{name}: no error diagnostic");
        let first = &c.diagnostics[0];
        // Every label must lie inside its file, and the primary one must not be empty.
        for d in &c.diagnostics {
            for l in &d.labels {
                let text = c.sources.text(l.span.file).expect("label points into a loaded file");
                assert!(l.span.end as usize <= text.len() && l.span.start <= l.span.end, "{name}: label out of range");
            }
        }
        if let Some(span) = first.primary_span() {
            assert!(!span.is_empty(), "{name}: empty primary span");
            // The primary line should mention something the `// expect:` comment names.
            let text = c.sources.text(span.file).unwrap();
            let line_start = text[..span.start as usize].rfind('\n').map_or(0, |i| i + 1);
            let line_end = text[span.start as usize..].find('\n').map_or(text.len(), |i| span.start as usize + i);
            let line = &text[line_start..line_end];
            let root = std::fs::read_to_string(&entry).unwrap();
            let names = expected_names(&root);
            if !names.is_empty() && !names.iter().any(|n| line.contains(n.as_str())) {
                off_line.push(format!("{name}: `{}` mentions none of {names:?}", line.trim()));
            }
        }
        let rendered = render(&c.diagnostics, &c.sources, 100, false);
        // Paths in the rendering are absolute; keep snapshots machine-independent.
        let root = std::fs::canonicalize(dir.join(&name)).unwrap();
        let rendered = rendered.replace(&format!("{}/", root.display()), "");
        insta::with_settings!({
            snapshot_path => "../../../snapshots/errors",
            prepend_module_to_snapshot => false,
            input_file => &entry,
        }, {
            insta::assert_snapshot!(name.as_str(), rendered);
        });
    }
    assert!(off_line.is_empty(), "primary spans not on the described line:\n{}", off_line.join("\n"));
}

#[test]
fn errors_are_accumulated_not_stopped_at_the_first() {
    let c = compile_str(
        "three.exo",
        r#"
        context AuthContext { @jwt("sub") id: Int  role: String }
        @postgres
        module M {
          @access(self.nope == AuthContext.id)
          type Concert {
            @pk id: Int = autoIncrement()
            venue: Venu
            venue: String
          }
        }
        "#,
    );
    let codes: Vec<&str> = c.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["exo::context_source", "exo::unknown_field", "exo::unknown_type", "exo::duplicate_field"]);
}

#[test]
fn unsupported_modules_get_a_clear_diagnostic() {
    let c = compile_str(
        "deno.exo",
        "@deno(\"x.ts\") module S { @access(true) export query f(): Int }\n@wasm(\"x.wasm\") module W { @access(true) query g(): Int }",
    );
    let codes: Vec<&str> = c.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["exo::unsupported_module", "exo::unsupported_module"]);
    assert!(c.diagnostics[0].message.contains("Deno"));
    assert!(c.diagnostics[1].message.contains("Wasm"));
    assert!(c.diagnostics.iter().all(|d| d.help.is_some()));
}

#[test]
fn annotation_catalogue_checks() {
    let codes = |src: &str| -> Vec<&'static str> {
        let c = compile_str("a.exo", &format!("@postgres module M {{ @access(true) type T {{ @pk id: Int = autoIncrement()\n{src}\n}} }}"));
        c.diagnostics.iter().map(|d| d.code).collect()
    };
    assert_eq!(codes("@primary a: Int"), ["exo::unknown_annotation"]);
    assert_eq!(codes("@table(\"x\") a: Int"), ["exo::annotation_target"]);
    assert_eq!(codes("@maxLength a: String"), ["exo::annotation_params"]);
    assert_eq!(codes("@pk(1) a: Int"), ["exo::annotation_params"]);
    assert_eq!(codes("@range(min = 1) a: Int"), ["exo::annotation_params"]);
    assert_eq!(codes("@unique @unique a: Int"), ["exo::duplicate_annotation"]);
    assert_eq!(codes("@maxLength(3) a: Int"), ["exo::hint_not_supported"]);
    assert_eq!(codes("@scale(2) a: Decimal"), ["exo::scale_without_precision"]);
    assert_eq!(codes("@dbtype(\"TEXT\") @maxLength(2) a: String"), ["exo::conflicting_annotations"]);
    assert_eq!(codes("@bits16 @bits64 a: Int"), ["exo::conflicting_annotations"]);
    assert_eq!(codes("@readonly a: Int"), ["exo::readonly_without_default"]);
    assert_eq!(codes("a: Vector"), ["exo::unsupported_type"]);
    assert_eq!(codes("a: Set<Int>"), ["exo::invalid_type"]);
    assert_eq!(codes("a: Int = \"x\""), ["exo::invalid_default"]);
    assert_eq!(codes("a: Instant = today()"), ["exo::unknown_function"]);
    assert_eq!(codes("a: String = autoIncrement()"), ["exo::invalid_default"]);
    assert_eq!(codes("a: Int = Ctx.id"), ["exo::unknown_context"]);
    assert_eq!(codes("a: LocalDate = \"2024-13-01\""), ["exo::invalid_default"]);
}
