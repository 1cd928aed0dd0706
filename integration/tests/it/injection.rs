//! Hostile strings in every value position: filter values, mutation inputs, typed ordering
//! and paging arguments, a JWT claim, a header and a cookie read by contexts. Each must come
//! back byte for byte or select exactly the rows a Rust model of the table says, and the table
//! (read back as the superuser) must hold exactly what the test wrote, nothing more or less.

use std::collections::BTreeMap;

use exo_runtime::{Db, Engine, RequestHead};
use serde_json::{json, Value as Json};

use crate::common::*;

fn hostile() -> Vec<String> {
    let mut v: Vec<String> = [
        "'",
        "''",
        "\"",
        "' OR '1'='1",
        "x'; DROP TABLE notes; --",
        "\"; DROP TABLE notes; --",
        "$1",
        "$1::text",
        "$2) OR (1=1",
        "\\",
        "\\'",
        "\\\\'; SELECT pg_sleep(0); --",
        "E'\\x41'",
        "%",
        "_",
        "50%_off",
        "*/ --",
        "{\"tenant\": \"t1\"}",
        "[1, 2, {\"a\": null}]",
        "null",
        "true",
        "héllo wörld — 🚀 ﷽ \u{202e}txt.exe",
        "tab\there\nnewline\r\n",
        "  padded  ",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("x".repeat(100_000));
    v.push("'".repeat(5_000));
    v
}

/// Sends one request with explicit headers (the JWT, if any, is already among them).
async fn request(engine: &Engine, db: &mut PgDb, headers: &[(String, String)], query: &str, variables: Json) -> Json {
    let head = RequestHead { headers, client_ip: Some("127.0.0.1"), now: now() };
    let body = json!({ "query": query, "variables": variables }).to_string();
    let resp = engine.handle(body.as_bytes(), &head, db).await;
    serde_json::from_str(&resp.body).unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", resp.body))
}

fn tenant(t: &str) -> Vec<(String, String)> {
    vec![("X-Tenant".to_string(), t.to_string())]
}

/// id -> (tenant, owner, secret, body, rank), as read by the superuser.
type Table = BTreeMap<i64, (String, String, String, String, i64)>;

async fn table(db: &mut PgDb) -> Table {
    let rows = db.query("SELECT id::text, tenant, owner, secret, body, rank::text FROM notes", &[]).await.unwrap();
    rows.into_iter()
        .map(|r| {
            let s = |i: usize| r[i].clone().unwrap();
            (s(0).parse().unwrap(), (s(1), s(2), s(3), s(4), s(5).parse().unwrap()))
        })
        .collect()
}

fn ids(r: &Json, field: &str) -> Vec<i64> {
    r["data"][field]
        .as_array()
        .unwrap_or_else(|| panic!("no `{field}` list: {}", truncate(r)))
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect()
}

fn truncate(v: &Json) -> String {
    let s = v.to_string();
    if s.len() > 400 {
        format!("{}...", &s[..s.char_indices().nth(400).map_or(s.len(), |(i, _)| i)])
    } else {
        s
    }
}

#[tokio::test(flavor = "current_thread")]
async fn hostile_values_are_only_ever_values() {
    let compiled = exo_compiler::compile_project(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/models/notes/src/index.exo"),
    );
    let ir = compiled.ir.unwrap_or_else(|| {
        panic!("{}", exo_compiler::diag::render(&compiled.diagnostics, &compiled.sources, 100, false))
    });
    let (_guard, mut db) = database_for(&ir, "injection").await;
    let engine = engine(ir);
    let mut model = Table::new();

    // A bystander row that must never change.
    let r = request(
        &engine,
        &mut db,
        &tenant("t1"),
        r#"mutation { createNote(data: {tenant: "t1", owner: "o1", secret: "s1", body: "plain"}) { id } }"#,
        json!({}),
    )
    .await;
    assert_eq!(r, json!({"data": {"createNote": {"id": 1}}}));
    model.insert(1, ("t1".into(), "o1".into(), "s1".into(), "plain".into(), 0));

    let create = "mutation($d: NoteCreationInput!) { createNote(data: $d) { id tenant owner secret body } }";
    for (i, h) in hostile().iter().enumerate() {
        let label = format!("hostile #{i} {:?}", h.chars().take(40).collect::<String>());
        // Mutation input (every string column), with the tenant header set to the same value
        // so the creation rule (self.tenant == header) holds only through a bound parameter.
        let d = json!({"tenant": h, "owner": h, "secret": h, "body": h});
        let r = request(&engine, &mut db, &tenant(h), create, json!({"d": d})).await;
        let id = r["data"]["createNote"]["id"].as_i64().unwrap_or_else(|| panic!("{label}: {}", truncate(&r)));
        assert_eq!(
            r["data"]["createNote"],
            json!({"id": id, "tenant": h, "owner": h, "secret": h, "body": h}),
            "{label}"
        );
        model.insert(id, (h.clone(), h.clone(), h.clone(), h.clone(), 0));

        // Filter values: `eq` finds exactly this row; the bystander is visible through an
        // unrelated `neq` only to its own tenant.
        let r = request(&engine, &mut db, &tenant(h),
            "query($h: String!) { hit: notes(where: {body: {eq: $h}}) { id } miss: notes(where: {body: {neq: $h}}) { id } }",
            json!({"h": h})).await;
        assert_eq!(ids(&r, "hit"), vec![id], "{label}: {}", truncate(&r));
        let expected_miss: Vec<i64> = model.iter().filter(|(_, n)| n.0 == *h && n.3 != *h).map(|(k, _)| *k).collect();
        assert_eq!(ids(&r, "miss"), expected_miss, "{label}");

        // The same value written inline as a GraphQL string literal.
        let literal = serde_json::to_string(h).unwrap();
        let r = request(
            &engine,
            &mut db,
            &tenant(h),
            &format!("{{ notes(where: {{owner: {{eq: {literal}}}}}) {{ id body }} }}"),
            json!({}),
        )
        .await;
        assert_eq!(r["data"]["notes"], json!([{"id": id, "body": h}]), "{label}: {}", truncate(&r));

        // A JWT claim: `self.owner == Caller.id` admits this row and only rows owned by `h`.
        let token = token(json!({"sub": h}));
        let headers = vec![("Authorization".to_string(), format!("Bearer {token}"))];
        let r = request(&engine, &mut db, &headers, "{ notes(orderBy: {id: ASC}) { id } }", json!({})).await;
        let expected: Vec<i64> = model.iter().filter(|(_, n)| n.1 == *h).map(|(k, _)| *k).collect();
        assert_eq!(ids(&r, "notes"), expected, "{label} as JWT sub: {}", truncate(&r));

        // A cookie (values cannot hold `;`, and surrounding blanks are not part of them).
        if !h.contains(';') && !h.contains(['\r', '\n']) && h.trim() == h && !h.is_empty() {
            let headers = vec![("Cookie".to_string(), format!("other=1; session={h}"))];
            let r = request(&engine, &mut db, &headers, "{ notes(orderBy: {id: ASC}) { id } }", json!({})).await;
            let expected: Vec<i64> = model.iter().filter(|(_, n)| n.2 == *h).map(|(k, _)| *k).collect();
            assert_eq!(ids(&r, "notes"), expected, "{label} as cookie: {}", truncate(&r));
        }

        // Updates and deletes select by hostile values and write hostile values back.
        let r = request(&engine, &mut db, &tenant(h),
            "mutation($h: String!, $b: String!) { updateNotes(where: {secret: {eq: $h}}, data: {body: $b, rank: 7}) { id body } }",
            json!({"h": h, "b": format!("{h}{h}")})).await;
        assert_eq!(
            r["data"]["updateNotes"],
            json!([{"id": id, "body": format!("{h}{h}")}]),
            "{label}: {}",
            truncate(&r)
        );
        let row = model.get_mut(&id).unwrap();
        row.3 = format!("{h}{h}");
        row.4 = 7;
        // Another tenant's hostile header cannot reach the row.
        let r = request(
            &engine,
            &mut db,
            &tenant(&format!("{h}'")),
            "mutation($h: String!) { deleteNotes(where: {secret: {eq: $h}}) { id } }",
            json!({"h": h}),
        )
        .await;
        assert_eq!(r["data"]["deleteNotes"], json!([]), "{label}: {}", truncate(&r));

        assert_eq!(table(&mut db).await, model, "{label}: the table differs from what was written");
    }

    // Typed positions refuse strings with a validation error, before any SQL.
    let hostile_limit = request(
        &engine,
        &mut db,
        &tenant("t1"),
        "query($n: Int) { notes(limit: $n) { id } }",
        json!({"n": "1; DROP TABLE notes"}),
    )
    .await;
    assert!(
        hostile_limit["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Argument 'limit' is not of a valid type")),
        "{hostile_limit}"
    );
    let hostile_rank = request(
        &engine,
        &mut db,
        &tenant("t1"),
        "query($r: Int) { notes(where: {rank: {eq: $r}}) { id } }",
        json!({"r": "0 OR 1=1"}),
    )
    .await;
    assert!(
        hostile_rank["errors"][0]["message"].as_str().is_some_and(|m| m.contains("Expected 'Int', got 'String'")),
        "{hostile_rank}"
    );
    let hostile_order = request(
        &engine,
        &mut db,
        &tenant("t1"),
        "query($o: [NoteOrdering!]) { notes(orderBy: $o) { id } }",
        json!({"o": [{"id": "ASC; DROP TABLE notes"}]}),
    )
    .await;
    assert!(hostile_order["errors"][0]["message"].is_string(), "{hostile_order}");
    let literal_order =
        request(&engine, &mut db, &tenant("t1"), "{ notes(orderBy: {id: DROP}) { id } }", json!({})).await;
    assert!(literal_order["errors"][0]["message"].is_string(), "{literal_order}");
    // Extreme but well-typed paging values are answered, not failed; a `limit` above the list
    // cap (`EXO_MAX_LIST_ROWS`) is the cap's clear error.
    let r = request(
        &engine,
        &mut db,
        &tenant("t1"),
        "{ a: notes(limit: 1000, offset: 0) { id } b: notes(offset: 2147483647) { id } c: notes(limit: 0) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(r, json!({"data": {"a": [{"id": 1}], "b": [], "c": []}}));
    let r = request(&engine, &mut db, &tenant("t1"), "{ notes(limit: 2147483647) { id } }", json!({})).await;
    assert!(r["errors"][0]["message"].as_str().is_some_and(|m| m.contains("`EXO_MAX_LIST_ROWS`")), "{r}");
    let r = request(&engine, &mut db, &tenant("t1"), "{ notes(limit: -1) { id } }", json!({})).await;
    assert!(r["errors"][0]["message"].is_string(), "a negative limit must be a clear error: {r}");

    // A hostile header name or a header with no value changes nothing either.
    let headers =
        vec![("X-Tenant".to_string(), String::new()), ("X-'; DROP TABLE notes; --".to_string(), "1".to_string())];
    let r = request(&engine, &mut db, &headers, "{ notes { id } }", json!({})).await;
    assert!(r.get("data").is_some() || r.get("errors").is_some(), "{r}");
    assert_eq!(table(&mut db).await, model, "the table changed at the end");
    let tables = db.query("SELECT count(*)::text FROM pg_tables WHERE tablename = 'notes'", &[]).await.unwrap();
    assert_eq!(tables[0][0].as_deref(), Some("1"));
}
