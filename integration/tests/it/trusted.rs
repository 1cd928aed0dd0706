//! Trusted documents end to end: the `trusted-documents` example's operations run from their
//! precompiled plans (by text and by persisted-query hash) against Postgres, other documents
//! are refused unless enforcement is off or the playground bypass applies, and every
//! precompiled plan is snapshotted with its SQL re-parsed by sqlparser.

use exo_ir::plan::{Step, TrustedDep, TrustedOutcome, TrustedRoot};
use exo_runtime::{AuthConfig, Config, Engine, Introspection, RequestHead, System};
use serde_json::{json, Value as Json};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::common::*;

const MY_TODOS: &str = "query MyTodos($done: Boolean) {\n  todos(where: {completed: {eq: $done}}, orderBy: {id: ASC}) { id title completed }\n}\n";

fn engine_with(ir: exo_ir::Ir, enforce: bool, playground_bypass: bool) -> Engine {
    let config = Config {
        auth: AuthConfig { jwt_secret: Some(JWT_SECRET.into()), ..Default::default() },
        introspection: Introspection::Enabled,
        enforce_trusted_documents: enforce,
        playground_bypass,
        ..Default::default()
    };
    Engine::new(System::new(ir), config, Box::new(|_| None))
}

async fn post(engine: &Engine, db: &mut PgDb, body: Json, claims: Option<Json>, extra: &[(&str, &str)]) -> Json {
    let mut headers: Vec<(String, String)> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if let Some(c) = claims {
        headers.push(("Authorization".into(), format!("Bearer {}", token(c))));
    }
    let head = RequestHead { headers: &headers, client_ip: None, now: now() };
    let resp = engine.handle(body.to_string().as_bytes(), &head, db).await;
    serde_json::from_str(&resp.body).unwrap()
}

fn seed_document(ir: &exo_ir::Ir) -> String {
    ir.trusted_documents
        .iter()
        .find(|d| d.document.contains("SeedUsers"))
        .expect("the seed is trusted")
        .document
        .clone()
}

#[tokio::test]
async fn trusted_operations_run_their_precompiled_plans() {
    let ir = compile_example("trusted-documents");
    let seed = seed_document(&ir);
    let (_guard, mut db) = database_for(&ir, "trusted").await;
    let engine = engine_with(ir, true, false);
    let admin = json!({"sub": 1, "role": "admin"});
    let seeded = post(&engine, &mut db, json!({ "query": seed }), Some(admin.clone()), &[]).await;
    assert!(seeded.get("errors").is_none(), "{seeded}");

    // By persisted-query hash: no document in the request at all.
    let hash = exo_runtime::trusted::sha256_hex(MY_TODOS);
    let by_hash =
        json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": hash}}, "variables": {"done": false}});
    let ben = post(&engine, &mut db, by_hash.clone(), Some(json!({"sub": 2})), &[]).await;
    assert_eq!(ben, json!({"data": {"todos": [{"id": 2, "title": "Ben's first", "completed": false}]}}));
    let ann = post(&engine, &mut db, by_hash, Some(admin.clone()), &[]).await;
    assert_eq!(ann["data"]["todos"].as_array().map(Vec::len), Some(2), "{ann}");
    // By text, a null variable (another precompiled shape).
    let all =
        post(&engine, &mut db, json!({"query": MY_TODOS, "variables": {"done": null}}), Some(admin.clone()), &[]).await;
    assert_eq!(all, json!({"data": {"todos": []}}), "eq: null selects rows whose completed is null: none");
    assert_eq!(engine.trusted_stats(), (4, 0), "every trusted request ran a precompiled plan");

    // An unknown hash, and a document that is not trusted.
    let unknown = json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "00".repeat(32)}}});
    let r = post(&engine, &mut db, unknown, None, &[]).await;
    assert_eq!(r["errors"][0]["message"], "PersistedQueryNotFound");
    let r = post(
        &engine,
        &mut db,
        json!({"query": "{ todos { id } }"}),
        Some(admin.clone()),
        &[("_exo_playground", "true")],
    )
    .await;
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("not trusted"), "{r}");
    let r = post(&engine, &mut db, json!({"query": "{ __schema { queryType { name } } }"}), None, &[]).await;
    assert_eq!(r["data"]["__schema"]["queryType"]["name"], "Query", "introspection stays open");
}

#[tokio::test]
async fn enforcement_can_be_relaxed() {
    let ir = compile_example("trusted-documents");
    let seed = seed_document(&ir);
    let (_guard, mut db) = database_for(&ir, "trusted_relaxed").await;
    let admin = json!({"sub": 1, "role": "admin"});
    // `exo dev` / `exo yolo`: the playground may run anything, other clients may not.
    let dev = engine_with(ir.clone(), true, true);
    post(&dev, &mut db, json!({ "query": seed }), Some(admin.clone()), &[]).await;
    let q = json!({"query": "{ todosAgg { id { count } } }"});
    let r = post(&dev, &mut db, q.clone(), Some(admin.clone()), &[("_exo_playground", "true")]).await;
    assert_eq!(r, json!({"data": {"todosAgg": {"id": {"count": 3}}}}));
    let r = post(&dev, &mut db, q.clone(), Some(admin.clone()), &[]).await;
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("not trusted"), "{r}");
    // `_EXO_ENFORCE_TRUSTED_DOCUMENTS=false`.
    let open = engine_with(ir, false, false);
    let r = post(&open, &mut db, q, Some(admin), &[]).await;
    assert_eq!(r, json!({"data": {"todosAgg": {"id": {"count": 3}}}}));
}

#[test]
fn precompiled_plans_snapshot_and_parse() {
    let ir = compile_example("trusted-documents");
    let mut seen = std::collections::HashSet::new();
    for doc in ir.trusted_documents.iter().filter(|d| seen.insert(d.document.clone())) {
        for op in &doc.operations {
            let name = op.name.clone().unwrap_or_else(|| "anonymous".into());
            let mut out = String::new();
            for v in &op.variants {
                out.push_str(&format!("-- shape `{}`; context: {}\n", v.shape, deps_text(&ir, &v.deps)));
                match &op.plans[v.plan as usize] {
                    TrustedOutcome::Error { message, .. } => out.push_str(&format!("error: {message}\n\n")),
                    TrustedOutcome::Fields { fields, .. } => {
                        for f in fields {
                            let TrustedRoot::Sql { steps, .. } = &f.root else { continue };
                            for s in steps {
                                let sql = match s {
                                    Step::Json(st)
                                    | Step::CollectKeys(st)
                                    | Step::CollectSlots(st)
                                    | Step::Check(st) => st.sql.clone(),
                                };
                                Parser::parse_sql(&PostgreSqlDialect {}, &sql)
                                    .unwrap_or_else(|e| panic!("{name}: sqlparser rejects\n{sql}\n{e}"));
                                out.push_str(&sql);
                                out.push_str(";\n");
                            }
                        }
                        out.push('\n');
                    }
                }
            }
            insta::with_settings!({snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/trusted"), prepend_module_to_snapshot => false, description => doc.document.as_str()}, {
                insta::assert_snapshot!(format!("trusted-documents_{name}"), out);
            });
        }
    }
}

fn deps_text(ir: &exo_ir::Ir, deps: &[TrustedDep]) -> String {
    if deps.is_empty() {
        return "any".into();
    }
    let name = |c: &u32, f: &u32| {
        let c = &ir.contexts[*c as usize];
        format!("{}.{}", c.name, c.fields[*f as usize].name)
    };
    deps.iter()
        .map(|d| match d {
            TrustedDep::Value { context, field, json } => format!("{} = {json}", name(context, field)),
            TrustedDep::Null { context, field, is_null } => {
                format!("{} {}", name(context, field), if *is_null { "null" } else { "not null" })
            }
            TrustedDep::List { context, field, is_list } => {
                format!("{} {}", name(context, field), if *is_list { "list" } else { "not a list" })
            }
            TrustedDep::Other { context, field, excluded, .. } => {
                format!("{} none of [{}]", name(context, field), excluded.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
