//! One OIDC suite, run against the native server in-process and (with the `worker-e2e`
//! feature, from `scripts/worker-e2e.sh`) through the Worker in workerd: the `exo test`
//! environment serves the `oidc-claims` model with `EXO_OIDC_URL` pointing at a local issuer
//! (`exo_testing::oidc_issuer`), and every answer is checked over the same requests. The
//! clock is the real one, so the cache and rate-limit steps wait (about 50 s in all). The
//! Worker also gets a cold start with the provider down (`oidc_cold_start_worker`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[cfg(feature = "worker-e2e")]
use exo_runtime::oidc::START_TIMEOUT;
use exo_runtime::oidc::{REFETCH_INTERVAL_SECONDS, REFRESH_TIMEOUT};
use exo_testing::oidc_issuer::{b64, Issuer, Mode, TestKey};
use exo_testing::{TestEnvironment, TestRequest, TestServer};
use serde_json::{json, Value as Json};

use super::*;

/// The issuer's `Cache-Control: max-age` in this suite: short, so expiry can be waited for.
const MAX_AGE: u64 = 12;

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../integration/tests/it/models/oidc-claims")
}

fn copy_project(to: &Path) {
    let src = model_dir().join("src");
    std::fs::create_dir_all(to.join("src")).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join("src").join(entry.file_name())).unwrap();
    }
}

fn environment(worker: Option<WorkerMode>) -> Environment {
    Environment {
        rt: runtime().unwrap_or_else(|e| panic!("{}", e.message().unwrap_or("no runtime"))),
        pg: Mutex::new(None),
        builds: Mutex::new(HashMap::new()),
        trusted: false,
        stats: Arc::new((AtomicU64::new(0), AtomicU64::new(0))),
        worker,
        existing: None,
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

struct Client<'a> {
    server: &'a dyn TestServer,
}

impl Client<'_> {
    fn ask(&self, token: Option<&str>, query: &str) -> Json {
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        if let Some(t) = token {
            headers.push(("Authorization".to_string(), format!("Bearer {t}")));
        }
        let r = self.server.request(TestRequest { body: json!({ "query": query }), headers }).expect("an answer");
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    fn titles(&self, token: &str) -> Result<Vec<String>, Json> {
        let r = self.ask(Some(token), "{ docs(orderBy: {id: ASC}) { title } }");
        match r["data"]["docs"].as_array() {
            Some(docs) => Ok(docs.iter().map(|d| d["title"].as_str().unwrap_or_default().to_string()).collect()),
            None => Err(r),
        }
    }
}

fn refused(message: &str) -> Result<Vec<String>, Json> {
    Err(json!({"errors": [{"message": message}]}))
}

/// Waits until `seconds` have passed since `since`.
fn wait_until(since: Instant, seconds: u64) {
    let deadline = since + Duration::from_secs(seconds);
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}

fn run_suite(env: Environment, label: &str) {
    let project = tempfile::Builder::new().prefix("exo-oidc-suite-").tempdir().unwrap();
    copy_project(project.path());
    env.prepare_project(project.path()).unwrap_or_else(|e| panic!("{label}: {e:?}"));

    let rsa = TestKey::rsa("rsa", None);
    let p256 = TestKey::ec("p256", "ES256");
    let p384 = TestKey::ec("p384", "ES384");
    let ed = TestKey::ed25519("ed");
    let rotated = TestKey::ed25519("rotated");
    let max_age = format!("max-age={MAX_AGE}");
    let issuer = env.rt.block_on(Issuer::start(&[&rsa, &p256, &p384, &ed], Some(&max_age)));
    let url = issuer.url.clone();
    let envs = [("EXO_JWT_SECRET".to_string(), String::new()), ("EXO_OIDC_URL".to_string(), url.clone())];
    let server = env
        .start_file(project.path(), &format!("oidc_suite_{label}"), "", &envs)
        .unwrap_or_else(|e| panic!("{label}: {e:?}"));
    let client = Client { server: &*server };

    let claims = |sub: &str, org: i64, role: &str, groups: Json| {
        let now = unix_now();
        json!({"iss": url, "sub": sub, "iat": now, "exp": now + 600, "org": {"id": org, "role": role}, "groups": groups})
    };
    let admin = |key: &TestKey, alg: &str| key.sign_as(alg, Some(&key.kid), &claims("a1", 1, "admin", json!([])));

    // Seeding through the API as an admin; the first request also loads the Worker's keys.
    for (org, title, owner) in [(1, "one", "u1"), (1, "two", "u2"), (2, "three", "u1")] {
        let token = p256.sign(&claims("a", org, "admin", json!([])));
        let q =
            format!(r#"mutation {{ createDoc(data: {{orgId: {org}, owner: "{owner}", title: "{title}"}}) {{ id }} }}"#);
        let r = client.ask(Some(&token), &q);
        assert!(r["data"]["createDoc"]["id"].is_number(), "{label}: {r}");
    }
    let fetched = Instant::now();
    assert_eq!(issuer.jwks_requests(), 1, "{label}: the key set is fetched once at start");

    // Every algorithm, and the claims in the access rules (nested `org`, array `groups`).
    for (key, alg) in
        [(&rsa, "RS256"), (&rsa, "RS384"), (&rsa, "RS512"), (&p256, "ES256"), (&p384, "ES384"), (&ed, "EdDSA")]
    {
        assert_eq!(client.titles(&admin(key, alg)), Ok(vec!["one".into(), "two".into()]), "{label}: {alg}");
    }
    let editor = ed.sign(&claims("u9", 1, "member", json!(["viewers", "editors"])));
    assert_eq!(client.titles(&editor), Ok(vec!["one".into(), "two".into()]), "{label}: array claim");
    let member = ed.sign(&claims("u2", 1, "member", json!(["viewers"])));
    assert_eq!(client.titles(&member), Ok(vec!["two".into()]), "{label}: own documents only");
    let admin2 = ed.sign(&claims("a2", 2, "admin", json!([])));
    assert_eq!(client.titles(&admin2), Ok(vec!["three".into()]), "{label}: nested claim");

    // Refusals, as Exograph answers them.
    let now = unix_now();
    let with = |extra: Json| {
        let mut c = claims("a1", 1, "admin", json!([]));
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        p256.sign(&c)
    };
    assert_eq!(client.titles(&with(json!({"exp": now - 3600}))), refused("Expired authentication"), "{label}");
    assert_eq!(client.titles(&with(json!({"nbf": now + 3600}))), refused("Not authorized"), "{label}: nbf");
    assert_eq!(
        client.titles(&with(json!({"iss": "https://other.example"}))),
        refused("Not authorized"),
        "{label}: iss"
    );
    let body = b64(claims("a1", 1, "admin", json!([])).to_string().as_bytes());
    let none = format!("{}.{body}.", b64(br#"{"alg":"none","kid":"p256"}"#));
    assert_eq!(client.titles(&none), refused("Not authorized"), "{label}: alg none");
    let mismatch = p256.sign_as("ES256", Some("rsa"), &claims("a1", 1, "admin", json!([])));
    assert_eq!(client.titles(&mismatch), refused("Not authorized"), "{label}: ES256 under an RSA key");
    let ec_as_384 = p256.sign_as("ES384", Some("p256"), &claims("a1", 1, "admin", json!([])));
    assert_eq!(client.titles(&ec_as_384), refused("Not authorized"), "{label}: ES384 under a P-256 key");
    let hs = exo_runtime::jwt::sign_hs256(&claims("a1", 1, "admin", json!([])), b"guess");
    assert_eq!(client.titles(&hs), refused("Not authorized"), "{label}: HS256");
    // A claim not of its field's declared type (an array for the `String` sub would make
    // `self.owner == Caller.id` set membership) is refused as an invalid token.
    let member_of = |sub: Json| {
        let mut c = claims("u1", 1, "member", json!(["viewers"]));
        c["sub"] = sub;
        p256.sign(&c)
    };
    assert_eq!(client.titles(&member_of(json!(["u1", "u2"]))), refused("Not authorized"), "{label}: array sub");
    assert_eq!(client.titles(&member_of(json!("u1"))), Ok(vec!["one".into()]), "{label}: scalar sub");
    // No token: the rule compares rows with claims the caller does not have, so it filters
    // every row out (as Exograph answers), rather than refusing the query.
    assert_eq!(client.ask(None, "{ docs { title } }"), json!({"data": {"docs": []}}), "{label}");

    // A flood of made-up kids: at most one fetch (none while the start-up fetch is recent).
    let before = issuer.jwks_requests();
    for i in 0..40 {
        let token = p256.sign_as("ES256", Some(&format!("bogus-{i}")), &claims("a1", 1, "admin", json!([])));
        assert_eq!(client.titles(&token), refused("Not authorized"), "{label}: bogus kid");
    }
    let flood = issuer.jwks_requests() - before;
    assert!(flood <= 1, "{label}: 40 bogus kids caused {flood} key-set fetches");
    let fetched = if flood == 1 { Instant::now() } else { fetched };

    // Rotation: a new key is published; once the rate limit allows, one refetch finds it.
    issuer.set_keys(&[&rsa, &p256, &p384, &ed, &rotated]);
    wait_until(fetched, REFETCH_INTERVAL_SECONDS + 1);
    let before = issuer.jwks_requests();
    let rotated_token = rotated.sign(&claims("a1", 1, "admin", json!([])));
    assert_eq!(client.titles(&rotated_token), Ok(vec!["one".into(), "two".into()]), "{label}: rotated key");
    assert_eq!(issuer.jwks_requests(), before + 1, "{label}: one refetch");
    let fetched = Instant::now();

    // The P-256 key is withdrawn: still accepted from the cache, refused once it expires.
    issuer.set_keys(&[&rotated]);
    assert_eq!(client.titles(&admin(&p256, "ES256")), Ok(vec!["one".into(), "two".into()]), "{label}: cached");
    wait_until(fetched, MAX_AGE + 1);
    assert_eq!(client.titles(&admin(&p256, "ES256")), refused("Not authorized"), "{label}: withdrawn key");
    assert_eq!(
        client.titles(&rotated.sign(&claims("a1", 1, "admin", json!([])))),
        Ok(vec!["one".into(), "two".into()])
    );
    let fetched = Instant::now();

    // The provider hangs (accepts connections, never answers): once the keys expire, one
    // request tries a refresh and gives it up after REFRESH_TIMEOUT, answered with the cached
    // keys; the other requests of the interval do not try, so do not wait.
    issuer.set_mode(Mode::Hanging);
    wait_until(fetched, MAX_AGE + 1);
    let requests = issuer.jwks_requests();
    let token = rotated.sign(&claims("a1", 1, "admin", json!([])));
    let bound = REFRESH_TIMEOUT + Duration::from_secs(4);
    let started = Instant::now();
    assert_eq!(client.titles(&token), Ok(vec!["one".into(), "two".into()]), "{label}: provider hangs");
    let hung = Instant::now();
    assert!(hung - started < bound, "{label}: a hanging refresh held the request for {:?}", hung - started);
    assert_eq!(issuer.jwks_requests(), requests + 1, "{label}: the refresh was attempted");
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(client.titles(&token), Ok(vec!["one".into(), "two".into()]), "{label}: provider hangs");
        assert!(started.elapsed() < bound, "{label}: a request in the interval waited {:?}", started.elapsed());
    }
    assert_eq!(issuer.jwks_requests(), requests + 1, "{label}: no refresh inside the interval");

    // The provider goes down: the keys held keep working, also after their max-age.
    env.rt.block_on(issuer.stop());
    wait_until(hung, REFETCH_INTERVAL_SECONDS + 1);
    assert_eq!(client.titles(&token), Ok(vec!["one".into(), "two".into()]), "{label}: provider down");
    assert!(requests >= 3, "{label}: {requests} key-set fetches");
    drop(server);
}

/// The Worker loads `EXO_OIDC_URL` on the isolate's first request. With the provider down
/// then, concurrent first requests share one load, the failure (a 500) is kept for
/// `REFETCH_INTERVAL_SECONDS` without asking the provider again, and after that the next
/// request loads it (the provider is back) and tokens verify.
#[cfg(feature = "worker-e2e")]
fn cold_start_with_the_provider_down(env: Environment) {
    use crate::commands::test_worker::post;

    let project = tempfile::Builder::new().prefix("exo-oidc-cold-").tempdir().unwrap();
    copy_project(project.path());
    env.prepare_project(project.path()).unwrap_or_else(|e| panic!("{e:?}"));
    let key = TestKey::ec("p256", "ES256");
    let issuer = env.rt.block_on(Issuer::start(&[&key], None));
    issuer.set_mode(Mode::Down);
    let url = issuer.url.clone();
    let envs = [("EXO_JWT_SECRET".to_string(), String::new()), ("EXO_OIDC_URL".to_string(), url.clone())];
    let server = env.start_file(project.path(), "oidc_cold_start", "", &envs).unwrap_or_else(|e| panic!("{e:?}"));
    let port = server.port().expect("a Worker listens on a port");
    let now = unix_now();
    let claims = json!({"iss": url, "sub": "a1", "exp": now + 600, "org": {"id": 1, "role": "admin"}, "groups": []});
    let token = key.sign(&claims);
    let body = json!({"query": "{ docs { title } }"}).to_string();
    let headers = vec![("Authorization".to_string(), format!("Bearer {token}"))];
    let ask = || post(port, "/graphql", body.as_bytes(), &headers, Duration::from_secs(60)).expect("an answer");
    let is_failure = |r: &crate::commands::test_worker::HttpResponse| {
        r.status == 500 && String::from_utf8_lossy(&r.body).contains("Internal server error")
    };

    // The isolate's first requests, at once: the issuer takes a moment to answer its 503.
    const FIRST: usize = 8;
    let answers: Vec<_> = std::thread::scope(|s| {
        let asks: Vec<_> = (0..FIRST).map(|_| s.spawn(ask)).collect();
        asks.into_iter().map(|a| a.join().unwrap()).collect()
    });
    let failed = Instant::now();
    for r in &answers {
        assert!(is_failure(r), "{} {}", r.status, String::from_utf8_lossy(&r.body));
    }
    let discoveries = issuer.discovery_requests();
    assert_eq!(discoveries, 1, "{FIRST} concurrent first requests ran {discoveries} discoveries");

    // The provider is back, but the failure stands until the retry window ends.
    issuer.set_mode(Mode::Up);
    for _ in 0..5 {
        let r = ask();
        assert!(is_failure(&r), "inside the retry window: {} {}", r.status, String::from_utf8_lossy(&r.body));
    }
    assert_eq!(issuer.discovery_requests(), 1, "no discovery inside the retry window");

    // After it: loaded on the next request; the token verifies (the database is empty).
    wait_until(failed, REFETCH_INTERVAL_SECONDS + 1);
    let client = Client { server: &*server };
    assert_eq!(client.titles(&token), Ok(vec![]), "after the retry window");
    assert_eq!((issuer.discovery_requests(), issuer.jwks_requests()), (2, 1));
    drop(server);

    // Another isolate, whose provider announces a discovery document over the limit and never
    // sends it: refused on its Content-Length, not after the start-up timeout.
    issuer.set_mode(Mode::Oversized);
    let server = env.start_file(project.path(), "oidc_cold_start_big", "", &envs).unwrap_or_else(|e| panic!("{e:?}"));
    let port = server.port().expect("a Worker listens on a port");
    let started = Instant::now();
    let r = post(port, "/graphql", body.as_bytes(), &headers, Duration::from_secs(60)).expect("an answer");
    assert!(is_failure(&r), "{} {}", r.status, String::from_utf8_lossy(&r.body));
    assert!(started.elapsed() < START_TIMEOUT / 2, "refused after {:?}", started.elapsed());
    assert_eq!(issuer.discovery_requests(), 3);
    drop(server);
}

#[test]
fn oidc_suite_native() {
    run_suite(environment(None), "native");
}

/// Needs the Worker bundle and wrangler (`scripts/worker-e2e.sh` builds and runs it).
#[cfg(feature = "worker-e2e")]
#[test]
fn oidc_suite_worker() {
    let worker = WorkerMode::new(false).unwrap_or_else(|e| panic!("{}", e.message().unwrap_or("no Worker toolchain")));
    run_suite(environment(Some(worker)), "worker");
}

/// Needs the Worker bundle and wrangler, as `oidc_suite_worker`.
#[cfg(feature = "worker-e2e")]
#[test]
fn oidc_cold_start_worker() {
    let worker = WorkerMode::new(false).unwrap_or_else(|e| panic!("{}", e.message().unwrap_or("no Worker toolchain")));
    cold_start_with_the_provider_down(environment(Some(worker.cold())));
}
