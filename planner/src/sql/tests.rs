//! The printer's quoting and parenthesisation, the builder's parameter numbering, and the
//! two layouts agreeing but for whitespace.

use exo_ir::plan::ParamSource;

use super::*;

fn t(name: &str) -> Ident<'_> {
    Ident::Alias { stem: name, written: false, n: 1 }
}

fn print(q: &Query<'_>, params: &Params, layout: Layout) -> String {
    params.statement(q, layout).sql
}

fn print_expr(e: Expr<'_>) -> String {
    let q = Query::select(Select { items: vec![item(e)], ..Select::default() });
    print(&q, &Params::new(0), Layout::Compact).trim_start_matches("SELECT ").to_string()
}

/// The compact text from the pretty one: line breaks and indentation become one space, or
/// nothing next to a parenthesis.
fn collapse(pretty: &str) -> String {
    let mut out = String::new();
    let mut lines = pretty.split('\n');
    out.push_str(lines.next().unwrap_or(""));
    for line in lines {
        let line = line.trim_start();
        if !(out.ends_with('(') || line.starts_with(')')) {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

#[test]
fn identifiers_and_literals_are_quoted() {
    let col = Expr::Column { table: Some(Ident::Name("we\"ird")), column: Ident::Name("a b") };
    assert_eq!(print_expr(col), r#""we""ird"."a b""#);
    assert_eq!(print_expr(str_lit("it's")), "'it''s'");
    assert_eq!(print_expr(str_lit("a\nb\\c")), r"E'a\nb\\c'");
    assert_eq!(print_expr(Expr::Column { table: Some(t("todos")), column: Ident::Plain("k0") }), r#""todos$1".k0"#);
    let written = Ident::Alias { stem: "todos", written: true, n: 7 };
    assert_eq!(print_expr(Expr::AllColumns(written)), r#""todos$w7".*"#);
    let enum_cast = Cast::Enum { schema: "public".into(), name: "priority".into() };
    assert_eq!(print_expr(cast(str_lit("LOW"), enum_cast)), r#"'LOW'::"public"."priority""#);
    assert_eq!(print_expr(cast(Expr::Null, Cast::Array(Box::new(Cast::Int4)))), "NULL::int4[]");
}

#[test]
fn parentheses_follow_precedence() {
    let a = || Expr::Column { table: None, column: Ident::Name("a") };
    let b = || Expr::Column { table: None, column: Ident::Name("b") };
    let c = || Expr::Column { table: None, column: Ident::Name("c") };
    // AND binds tighter than OR: no parentheses for AND under OR, some for OR under AND.
    assert_eq!(print_expr(or(vec![and(vec![a(), b()]), c()])), r#""a" AND "b" OR "c""#);
    assert_eq!(print_expr(and(vec![or(vec![a(), b()]), c()])), r#"("a" OR "b") AND "c""#);
    // Nested conjunctions flatten; TRUE terms drop out.
    assert_eq!(print_expr(and(vec![and(vec![a(), b()]), Expr::Bool(true), c()])), r#""a" AND "b" AND "c""#);
    assert_eq!(print_expr(and(vec![])), "TRUE");
    assert_eq!(print_expr(or(vec![])), "FALSE");
    // NOT over a junction needs parentheses; over a comparison it does not.
    assert_eq!(print_expr(not(and(vec![a(), b()]))), r#"NOT ("a" AND "b")"#);
    assert_eq!(print_expr(not(eq(a(), b()))), r#"NOT "a" = "b""#);
    // `||` binds tighter than LIKE, `?` and `#>>` share a level and associate left.
    assert_eq!(print_expr(bin(BinOp::Like, a(), bin(BinOp::Concat, b(), str_lit("%")))), r#""a" LIKE "b" || '%'"#);
    assert_eq!(
        print_expr(bin(BinOp::HasKey, a(), bin(BinOp::JsonPathText, b(), str_lit("{}")))),
        r#""a" ? ("b" #>> '{}')"#
    );
    assert_eq!(print_expr(bin(BinOp::Concat, bin(BinOp::Concat, a(), b()), c())), r#""a" || "b" || "c""#);
    // A cast applies to the whole operand.
    assert_eq!(print_expr(cast(bin(BinOp::Concat, a(), b()), Cast::Json)), r#"("a" || "b")::json"#);
    assert_eq!(print_expr(cast(func("COUNT", vec![Expr::Star]), Cast::Text)), "COUNT(*)::text");
    assert_eq!(print_expr(cast(Expr::Int(-1), Cast::Int4)), "(-1)::int4");
    // Comparisons do not associate.
    assert_eq!(print_expr(eq(eq(a(), b()), c())), r#"("a" = "b") = "c""#);
    assert_eq!(print_expr(is_null(eq(a(), b()), true)), r#""a" = "b" IS NOT NULL"#);
    assert_eq!(print_expr(is_null(and(vec![a(), b()]), false)), r#"("a" AND "b") IS NULL"#);
    let any = Expr::Quantified { left: Box::new(a()), op: BinOp::Lt, all: true, right: Box::new(b()) };
    assert_eq!(print_expr(any), r#""a" < ALL("b")"#);
}

#[test]
fn parameters_are_numbered_by_first_use_and_listed_once() {
    let mut params = Params::new(3);
    let late = params.add_id(ParamSource::Const(Some("late".into())));
    let _unused = params.add_id(ParamSource::Const(Some("unused".into())));
    let first = params.add_id(ParamSource::Const(Some("first".into())));
    // Asking for the same source again gives the same parameter.
    assert_eq!(params.add_id(ParamSource::Const(Some("first".into()))), first);
    let q = Query::select(Select::new(
        vec![Expr::Param(first), Expr::Param(late), Expr::Param(first)],
        From::Table { table: TableName { schema: Some("s"), name: "t" }, alias: None },
    ));
    let stmt = params.statement(&q, Layout::Compact);
    assert_eq!(stmt.sql, r#"SELECT $1, $2, $1 FROM "s"."t""#);
    assert_eq!(stmt.params, vec![ParamSource::Const(Some("first".into())), ParamSource::Const(Some("late".into()))]);
}

#[test]
fn a_parameter_of_another_statement_never_binds() {
    let mut old = Params::new(1);
    let stale = old.add(ParamSource::Const(Some("old".into())));
    let mut new = Params::new(2);
    let _fresh = new.add(ParamSource::Const(Some("new".into())));
    let q = Query::select(Select { items: vec![item(stale)], ..Select::default() });
    // Debug builds stop at the mistake; release builds print `$0`, which Postgres refuses.
    let printed = std::panic::catch_unwind(|| new.statement(&q, Layout::Compact));
    let debug = cfg!(debug_assertions);
    match printed {
        Err(_) => assert!(debug, "only debug builds stop at a stale parameter"),
        Ok(stmt) => {
            assert_eq!(stmt.sql, "SELECT $0");
            assert!(stmt.params.is_empty());
        }
    }
}

/// A statement with most node kinds: CTEs (one data-modifying), joins, subqueries, VALUES.
fn sample<'a>(params: &mut Params) -> Query<'a> {
    let a = t("todos");
    let w = Ident::Alias { stem: "todos", written: true, n: 2 };
    let table = TableName { schema: None, name: "todos" };
    let p1 = params.add_id(ParamSource::Const(Some("x".into())));
    let keys = params.add(ParamSource::Keys { slot: 0, column: 0 });
    let insert = Insert {
        table,
        columns: vec![Ident::Name("title"), Ident::Name("done")],
        source: InsertSource::Values(vec![vec![cast(Expr::Param(p1), Cast::Text), Expr::Default]]),
        returning: vec![item(Expr::Star)],
    };
    let inner = || Select::new(vec![Expr::Int(1)], table_from(table, a)).filter(eq(col(a, "id"), col(w, "id")));
    let unnest = From::Function {
        call: func("unnest", vec![cast(keys, Cast::Array(Box::new(Cast::Text)))]),
        ordinality: true,
        alias: Ident::Name("keys$"),
        columns: vec![Ident::Plain("k0"), Ident::Plain("ord")],
    };
    let mut body = Select::new(
        vec![func(
            "json_build_object",
            vec![str_lit("id"), col(a, "id"), str_lit("n"), subquery(Query::select(inner()))],
        )],
        table_from(table, a),
    )
    .filter(and(vec![
        exists(Query::select(inner())),
        or(vec![is_null(col(a, "title"), false), eq(col(a, "title"), Expr::Param(p1))]),
    ]));
    body.joins
        .push(Join { item: unnest, on: eq(col(a, "id"), cast(plain_col(Ident::Name("keys$"), "k0"), Cast::Int4)) });
    body.order_by.push(Order { expr: col(a, "id"), dir: Some(Dir::Desc) });
    body.limit = Some(Expr::Int(1));
    Query {
        with: vec![Cte { name: w, query: Query { with: vec![], body: Body::Insert(Box::new(insert)) } }],
        body: Body::Select(Box::new(body)),
    }
}

fn table_from<'a>(table: TableName<'a>, alias: Ident<'a>) -> From<'a> {
    From::Table { table, alias: Some(alias) }
}

#[test]
fn the_two_layouts_differ_only_in_whitespace() {
    let mut params = Params::new(0);
    let q = sample(&mut params);
    let compact = print(&q, &params, Layout::Compact);
    let pretty = print(&q, &params, Layout::Pretty);
    assert!(!compact.contains('\n'));
    assert!(pretty.lines().count() > 10, "{pretty}");
    assert_eq!(collapse(&pretty), compact);
    assert_eq!(
        compact,
        r#"WITH "todos$w2" AS (INSERT INTO "todos" ("title", "done") VALUES ($1::text, DEFAULT) RETURNING *) SELECT json_build_object('id', "todos$1"."id", 'n', (SELECT 1 FROM "todos" AS "todos$1" WHERE "todos$1"."id" = "todos$w2"."id")) FROM "todos" AS "todos$1" JOIN unnest($2::text[]) WITH ORDINALITY AS "keys$"(k0, ord) ON "todos$1"."id" = "keys$".k0::int4 WHERE EXISTS (SELECT 1 FROM "todos" AS "todos$1" WHERE "todos$1"."id" = "todos$w2"."id") AND ("todos$1"."title" IS NULL OR "todos$1"."title" = $1) ORDER BY "todos$1"."id" DESC LIMIT 1"#
    );
    // Keys of earlier steps are parameters like any other.
    assert_eq!(params.statement(&q, Layout::Compact).params[1], ParamSource::Keys { slot: 0, column: 0 });
}
