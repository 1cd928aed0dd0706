//! The todo example end to end through the engine: mutations, queries, filters, ordering,
//! aggregates, nested relations, access rules, errors and the plan cache.

use serde_json::json;

use crate::common::*;

const SEED: &str = r#"mutation {
  createUsers(data: [
    {email: "alice@example.com", name: "Alice"},
    {email: "bob@example.com", name: "Bob"},
    {email: "carol@example.com", name: "Carol"}
  ]) { id }
  createTodos(data: [
    {title: "Buy milk", user: {id: 2}},
    {title: "Write report", completed: true, priority: HIGH, user: {id: 2}},
    {title: "Call mom", priority: LOW, user: {id: 2}},
    {title: "Plan trip", priority: HIGH, user: {id: 3}},
    {title: "Fix bike", completed: true, user: {id: 3}},
    {title: "Review budget", priority: HIGH, user: {id: 1}}
  ]) { id }
}"#;

fn admin() -> Option<serde_json::Value> {
    Some(json!({"sub": 1, "role": "admin"}))
}

fn bob() -> Option<serde_json::Value> {
    Some(json!({"sub": 2}))
}

#[tokio::test(flavor = "current_thread")]
async fn todo_end_to_end() {
    let ir = compile_example("todo");
    let (_guard, mut db) = database_for(&ir, "todo_e2e").await;
    let engine = engine(ir);

    let r = gql(&engine, &mut db, SEED, json!({}), admin()).await;
    assert_eq!(
        r,
        json!({"data": {"createUsers": [{"id": 1}, {"id": 2}, {"id": 3}], "createTodos": [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}, {"id": 5}, {"id": 6}]}})
    );

    // Bob sees only his own todos; defaults were applied by the database.
    let r = gql(
        &engine,
        &mut db,
        "{ todos(orderBy: {id: ASC}) { id title completed priority user { name } } }",
        json!({}),
        bob(),
    )
    .await;
    assert_eq!(
        r,
        json!({"data": {"todos": [
            {"id": 1, "title": "Buy milk", "completed": false, "priority": "MEDIUM", "user": {"name": "Bob"}},
            {"id": 2, "title": "Write report", "completed": true, "priority": "HIGH", "user": {"name": "Bob"}},
            {"id": 3, "title": "Call mom", "completed": false, "priority": "LOW", "user": {"name": "Bob"}}
        ]}})
    );

    // Filters: and/or/not, enums, strings, relation predicates, ordering, limit and offset.
    let r = gql(
        &engine,
        &mut db,
        r#"{ todos(where: {and: [{or: [{priority: {eq: HIGH}}, {title: {startsWith: "Fix"}}]}, {not: {user: {name: {eq: "Alice"}}}}]},
                   orderBy: [{priority: DESC}, {title: ASC}], limit: 2, offset: 1) { title } }"#,
        json!({}),
        admin(),
    )
    .await;
    // HIGH and "Fix bike" (MEDIUM), excluding Alice's: Write report, Plan trip (HIGH), Fix bike (MEDIUM).
    assert_eq!(r, json!({"data": {"todos": [{"title": "Write report"}, {"title": "Fix bike"}]}}));

    // Ordering by a relation field, variables, aliases and several root fields.
    let r = gql(
        &engine,
        &mut db,
        r#"query($done: Boolean!, $n: Int) { done: todos(where: {completed: {eq: $done}}, orderBy: [{user: [{name: DESC}]}, {id: ASC}], limit: $n) { id }
                  count: todosAgg(where: {completed: {eq: $done}}) { id { count } } }"#,
        json!({"done": true, "n": 10}),
        admin(),
    )
    .await;
    assert_eq!(r, json!({"data": {"done": [{"id": 5}, {"id": 2}], "count": {"id": {"count": 2}}}}));

    // Nested one-to-many with its own arguments, and a relation aggregate.
    let r = gql(
        &engine,
        &mut db,
        r#"{ user(id: 2) { name todos(where: {completed: {eq: false}}, orderBy: {title: DESC}) { title } todosAgg { id { count } } } }"#,
        json!({}),
        admin(),
    )
    .await;
    assert_eq!(
        r,
        json!({"data": {"user": {"name": "Bob", "todos": [{"title": "Call mom"}, {"title": "Buy milk"}], "todosAgg": {"id": {"count": 3}}}}})
    );

    // Unique lookup; a row the caller cannot read is null.
    let r = gql(
        &engine,
        &mut db,
        r#"{ a: userByEmail(email: "bob@example.com") { id } b: userByEmail(email: "carol@example.com") { id } }"#,
        json!({}),
        bob(),
    )
    .await;
    assert_eq!(r, json!({"data": {"a": {"id": 2}, "b": null}}));

    // The owner defaults to the caller; the create rule holds for Bob's own todo.
    let r = gql(
        &engine,
        &mut db,
        r#"mutation { createTodo(data: {title: "New"}) { id title user { id } } }"#,
        json!({}),
        bob(),
    )
    .await;
    assert_eq!(r, json!({"data": {"createTodo": {"id": 7, "title": "New", "user": {"id": 2}}}}));

    // Bob cannot attach a todo to Carol: the whole request rolls back.
    let r = gql(
        &engine,
        &mut db,
        r#"mutation { a: createTodo(data: {title: "Mine"}) { id } b: createTodo(data: {title: "Sneaky", user: {id: 3}}) { id } }"#,
        json!({}),
        bob(),
    )
    .await;
    assert_eq!(r, json!({"errors": [{"message": "Not authorized"}]}));
    let r = gql(&engine, &mut db, "{ todosAgg { id { count } } }", json!({}), admin()).await;
    assert_eq!(r, json!({"data": {"todosAgg": {"id": {"count": 7}}}}));

    // Updates filter by the rule: Bob's update of Carol's todo gives null.
    let r =
        gql(&engine, &mut db, r#"mutation { updateTodo(id: 4, data: {title: "x"}) { id } }"#, json!({}), bob()).await;
    assert_eq!(r, json!({"data": {"updateTodo": null}}));
    let r = gql(
        &engine,
        &mut db,
        r#"mutation { updateTodo(id: 1, data: {completed: true}) { id completed } }"#,
        json!({}),
        bob(),
    )
    .await;
    assert_eq!(r, json!({"data": {"updateTodo": {"id": 1, "completed": true}}}));
    // A list comes in the statement's order (no implicit ORDER BY): compare the ids as a set.
    let r =
        gql(&engine, &mut db, r#"mutation { deleteTodos(where: {completed: {eq: true}}) { id } }"#, json!({}), bob())
            .await;
    let mut ids: Vec<i64> = r["data"]["deleteTodos"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .filter_map(|t| t["id"].as_i64())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2], "{r}");

    // Anonymous callers have no id, so `self.user.id == AuthContext.id` holds for no row (a
    // missing context value equals nothing, as in Exograph): the rule depends on rows, so
    // they see an empty list rather than a refusal; users cannot create users.
    let r = gql(&engine, &mut db, "{ todos { id } }", json!({}), None).await;
    assert_eq!(r, json!({"data": {"todos": []}}));
    let r =
        gql(&engine, &mut db, r#"mutation { createUser(data: {email: "x@y", name: "X"}) { id } }"#, json!({}), bob())
            .await;
    assert_eq!(r["errors"][0]["message"], "Not authorized");
}

#[tokio::test(flavor = "current_thread")]
async fn errors_are_graphql_errors() {
    let ir = compile_example("todo");
    let (_guard, mut db) = database_for(&ir, "todo_errors").await;
    let engine = engine(ir);
    let r = gql(&engine, &mut db, "{ todos { nope } }", json!({}), admin()).await;
    assert_eq!(
        r,
        json!({"errors": [{"message": "Field 'nope' is not valid for type 'Todo'", "locations": [{"line": 1, "column": 11}]}]})
    );
    let r = gql(&engine, &mut db, "{ todos { id ", json!({}), admin()).await;
    // Framed as Exograph frames it.
    assert_eq!(
        r["errors"][0]["message"],
        "Syntax error:\n --> 1:14\n  |\n1 | { todos { id \n  |              ^---\n  |\n  = expected name"
    );
    let r = gql(&engine, &mut db, "query($id: Int!) { todo(id: $id) { id } }", json!({"id": "x"}), admin()).await;
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Argument 'id' is not of a valid type. Expected 'Int', got 'String'"),
        "{r}"
    );
    let r =
        gql(&engine, &mut db, "{ users { todos { user { todos { user { todos { id } } } } } } }", json!({}), admin())
            .await;
    assert_eq!(r["errors"][0]["message"], "Selection set too deep");
    let r = gql(
        &engine,
        &mut db,
        "fragment A on Todo { ...B } fragment B on Todo { ...A } { todos { ...A } }",
        json!({}),
        admin(),
    )
    .await;
    assert!(r["errors"][0]["message"].as_str().unwrap().starts_with("Fragment cycle detected"), "{r}");
    let r = gql(&engine, &mut db, "{ todos(where: {priority: {eq: URGENT}}) { id } }", json!({}), admin()).await;
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("URGENT"), "{r}");
    // A forged token never authenticates.
    let forged = exo_runtime::jwt::sign_hs256(&json!({"sub": 1, "role": "admin", "exp": now() + 60}), b"wrong");
    let headers = vec![("Authorization".to_string(), format!("Bearer {forged}"))];
    let head = exo_runtime::RequestHead { headers: &headers, client_ip: None, now: now() };
    let resp = engine.handle(br#"{"query": "{ todos { id } }"}"#, &head, &mut db).await;
    // As Exograph: HTTP 200 with a GraphQL error, never an anonymous answer.
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"errors":[{"message":"Not authorized"}]}"#));
    // Expired beyond the 60 s of clock skew `exp` allows.
    let expired =
        exo_runtime::jwt::sign_hs256(&json!({"sub": 1, "role": "admin", "exp": now() - 120}), JWT_SECRET.as_bytes());
    let headers = vec![("Authorization".to_string(), format!("Bearer {expired}"))];
    let head = exo_runtime::RequestHead { headers: &headers, client_ip: None, now: now() };
    let resp = engine.handle(br#"{"query": "{ todos { id } }"}"#, &head, &mut db).await;
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"errors":[{"message":"Expired authentication"}]}"#));
    // An injection attempt is only ever a bound value.
    let r = gql(
        &engine,
        &mut db,
        r#"{ todos(where: {title: {eq: "x'; DROP TABLE todos; --"}}) { id } }"#,
        json!({}),
        admin(),
    )
    .await;
    assert_eq!(r, json!({"data": {"todos": []}}));
}

#[tokio::test(flavor = "current_thread")]
async fn cached_plans_rebind_values_and_respect_context() {
    let ir = compile_example("todo");
    let (_guard, mut db) = database_for(&ir, "todo_cache").await;
    let engine = engine(ir);
    gql(&engine, &mut db, SEED, json!({}), admin()).await;
    let q = "query($t: String!) { todos(where: {title: {eq: $t}}) { id } }";
    // Same document, different values and users: each answer is right for its request.
    assert_eq!(
        gql(&engine, &mut db, q, json!({"t": "Buy milk"}), admin()).await,
        json!({"data": {"todos": [{"id": 1}]}})
    );
    assert_eq!(
        gql(&engine, &mut db, q, json!({"t": "Plan trip"}), admin()).await,
        json!({"data": {"todos": [{"id": 4}]}})
    );
    assert_eq!(gql(&engine, &mut db, q, json!({"t": "Plan trip"}), bob()).await, json!({"data": {"todos": []}}));
    assert_eq!(
        gql(&engine, &mut db, q, json!({"t": "Buy milk"}), bob()).await,
        json!({"data": {"todos": [{"id": 1}]}})
    );
    assert_eq!(
        gql(&engine, &mut db, q, json!({"t": 3}), bob()).await["errors"][0]["message"]
            .as_str()
            .map(|m| m.contains("Expected 'String', got 'Number'")),
        Some(true)
    );
}
