//! Tests of the GraphQL executable-document parser: accepted syntax, graphql-js-compatible
//! error messages and positions, and the limits that protect against hostile input.

use std::borrow::Cow;

use exo_planner::graphql::{
    parse, Document, Field, OperationKind, ParseError, ParseLimits, Pos, Selection, Type, Value, ValueKind,
};

fn parse_ok(src: &str) -> Document<'_> {
    match parse(src, &ParseLimits::default()) {
        Ok(document) => document,
        Err(error) => panic!("{src:?} failed to parse: {error}"),
    }
}

fn parse_err(src: &str) -> ParseError {
    parse_err_with(src, &ParseLimits::default())
}

fn parse_err_with(src: &str, limits: &ParseLimits) -> ParseError {
    match parse(src, limits) {
        Ok(document) => panic!("{src:?} parsed but should not have: {document:?}"),
        Err(error) => error,
    }
}

fn pos(line: u32, column: u32) -> Pos {
    Pos { line, column }
}

fn field<'d, 'a>(selections: &'d [Selection<'a>], index: usize) -> &'d Field<'a> {
    match &selections[index] {
        Selection::Field(field) => field,
        other => panic!("selection {index} is not a field: {other:?}"),
    }
}

/// The first field of the first operation.
fn first_field<'d, 'a>(document: &'d Document<'a>) -> &'d Field<'a> {
    field(&document.operations[0].selection_set, 0)
}

/// The value of the single argument of the first field, parsed from `{ f(a: <value>) }`.
fn argument_value(value_src: &str) -> ValueKind<'static> {
    let src: &'static str = Box::leak(format!("{{ f(a: {value_src}) }}").into_boxed_str());
    let document = parse_ok(src);
    first_field(&document).arguments[0].1.kind.clone()
}

fn string_value(value_src: &str) -> String {
    match argument_value(value_src) {
        ValueKind::String(value) => value.into_owned(),
        other => panic!("not a string: {other:?}"),
    }
}

fn run_with_stack<T: Send + 'static>(stack_size: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(stack_size).spawn(f).unwrap().join().unwrap()
}

mod accepted {
    use super::*;

    #[test]
    fn shorthand_query() {
        let document = parse_ok("{ a }");
        assert_eq!(document.operations.len(), 1);
        let operation = &document.operations[0];
        assert_eq!(operation.kind, OperationKind::Query);
        assert_eq!(operation.name, None);
        assert!(operation.variables.is_empty());
        assert_eq!(operation.pos, pos(1, 1));
        let a = first_field(&document);
        assert_eq!(a.name.value, "a");
        assert_eq!(a.pos, pos(1, 3));
        assert!(a.selection_set.is_empty());
    }

    /// Exograph accepts empty variable definitions, and documents written for it use them.
    #[test]
    fn empty_variable_definitions() {
        for src in ["mutation () { a }", "query Q ( ) { a }"] {
            let document = parse_ok(src);
            assert!(document.operations[0].variables.is_empty(), "{src}");
            assert_eq!(first_field(&document).name.value, "a", "{src}");
        }
        assert_eq!(parse_err("query ( { a }").pos, pos(1, 9));
    }

    #[test]
    fn operation_kinds_and_names() {
        let document = parse_ok("query Q { a } mutation M { b } subscription S { c } query { d } mutation { e }");
        let kinds: Vec<_> = document
            .operations
            .iter()
            .map(|operation| (operation.kind, operation.name.map(|name| name.value)))
            .collect();
        assert_eq!(
            kinds,
            [
                (OperationKind::Query, Some("Q")),
                (OperationKind::Mutation, Some("M")),
                (OperationKind::Subscription, Some("S")),
                (OperationKind::Query, None),
                (OperationKind::Mutation, None),
            ]
        );
    }

    #[test]
    fn keywords_are_ordinary_names_elsewhere() {
        let document = parse_ok("query query { query: mutation fragment on subscription(on: on) }");
        assert_eq!(document.operations[0].name.unwrap().value, "query");
        let selections = &document.operations[0].selection_set;
        assert_eq!(field(selections, 0).response_key(), "query");
        assert_eq!(field(selections, 0).name.value, "mutation");
        assert_eq!(field(selections, 1).name.value, "fragment");
        assert_eq!(field(selections, 2).name.value, "on");
        assert_eq!(field(selections, 3).name.value, "subscription");
        assert!(matches!(field(selections, 3).arguments[0].1.kind, ValueKind::Enum(name) if name.value == "on"));
    }

    #[test]
    fn variables_with_types_defaults_and_directives() {
        let document = parse_ok(
            r#"query Q($id: ID!, $ids: [ID!]! = ["1", "2"], $n: Int = 5 @deprecated(reason: "x"), $m: [[Int]]) { a }"#,
        );
        let variables = &document.operations[0].variables;
        assert_eq!(variables.len(), 4);

        assert_eq!(variables[0].name.value, "id");
        assert_eq!(variables[0].pos, pos(1, 9));
        assert_eq!(variables[0].name.pos, pos(1, 10));
        assert!(
            matches!(&variables[0].ty, Type::NonNull(inner) if matches!(**inner, Type::Named(name) if name.value == "ID"))
        );
        assert!(variables[0].default.is_none());

        match &variables[1].ty {
            Type::NonNull(list) => match &**list {
                Type::List(item) => match &**item {
                    Type::NonNull(named) => {
                        assert!(matches!(**named, Type::Named(n) if n.value == "ID"))
                    }
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        assert_eq!(variables[1].ty.innermost().value, "ID");
        match &variables[1].default.as_ref().unwrap().kind {
            ValueKind::List(items) => {
                assert_eq!(items.len(), 2);
                assert_eq!(items[1].kind, ValueKind::String(Cow::Borrowed("2")));
            }
            other => panic!("{other:?}"),
        }

        assert!(matches!(variables[2].default.as_ref().unwrap().kind, ValueKind::Int { value: Some(5), .. }));
        assert_eq!(variables[2].directives.len(), 1);
        assert_eq!(variables[2].directives[0].name.value, "deprecated");

        assert!(matches!(&variables[3].ty, Type::List(inner) if matches!(**inner, Type::List(_))));
        assert_eq!(variables[3].ty.innermost().value, "Int");
    }

    #[test]
    fn all_value_kinds() {
        let document = parse_ok(
            r#"{ f(v: $var, i: -12, fl: 1.5e3, s: "str", t: true, fa: false, n: null, e: RED,
                 l: [1, [2, 3], []], o: {x: 1, y: {z: [null]}}, eo: {}) }"#,
        );
        let arguments = &first_field(&document).arguments;
        let kinds: Vec<_> = arguments.iter().map(|(name, value)| (name.value, &value.kind)).collect();
        assert!(matches!(kinds[0], ("v", ValueKind::Variable(name)) if name.value == "var"));
        assert!(matches!(kinds[1], ("i", ValueKind::Int { raw: "-12", value: Some(-12) })));
        assert!(matches!(kinds[2], ("fl", ValueKind::Float { raw: "1.5e3", value }) if *value == 1500.0));
        assert!(matches!(kinds[3], ("s", ValueKind::String(s)) if s == "str"));
        assert!(matches!(kinds[4], ("t", ValueKind::Boolean(true))));
        assert!(matches!(kinds[5], ("fa", ValueKind::Boolean(false))));
        assert!(matches!(kinds[6], ("n", ValueKind::Null)));
        assert!(matches!(kinds[7], ("e", ValueKind::Enum(name)) if name.value == "RED"));
        match kinds[8] {
            ("l", ValueKind::List(items)) => {
                assert_eq!(items.len(), 3);
                assert!(matches!(&items[1].kind, ValueKind::List(inner) if inner.len() == 2));
                assert!(matches!(&items[2].kind, ValueKind::List(inner) if inner.is_empty()));
            }
            other => panic!("{other:?}"),
        }
        match kinds[9] {
            ("o", ValueKind::Object(fields)) => {
                assert_eq!(fields[0].0.value, "x");
                match &fields[1].1.kind {
                    ValueKind::Object(inner) => {
                        assert_eq!(inner[0].0.value, "z");
                        assert!(matches!(&inner[0].1.kind, ValueKind::List(items) if items[0].kind == ValueKind::Null));
                    }
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(kinds[10], ("eo", ValueKind::Object(fields)) if fields.is_empty()));
    }

    #[test]
    fn value_positions() {
        let document = parse_ok("{ f(a: [1, $v, {b: \"c\"}]) }");
        let (name, value) = &first_field(&document).arguments[0];
        assert_eq!(name.pos, pos(1, 5));
        assert_eq!(value.pos, pos(1, 8));
        let ValueKind::List(items) = &value.kind else { panic!("{value:?}") };
        assert_eq!(items[0].pos, pos(1, 9));
        assert_eq!(items[1].pos, pos(1, 12));
        assert!(matches!(items[1].kind, ValueKind::Variable(name) if name.pos == pos(1, 13)));
        assert_eq!(items[2].pos, pos(1, 16));
        let ValueKind::Object(fields) = &items[2].kind else { panic!("{:?}", items[2]) };
        assert_eq!(fields[0].0.pos, pos(1, 17));
        assert_eq!(fields[0].1.pos, pos(1, 20));
    }

    #[test]
    fn numbers() {
        assert_eq!(argument_value("0"), ValueKind::Int { raw: "0", value: Some(0) });
        assert_eq!(argument_value("-0"), ValueKind::Int { raw: "-0", value: Some(0) });
        assert_eq!(
            argument_value("9223372036854775807"),
            ValueKind::Int { raw: "9223372036854775807", value: Some(i64::MAX) }
        );
        assert_eq!(
            argument_value("-9223372036854775808"),
            ValueKind::Int { raw: "-9223372036854775808", value: Some(i64::MIN) }
        );
        assert_eq!(argument_value("9223372036854775808"), ValueKind::Int { raw: "9223372036854775808", value: None });
        for (raw, expected) in
            [("0.0", 0.0), ("-1.25", -1.25), ("1e3", 1000.0), ("1E+3", 1000.0), ("25e-2", 0.25), ("0.5E0", 0.5)]
        {
            match argument_value(raw) {
                ValueKind::Float { raw: r, value } => {
                    assert_eq!(r, raw);
                    assert_eq!(value, expected, "{raw}");
                }
                other => panic!("{raw}: {other:?}"),
            }
        }
        assert!(matches!(argument_value("1e999"), ValueKind::Float { value, .. } if value.is_infinite()));
    }

    #[test]
    fn aliases() {
        let document = parse_ok("{ small: picture(size: 64) big: picture(size: 1024) plain }");
        let selections = &document.operations[0].selection_set;
        let small = field(selections, 0);
        assert_eq!(small.alias.unwrap().value, "small");
        assert_eq!(small.name.value, "picture");
        assert_eq!(small.name.pos, pos(1, 10));
        assert_eq!(small.pos, pos(1, 3));
        assert_eq!(small.response_key(), "small");
        assert_eq!(field(selections, 1).response_key(), "big");
        assert_eq!(field(selections, 2).alias, None);
        assert_eq!(field(selections, 2).response_key(), "plain");
    }

    #[test]
    fn directives() {
        let document = parse_ok(
            "query Q($s: Boolean!) @live { a @skip(if: $s) @include(if: true) ...F @include(if: $s) ... @skip(if: false) { b } }",
        );
        let operation = &document.operations[0];
        assert_eq!(operation.directives[0].name.value, "live");
        assert!(operation.directives[0].arguments.is_empty());
        let a = field(&operation.selection_set, 0);
        assert_eq!(a.directives.len(), 2);
        assert_eq!(a.directives[0].name.value, "skip");
        assert_eq!(a.directives[0].pos, pos(1, 33));
        assert!(
            matches!(&a.directives[0].arguments[0], (name, Value { kind: ValueKind::Variable(v), .. }) if name.value == "if" && v.value == "s")
        );
        assert_eq!(a.directives[1].name.value, "include");
        assert!(matches!(a.directives[1].arguments[0].1.kind, ValueKind::Boolean(true)));
        match &operation.selection_set[1] {
            Selection::FragmentSpread(spread) => {
                assert_eq!(spread.name.value, "F");
                assert_eq!(spread.directives[0].name.value, "include");
            }
            other => panic!("{other:?}"),
        }
        match &operation.selection_set[2] {
            Selection::InlineFragment(inline) => {
                assert_eq!(inline.type_condition, None);
                assert_eq!(inline.directives[0].name.value, "skip");
                assert_eq!(field(&inline.selection_set, 0).name.value, "b");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fragments_and_inline_fragments() {
        let document = parse_ok(
            "query { node(id: 1) { ...NodeFields ... on User { name } } }\n\
             fragment NodeFields on Node @x { id ... on Post { title } }",
        );
        assert_eq!(document.operations.len(), 1);
        assert_eq!(document.fragments.len(), 1);
        let node = first_field(&document);
        match &node.selection_set[0] {
            Selection::FragmentSpread(spread) => {
                assert_eq!(spread.name.value, "NodeFields");
                assert_eq!(spread.pos, pos(1, 23));
                assert_eq!(spread.name.pos, pos(1, 26));
            }
            other => panic!("{other:?}"),
        }
        match &node.selection_set[1] {
            Selection::InlineFragment(inline) => {
                assert_eq!(inline.type_condition.unwrap().value, "User");
                assert_eq!(inline.pos, pos(1, 37));
                assert_eq!(inline.selection_set[0].pos(), pos(1, 51));
            }
            other => panic!("{other:?}"),
        }
        let fragment = &document.fragments[0];
        assert_eq!(fragment.name.value, "NodeFields");
        assert_eq!(fragment.type_condition.value, "Node");
        assert_eq!(fragment.directives[0].name.value, "x");
        assert_eq!(fragment.pos, pos(2, 1));
        assert!(
            matches!(&fragment.selection_set[1], Selection::InlineFragment(inline) if inline.type_condition.unwrap().value == "Post")
        );
    }

    #[test]
    fn definitions_keep_source_order_per_kind() {
        let document = parse_ok("fragment A on T { a } { b } fragment B on T { c } query Q { d }");
        let fragments: Vec<_> = document.fragments.iter().map(|f| f.name.value).collect();
        assert_eq!(fragments, ["A", "B"]);
        let operations: Vec<_> = document.operations.iter().map(|o| o.name.map(|n| n.value)).collect();
        assert_eq!(operations, [None, Some("Q")]);
    }

    #[test]
    fn nested_selection_sets() {
        let document = parse_ok("{ a { b { c } d } }");
        let a = first_field(&document);
        let b = field(&a.selection_set, 0);
        assert_eq!(field(&b.selection_set, 0).name.value, "c");
        assert_eq!(field(&a.selection_set, 1).name.value, "d");
    }

    #[test]
    fn ignored_tokens() {
        let src = "\u{FEFF}# leading comment\r\n{ a,,, b # trailing\r c\n\t,d\u{FEFF} }# end";
        let document = parse_ok(src);
        let names: Vec<_> = document.operations[0]
            .selection_set
            .iter()
            .map(|selection| match selection {
                Selection::Field(field) => (field.name.value, field.pos),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(names, [("a", pos(2, 3)), ("b", pos(2, 8)), ("c", pos(3, 2)), ("d", pos(4, 3))]);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let document = parse_ok("{ a(s: \"日本語 😀\") b }");
        let selections = &document.operations[0].selection_set;
        assert_eq!(field(selections, 1).pos, pos(1, 17));
    }
}

mod strings {
    use super::*;

    #[test]
    fn simple_escapes() {
        assert_eq!(string_value(r#""\" \\ \/ \b \f \n \r \t""#), "\" \\ / \u{8} \u{c} \n \r \t");
    }

    #[test]
    fn unicode_escapes() {
        assert_eq!(string_value(r#""\u00e9\u00C9""#), "éÉ");
        assert_eq!(string_value(r#""\u{1F600}|\u{e9}|\u{0000000041}""#), "😀|é|A");
        assert_eq!(string_value(r#""\uD83D\uDE00""#), "😀");
        assert_eq!(string_value(r#""x\u0000y""#), "x\u{0}y");
        assert_eq!(string_value("\"literal 日本 😀\""), "literal 日本 😀");
    }

    #[test]
    fn strings_without_escapes_borrow_from_the_source() {
        assert!(matches!(argument_value("\"plain\""), ValueKind::String(Cow::Borrowed("plain"))));
        assert!(matches!(argument_value("\"\""), ValueKind::String(Cow::Borrowed(""))));
        assert!(matches!(argument_value("\"a\\nb\""), ValueKind::String(Cow::Owned(s)) if s == "a\nb"));
    }

    #[test]
    fn block_string_spec_example() {
        let src = "\"\"\"\n    Hello,\n      World!\n\n    Yours,\n      GraphQL.\n  \"\"\"";
        assert_eq!(string_value(src), "Hello,\n  World!\n\nYours,\n  GraphQL.");
    }

    #[test]
    fn block_string_removes_blank_leading_and_trailing_lines() {
        let src = "\"\"\"\n\n    spans\n      multiple\n        lines\n\n    \"\"\"";
        assert_eq!(string_value(src), "spans\n  multiple\n    lines");
        assert_eq!(string_value("\"\"\"   \n  \t \n \"\"\""), "");
        assert_eq!(string_value("\"\"\"\"\"\""), "");
    }

    #[test]
    fn block_string_first_line_keeps_its_indentation() {
        assert_eq!(string_value("\"\"\"  first\n    second\n      third\"\"\""), "  first\nsecond\n  third");
        assert!(matches!(argument_value("\"\"\"  x  \"\"\""), ValueKind::String(Cow::Borrowed("  x  "))));
    }

    #[test]
    fn block_string_escapes_and_quotes() {
        assert_eq!(string_value(r#""""a \""" b""""#), "a \"\"\" b");
        assert_eq!(
            string_value(r#""""unescaped \n \u1234 "quotes" \\ end""""#),
            r#"unescaped \n \u1234 "quotes" \\ end"#
        );
        // `\\"""` is a backslash followed by an escaped triple quote, so this one is open.
        assert!(parse(r#"{ f(a: """a \\""") }"#, &ParseLimits::default()).is_err());
        assert_eq!(string_value("\"\"\"\\\\\"\"\"\"\"\""), "\\\"\"\"");
    }

    #[test]
    fn block_string_line_terminators() {
        assert_eq!(string_value("\"\"\"\r\n  a\r\n  b\r  c\n  d\r\n\"\"\""), "a\nb\nc\nd");
    }

    #[test]
    fn block_strings_advance_the_line_count() {
        let document = parse_ok("{ a(s: \"\"\"\n one\n two\n\"\"\") b }");
        assert_eq!(field(&document.operations[0].selection_set, 1).pos, pos(4, 6));
    }
}

mod errors {
    use super::*;

    /// Malformed documents with the message graphql-js gives and our position for it.
    const CASES: &[(&str, &str, (u32, u32))] = &[
        ("", "Syntax Error: Unexpected <EOF>.", (1, 1)),
        ("   # only a comment\n", "Syntax Error: Unexpected <EOF>.", (2, 1)),
        ("{", "Syntax Error: Expected Name, found <EOF>.", (1, 2)),
        ("{}", "Syntax Error: Expected Name, found \"}\".", (1, 2)),
        ("{ a }}", "Syntax Error: Unexpected \"}\".", (1, 6)),
        ("query {\n  a\n  b(\n}", "Syntax Error: Expected Name, found \"}\".", (4, 1)),
        ("{ a(b: ) }", "Syntax Error: Unexpected \")\".", (1, 8)),
        ("{ a(b) }", "Syntax Error: Expected \":\", found \")\".", (1, 6)),
        ("query Q($a) { b }", "Syntax Error: Expected \":\", found \")\".", (1, 11)),
        ("query Q($a: ) { b }", "Syntax Error: Expected Name, found \")\".", (1, 13)),
        ("query Q($a: [Int) { b }", "Syntax Error: Expected \"]\", found \")\".", (1, 17)),
        ("query Q($a: Int = $b) { c }", "Syntax Error: Unexpected variable \"$b\" in constant value.", (1, 19)),
        ("query Q($a: Int @d(x: $b)) { c }", "Syntax Error: Unexpected variable \"$b\" in constant value.", (1, 23)),
        ("query Q($a: Int = $) { c }", "Syntax Error: Unexpected \"$\".", (1, 19)),
        ("subscription S", "Syntax Error: Expected \"{\", found <EOF>.", (1, 15)),
        ("fragment on on T { a }", "Syntax Error: Unexpected Name \"on\".", (1, 10)),
        ("fragment F T { a }", "Syntax Error: Expected \"on\", found Name \"T\".", (1, 12)),
        ("fragment F on T", "Syntax Error: Expected \"{\", found <EOF>.", (1, 16)),
        ("{ a } type T { b }", "Syntax Error: Unexpected Name \"type\".", (1, 7)),
        ("\"description\" query { a }", "Syntax Error: Unexpected String \"description\".", (1, 1)),
        ("...F", "Syntax Error: Unexpected \"...\".", (1, 1)),
        ("{ ... on }", "Syntax Error: Expected Name, found \"}\".", (1, 10)),
        ("{ ... }", "Syntax Error: Expected \"{\", found \"}\".", (1, 7)),
        ("{ a: }", "Syntax Error: Expected Name, found \"}\".", (1, 6)),
        ("{ a @ }", "Syntax Error: Expected Name, found \"}\".", (1, 7)),
        ("{ a(x: {b 1}) }", "Syntax Error: Expected \":\", found Int \"1\".", (1, 11)),
        ("{ a(x: [1 2) }", "Syntax Error: Unexpected \")\".", (1, 12)),
        ("{ a(x: \"s\" }", "Syntax Error: Expected Name, found \"}\".", (1, 12)),
        ("{ a(s: \"abc) }", "Syntax Error: Unterminated string.", (1, 15)),
        ("{ a(s: \"a\nb\") }", "Syntax Error: Unterminated string.", (1, 10)),
        ("{ a(s: \"\"\"abc\n  def", "Syntax Error: Unterminated string.", (2, 6)),
        ("{ a(s: \"\\x\") }", "Syntax Error: Invalid character escape sequence: \"\\x\".", (1, 9)),
        ("{ a(s: \"\\u12G4\") }", "Syntax Error: Invalid Unicode escape sequence: \"\\u12G4\".", (1, 9)),
        ("{ a(s: \"\\uD800\") }", "Syntax Error: Invalid Unicode escape sequence: \"\\uD800\".", (1, 9)),
        ("{ a(s: \"\\uD800\\u0041\") }", "Syntax Error: Invalid Unicode escape sequence: \"\\uD800\".", (1, 9)),
        ("{ a(s: \"\\uDE00\") }", "Syntax Error: Invalid Unicode escape sequence: \"\\uDE00\".", (1, 9)),
        ("{ a(s: \"\\u{110000}\") }", "Syntax Error: Invalid Unicode escape sequence: \"\\u{110000}\".", (1, 9)),
        ("{ a(s: \"\\u{}\") }", "Syntax Error: Invalid Unicode escape sequence: \"\\u{}\".", (1, 9)),
        ("{ a(s: \"\\u{D800}\") }", "Syntax Error: Invalid Unicode escape sequence: \"\\u{D800}\".", (1, 9)),
        ("{ a(s: \"\\u{12x}\") }", "Syntax Error: Invalid Unicode escape sequence: \"\\u{12x\".", (1, 9)),
        ("{ a(n: 01) }", "Syntax Error: Invalid number, unexpected digit after 0: \"1\".", (1, 9)),
        ("{ a(n: 1.) }", "Syntax Error: Invalid number, expected digit but got: \")\".", (1, 10)),
        ("{ a(n: 1.5.) }", "Syntax Error: Invalid number, expected digit but got: \".\".", (1, 11)),
        ("{ a(n: 1a) }", "Syntax Error: Invalid number, expected digit but got: \"a\".", (1, 9)),
        ("{ a(n: 1e) }", "Syntax Error: Invalid number, expected digit but got: \")\".", (1, 10)),
        ("{ a(n: -) }", "Syntax Error: Invalid number, expected digit but got: \")\".", (1, 9)),
        ("{ a(n: .5) }", "Syntax Error: Unexpected character: \".\".", (1, 8)),
        ("{ a(n: 1", "Syntax Error: Expected Name, found <EOF>.", (1, 9)),
        ("{ a ? }", "Syntax Error: Unexpected character: \"?\".", (1, 5)),
        ("{ a .. }", "Syntax Error: Unexpected character: \".\".", (1, 5)),
        (
            "{ a(s: 'x') }",
            "Syntax Error: Unexpected single quote character ('), did you mean to use a double quote (\")?",
            (1, 8),
        ),
        ("{ é }", "Syntax Error: Unexpected character: U+00E9.", (1, 3)),
        ("{ 😀 }", "Syntax Error: Unexpected character: U+1F600.", (1, 3)),
        ("{ a\u{0} }", "Syntax Error: Unexpected character: U+0000.", (1, 4)),
        ("{ a | b }", "Syntax Error: Expected Name, found \"|\".", (1, 5)),
        ("日本 {", "Syntax Error: Unexpected character: U+65E5.", (1, 1)),
        ("{ \"日本\" }", "Syntax Error: Expected Name, found String \"日本\".", (1, 3)),
        ("{ a(s: \"日本\") ! }", "Syntax Error: Expected Name, found \"!\".", (1, 14)),
        ("{ a }\r\n\r\n  }", "Syntax Error: Unexpected \"}\".", (3, 3)),
    ];

    #[test]
    fn messages_and_positions() {
        let mut failures = Vec::new();
        for &(src, message, (line, column)) in CASES {
            let expected = ParseError { message: message.to_owned(), pos: pos(line, column) };
            let actual = parse(src, &ParseLimits::default());
            if actual.as_ref().err() != Some(&expected) {
                failures.push(format!("{src:?}\n  expected {expected:?}\n  got      {actual:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn display_includes_the_position() {
        assert_eq!(parse_err("{").to_string(), "Syntax Error: Expected Name, found <EOF>. (1:2)");
    }
}

mod limits {
    use super::*;

    fn limits(max_tokens: usize, max_depth: usize, max_bytes: usize) -> ParseLimits {
        ParseLimits { max_tokens, max_depth, max_bytes }
    }

    #[test]
    fn defaults() {
        assert_eq!(ParseLimits::default(), limits(15_000, 64, 1024 * 1024));
    }

    #[test]
    fn token_limit_is_inclusive() {
        // `{ a a a a a a a a }` is ten tokens.
        let src = "{ a a a a a a a a }";
        assert!(parse(src, &limits(10, 64, 1 << 20)).is_ok());
        let error = parse_err_with(src, &limits(9, 64, 1 << 20));
        assert_eq!(error.message, "Syntax Error: Document contains more than 9 tokens. Parsing aborted.");
        assert_eq!(error.pos, pos(1, 19));
    }

    #[test]
    fn default_token_limit() {
        let src = format!("{{ {} }}", "a ".repeat(15_000));
        let error = parse_err(&src);
        assert_eq!(error.message, "Syntax Error: Document contains more than 15000 tokens. Parsing aborted.");
        let src = format!("{{ {} }}", "a ".repeat(14_998));
        parse_ok(&src);
    }

    #[test]
    fn byte_limit() {
        let error = parse_err_with("{ abc }", &limits(100, 64, 6));
        assert_eq!(error.message, "Syntax Error: Document is larger than 6 bytes. Parsing aborted.");
        assert_eq!(error.pos, pos(1, 1));
        assert!(parse("{ abc }", &limits(100, 64, 7)).is_ok());
    }

    #[test]
    fn depth_limit_is_inclusive() {
        let nested = |depth: usize| format!("{}{}", "{a".repeat(depth), "}".repeat(depth));
        assert!(parse(&nested(64), &ParseLimits::default()).is_ok());
        let error = parse_err(&nested(65));
        assert_eq!(error.message, "Syntax Error: Document contains more than 64 levels of nesting. Parsing aborted.");
        assert_eq!(error.pos, pos(1, 129));

        // Values and list types count too, on top of the selection sets around them.
        let list = |depth: usize| format!("{{ f(a: {}{}) }}", "[".repeat(depth), "]".repeat(depth));
        assert!(parse(&list(63), &ParseLimits::default()).is_ok());
        assert!(parse(&list(64), &ParseLimits::default()).is_err());
        let ty = |depth: usize| format!("query($v: {}Int{}) {{ a }}", "[".repeat(depth), "]".repeat(depth));
        assert!(parse(&ty(64), &ParseLimits::default()).is_ok());
        assert!(parse(&ty(65), &ParseLimits::default()).is_err());
    }

    /// Ten thousand levels of each recursive construct, on a thread whose stack is far too
    /// small to recurse that deep: the depth limit must stop parsing first.
    #[test]
    fn deep_nesting_fails_without_overflowing_a_small_stack() {
        run_with_stack(256 * 1024, || {
            let depth = 10_000;
            let documents = [
                "{a".repeat(depth),
                format!("{}{}", "{a".repeat(depth), "}".repeat(depth)),
                format!("{{ f(a: {}", "[".repeat(depth)),
                format!("{{ f(a: {}{}) }}", "[".repeat(depth), "]".repeat(depth)),
                format!("{{ f(a: {}1{}) }}", "{a: ".repeat(depth), "}".repeat(depth)),
                format!("query($v: {}Int{}) {{ a }}", "[".repeat(depth), "]".repeat(depth)),
                format!("query($v: Int = {}) {{ a }}", "[".repeat(depth)),
                format!("{{ {} }}", "...{".repeat(depth)),
                format!("{{ {} }}", "... on T {".repeat(depth)),
            ];
            for src in &documents {
                let error = parse(src, &ParseLimits::default()).unwrap_err();
                assert_eq!(
                    error.message,
                    "Syntax Error: Document contains more than 64 levels of nesting. Parsing aborted.",
                    "{}",
                    &src[..40]
                );
            }
        });
    }

    #[test]
    fn default_depth_fits_a_small_stack() {
        run_with_stack(256 * 1024, || {
            let src = format!("{}{}", "{a(x: [[{y: 1}]])".repeat(60), "}".repeat(60));
            let document = parse(&src, &ParseLimits::default()).unwrap();
            // Dropping the tree recurses as deep as parsing did.
            drop(document);
        });
    }
}

mod robustness {
    use super::*;

    const REALISTIC: &[&str] = &[
        r#"query HeroComparison($first: Int = 3, $ep: Episode = JEDI, $ids: [ID!]!) @cached(ttl: 60) {
  leftComparison: hero(episode: $ep) { ...comparisonFields }
  rightComparison: hero(episode: EMPIRE) { ...comparisonFields }
  search(text: "an", filter: {kinds: [HUMAN, DROID], after: null, score: -1.5e-3}) {
    __typename
    ... on Human { name height(unit: FOOT) }
    ... on Droid @include(if: true) { name primaryFunction }
  }
}

fragment comparisonFields on Character {
  name
  friendsConnection(first: $first) { totalCount edges { node { name } } }
}
"#,
        "mutation CreateReview($ep: Episode!, $review: ReviewInput = {stars: 5, commentary: \"\\u00e9\\uD83D\\uDE00 \\\"great\\\"\"}) {\r\n  createReview(episode: $ep, review: $review) { stars commentary }\r\n}\r\n",
        "# A subscription with a block string\nsubscription OnComment($repo: String!) {\n  commentAdded(repoFullName: $repo, note: \"\"\"\n    multi-line\n      \\\"\"\" text\n  \"\"\") { id content author { login } }\n}\n",
        "\u{FEFF}{ a, b, c: d(e: [1, 2.0, \"three\", FOUR, $five, {six: 6}]) @skip(if: $x) ...Frag } fragment Frag on T { z }",
    ];

    #[test]
    fn realistic_documents_parse() {
        for src in REALISTIC {
            parse_ok(src);
        }
    }

    #[test]
    fn every_prefix_and_suffix_is_handled() {
        for src in REALISTIC {
            for (i, _) in src.char_indices().chain([(src.len(), ' ')]) {
                let _ = parse(&src[..i], &ParseLimits::default());
                let _ = parse(&src[i..], &ParseLimits::default());
            }
        }
    }

    /// Deleting each character, or inserting a troublesome one at each position, must give
    /// a result, never a panic.
    #[test]
    fn single_edits_are_handled() {
        let insertions =
            ["\"", "\"\"\"", "\\", "\\u", "{", "}", "[", "(", "$", ".", "-", "0", "e", "\r", "é", "\u{FEFF}"];
        for src in REALISTIC {
            let boundaries: Vec<usize> = src.char_indices().map(|(i, _)| i).chain([src.len()]).collect();
            for window in boundaries.windows(2) {
                let deleted = format!("{}{}", &src[..window[0]], &src[window[1]..]);
                let _ = parse(&deleted, &ParseLimits::default());
            }
            for &i in &boundaries {
                for insertion in insertions {
                    let inserted = format!("{}{}{}", &src[..i], insertion, &src[i..]);
                    let _ = parse(&inserted, &ParseLimits::default());
                }
            }
        }
    }

    /// Random token soup from a fixed-seed generator, to reach combinations the edits miss.
    #[test]
    fn random_token_sequences_are_handled() {
        let pieces = [
            "{",
            "}",
            "(",
            ")",
            "[",
            "]",
            ":",
            "=",
            "!",
            "$",
            "@",
            "...",
            "|",
            "&",
            "a",
            "on",
            "query",
            "fragment",
            "true",
            "null",
            "1",
            "-0",
            "1.5e3",
            "\"s\"",
            "\"\\u{41}\"",
            "\"\"\"b\"\"\"",
            "\n",
            " ",
            "#c\n",
            ",",
            "\u{FEFF}",
            "é",
            "\"",
            "\\",
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let limits = ParseLimits { max_tokens: 200, max_depth: 8, max_bytes: 4096 };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let src: String = (0..len).map(|_| pieces[(next() % pieces.len() as u64) as usize]).collect();
            let _ = parse(&src, &limits);
        }
    }
}
