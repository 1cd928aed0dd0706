//! graphql-js (npm `graphql`) as a real client: it sends its standard introspection query,
//! rebuilds the schema with `buildClientSchema`, validates it and prints it; the result must
//! equal the SDL exo prints itself (`exo graphql schema`).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::common::*;

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js")
}

fn node(args: &[&str], stdin: &str) -> String {
    assert!(
        js_dir().join("node_modules/graphql").exists(),
        "graphql-js is not installed: run `npm ci --prefix integration/js` (scripts/install-toolchain.sh does)"
    );
    let mut child = Command::new("node")
        .arg(js_dir().join("graphql-client.mjs"))
        .args(args)
        .current_dir(js_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is installed");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "graphql-js failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn graphql_js_rebuilds_the_same_schema() {
    let query = node(&["query"], "");
    for name in ["todo", "concerts", "blog", "all-types", "composite-keys", "non-public-schema"] {
        let ir = compile_example(name);
        let expected = exo_compiler::sdl::print_sdl(&ir.graphql);
        let (_guard, mut db) = database_for(&ir, &format!("introspect_{}", name.replace('-', "_"))).await;
        let engine = engine(ir);
        let result = gql(&engine, &mut db, &query, json!({}), None).await;
        assert!(result.get("errors").is_none(), "{name}: introspection failed: {result}");
        let printed = node(&["sdl"], &result.to_string());
        assert_eq!(printed, expected, "{name}: graphql-js printSchema differs from exo's SDL");
    }
}
