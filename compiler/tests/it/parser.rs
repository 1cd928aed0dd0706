//! Parse stage: `.exo` text to AST, syntax diagnostics, and project loading.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use exo_compiler::ast::*;
use exo_compiler::diag::{render, Diagnostic};
use exo_compiler::parser::parse_file;
use exo_compiler::source::{load_project, load_project_with, parse_str, SourceMap};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema-examples");

// ------------------------------------------------------------------ helpers

fn parse(src: &str) -> File {
    let (sources, mut files, diags) = parse_str("test.exo", src);
    assert!(diags.is_empty(), "unexpected diagnostics:\n{}", render(&diags, &sources, 100, false));
    files.remove(0)
}

fn syntax_error(src: &str) -> (Diagnostic, String) {
    let (sources, files, diags) = parse_str("test.exo", src);
    assert!(files.is_empty(), "expected a syntax error in:\n{src}");
    assert_eq!(diags.len(), 1);
    let rendered = render(&diags, &sources, 80, false);
    (diags.into_iter().next().unwrap(), rendered)
}

/// The text a span covers.
fn text(src: &str, span: Span) -> &str {
    &src[span.start as usize..span.end as usize]
}

fn module(src: &str) -> Module {
    parse(src).modules.remove(0)
}

/// Parses `@access(<expr>)` on a type and returns the expression.
fn access_expr(expr: &str) -> Expr {
    let src = format!("@postgres module M {{ @access({expr}) type T {{ id: Int }} }}");
    let module = module(&src);
    match &module.types[0].annotations[0].params {
        AnnotationParams::Positional(exprs) => exprs[0].clone(),
        other => panic!("expected a positional parameter, got {other:?}"),
    }
}

/// A compact, fully parenthesised rendering to check grouping.
fn sexpr(expr: &Expr) -> String {
    match expr {
        Expr::Literal(l) => lit(l),
        Expr::Path { path, .. } => names(path),
        Expr::Call { receiver, method, args, .. } => match args {
            CallArgs::Lambda { param, body } => {
                format!("{}.{method}({param} => {})", names(receiver), sexpr(body))
            }
            CallArgs::Literals(ls) => {
                format!("{}.{method}({})", names(receiver), ls.iter().map(lit).collect::<Vec<_>>().join(", "))
            }
        },
        Expr::Not { operand, .. } => format!("(!{})", sexpr(operand)),
        Expr::Binary { op, lhs, rhs, .. } => {
            format!("({} {} {})", sexpr(lhs), op.as_str(), sexpr(rhs))
        }
    }
}

fn names(path: &[Ident]) -> String {
    path.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(".")
}

fn lit(l: &Literal) -> String {
    match &l.value {
        LiteralValue::Str(s) => format!("{s:?}"),
        LiteralValue::Number(n) => n.clone(),
        LiteralValue::Bool(b) => b.to_string(),
        LiteralValue::Null => "null".to_string(),
    }
}

fn sp() -> Span {
    Span::new(FileId(0), 0, 0)
}

fn ident(name: &str) -> Ident {
    Ident { name: name.to_string(), span: sp() }
}

fn named(name: &str) -> TypeExpr {
    TypeExpr::Named { module: None, name: ident(name), params: vec![], span: sp() }
}

fn exo_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "exo") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

const REALISTIC: &str = r#"//! Multi-user todo application model.
/*!
 * The default user role is "user".
*/
import "users"

/// Who is calling.
context AuthContext {
  @jwt("sub") id: Int?
  @jwt("role") role: String = "user"
  @jwt roles: Array<String>
  @header("X-Secret") secret: String
  @clientIp ip: String
}

/** The relational model. */
@postgres(schema = "todo", managed = true)
module TodoDatabase {
  fragment Stamped {
    @readonly created: Instant = now()
    @update modified: Instant = now()
  }

  /// How urgent a todo is.
  enum Priority { LOW MEDIUM /// the default
    HIGH }

  @access(query = self.user.id == AuthContext.id || AuthContext.role == "admin",
          mutation = AuthContext.role == "admin")
  @projection(withUser = [/basic, user/basic, title])
  @table(name = "todos", schema = "todo")
  type Todo {
    ...Stamped
    @pk id: Int = autoIncrement("todo.todo_seq")
    /// What to do.
    @maxLength(200) title: String
    description: String?;
    priority: Priority = MEDIUM
    tags: Array<Array<String>>
    user: User = AuthContext.id
    owner: Users.User?
    price: Decimal = "10.00"
    ratio: Float = -1.5e3
    done: Boolean = false
    note: String? = null
    @column(mapping = {id: "user_id", "zip": 1}) account: Account
    @access(self.permissions.some(p => p.user.id == AuthContext.id && p.read)) secret: String?
  }
}

@deno("todos.ts")
module TodoService {
  @access(true) export query computeEffort(id: Int, @inject auth: AuthContext): Int
  @access(AuthContext.roles.contains("ADMIN")) mutation publish(): TodoDatabase.Todo
  query list() : Set<String>
  @before("mutation *Todo*") interceptor enter(operation: Operation, exograph: Exograph)
}
"#;

// ------------------------------------------------------------------ corpus

/// Every `ok` example parses; every `err` example parses unless its first
/// line says it is a syntax error, in which case it fails with `exo::syntax`.
#[test]
fn schema_examples_parse_as_labelled() {
    let mut checked = 0;
    for path in exo_files(&Path::new(EXAMPLES).join("ok")) {
        let src = std::fs::read_to_string(&path).unwrap();
        let (sources, _, diags) = parse_str(&path.display().to_string(), &src);
        assert!(diags.is_empty(), "{}", render(&diags, &sources, 100, false));
        checked += 1;
    }
    for path in exo_files(&Path::new(EXAMPLES).join("err")) {
        let src = std::fs::read_to_string(&path).unwrap();
        let first_line = src.lines().next().unwrap_or("");
        let (sources, _, diags) = parse_str(&path.display().to_string(), &src);
        if first_line.contains("syntax error") {
            assert_eq!(diags.len(), 1, "{}", path.display());
            assert!(diags[0].code.starts_with("exo::syntax"), "{}", path.display());
        } else {
            assert!(diags.is_empty(), "{}", render(&diags, &sources, 100, false));
        }
        checked += 1;
    }
    assert!(checked > 50, "only {checked} examples found");
}

#[test]
fn syntax_error_examples_render() {
    let mut out = String::new();
    for name in [
        "01-missing-closing-brace",
        "02-missing-colon",
        "03-bad-token-in-annotation",
        "28-type-outside-module",
        "48-unterminated-string",
    ] {
        let path = Path::new(EXAMPLES).join("err").join(name).join("src/index.exo");
        let src = std::fs::read_to_string(&path).unwrap();
        let (sources, _, diags) = parse_str(&format!("{name}/src/index.exo"), &src);
        out.push_str(&render(&diags, &sources, 80, false));
    }
    insta::with_settings!({snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/parser"), prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("syntax_error_examples", out);
    });
}

// ------------------------------------------------------------------ top level

#[test]
fn realistic_model_ast_snapshot() {
    let file = parse(REALISTIC);
    insta::with_settings!({snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/parser"), prepend_module_to_snapshot => false}, {
        insta::assert_debug_snapshot!("realistic_model_ast", file);
    });
}

#[test]
fn imports_with_and_without_extension() {
    let src = r#"import "users"
import "catalog/products.exo"
import "../shared/auth""#;
    let file = parse(src);
    let paths: Vec<_> = file.imports.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["users", "catalog/products.exo", "../shared/auth"]);
    assert_eq!(text(src, file.imports[0].span), "\"users\"");
    assert!(file.contexts.is_empty() && file.modules.is_empty());
}

#[test]
fn empty_and_comment_only_files() {
    assert_eq!(parse("").modules.len(), 0);
    assert_eq!(parse("  \n// nothing\n/* here */\n").modules.len(), 0);
    assert_eq!(parse("/// dangling doc").modules.len(), 0);
    assert_eq!(parse("\u{FEFF}@postgres module M {}").modules.len(), 1);
}

#[test]
fn declaration_docs_make_the_schema_description() {
    let file = parse(REALISTIC);
    assert_eq!(file.decl_docs, ["Multi-user todo application model.", "The default user role is \"user\"."]);
    let file = parse("//! one\n//! two\n\n/*! three */ context C {}\n//! four");
    assert_eq!(file.decl_docs, ["one\ntwo", "three", "four"]);
    assert_eq!(file.contexts[0].doc, None);
}

#[test]
fn element_docs_attach_to_the_next_element() {
    let file = parse(REALISTIC);
    assert_eq!(file.contexts[0].doc.as_deref(), Some("Who is calling."));
    let db = &file.modules[0];
    assert_eq!(db.doc.as_deref(), Some("The relational model."));
    assert_eq!(db.enums[0].doc.as_deref(), Some("How urgent a todo is."));
    assert_eq!(db.enums[0].variants[2].doc.as_deref(), Some("the default"));
    assert_eq!(db.enums[0].variants[1].doc, None);
    let todo = &db.types[0];
    assert_eq!(todo.doc, None);
    let title = todo.fields.iter().find(|f| f.name.name == "title").unwrap();
    assert_eq!(title.doc.as_deref(), Some("What to do."));
    assert!(todo.fields.iter().filter(|f| f.doc.is_some()).count() == 1);
}

#[test]
fn doc_comment_forms() {
    let src = r#"@postgres module M {
  /**
   * First line.
   *
   * Second paragraph.
   */
  type A { id: Int }
  /// One.
  ///Two.
  // a plain comment in between does not break the doc
  /// Three.
  type B { id: Int }
  //// four slashes is a plain comment
  type C { id: Int }
  /**/ type D { id: Int }
  @access(true)
  /// after the annotations
  type E { id: Int }
}"#;
    let m = module(src);
    let docs: Vec<_> = m.types.iter().map(|t| t.doc.as_deref()).collect();
    assert_eq!(
        docs,
        [
            Some("First line.\n\nSecond paragraph."),
            Some("One.\nTwo.\nThree."),
            None,
            None,
            Some("after the annotations"),
        ]
    );
}

#[test]
fn comments_in_odd_places() {
    let src = r#"@postgres /* a */ module /* b */ M /* c */ { // d
  type /* e */ T /* f */ { // g
    @pk /* h */ id /* i */ : /* j */ Int /* k */ = /* l */ autoIncrement( /* m */ ) // n
    tags: Array< /* o */ Array</// p
      String> /* q */ >
    @access(self.id /* r */ == // s
      /// a doc comment here is just a comment
      AuthContext.id) x: Int
  } /* t */
  enum E { A /* u */ B // v
    C }
} // w
/* x */"#;
    let m = module(src);
    let t = &m.types[0];
    assert_eq!(t.fields.len(), 3);
    assert_eq!(t.fields[1].ty.to_string(), "Array<Array<String>>");
    let names: Vec<_> = m.enums[0].variants.iter().map(|v| v.name.name.as_str()).collect();
    assert_eq!(names, ["A", "B", "C"]);
    match &t.fields[2].annotations[0].params {
        AnnotationParams::Positional(e) => {
            assert_eq!(sexpr(&e[0]), "(self.id == AuthContext.id)")
        }
        other => panic!("{other:?}"),
    }
}

// ------------------------------------------------------------------ contexts and modules

#[test]
fn context_fields_and_sources() {
    let file = parse(REALISTIC);
    let ctx = &file.contexts[0];
    assert_eq!(ctx.name.name, "AuthContext");
    let fields: Vec<_> = ctx
        .fields
        .iter()
        .map(|f| (f.annotations[0].name.name.as_str(), f.name.name.as_str(), f.ty.to_string()))
        .collect();
    assert_eq!(
        fields,
        [
            ("jwt", "id", "Int?".to_string()),
            ("jwt", "role", "String".to_string()),
            ("jwt", "roles", "Array<String>".to_string()),
            ("header", "secret", "String".to_string()),
            ("clientIp", "ip", "String".to_string()),
        ]
    );
    assert_eq!(ctx.fields[2].annotations[0].params, AnnotationParams::None);
    assert!(matches!(
        &ctx.fields[1].default,
        Some(DefaultExpr::Literal(Literal { value: LiteralValue::Str(s), .. })) if s == "user"
    ));
}

#[test]
fn module_annotations_and_kinds() {
    let src = r#"
@postgres module A {}
@postgres(schema="s", managed=false) module B {}
@deno("x.ts") module C {}
@wasm("./a/b.wasm") module D {}
module E {}
@postgres @deno("x.ts") module F {}
"#;
    let file = parse(src);
    let kinds: Vec<_> = file.modules.iter().map(|m| m.kind()).collect();
    assert_eq!(
        kinds,
        [
            ModuleKind::Postgres,
            ModuleKind::Postgres,
            ModuleKind::Deno,
            ModuleKind::Wasm,
            ModuleKind::Unknown,
            ModuleKind::Unknown
        ]
    );
    match &file.modules[1].annotations[0].params {
        AnnotationParams::Named(params) => {
            let rendered: Vec<_> = params
                .iter()
                .map(|p| match &p.value {
                    AnnotationValue::Expr(e) => format!("{}={}", p.name, sexpr(e)),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(rendered, ["schema=\"s\"", "managed=false"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn deno_module_methods_and_interceptors() {
    let file = parse(REALISTIC);
    let service = &file.modules[1];
    assert_eq!(service.kind(), ModuleKind::Deno);
    let methods: Vec<_> = service
        .methods
        .iter()
        .map(|m| (m.exported, m.kind, m.name.name.as_str(), m.arguments.len(), m.return_type.to_string()))
        .collect();
    assert_eq!(
        methods,
        [
            (true, MethodKind::Query, "computeEffort", 2, "Int".to_string()),
            (false, MethodKind::Mutation, "publish", 0, "TodoDatabase.Todo".to_string()),
            (false, MethodKind::Query, "list", 0, "Set<String>".to_string()),
        ]
    );
    let auth = &service.methods[0].arguments[1];
    assert_eq!(auth.annotations[0].name.name, "inject");
    assert_eq!(auth.ty, named("AuthContext"));
    let interceptor = &service.interceptors[0];
    assert_eq!(interceptor.name.name, "enter");
    assert_eq!(interceptor.annotations[0].name.name, "before");
    let args: Vec<_> = interceptor.arguments.iter().map(|a| format!("{}: {}", a.name, a.ty)).collect();
    assert_eq!(args, ["operation: Operation", "exograph: Exograph"]);
}

#[test]
fn method_colon_spacing_is_lenient() {
    for sig in ["query f(): Int", "query f() : Int", "query f():Int", "query f()\n  :\n  Int", "query f(a: Int,): Int"]
    {
        let m = module(&format!("@deno(\"x.ts\") module M {{ {sig} }}"));
        assert_eq!(m.methods[0].return_type, named("Int"), "{sig}");
    }
}

#[test]
fn keywords_are_contextual() {
    let m =
        module("@postgres module M { type query { type: String  enum: Int  module: Int  in: Int  export: Boolean } }");
    let names: Vec<_> = m.types[0].fields.iter().map(|f| f.name.name.as_str()).collect();
    assert_eq!(names, ["type", "enum", "module", "in", "export"]);
    assert_eq!(m.types[0].name.name, "query");
    // Names that merely start with a keyword are names.
    let m = module("@deno(\"x\") module M { query queryable(): Int  mutation exported(): Int }");
    let names: Vec<_> = m.methods.iter().map(|m| (m.exported, m.name.name.as_str())).collect();
    assert_eq!(names, [(false, "queryable"), (false, "exported")]);
    let (d, _) = syntax_error("@deno(\"x\") module M { queryable(): Int }");
    assert_eq!(d.message, "expected a declaration, found `queryable`");
}

// ------------------------------------------------------------------ types and fields

#[test]
fn field_types() {
    let src = "@postgres module M { type T {
        a: String
        b: String?
        c: Set<Todo>
        d: Array<Array<String>>
        e: Other.Type?
        f: Map<String, Array<Int>>
        g: Set<Other.Todo>?
    } }";
    let t = &module(src).types[0];
    let rendered: Vec<_> = t.fields.iter().map(|f| f.ty.to_string()).collect();
    assert_eq!(
        rendered,
        [
            "String",
            "String?",
            "Set<Todo>",
            "Array<Array<String>>",
            "Other.Type?",
            "Map<String, Array<Int>>",
            "Set<Other.Todo>?"
        ]
    );
    match &t.fields[4].ty {
        TypeExpr::Optional { inner, span } => {
            assert_eq!(text(src, *span), "Other.Type?");
            match inner.as_ref() {
                TypeExpr::Named { module, name, span, .. } => {
                    assert_eq!(module.as_ref().unwrap().name, "Other");
                    assert_eq!(name.name, "Type");
                    assert_eq!(text(src, *span), "Other.Type");
                }
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn fragments_and_spreads() {
    let src = "@postgres module M {
        fragment Info { @pk id: Int = autoIncrement()  name: String }
        fragment Both { ...Info extra: Int }
        type Employee { ...Info  manager: Employee? ...Other }
    }";
    let m = module(src);
    assert_eq!(m.fragments[0].name.name, "Info");
    assert_eq!(m.fragments[0].fields.len(), 2);
    assert_eq!(m.fragments[1].fragment_refs[0].name, "Info");
    let refs: Vec<_> = m.types[0].fragment_refs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(refs, ["Info", "Other"]);
    assert_eq!(m.types[0].fields.len(), 1);
}

#[test]
fn enums_are_whitespace_separated() {
    let m = module("@postgres module M { enum Priority { LOW\n MEDIUM HIGH } enum Empty {} }");
    let names: Vec<_> = m.enums[0].variants.iter().map(|v| v.name.name.as_str()).collect();
    assert_eq!(names, ["LOW", "MEDIUM", "HIGH"]);
    assert!(m.enums[1].variants.is_empty());
}

#[test]
fn semicolons_after_fields_are_optional() {
    let a = module("@postgres module M { type T { a: Int; b: String; } }");
    let b = module("@postgres module M { type T { a: Int b: String } }");
    assert_eq!(a, b);
}

#[test]
fn default_values() {
    let src = r#"@postgres module M { type T {
        a: Int = autoIncrement()
        b: Int = autoIncrement("schema.seq")
        c: Instant = now()
        d: Uuid = generate_uuid()
        e: Uuid = uuidGenerateV4()
        f: Uuid = uuidGenerateV7()
        g: Priority = MEDIUM
        h: User = AuthContext.id
        i: String = "with \"quotes\" and \\ and \n"
        j: Float = -10.5e-3
        k: Int = 0
        l: Boolean = true
        m: String? = null
        n: Int = custom(1, "two", false, null)
    } }"#;
    let t = &module(src).types[0];
    let d = |i: usize| t.fields[i].default.clone().unwrap();
    assert_eq!(d(0), DefaultExpr::Call { name: ident("autoIncrement"), args: vec![], span: sp() });
    match d(1) {
        DefaultExpr::Call { args, span, .. } => {
            assert_eq!(args.iter().map(lit).collect::<Vec<_>>(), ["\"schema.seq\""]);
            assert_eq!(text(src, span), "autoIncrement(\"schema.seq\")");
        }
        other => panic!("{other:?}"),
    }
    for (i, f) in [(2, "now"), (3, "generate_uuid"), (4, "uuidGenerateV4"), (5, "uuidGenerateV7")] {
        assert!(matches!(d(i), DefaultExpr::Call { name, .. } if name.name == f));
    }
    assert_eq!(d(6), DefaultExpr::Ident(ident("MEDIUM")));
    match d(7) {
        DefaultExpr::Selection { path, span } => {
            assert_eq!(names(&path), "AuthContext.id");
            assert_eq!(text(src, span), "AuthContext.id");
        }
        other => panic!("{other:?}"),
    }
    let lits: Vec<_> = (8..13)
        .map(|i| match d(i) {
            DefaultExpr::Literal(l) => lit(&l),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(lits, ["\"with \\\"quotes\\\" and \\\\ and \\n\"", "-10.5e-3", "0", "true", "null"]);
    match d(13) {
        DefaultExpr::Call { args, .. } => {
            assert_eq!(args.iter().map(lit).collect::<Vec<_>>(), ["1", "\"two\"", "false", "null"])
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn number_literals_keep_their_spelling() {
    for n in ["0", "42", "-1", "3.25", "-0.5", "1e10", "2E+3", "-2.5E-3"] {
        assert_eq!(sexpr(&access_expr(&format!("self.x == {n}"))), format!("(self.x == {n})"));
    }
}

// ------------------------------------------------------------------ annotations

#[test]
fn annotation_parameter_forms() {
    let src = r#"@postgres module M { type T {
        @pk a: Int
        @pk() b: Int
        @unique("c1", "c2") c: Int
        @range(min = 1, max = 10) d: Int
        @column(mapping = {id: "user_id", "zip code": 1, flag: true}) e: User
        @access(query = true, create = AuthContext.role == "admin",) f: Int
    } }"#;
    let t = &module(src).types[0];
    let p = |i: usize| t.fields[i].annotations[0].params.clone();
    assert_eq!(p(0), AnnotationParams::None);
    assert_eq!(p(1), AnnotationParams::None);
    match p(2) {
        AnnotationParams::Positional(e) => {
            assert_eq!(e.iter().map(sexpr).collect::<Vec<_>>(), ["\"c1\"", "\"c2\""])
        }
        other => panic!("{other:?}"),
    }
    match p(4) {
        AnnotationParams::Named(params) => match &params[0].value {
            AnnotationValue::Object { pairs, span } => {
                let rendered: Vec<_> = pairs.iter().map(|(k, v)| format!("{k}={}", lit(v))).collect();
                assert_eq!(rendered, ["id=\"user_id\"", "zip code=1", "flag=true"]);
                assert!(text(src, *span).starts_with('{') && text(src, *span).ends_with('}'));
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    match p(5) {
        AnnotationParams::Named(params) => {
            assert_eq!(params.len(), 2);
            assert_eq!(params[1].name.name, "create");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(text(src, t.fields[3].annotations[0].span), "@range(min = 1, max = 10)");
}

#[test]
fn projections() {
    let m = module(
        "@postgres module M { @projection(withUser = [/basic, user/basic, title], empty = [], trailing = [a,]) type T { id: Int } }",
    );
    let AnnotationParams::Named(params) = &m.types[0].annotations[0].params else { panic!("named params expected") };
    let AnnotationValue::Projection { atoms, .. } = &params[0].value else { panic!("projection expected") };
    assert_eq!(
        atoms,
        &vec![
            ProjectionAtom::OwnProjection(ident("basic")),
            ProjectionAtom::RelationProjection { field: ident("user"), projection: ident("basic") },
            ProjectionAtom::Field(ident("title")),
        ]
    );
    assert!(matches!(&params[1].value, AnnotationValue::Projection { atoms, .. } if atoms.is_empty()));
    assert!(matches!(&params[2].value, AnnotationValue::Projection { atoms, .. } if atoms.len() == 1));
}

// ------------------------------------------------------------------ expressions

#[test]
fn operator_precedence() {
    let cases = [
        ("a || b && c", "(a || (b && c))"),
        ("a && b || c", "((a && b) || c)"),
        ("!a == b", "((!a) == b)"),
        ("!(a == b)", "(!(a == b))"),
        ("!!a", "(!(!a))"),
        ("a == b && c != d", "((a == b) && (c != d))"),
        ("a || b || c", "((a || b) || c)"),
        ("a && b && c", "((a && b) && c)"),
        ("(a || b) && c", "((a || b) && c)"),
        ("a < b == c >= d", "(((a < b) == c) >= d)"),
        ("\"ADMIN\" in AuthContext.roles || self.public", "((\"ADMIN\" in AuthContext.roles) || self.public)"),
        ("self.id in AuthContext.allowedProfiles", "(self.id in AuthContext.allowedProfiles)"),
        ("a<=b", "(a <= b)"),
        ("a>b", "(a > b)"),
        ("((((a))))", "a"),
        (
            "(self.assignee != null && AuthContext.role == \"user\") || AuthContext.role == \"admin\"",
            "(((self.assignee != null) && (AuthContext.role == \"user\")) || (AuthContext.role == \"admin\"))",
        ),
        ("true", "true"),
        ("AuthContext.role==\"admin\"", "(AuthContext.role == \"admin\")"),
        // `index` starts with `in` but is a name.
        ("self.index == 1", "(self.index == 1)"),
    ];
    for (src, expected) in cases {
        assert_eq!(sexpr(&access_expr(src)), expected, "{src}");
    }
}

#[test]
fn method_calls_on_selections() {
    let cases = [
        (
            "self.permissions.some(p => p.user.id == AuthContext.id && p.read)",
            "self.permissions.some(p => ((p.user.id == AuthContext.id) && p.read))",
        ),
        ("self.items.some((i) => i.public)", "self.items.some(i => i.public)"),
        ("AuthContext.roles.contains(\"ADMIN\")", "AuthContext.roles.contains(\"ADMIN\")"),
        ("!self.tags.contains(\"x\") || a", "((!self.tags.contains(\"x\")) || a)"),
        ("self.a.b.c.d", "self.a.b.c.d"),
        ("x.f()", "x.f()"),
        ("self.a.some(x => x.b.some(y => y.c == x.d))", "self.a.some(x => x.b.some(y => (y.c == x.d)))"),
    ];
    for (src, expected) in cases {
        assert_eq!(sexpr(&access_expr(src)), expected, "{src}");
    }
    match access_expr("AuthContext.roles.contains(\"ADMIN\")") {
        Expr::Call { receiver, method, .. } => {
            assert_eq!(names(&receiver), "AuthContext.roles");
            assert_eq!(method.name, "contains");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn expression_spans_cover_their_text() {
    let src = "@postgres module M { @access(!self.a == b || c.some(x => x)) type T { id: Int } }";
    let m = module(src);
    let AnnotationParams::Positional(exprs) = &m.types[0].annotations[0].params else { panic!() };
    let Expr::Binary { lhs, rhs, span, .. } = &exprs[0] else { panic!() };
    assert_eq!(text(src, *span), "!self.a == b || c.some(x => x)");
    assert_eq!(text(src, lhs.span()), "!self.a == b");
    assert_eq!(text(src, rhs.span()), "c.some(x => x)");
    let Expr::Binary { lhs, .. } = lhs.as_ref() else { panic!() };
    assert_eq!(text(src, lhs.span()), "!self.a");
}

#[test]
fn spans_point_at_names() {
    let src = "@postgres module M {\n  type Todo {\n    @pk id: Int\n  }\n}";
    let file = parse(src);
    let t = &file.modules[0].types[0];
    assert_eq!(text(src, t.name.span), "Todo");
    assert_eq!(text(src, t.fields[0].name.span), "id");
    assert_eq!(text(src, t.fields[0].span), "@pk id: Int");
    assert_eq!(text(src, t.fields[0].ty.span()), "Int");
    assert_eq!(text(src, file.modules[0].name.span), "M");
    assert!(text(src, t.span).starts_with("type Todo {"));
    assert_eq!(t.span.file, FileId(0));
}

#[test]
fn equality_ignores_spans() {
    let a = parse("@postgres module M { type T { a: Int = 1 } }");
    let b = parse("\n\n@postgres\nmodule   M {\n  type T {\n    a:   Int=1\n  }\n}\n");
    assert_eq!(a, b);
    let c = parse("@postgres module M { type T { a: Int = 2 } }");
    assert_ne!(a, c);
    assert!(!a.modules[0].span.same_location(&b.modules[0].span));
}

// ------------------------------------------------------------------ syntax errors

fn assert_error(src: &str, message: &str, at: &str) -> Diagnostic {
    let (diag, rendered) = syntax_error(src);
    assert_eq!(diag.message, message, "rendered:\n{rendered}");
    let span = diag.primary_span().unwrap();
    assert_eq!(text(src, span), at, "rendered:\n{rendered}");
    assert!(diag.code.starts_with("exo::syntax"));
    diag
}

#[test]
fn syntax_error_messages_and_spans() {
    assert_error("@postgres module M { type T { id Int } }", "expected `:`, found `Int`", "Int");
    assert_error("@postgres module M { type T { id: } }", "expected a type, found `}`", "}");
    assert_error("@postgres module M { type { id: Int } }", "expected a type name, found `{`", "{");
    assert_error("@postgres module M { type T { @access(a ==) id: Int } }", "expected an expression, found `)`", ")");
    assert_error("context C { @jwt(\"x\" id: Int }", "expected an operator, `)` or `,`, found `id`", "id");
    assert_error("@postgres module M { type T { id: Set<Int } }", "expected `,`, `.`, `<`, `>` or `?`, found `}`", "}");
    assert_error("@(x) module M {}", "expected an annotation name, found `(`", "(");
    assert_error("@postgres module {}", "expected a module name, found `{`", "{");
}

#[test]
fn syntax_errors_with_help() {
    let d = assert_error("@postgres module M { enum E { A, B } }", "expected `}`, found `,`", ",");
    assert_eq!(d.help.as_deref(), Some("fields and enum variants are not separated by commas"));

    let d = assert_error(
        "@postgres module M { @access(AuthContext.role in [\"a\"]) type T { id: Int } }",
        "expected an expression, found `[`",
        "[",
    );
    assert!(d.help.unwrap().contains("array literals are not supported"));

    let d = assert_error("type T { id: Int }", "expected `@`, `context`, `import` or `module`, found `type`", "type");
    assert_eq!(d.help.as_deref(), Some("`type` declarations belong inside a `module`"));

    let d = assert_error(
        "@postgres module M { @access(query: true) type T { id: Int } }",
        "expected an operator, `)`, `,`, `.` or `=`, found `:`",
        ":",
    );
    assert!(d.help.unwrap().contains("use `=`"));
}

#[test]
fn unterminated_things() {
    let src = "@postgres module M { type T { id: Int } ";
    let d = assert_error(
        src,
        "expected `@`, `enum`, `export`, `fragment`, `interceptor`, `mutation`, `query`, `type` or `}`, found end of file",
        "",
    );
    assert_eq!(d.primary_span().unwrap().start as usize, src.len());
    let open = d.labels.iter().find(|l| !l.primary).unwrap();
    assert_eq!(open.span.start, 19);
    assert_eq!(open.message, "this `{` is not closed");

    assert_error("@postgres module M { @table(\"todos) type T { id: Int } }", "unterminated string literal", "\"");
    assert_error("@postgres module M { /* never closed type T { id: Int } }", "unterminated block comment", "/");
}

#[test]
fn missing_closing_brace_points_at_the_open_one() {
    let src = "@postgres module M {\n  type A {\n    id: Int\n\n  type B {\n    id: Int\n  }\n}\n";
    let d = assert_error(src, "expected `:`, found `B`", "B");
    let open = d.labels.iter().find(|l| !l.primary).unwrap();
    assert_eq!(open.span.start as usize, src.find("A {").unwrap() + 2);
    assert_eq!(d.help.as_deref(), Some("a new `type` starts here; is a `}` missing before it?"));
}

#[test]
fn rendered_syntax_error_snapshot() {
    let (_, rendered) = syntax_error("@postgres\nmodule M {\n  type T {\n    title String\n  }\n}\n");
    insta::with_settings!({snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/parser"), prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("missing_colon_rendered", rendered);
    });
}

// ------------------------------------------------------------------ robustness

#[test]
fn no_panic_on_any_prefix() {
    for (i, _) in REALISTIC.char_indices() {
        let prefix = &REALISTIC[..i];
        let result = parse_file(FileId(0), prefix);
        if let Err(diag) = result {
            assert!(!diag.message.is_empty());
            assert!(diag.code.starts_with("exo::syntax"), "{}: {}", diag.code, diag.message);
            let span = diag.primary_span().unwrap();
            assert!(span.end as usize <= prefix.len());
            // Rendering must not panic either.
            let mut sources = SourceMap::new();
            sources.add("p.exo", prefix);
            let _ = render(&[diag], &sources, 80, false);
        }
    }
}

#[test]
fn no_panic_on_mangled_input() {
    // Drop each byte-ish chunk in turn, and swap in odd characters.
    let chars: Vec<char> = REALISTIC.chars().collect();
    for i in (0..chars.len()).step_by(7) {
        let mut s: String = chars[..i].iter().collect();
        s.extend(&chars[i + 1..]);
        let _ = parse_file(FileId(0), &s);
        let mut s: String = chars[..i].iter().collect();
        s.push('é');
        s.push('"');
        s.extend(&chars[i..]);
        let _ = parse_file(FileId(0), &s);
    }
    for garbage in ["}", "{{{{", "@", "@@@", "\"", "/*", "//!", "/**", "import", "import \"", "\0", "🦀"] {
        let _ = parse_file(FileId(0), garbage);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = |open: &str, close: &str, n: usize| {
        format!("@postgres module M {{ @access({}a{}) type T {{ id: Int }} }}", open.repeat(n), close.repeat(n))
    };
    // Reasonable nesting parses.
    parse(&deep("(", ")", 50));
    parse(&deep("!", "", 50));
    // Absurd nesting is reported.
    for src in [deep("(", ")", 5000), deep("!", "", 5000)] {
        let (diag, _) = syntax_error(&src);
        assert!(diag.code.starts_with("exo::syntax"), "{}", diag.message);
    }
    let types = format!("@postgres module M {{ type T {{ a: {}Int{} }} }}", "Array<".repeat(3000), ">".repeat(3000));
    let (diag, _) = syntax_error(&types);
    assert!(diag.code.starts_with("exo::syntax"));
}

#[test]
fn large_model_parses() {
    let mut src = String::from("@postgres\nmodule Big {\n");
    for i in 0..200 {
        src.push_str(&format!(
            "  /// Type {i}.\n  @access(query = self.owner.id == AuthContext.id || AuthContext.role == \"admin\", mutation = false)\n  type T{i} {{\n    @pk id: Int = autoIncrement()\n    name: String\n    @maxLength(40) code: String?\n    tags: Array<String>\n    owner: User\n    items: Set<Item{i}>?\n    created: Instant = now()\n  }}\n"
        ));
    }
    src.push_str("}\n");
    // Speed is measured by the `parse/generated-200` criterion bench, not here.
    let file = parse(&src);
    assert_eq!(file.modules[0].types.len(), 200);
}

// ------------------------------------------------------------------ loading projects

fn memory_loader(files: &[(&str, &str)]) -> impl Fn(&Path) -> io::Result<String> {
    let map: HashMap<PathBuf, String> = files.iter().map(|(p, s)| (PathBuf::from(p), s.to_string())).collect();
    move |path: &Path| map.get(path).cloned().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not found"))
}

#[test]
fn imports_are_followed_once() {
    let loader = memory_loader(&[
        ("app/index.exo", "import \"users\"\nimport \"catalog/products.exo\"\ncontext A {}"),
        ("app/users.exo", "import \"index\"\n@postgres module U {}"),
        ("app/catalog/products.exo", "import \"../users.exo\"\nimport \"./shared\"\n@postgres module P {}"),
        ("app/catalog/shared/index.exo", "@postgres module S {}"),
    ]);
    let (sources, files, diags) = load_project_with(Path::new("app/./index.exo"), &loader);
    assert!(diags.is_empty(), "{}", render(&diags, &sources, 100, false));
    let paths: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["app/index.exo", "app/users.exo", "app/catalog/products.exo", "app/catalog/shared/index.exo"]);
    assert_eq!(sources.len(), 4);
    for (i, file) in files.iter().enumerate() {
        assert_eq!(file.id, FileId(i as u32));
        assert_eq!(sources.path(file.id), Some(file.path.as_str()));
    }
}

#[test]
fn missing_import_is_reported_at_the_import() {
    let index = "import \"concerts.exo\"\n";
    let concerts = "import \"venues\"\n@postgres module C {}";
    let loader = memory_loader(&[("src/index.exo", index), ("src/concerts.exo", concerts)]);
    let (sources, files, diags) = load_project_with(Path::new("src/index.exo"), &loader);
    assert_eq!(files.len(), 2);
    assert_eq!(diags.len(), 1);
    let d = &diags[0];
    assert_eq!(d.code, "exo::import");
    assert_eq!(d.message, "cannot read imported file `venues`");
    let span = d.primary_span().unwrap();
    assert_eq!(sources.path(span.file), Some("src/concerts.exo"));
    assert_eq!(sources.snippet(span), "\"venues\"");
    let help = d.help.as_deref().unwrap();
    assert!(help.contains("src/venues.exo") && help.contains("src/venues/index.exo"), "{help}");
    insta::with_settings!({snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/parser"), prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("missing_import_rendered", render(&diags, &sources, 80, false));
    });
}

#[test]
fn syntax_errors_in_imported_files_are_collected() {
    let loader = memory_loader(&[
        ("index.exo", "import \"a\"\nimport \"b\"\n"),
        ("a.exo", "@postgres module A { type T { x } }"),
        ("b.exo", "@postgres module B {}"),
    ]);
    let (sources, files, diags) = load_project_with(Path::new("index.exo"), &loader);
    assert_eq!(files.len(), 2, "index and b parse");
    assert_eq!(diags.len(), 1);
    assert_eq!(sources.path(diags[0].primary_span().unwrap().file), Some("a.exo"));
}

#[test]
fn unreadable_entry_is_a_diagnostic() {
    let (_, files, diags) = load_project(Path::new("/definitely/not/here/index.exo"));
    assert!(files.is_empty());
    assert_eq!(diags[0].code, "exo::io");
    assert!(diags[0].message.contains("/definitely/not/here/index.exo"));
}

#[test]
fn load_multi_file_example_from_disk() {
    let entry = Path::new(EXAMPLES).join("ok/multi-file/src/index.exo");
    let (sources, files, diags) = load_project(&entry);
    assert!(diags.is_empty(), "{}", render(&diags, &sources, 100, false));
    assert!(files.len() >= 3, "{:?}", files.iter().map(|f| &f.path).collect::<Vec<_>>());

    for (name, expected_path) in
        [("32-import-missing-file", "models/missing.exo"), ("54-missing-import-in-multifile", "venues")]
    {
        let entry = Path::new(EXAMPLES).join("err").join(name).join("src/index.exo");
        let (_, _, diags) = load_project(&entry);
        assert_eq!(diags.len(), 1, "{name}");
        assert_eq!(diags[0].code, "exo::import");
        assert!(diags[0].message.contains(expected_path), "{}", diags[0].message);
    }
}

#[test]
fn multi_file_labels_render_per_file() {
    let mut sources = SourceMap::new();
    let a = sources.add("a.exo", "type A {}\n");
    let b = sources.add("b.exo", "type A {}\n");
    let diag = Diagnostic::error("exo::duplicate", "type `A` is declared twice")
        .with_primary(Span::new(b, 5, 6), "declared again here")
        .with_secondary(Span::new(a, 5, 6), "first declared here")
        .with_help("rename one of them");
    let rendered = render(&[diag], &sources, 80, false);
    insta::with_settings!({snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/parser"), prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("multi_file_labels_rendered", rendered);
    });
}
