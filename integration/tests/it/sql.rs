//! The SQL the planner generates: snapshotted per operation (in the planner's pretty layout)
//! and re-parsed with sqlparser's PostgreSQL dialect, so a malformed statement fails here
//! rather than in Postgres.

use exo_runtime::plan::{RootPlan, Step};
use exo_runtime::RequestHead;
use serde_json::json;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::common::*;

const OPERATIONS: &[(&str, &str)] = &[
    ("todo_by_pk", "{ todo(id: 1) { id title completed priority user { id name } } }"),
    (
        "todos_filtered",
        r#"{ todos(where: {and: [{completed: {eq: false}}, {title: {ilike: "%a%"}}, {not: {priority: {eq: LOW}}}]}, orderBy: [{user: [{name: DESC}]}, {id: ASC}], limit: 5, offset: 2) { id } }"#,
    ),
    ("todos_agg", "{ todosAgg(where: {completed: {eq: true}}) { id { count } } }"),
    ("users_nested", "{ users { name todos(orderBy: {id: DESC}, limit: 3) { title } todosAgg { id { count } } } }"),
    ("user_by_email", r#"{ userByEmail(email: "a@b") { id } }"#),
    ("users_having_todos", r#"{ users(where: {todos: {completed: {eq: true}}}) { id } }"#),
    (
        "create_todos",
        r#"mutation { createTodos(data: [{title: "a"}, {title: "b", priority: HIGH, user: {id: 1}}]) { id } }"#,
    ),
    ("update_todo", r#"mutation { updateTodo(id: 1, data: {title: "x"}) { id title } }"#),
    ("delete_todos", r#"mutation { deleteTodos(where: {title: {eq: "x"}}) { id } }"#),
];

fn statements(plan: &exo_runtime::plan::Plan) -> Vec<String> {
    let mut out = vec![];
    for f in &plan.fields {
        if let RootPlan::Sql { steps, .. } = &f.plan {
            for s in steps {
                out.push(match s {
                    Step::Json(st) | Step::CollectKeys(st) | Step::CollectSlots(st) | Step::Check(st) => st.sql.clone(),
                });
            }
        }
    }
    out
}

#[test]
fn todo_sql_snapshots_parse() {
    // Planned in the pretty layout, as the snapshots show it.
    let mut system = exo_runtime::System::new(compile_example("todo"));
    system.sql_layout = exo_runtime::sql::Layout::Pretty;
    let engine = engine_with(system);
    for (role, claims) in [("admin", json!({"sub": 1, "role": "admin"})), ("user", json!({"sub": 2}))] {
        let headers = vec![("Authorization".to_string(), format!("Bearer {}", token(claims)))];
        let head = RequestHead { headers: &headers, client_ip: None, now: now() };
        for (name, op) in OPERATIONS {
            let plan =
                engine.plan_for(op, None, &serde_json::Map::new(), &head).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let sqls = statements(&plan);
            assert!(!sqls.is_empty(), "{name}: no SQL");
            for sql in &sqls {
                Parser::parse_sql(&PostgreSqlDialect {}, sql)
                    .unwrap_or_else(|e| panic!("{name} ({role}): sqlparser rejects\n{sql}\n{e}"));
            }
            insta::with_settings!({snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/sql"), prepend_module_to_snapshot => false, description => *op}, {
                insta::assert_snapshot!(format!("todo_{role}_{name}"), sqls.join(";\n\n"));
            });
        }
    }
}
