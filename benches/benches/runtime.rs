//! Runtime planning without a database: a cold plan (parse + validate + plan) and the
//! response assembly around precompiled SQL. The cached path is measured end to end by the
//! load script, since it needs a database round trip.

use criterion::{criterion_group, criterion_main, Criterion};
use exo_benches::examples_dir;
use exo_runtime::{AuthConfig, Config, Engine, RequestHead, System};

fn runtime(c: &mut Criterion) {
    let entry = examples_dir().join("todo/src/index.exo");
    let ir = exo_compiler::compile_project(&entry).ir.expect("todo compiles");
    let engine = Engine::new(
        System::new(ir),
        Config { auth: AuthConfig { jwt_secret: Some("s".into()), ..Default::default() }, ..Default::default() },
        Box::new(|_| None),
    );
    let claims = serde_json::json!({"sub": 1, "role": "admin", "exp": 4_000_000_000u64});
    let token = exo_runtime::jwt::sign_hs256(&claims, b"s");
    let headers = vec![("Authorization".to_string(), format!("Bearer {token}"))];
    let head = RequestHead { headers: &headers, client_ip: None, now: 1 };
    let vars = serde_json::Map::new();
    let queries = [
        ("pk", "{ todo(id: 1) { id title completed priority } }"),
        ("list", "{ todos(orderBy: {id: ASC}, limit: 10) { id title completed priority } }"),
        ("nested", "{ users { id name todos(orderBy: {id: ASC}) { id title } } }"),
    ];
    for (name, q) in queries {
        c.bench_function(&format!("plan-cold/{name}"), |b| b.iter(|| engine.plan_for(q, None, &vars, &head).unwrap()));
    }
    // The whole request path on a cached plan, with a database that answers at once: this is
    // exo's CPU per request beyond the round trip (context, cache lookup, bind, response).
    let body = br#"{"query": "{ todos(orderBy: {id: ASC}, limit: 10) { id title completed priority } }"}"#;
    block_on(engine.handle(body, &head, &mut NullDb));
    c.bench_function("request-cached/list", |b| b.iter(|| block_on(engine.handle(body, &head, &mut NullDb))));
    // Lists without `limit` (the root and a nested one), whose plans carry the list cap.
    let unbounded = br#"{"query": "{ users { id name todos(orderBy: {id: ASC}) { id title } } }"}"#;
    block_on(engine.handle(unbounded, &head, &mut NullDb));
    c.bench_function("request-cached/nested", |b| b.iter(|| block_on(engine.handle(unbounded, &head, &mut NullDb))));
    // The same request as a trusted document compiled ahead of time: by its full text (hashed
    // per request) and by `extensions.persistedQuery.sha256Hash` (no document at all).
    let list = "{ todos(orderBy: {id: ASC}, limit: 10) { id title completed priority } }";
    let mut trusted_ir = exo_compiler::compile_project(&entry).ir.expect("todo compiles");
    let hash = exo_runtime::trusted::sha256_hex(list);
    let doc =
        exo_runtime::trusted::compile(&System::new(trusted_ir.clone()), &hash, list).expect("the list query compiles");
    trusted_ir.trusted_documents.push(doc);
    let trusted = Engine::new(
        System::new(trusted_ir),
        Config { auth: AuthConfig { jwt_secret: Some("s".into()), ..Default::default() }, ..Default::default() },
        Box::new(|_| None),
    );
    let by_hash = format!(r#"{{"extensions": {{"persistedQuery": {{"version": 1, "sha256Hash": "{hash}"}}}}}}"#);
    assert!(block_on(trusted.handle(body, &head, &mut NullDb)).body.starts_with("{\"data\""));
    assert!(block_on(trusted.handle(by_hash.as_bytes(), &head, &mut NullDb)).body.starts_with("{\"data\""));
    assert_eq!(trusted.trusted_stats(), (2, 0), "both requests ran the precompiled plan");
    c.bench_function("request-trusted-text/list", |b| b.iter(|| block_on(trusted.handle(body, &head, &mut NullDb))));
    c.bench_function("request-trusted-hash/list", |b| {
        b.iter(|| block_on(trusted.handle(by_hash.as_bytes(), &head, &mut NullDb)))
    });
    c.bench_function("jwt-verify", |b| b.iter(|| exo_runtime::jwt::verify_hs256(&token, b"s", 1).unwrap()));
}

/// A database that answers every statement immediately with an empty JSON list.
struct NullDb;

impl exo_runtime::Db for NullDb {
    async fn query(&mut self, _: &str, _: &[Option<String>]) -> Result<Vec<Vec<Option<String>>>, exo_runtime::DbError> {
        Ok(vec![vec![Some("[]".into())]])
    }
    async fn execute(&mut self, _: &str) -> Result<(), exo_runtime::DbError> {
        Ok(())
    }
}

/// Polls a future that never waits (NullDb never does).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

criterion_group!(benches, runtime);
criterion_main!(benches);
