//! Malformed values of every scalar type, in filters and in creation input, as variables
//! (first request and cached plan) and as literals: each is a GraphQL validation error that
//! names the value, never a database error ("Operation failed") or a panic.

use serde_json::json;

use crate::common::*;

const CASES: &[(&str, &str, &str)] = &[
    ("Int", "qty", r#""ten""#),
    // Int is 64-bit (as in Exograph); beyond that it is refused before any SQL.
    ("Int", "qty", "9300000000000000000"),
    ("Int", "qty", "1.5"),
    ("Float", "ratio", r#""x""#),
    ("Decimal", "amount", r#""12abc""#),
    ("Decimal", "amount", r#""1e5000000""#),
    ("String", "name", "5"),
    ("Boolean", "flag", r#""yes""#),
    ("Uuid", "ref", r#""not-a-uuid""#),
    ("LocalDate", "day", r#""2024-13-45""#),
    ("LocalDate", "day", r#""2023-02-29""#),
    ("LocalTime", "clock", r#""25:61:00""#),
    ("LocalDateTime", "stamp", r#""2024-02-30T10:00:00""#),
    ("Instant", "at", r#""2024-01-01T10:00:00+99:00""#),
    ("Instant", "at", r#""noon""#),
    ("Blob", "data", r#""%%%""#),
    ("Level", "level", r#""URGENT""#),
];

fn assert_validation_error(r: &serde_json::Value, what: &str, value: &str) {
    let message = r["errors"][0]["message"].as_str().unwrap_or_else(|| panic!("{what}: expected an error, got {r}"));
    assert!(r.get("data").is_none(), "{what}: {r}");
    assert_ne!(message, "Operation failed", "{what}: the database saw the value");
    let shown = value.trim_matches('"');
    // Exograph's conversion errors name the field and the type, not the value.
    let conversion = message.starts_with("Unable to convert input to the expected type");
    assert!(
        message.contains(shown) || message.contains("Expected") || conversion,
        "{what}: the message names the value: {message}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_scalar_values_are_validation_errors() {
    let ir = compile_example("scalar-filters");
    let (_guard, mut db) = database_for(&ir, "bad_input").await;
    let engine = engine(ir);
    for (ty, field, value) in CASES {
        let v: serde_json::Value = serde_json::from_str(value).unwrap();
        let filter = format!("query($v: {ty}) {{ samples(where: {{{field}: {{eq: $v}}}}) {{ id }} }}");
        let create = format!("mutation($v: {ty}) {{ createSample(data: {{label: \"x\", {field}: $v}}) {{ id }} }}");
        for q in [&filter, &create] {
            // The second request of a document reuses its cached plan and re-checks values.
            for round in ["first", "cached"] {
                let r = gql(&engine, &mut db, q, json!({ "v": v }), None).await;
                assert_validation_error(&r, &format!("{ty} {value} in {q} ({round})"), value);
                // Exograph's conversion errors (a Blob that is not base64) carry no location.
                let conversion =
                    r["errors"][0]["message"].as_str().is_some_and(|m| m.starts_with("Unable to convert input"));
                assert!(
                    r["errors"][0]["locations"].is_array() || conversion,
                    "{ty} {value} ({round}): no location in {r}"
                );
            }
        }
        // The same value written in the document (enums as names).
        let literal = if *ty == "Level" { value.trim_matches('"').to_string() } else { value.to_string() };
        let q = format!("{{ samples(where: {{{field}: {{eq: {literal}}}}}) {{ id }} }}");
        // `BlobFilter` is itself the value: `{data: "..."}`.
        let q = if *ty == "Blob" { format!("{{ samples(where: {{{field}: {literal}}}) {{ id }} }}") } else { q };
        let r = gql(&engine, &mut db, &q, json!({}), None).await;
        assert_validation_error(&r, &format!("{ty} {value} literal"), value);
    }
    // A bad value for a document whose plan is cached (from a good value) is reported the
    // same way, with its location.
    let q = "query($v: LocalDate) { samples(where: {day: {eq: $v}}) { id } }";
    assert_eq!(gql(&engine, &mut db, q, json!({"v": "2024-01-01"}), None).await, json!({"data": {"samples": []}}));
    let r = gql(&engine, &mut db, q, json!({"v": "2024-02-30"}), None).await;
    assert_validation_error(&r, "cached LocalDate", "2024-02-30");
    assert_eq!(r["errors"][0]["locations"], json!([{"line": 1, "column": 50}]), "{r}");
    // A Blob filter given an object instead of a base64 string.
    let r = gql(&engine, &mut db, r#"{ samples(where: {data: {eq: "AQID"}}) { id } }"#, json!({}), None).await;
    assert_validation_error(&r, "BlobFilter object", "Blob");
    // Nothing was created along the way.
    let r = gql(&engine, &mut db, "{ samplesAgg { id { count } } }", json!({}), None).await;
    assert_eq!(r, json!({"data": {"samplesAgg": {"id": {"count": 0}}}}));
}
