//! Bad models: every directory under `schema-examples/err/` must fail to compile. The rendered
//! diagnostics are snapshotted (the text users see) and checked for sane spans.

use std::path::Path;

use exo_compiler::diag::render;
use exo_compiler::source::SourceMap;
use exo_compiler::{compile_project, compile_str};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema-examples");

/// The backticked names in the `// expect:` line, and their dotted parts.
fn expected_names(text: &str) -> Vec<String> {
    let Some(line) = text.lines().find(|l| l.trim_start().starts_with("// expect:")) else { return Vec::new() };
    let mut out = Vec::new();
    // Words in parentheses name things too: "(self.title)".
    for part in line.split('(').skip(1).filter_map(|p| p.split(')').next()) {
        out.push(part.trim().to_string());
    }
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 1 && !part.is_empty() {
            out.push(part.to_string());
            out.extend(
                part.split(['.', '(', ')', '"', ' ', '<', '>', '?', '@']).filter(|p| p.len() > 1).map(str::to_string),
            );
        }
    }
    out
}

#[test]
fn err_examples_fail_with_snapshotted_diagnostics() {
    let dir = Path::new(EXAMPLES).join("err");
    let mut names: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
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
        // Syntax and import errors belong to the parse stage (see `parser.rs`).
        let from_parser = matches!(first.code, "exo::syntax" | "exo::import");
        if let Some(span) = first.primary_span().filter(|_| !from_parser) {
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
        // Paths are absolute; make them relative to the example so snapshots do not depend
        // on the machine (before rendering, since long lines wrap).
        let roots = [
            format!("{}/", std::fs::canonicalize(dir.join(&name)).unwrap().display()),
            format!("{}/", dir.join(&name).display()),
        ];
        let strip = |s: &str| roots.iter().fold(s.to_string(), |acc, r| acc.replace(r.as_str(), ""));
        let mut sources = SourceMap::new();
        for (_, f) in c.sources.iter() {
            sources.add(strip(&f.path), f.text.clone());
        }
        let diags: Vec<_> = c
            .diagnostics
            .iter()
            .map(|d| {
                let mut d = d.clone();
                d.message = strip(&d.message);
                d.help = d.help.as_deref().map(strip);
                d
            })
            .collect();
        let rendered = render(&diags, &sources, 100, false);
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
        let c = compile_str(
            "a.exo",
            &format!("@postgres module M {{ @access(true) type T {{ @pk id: Int = autoIncrement()\n{src}\n}} }}"),
        );
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
    assert_eq!(codes("@update a: Int"), ["exo::readonly_without_default"]);
    // The database may compute a readonly column (a view, a trigger), as in Exograph.
    assert!(codes("@readonly a: Int").is_empty());
    // Exograph's `@range` bounds may be strings holding numbers.
    assert!(codes("@range(min = \"-1.0\", max = \"3.0\") a: Float").is_empty());
    assert_eq!(codes("@range(min = \"low\", max = \"3\") a: Float"), ["exo::annotation_params"]);
    assert_eq!(codes("a: Vector"), ["exo::unsupported_type"]);
    assert_eq!(codes("a: Set<Int>"), ["exo::invalid_type"]);
    assert_eq!(codes("a: Int = \"x\""), ["exo::invalid_default"]);
    assert_eq!(codes("a: Instant = today()"), ["exo::unknown_function"]);
    assert_eq!(codes("a: String = autoIncrement()"), ["exo::invalid_default"]);
    assert_eq!(codes("a: Int = Ctx.id"), ["exo::unknown_context"]);
    assert_eq!(codes("a: LocalDate = \"2024-13-01\""), ["exo::invalid_default"]);
}

#[test]
fn schema_level_conflicts() {
    let codes = |src: &str| -> Vec<&'static str> {
        let c = compile_str("c.exo", src);
        assert!(c.ir.is_none(), "expected errors in {src}");
        c.diagnostics.iter().map(|d| d.code).collect()
    };
    // Two scalar fields writing one column.
    assert_eq!(
        codes(
            "@postgres module M { @access(true) type T { @pk id: Int  @column(\"x\") a: Int  @column(\"x\") b: Int } }"
        ),
        ["exo::column_conflict"]
    );
    // A foreign key reusing a column of another type.
    assert_eq!(
        codes("@postgres module M { @access(true) type U { @pk id: Int } @access(true) type T { @pk id: Int  @column(\"u_id\") code: String  @column(\"u_id\") u: U } }"),
        ["exo::column_conflict"]
    );
    // Index names are per schema.
    assert_eq!(
        codes("@postgres module M { @access(true) type A { @pk id: Int  @index(\"by_name\") name: String } @access(true) type B { @pk id: Int  @index(\"by_name\") name: String } }"),
        ["exo::duplicate_index"]
    );
    // Two types on one table.
    assert_eq!(
        codes("@postgres module M { @access(true) @table(\"t\") type A { @pk id: Int } @access(true) @table(\"t\") type B { @pk id: Int } }"),
        ["exo::duplicate_table"]
    );
    // Constraints on the column-less side of a one-to-one.
    assert_eq!(
        codes("@postgres module M { @access(true) type U { @pk id: Int  @unique m: M? } @access(true) type M { @pk id: Int  u: U } }"),
        ["exo::invalid_column"]
    );
    // Mistakes in a fragment nobody spreads still surface.
    assert_eq!(
        codes("@postgres module M { fragment F { a: Strng } @access(true) type T { @pk id: Int } }"),
        ["exo::unknown_type"]
    );
    // Primary keys that refer to each other.
    assert_eq!(
        codes("@postgres module M { @access(true) type A { @pk b: B  as: Set<B>? } @access(true) type B { @pk a: A  bs: Set<A>? } }"),
        ["exo::pk_cycle"]
    );
}

/// The checker must never panic, whatever it is given: compile every good example with each
/// line removed, and with each line written twice.
#[test]
fn mutated_examples_never_panic() {
    let dir = Path::new(EXAMPLES).join("ok");
    let mut compiled = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path().join("src/index.exo");
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let lines: Vec<&str> = text.lines().collect();
        for i in 0..lines.len() {
            let mut without = lines.clone();
            without.remove(i);
            let mut twice = lines.clone();
            twice.insert(i, lines[i]);
            for variant in [without, twice] {
                let src = variant.join("\n");
                let result = std::panic::catch_unwind(|| compile_str("mutated.exo", &src));
                let Ok(c) = result else { panic!("panic on {}:\n{src}", path.display()) };
                assert_eq!(c.ir.is_none(), c.has_errors(), "IR present iff no errors:\n{src}");
                compiled += 1;
            }
        }
    }
    assert!(compiled > 100);
}

/// Rendered diagnostics for cases the corpus does not cover, snapshotted for review.
#[test]
fn inline_error_renderings() {
    let cases: &[(&str, &str)] = &[
        (
            "inline-missing-inverse",
            "@postgres module M {\n  @access(true) type Venue { @pk id: Int  concerts: Set<Concert>? }\n  @access(true) type Concert { @pk id: Int  title: String }\n}",
        ),
        (
            "inline-one-to-one-both-optional",
            "@postgres module M {\n  @access(true) type User { @pk id: Int  profile: Profile? }\n  @access(true) type Profile { @pk id: Int  user: User? }\n}",
        ),
        (
            "inline-one-to-one-both-required",
            "@postgres module M {\n  @access(true) type User { @pk id: Int  profile: Profile }\n  @access(true) type Profile { @pk id: Int  user: User }\n}",
        ),
        (
            "inline-ambiguous-singular",
            "@postgres module M {\n  @access(true) type User { @pk id: Int  favorite: Post? }\n  @access(true) type Post { @pk id: Int  author: User  editor: User }\n}",
        ),
        (
            "inline-in-needs-list",
            "context AuthContext { @jwt role: String }\n@postgres module M {\n  @access(\"admin\" in AuthContext.role)\n  type T { @pk id: Int }\n}",
        ),
        (
            "inline-context-default-type",
            "context AuthContext { @jwt name: String }\n@postgres module M {\n  @access(true) type User { @pk id: Int  todos: Set<Todo>? }\n  @access(true) type Todo { @pk id: Int  user: User = AuthContext.name }\n}",
        ),
        (
            "inline-enum-string-default",
            "@postgres module M {\n  enum Level { LOW HIGH }\n  @access(true) type T { @pk id: Int  level: Level = \"LOW\" }\n}",
        ),
        (
            "inline-collection-path",
            "@postgres module M {\n  @access(self.posts.title == \"x\") type User { @pk id: Int  posts: Set<Post>? }\n  @access(true) type Post { @pk id: Int  title: String  user: User }\n}",
        ),
        (
            "inline-missing-plugin",
            "module M {\n  type T { @pk id: Int }\n}",
        ),
        (
            "inline-composite-column",
            "@postgres module M {\n  @access(true) type P { @pk a: String  @pk b: String }\n  @access(true) type C { @pk id: Int  @column(\"p\") p: P }\n}",
        ),
    ];
    for (name, src) in cases {
        let c = compile_str("model.exo", src);
        assert!(c.ir.is_none(), "{name}: expected errors");
        let rendered = render(&c.diagnostics, &c.sources, 100, false);
        insta::with_settings!({
            snapshot_path => "../../../snapshots/errors",
            prepend_module_to_snapshot => false,
            description => *src,
        }, {
            insta::assert_snapshot!(*name, rendered);
        });
    }
}
