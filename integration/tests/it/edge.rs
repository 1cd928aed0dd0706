//! The HTTP edge over a real socket: the hostile-request list (`hostile-requests.json`, also
//! sent to the Worker by `scripts/hostile.py`) against the native server, and the client address
//! `@clientIp` sees with and without trusted proxies.

use serde_json::{json, Value as Json};

use crate::common::*;
use crate::http_limits::{raw, serve_ir, Reply};

const LIST: &str = include_str!("hostile-requests.json");

/// A token signed with the test secret; `exp_offset` seconds from now.
fn signed(claims: Json, secret: &str, exp_offset: i64) -> String {
    let mut claims = claims;
    claims["exp"] = Json::from(now() as i64 + exp_offset);
    exo_runtime::jwt::sign_hs256(&claims, secret.as_bytes())
}

fn fill(text: &str) -> String {
    let admin = json!({"sub": 1, "role": "admin"});
    text.replace("{ADMIN}", &signed(admin.clone(), JWT_SECRET, 3600))
        .replace("{EXPIRED}", &signed(admin.clone(), JWT_SECRET, -3600))
        .replace("{FORGED}", &signed(admin, "another-secret", 3600))
}

/// The request's bytes as the list describes them.
fn body_of(entry: &Json) -> Vec<u8> {
    if let Some(json) = entry.get("json") {
        return json.to_string().into_bytes();
    }
    if let Some(hex) = entry["body_hex"].as_str() {
        return (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    }
    let body = entry["body"].as_str().unwrap_or("");
    match entry["body_size"].as_u64() {
        Some(size) => {
            let pad = size as usize - (body.len() - "{PAD}".len());
            body.replace("{PAD}", &"x".repeat(pad))
        }
        None => body.to_string(),
    }
    .into_bytes()
}

/// `body` in 64 KiB chunks, then the last chunk.
fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(64 * 1024) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Checks one answer against the list's expectation; returns what differs.
fn check(entry: &Json, r: &Reply) -> Vec<String> {
    let name = entry["name"].as_str().unwrap();
    let expect = &entry["expect"];
    let mut problems = vec![];
    if expect["status"].as_u64() != Some(u64::from(r.status)) {
        problems.push(format!("{name}: status {} (expected {}), body {}", r.status, expect["status"], r.body));
    }
    if let Some(json) = expect.get("json") {
        if &r.body != json {
            problems.push(format!("{name}: body {} (expected {json})", r.body));
        }
    }
    if let Some(part) = expect["error"].as_str() {
        let message = r.body["errors"][0]["message"].as_str().unwrap_or("");
        if !message.contains(part) || r.body.get("data").is_some() {
            problems.push(format!("{name}: body {} (expected an error containing {part:?})", r.body));
        }
    }
    for (header, value) in expect["headers"].as_object().into_iter().flatten() {
        let got = r.header(header);
        if got != value.as_str() {
            problems.push(format!("{name}: header `{header}` is {got:?} (expected {value})"));
        }
    }
    // Every error answer is JSON, whatever went wrong.
    if r.status >= 400 && r.header("content-type") != Some("application/json") && entry["method"] != "HEAD" {
        problems.push(format!("{name}: content type {:?}", r.header("content-type")));
    }
    problems
}

/// Every hostile request gets the listed answer from the native server, and none of the
/// refused mutations wrote anything (the list's last request counts the rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_the_listed_answers() {
    let list: Json = serde_json::from_str(LIST).expect("the list is JSON");
    let requests = list["requests"].as_array().expect("`requests`");
    assert!(requests.len() >= 30, "{} requests", requests.len());
    let server = serve_ir(
        compile_example("todo"),
        "edge_hostile",
        &[
            ("EXO_INTROSPECTION", "false"),
            ("EXO_JWT_SOURCE_COOKIE", "token"),
            ("EXO_CORS_DOMAINS", "https://app.example"),
            ("EXO_POSTGRES_READ_WRITE", "true"),
        ],
    )
    .await;
    let (client, conn) = tokio_postgres::connect(&server.db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client.batch_execute("INSERT INTO users (email, name) VALUES ('ann@example.com', 'Ann')").await.unwrap();

    let mut problems = vec![];
    for entry in requests {
        let body = body_of(entry);
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
            entry["method"].as_str().unwrap(),
            entry["path"].as_str().unwrap()
        );
        for h in entry["headers"].as_array().unwrap() {
            head.push_str(&format!("{}: {}\r\n", h[0].as_str().unwrap(), fill(h[1].as_str().unwrap())));
        }
        let body = if entry["chunked"] == true {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            chunked(&body)
        } else {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            body
        };
        let reply = raw(server.addr, head, body).await;
        problems.extend(check(entry, &reply));
    }
    // The database agrees with the last request: one todo, the control's.
    let rows = client.query("SELECT title FROM todos", &[]).await.unwrap();
    let titles: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(titles, ["control"]);
    assert!(
        problems.is_empty(),
        "{} of {} requests answered otherwise:\n{}",
        problems.len(),
        requests.len(),
        problems.join("\n")
    );
    server.shutdown().await;
}

/// `schema-examples/ok/client-ip`: each entry records `@clientIp`.
fn client_ip_model() -> exo_ir::Ir {
    compile_example("client-ip")
}

/// The address a request is recorded with, sent from 127.0.0.1 with `headers`.
async fn recorded_ip(addr: std::net::SocketAddr, headers: &[(&str, &str)]) -> Json {
    let body = json!({"query": "mutation { createEntry(data: {message: \"hi\"}) { ip } }"}).to_string();
    let mut head =
        "POST /graphql HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\n".to_string();
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let r = raw(addr, head, body.into_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"]["createEntry"]["ip"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ip_is_the_peer_unless_a_trusted_proxy_names_the_client() {
    let spoofed = [("X-Forwarded-For", "6.6.6.6"), ("Forwarded", "for=7.7.7.7")];
    let rw = ("EXO_POSTGRES_READ_WRITE", "true");

    // No trusted proxies: forwarding headers are anyone's to write, and are ignored.
    let server = serve_ir(client_ip_model(), "edge_ip_none", &[rw]).await;
    assert_eq!(recorded_ip(server.addr, &spoofed).await, json!("127.0.0.1"));
    assert_eq!(recorded_ip(server.addr, &[]).await, json!("127.0.0.1"));
    server.shutdown().await;

    // Trusted proxies that do not include the peer: still the peer.
    let server =
        serve_ir(client_ip_model(), "edge_ip_other", &[rw, ("EXO_TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8")]).await;
    assert_eq!(recorded_ip(server.addr, &spoofed).await, json!("127.0.0.1"));
    server.shutdown().await;

    // The peer is a trusted proxy: the rightmost address it did not vouch for. Entries a client
    // wrote sit to the left of what the proxy appended and are passed over.
    let server = serve_ir(client_ip_model(), "edge_ip_trusted", &[rw, ("EXO_TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    assert_eq!(recorded_ip(server.addr, &[("X-Forwarded-For", "198.51.100.7")]).await, json!("198.51.100.7"));
    assert_eq!(recorded_ip(server.addr, &[("X-Forwarded-For", "6.6.6.6, 198.51.100.7")]).await, json!("198.51.100.7"));
    assert_eq!(
        recorded_ip(server.addr, &[("X-Forwarded-For", "198.51.100.7, 127.0.0.2")]).await,
        json!("198.51.100.7")
    );
    // `Forwarded` is not the configured header here.
    assert_eq!(recorded_ip(server.addr, &[("Forwarded", "for=7.7.7.7")]).await, json!("127.0.0.1"));
    assert_eq!(recorded_ip(server.addr, &[]).await, json!("127.0.0.1"));
    server.shutdown().await;

    // A proxy that writes RFC 7239 `Forwarded`.
    let server = serve_ir(
        client_ip_model(),
        "edge_ip_forwarded",
        &[rw, ("EXO_TRUSTED_PROXIES", "127.0.0.1"), ("EXO_FORWARDED_HEADER", "forwarded")],
    )
    .await;
    let headers = [("Forwarded", r#"for="[2001:db8::7]:4711";proto=https"#), ("X-Forwarded-For", "6.6.6.6")];
    assert_eq!(recorded_ip(server.addr, &headers).await, json!("2001:db8::7"));
    server.shutdown().await;
}
