//! MCP `tools/call` under trusted-document enforcement, through the engine and a real
//! database: a document outside `trusted-documents/` is refused as over `/graphql`, a trusted
//! one answers exactly as `/graphql` does, and a trusted mutation is still outside the default
//! tool's profile.

use exo_runtime::env::Cors;
use exo_runtime::RequestHead;
use serde_json::{json, Value as Json};

use crate::common::{compile_example, database_for, engine, gql, now, token, PgDb};

const MY_TODOS: &str =
    "query MyTodos($done: Boolean) {\n  todos(where: {completed: {eq: $done}}, orderBy: {id: ASC}) { id title completed }\n}\n";
const ADD_TODO: &str =
    "mutation AddTodo($title: String!) {\n  createTodo(data: {title: $title}) { id title user { name } }\n}\n";
const SEED: &str = "mutation SeedUsers {\n  createUsers(data: [{name: \"Ann\"}, {name: \"Ben\"}]) { id }\n  createTodos(data: [\n    {title: \"Ann's\", user: {id: 1}},\n    {title: \"Ben's first\", user: {id: 2}},\n    {title: \"Ben's second\", completed: true, user: {id: 2}}\n  ]) { id }\n}\n";

/// One `tools/call` of `execute_query` as the caller with `claims`; the tool result.
async fn call(engine: &exo_runtime::Engine, db: &mut PgDb, claims: Json, query: &str, variables: Json) -> Json {
    let headers = vec![("Authorization".to_string(), format!("Bearer {}", token(claims)))];
    let head = RequestHead { headers: &headers, client_ip: Some("127.0.0.1"), now: now() };
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": { "name": "execute_query", "arguments": { "query": query, "variables": variables } } });
    let r = engine.handle_mcp("POST", body.to_string().as_bytes(), &head, &Cors::None, db).await;
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_str::<Json>(&r.body).unwrap()["result"].clone()
}

#[tokio::test]
async fn tools_call_follows_trusted_document_enforcement() {
    let ir = compile_example("trusted-documents");
    let (_db, mut db) = database_for(&ir, "exo_it_mcp_trusted").await;
    let engine = engine(ir);
    let admin = json!({ "sub": 1, "role": "admin" });
    let seeded = gql(&engine, &mut db, SEED, json!({}), Some(admin.clone())).await;
    assert!(seeded.get("errors").is_none(), "{seeded}");

    // Not a trusted document: refused, and the text is the one /graphql gives.
    let r = call(&engine, &mut db, admin.clone(), "{ todos { id } }", json!({})).await;
    assert_eq!(r["isError"], true);
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("This document is not trusted"), "{text}");
    assert_eq!(
        serde_json::from_str::<Json>(text).unwrap(),
        gql(&engine, &mut db, "{ todos { id } }", json!({}), Some(admin.clone())).await
    );

    // A trusted document answers as over /graphql, for each caller.
    for claims in [admin.clone(), json!({ "sub": 2 })] {
        let r = call(&engine, &mut db, claims.clone(), MY_TODOS, json!({ "done": false })).await;
        assert_eq!(r["isError"], false, "{r}");
        let over_graphql = gql(&engine, &mut db, MY_TODOS, json!({ "done": false }), Some(claims)).await;
        assert_eq!(serde_json::from_str::<Json>(r["content"][0]["text"].as_str().unwrap()).unwrap(), over_graphql);
    }
    let r = call(&engine, &mut db, json!({ "sub": 2 }), MY_TODOS, json!({ "done": false })).await;
    assert_eq!(
        serde_json::from_str::<Json>(r["content"][0]["text"].as_str().unwrap()).unwrap(),
        json!({ "data": { "todos": [{ "id": 2, "title": "Ben's first", "completed": false }] } })
    );

    // Trusted, but a mutation: the default tool offers queries only.
    let r = call(&engine, &mut db, admin.clone(), ADD_TODO, json!({ "title": "x" })).await;
    assert_eq!(r["isError"], true);
    assert!(r["content"][0]["text"].as_str().unwrap().contains("The mutation `createTodo` is not available"), "{r}");
    let count = gql(&engine, &mut db, MY_TODOS, json!({}), Some(admin)).await;
    assert_eq!(count["data"]["todos"].as_array().unwrap().len(), 3, "{count}");
}
