//! OpenID Connect (`EXO_OIDC_URL`) against a local issuer started by the tests: discovery and
//! key set over HTTP on loopback, keys generated here (ring; RSA keys by `openssl genpkey`),
//! tokens signed here. The verifier is driven with chosen clocks for the cache and rate-limit
//! rules; the native server is driven over real HTTP for the access rules.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use exo_runtime::oidc::{TokenError, LEEWAY_SECONDS, REFETCH_INTERVAL_SECONDS};
use exo_server::oidc::NativeOidcHost;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::*;

type Verifier = exo_runtime::oidc::OidcVerifier<NativeOidcHost>;

/// A key the test issuer publishes and signs with.
pub struct TestKey {
    pub kid: String,
    signer: Signer,
    /// The public JWK as published.
    pub jwk: Json,
}

enum Signer {
    Rsa(Arc<RsaKeyPair>),
    Ecdsa(EcdsaKeyPair, &'static str),
    Ed25519(Ed25519KeyPair),
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// One 2048-bit RSA key per test binary (generating one takes a moment).
fn rsa_pair() -> Arc<RsaKeyPair> {
    static KEY: OnceLock<Arc<RsaKeyPair>> = OnceLock::new();
    KEY.get_or_init(|| {
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-outform",
                "DER",
            ])
            .output()
            .expect("the OIDC tests generate RSA keys with `openssl genpkey`; install openssl");
        assert!(
            out.status.success(),
            "openssl genpkey failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Arc::new(RsaKeyPair::from_der(&out.stdout).expect("openssl writes an RSAPrivateKey in DER"))
    })
    .clone()
}

impl TestKey {
    /// An RSA key; `alg` is the JWK's own `alg` (None: any RS* may use it).
    pub fn rsa(kid: &str, alg: Option<&str>) -> TestKey {
        let pair = rsa_pair();
        let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
        let mut jwk = json!({"kty": "RSA", "kid": kid, "use": "sig", "n": b64(&public.n), "e": b64(&public.e)});
        if let Some(alg) = alg {
            jwk["alg"] = json!(alg);
        }
        TestKey {
            kid: kid.into(),
            signer: Signer::Rsa(pair),
            jwk,
        }
    }

    pub fn ec(kid: &str, alg: &'static str) -> TestKey {
        let (params, crv, len) = match alg {
            "ES256" => (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
            "ES384" => (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
            _ => panic!("no such ECDSA algorithm {alg}"),
        };
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(params, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(params, pkcs8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref();
        let (x, y) = point[1..].split_at(len);
        let jwk =
            json!({"kty": "EC", "kid": kid, "crv": crv, "alg": alg, "x": b64(x), "y": b64(y)});
        TestKey {
            kid: kid.into(),
            signer: Signer::Ecdsa(pair, alg),
            jwk,
        }
    }

    pub fn ed25519(kid: &str) -> TestKey {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(pair.public_key().as_ref())});
        TestKey {
            kid: kid.into(),
            signer: Signer::Ed25519(pair),
            jwk,
        }
    }

    /// The algorithm this key signs with by default.
    pub fn alg(&self) -> &'static str {
        match &self.signer {
            Signer::Rsa(_) => "RS256",
            Signer::Ecdsa(_, alg) => alg,
            Signer::Ed25519(_) => "EdDSA",
        }
    }

    pub fn sign(&self, claims: &Json) -> String {
        self.sign_as(self.alg(), Some(&self.kid), claims)
    }

    /// Signs with this key's own algorithm family, but writes `header_alg` and `kid` into the
    /// header (for RSA, `header_alg` picks the hash).
    pub fn sign_as(&self, header_alg: &str, kid: Option<&str>, claims: &Json) -> String {
        let mut header = json!({"alg": header_alg, "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let sig = match &self.signer {
            Signer::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match header_alg {
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(padding, &rng, input.as_bytes(), &mut sig)
                    .unwrap();
                sig
            }
            Signer::Ecdsa(pair, _) => pair.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
            Signer::Ed25519(pair) => pair.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", b64(&sig))
    }
}

#[derive(Default)]
struct IssuerState {
    keys: Vec<Json>,
    cache_control: Option<String>,
    jwks_requests: usize,
}

/// A minimal OpenID provider on loopback: `/.well-known/openid-configuration` and `/jwks`.
pub struct Issuer {
    pub url: String,
    state: Arc<Mutex<IssuerState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Issuer {
    pub async fn start(keys: &[&TestKey], cache_control: Option<&str>) -> Issuer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(IssuerState {
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
            cache_control: cache_control.map(str::to_string),
            jwks_requests: 0,
        }));
        let (shared, issuer) = (state.clone(), url.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (state, issuer) = (shared.clone(), issuer.clone());
                tokio::spawn(async move { answer(stream, &state, &issuer).await });
            }
        });
        Issuer { url, state, task }
    }

    pub fn set_keys(&self, keys: &[&TestKey]) {
        self.state.lock().unwrap().keys = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    pub fn jwks_requests(&self) -> usize {
        self.state.lock().unwrap().jwks_requests
    }

    /// Stops listening: from now on connections are refused.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn answer(mut stream: TcpStream, state: &Mutex<IssuerState>, issuer: &str) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (status, extra, body) = match path.as_str() {
        "/.well-known/openid-configuration" => (
            "200 OK",
            String::new(),
            json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")}).to_string(),
        ),
        "/jwks" => {
            let mut s = state.lock().unwrap();
            s.jwks_requests += 1;
            let cc = s
                .cache_control
                .as_ref()
                .map(|c| format!("Cache-Control: {c}\r\n"))
                .unwrap_or_default();
            ("200 OK", cc, json!({"keys": s.keys}).to_string())
        }
        _ => ("404 Not Found", String::new(), "{}".to_string()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A fixed start time for verifier tests (their clock is the argument, not the wall).
const T: u64 = 1_800_000_000;

fn claims(issuer: &Issuer, now: u64) -> Json {
    json!({"iss": issuer.url, "sub": "u1", "exp": now + 3600, "iat": now})
}

async fn start(issuer: &Issuer, now: u64) -> Verifier {
    exo_server::oidc::start(&issuer.url, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn is_invalid(r: &Result<Json, TokenError>, why: &str) -> bool {
    matches!(r, Err(TokenError::Invalid(m)) if m.contains(why))
}

#[tokio::test]
async fn every_algorithm_verifies_and_a_changed_token_does_not() {
    let keys = [
        TestKey::rsa("rsa-any", None),
        TestKey::rsa("rsa-384", Some("RS384")),
        TestKey::ec("p256", "ES256"),
        TestKey::ec("p384", "ES384"),
        TestKey::ed25519("ed"),
    ];
    let issuer = Issuer::start(&keys.iter().collect::<Vec<_>>(), None).await;
    let v = start(&issuer, T).await;
    let c = claims(&issuer, T);
    let cases = [
        (&keys[0], "RS256"),
        (&keys[0], "RS384"),
        (&keys[0], "RS512"),
        (&keys[1], "RS384"),
        (&keys[2], "ES256"),
        (&keys[3], "ES384"),
        (&keys[4], "EdDSA"),
    ];
    for (key, alg) in cases {
        let token = key.sign_as(alg, Some(&key.kid), &c);
        assert_eq!(
            v.verify(&token, T).await,
            Ok(c.clone()),
            "{alg} with {}",
            key.kid
        );
        // The same signature over other claims.
        let (input, sig) = token.rsplit_once('.').unwrap();
        let (header, _) = input.split_once('.').unwrap();
        let forged_claims = json!({"iss": issuer.url, "sub": "admin", "exp": T + 3600});
        let forged = format!(
            "{header}.{}.{sig}",
            b64(forged_claims.to_string().as_bytes())
        );
        assert!(
            is_invalid(&v.verify(&forged, T).await, "signature"),
            "{alg}: a changed payload must not verify"
        );
    }
    // A token without `kid` is checked against the keys that allow its algorithm.
    let token = keys[2].sign_as("ES256", None, &c);
    assert_eq!(v.verify(&token, T).await, Ok(c.clone()));
    // Only the discovery-time fetch happened: every key was known.
    assert_eq!(issuer.jwks_requests(), 1);
    issuer.stop().await;
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused_beyond_the_leeway() {
    let key = TestKey::ec("k", "ES256");
    let issuer = Issuer::start(&[&key], None).await;
    let v = start(&issuer, T).await;
    let with = |extra: Json| {
        let mut c = claims(&issuer, T);
        for (k, val) in extra.as_object().unwrap() {
            c[k] = val.clone();
        }
        key.sign(&c)
    };
    let leeway = LEEWAY_SECONDS;
    assert_eq!(
        v.verify(&with(json!({"exp": T - leeway - 1})), T).await,
        Err(TokenError::Expired)
    );
    assert!(
        v.verify(&with(json!({"exp": T - leeway + 1})), T)
            .await
            .is_ok(),
        "within the leeway"
    );
    assert!(is_invalid(
        &v.verify(&with(json!({"nbf": T + leeway + 5})), T).await,
        "nbf"
    ));
    assert!(
        v.verify(&with(json!({"nbf": T + leeway - 5})), T)
            .await
            .is_ok(),
        "within the leeway"
    );
    let mut no_exp = claims(&issuer, T);
    no_exp.as_object_mut().unwrap().remove("exp");
    assert!(is_invalid(&v.verify(&key.sign(&no_exp), T).await, "exp"));
    issuer.stop().await;
}

#[tokio::test]
async fn the_issuer_must_be_the_discovered_one() {
    let key = TestKey::ed25519("k");
    let issuer = Issuer::start(&[&key], None).await;
    let v = start(&issuer, T).await;
    assert_eq!(v.provider().issuer, issuer.url);
    let mut c = claims(&issuer, T);
    c["iss"] = json!("https://evil.example");
    assert!(is_invalid(&v.verify(&key.sign(&c), T).await, "issuer"));
    c["iss"] = json!(format!("{}/", issuer.url));
    assert!(is_invalid(&v.verify(&key.sign(&c), T).await, "issuer"));
    c.as_object_mut().unwrap().remove("iss");
    assert!(is_invalid(&v.verify(&key.sign(&c), T).await, "iss"));
    issuer.stop().await;
}

#[tokio::test]
async fn none_hmac_and_algorithms_the_key_does_not_allow_are_refused() {
    let rsa = TestKey::rsa("rsa", Some("RS256"));
    let ec = TestKey::ec("p256", "ES256");
    let ed = TestKey::ed25519("ed");
    let issuer = Issuer::start(&[&rsa, &ec, &ed], None).await;
    let v = start(&issuer, T).await;
    let c = claims(&issuer, T);
    let body = b64(c.to_string().as_bytes());

    // `none`, with and without a signature.
    for kid in [json!("rsa"), Json::Null] {
        let header = b64(json!({"alg": "none", "kid": kid}).to_string().as_bytes());
        assert!(is_invalid(
            &v.verify(&format!("{header}.{body}."), T).await,
            "none"
        ));
        assert!(is_invalid(
            &v.verify(&format!("{header}.{body}.c2ln"), T).await,
            "none"
        ));
    }
    // HS256 with the RSA key's public modulus as the secret (algorithm confusion).
    let n = URL_SAFE_NO_PAD
        .decode(rsa.jwk["n"].as_str().unwrap())
        .unwrap();
    let confused = {
        let header = b64(json!({"alg": "HS256", "kid": "rsa"}).to_string().as_bytes());
        let input = format!("{header}.{body}");
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &n),
            input.as_bytes(),
        );
        format!("{input}.{}", b64(tag.as_ref()))
    };
    assert!(is_invalid(&v.verify(&confused, T).await, "HS256"));
    // The RSA key is published for RS256 only: an RS384 token naming it is refused.
    assert!(is_invalid(
        &v.verify(&rsa.sign_as("RS384", Some("rsa"), &c), T).await,
        "does not allow"
    ));
    // An ES256 signature presented as ES384, and an EC key named by an RSA token.
    assert!(is_invalid(
        &v.verify(&ec.sign_as("ES384", Some("p256"), &c), T).await,
        "does not allow"
    ));
    assert!(is_invalid(
        &v.verify(&rsa.sign_as("RS256", Some("p256"), &c), T).await,
        "does not allow"
    ));
    // An Ed25519 signature under the EC key's kid.
    assert!(is_invalid(
        &v.verify(&ed.sign_as("EdDSA", Some("p256"), &c), T).await,
        "does not allow"
    ));
    // Algorithms exo does not accept at all.
    assert!(is_invalid(
        &v.verify(&rsa.sign_as("PS256", Some("rsa"), &c), T).await,
        "PS256"
    ));
    // Garbage never panics.
    for t in ["", "a.b", "a.b.c", "....", "eyJhbGciOiJSUzI1NiJ9.e30.%%%"] {
        assert!(
            matches!(v.verify(t, T).await, Err(TokenError::Invalid(_))),
            "{t}"
        );
    }
    issuer.stop().await;
}

#[tokio::test]
async fn rotation_new_kid_after_one_refetch_old_kid_gone_once_the_cache_expires() {
    let old = TestKey::ec("old", "ES256");
    let new = TestKey::ed25519("new");
    let issuer = Issuer::start(&[&old], Some("public, max-age=120")).await;
    let v = start(&issuer, T).await;
    assert_eq!(issuer.jwks_requests(), 1);

    // Within max-age an unchanged set is not fetched again.
    let t = T + 30;
    assert!(v.verify(&old.sign(&claims(&issuer, t)), t).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 1);

    // The provider rotates: both keys published, tokens signed with the new one.
    issuer.set_keys(&[&old, &new]);
    let t = T + 40;
    assert_eq!(
        v.verify(&new.sign(&claims(&issuer, t)), t).await,
        Ok(claims(&issuer, t))
    );
    assert_eq!(issuer.jwks_requests(), 2, "one refetch for the unknown kid");
    assert!(v.verify(&new.sign(&claims(&issuer, t)), t).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 2, "the new key is cached");

    // The old key is withdrawn; the cached set still holds it until max-age (120 s from T+40).
    issuer.set_keys(&[&new]);
    let t = T + 100;
    assert!(v.verify(&old.sign(&claims(&issuer, t)), t).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 2);
    let t = T + 161;
    assert!(is_invalid(
        &v.verify(&old.sign(&claims(&issuer, t)), t).await,
        "no key `old`"
    ));
    assert_eq!(
        issuer.jwks_requests(),
        3,
        "the expired set was fetched once more"
    );
    assert!(v.verify(&new.sign(&claims(&issuer, t)), t).await.is_ok());
    issuer.stop().await;
}

#[tokio::test]
async fn an_unknown_kid_right_after_a_fetch_waits_for_the_rate_limit() {
    let a = TestKey::ec("a", "ES256");
    let b = TestKey::ec("b", "ES256");
    let issuer = Issuer::start(&[&a], None).await;
    let v = start(&issuer, T).await;
    issuer.set_keys(&[&a, &b]);
    // The start-up fetch was at T: a rotation seen 5 s later is refused without a fetch...
    let t = T + 5;
    assert!(is_invalid(
        &v.verify(&b.sign(&claims(&issuer, t)), t).await,
        "no key `b`"
    ));
    assert_eq!(issuer.jwks_requests(), 1);
    // ...and accepted once the interval has passed.
    let t = T + REFETCH_INTERVAL_SECONDS;
    assert!(v.verify(&b.sign(&claims(&issuer, t)), t).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 2);
    issuer.stop().await;
}

#[tokio::test]
async fn a_flood_of_bogus_kids_costs_the_provider_one_fetch_per_interval() {
    let key = TestKey::ec("real", "ES256");
    let issuer = Issuer::start(&[&key], Some("max-age=3600")).await;
    let v = start(&issuer, T).await;
    let mut refused = 0;
    // 60 seconds of made-up kids, 50 a second.
    for second in 1..=60u64 {
        let t = T + second;
        for i in 0..50 {
            let token = key.sign_as(
                "ES256",
                Some(&format!("bogus-{second}-{i}")),
                &claims(&issuer, t),
            );
            if matches!(v.verify(&token, t).await, Err(TokenError::Invalid(_))) {
                refused += 1;
            }
        }
        // Real tokens keep working throughout.
        assert!(v.verify(&key.sign(&claims(&issuer, t)), t).await.is_ok());
    }
    assert_eq!(refused, 3000);
    let fetches = issuer.jwks_requests() - 1;
    let limit = (60 / REFETCH_INTERVAL_SECONDS) as usize;
    assert_eq!(
        fetches, limit,
        "3000 bogus kids in 60 s: one fetch per {REFETCH_INTERVAL_SECONDS} s"
    );
    issuer.stop().await;
}

#[tokio::test]
async fn the_cached_keys_keep_working_while_the_provider_is_down() {
    let key = TestKey::rsa("k", None);
    let issuer = Issuer::start(&[&key], Some("max-age=60")).await;
    let url = issuer.url.clone();
    let v = start(&issuer, T).await;
    let c = |t: u64| json!({"iss": url, "sub": "u1", "exp": t + 3600});
    issuer.stop().await;
    // Within max-age: no fetch needed.
    assert!(v.verify(&key.sign(&c(T + 10)), T + 10).await.is_ok());
    // After max-age the refresh fails; the keys held stay in use.
    assert!(v.verify(&key.sign(&c(T + 600)), T + 600).await.is_ok());
    // An unknown kid is refused (its refetch fails too), not a panic or a hang.
    assert!(is_invalid(
        &v.verify(&key.sign_as("RS256", Some("other"), &c(T + 700)), T + 700)
            .await,
        "no key"
    ));
    assert!(v.verify(&key.sign(&c(T + 701)), T + 701).await.is_ok());
}

#[tokio::test]
async fn start_up_fails_clearly_when_the_provider_is_unusable() {
    // Discovery answers 404.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
        }
    });
    let url = format!("http://{addr}/tenant");
    let e = exo_server::oidc::start(&url, T)
        .await
        .err()
        .expect("a 404 discovery must fail");
    assert!(
        e.message().contains(&format!("`EXO_OIDC_URL` = `{url}`")),
        "{e}"
    );
    assert!(
        e.message()
            .contains("/tenant/.well-known/openid-configuration answered HTTP 404"),
        "{e}"
    );
    task.abort();

    // A key set with nothing exo can use.
    let issuer = Issuer::start(&[], None).await;
    issuer.state.lock().unwrap().keys = vec![json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0"})];
    let e = exo_server::oidc::start(&issuer.url, T)
        .await
        .err()
        .expect("an unusable key set must fail");
    assert!(
        e.message().contains("holds no key exo can use") && e.message().contains("`oct`"),
        "{e}"
    );
    issuer.stop().await;

    // Both a secret and a provider: refused, as in Exograph.
    let both = |k: &str| match k {
        "EXO_JWT_SECRET" => Some("s".to_string()),
        "EXO_OIDC_URL" => Some("https://id.example".to_string()),
        _ => None,
    };
    let e = exo_server::ServerConfig::from_env(both)
        .err()
        .expect("secret and OIDC together");
    assert!(
        e.message().contains("`EXO_JWT_SECRET`") && e.message().contains("`EXO_OIDC_URL`"),
        "{e}"
    );
}

/// The native server over HTTP with `EXO_OIDC_URL`: nested and array claims in access rules.
#[tokio::test]
async fn provider_tokens_drive_access_rules_with_nested_and_array_claims() {
    let key = TestKey::ec("k1", "ES256");
    let stranger = TestKey::ec("k1", "ES256"); // same kid, another key: a forged signature
    let issuer = Issuer::start(&[&key], None).await;

    let entry = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/models/oidc-claims/src/index.exo");
    let compiled = exo_compiler::compile_project(&entry);
    let ir = compiled.ir.unwrap_or_else(|| {
        panic!(
            "{}",
            exo_compiler::diag::render(&compiled.diagnostics, &compiled.sources, 100, false)
        )
    });
    let (db, client) = database_for(&ir, "oidc").await;
    drop(client);
    let vars: std::collections::HashMap<&str, String> = [
        ("EXO_POSTGRES_URL", db.url.clone()),
        ("EXO_OIDC_URL", issuer.url.clone()),
        ("EXO_POSTGRES_READ_WRITE", "true".into()),
        ("EXO_CONNECTION_POOL_SIZE", "2".into()),
    ]
    .into_iter()
    .collect();
    let lookup = move |k: &str| vars.get(k).cloned();
    let config = exo_server::ServerConfig::from_env(&lookup).expect("config");
    let server = exo_server::Server::new(exo_runtime::System::new(ir), config, Box::new(lookup))
        .await
        .expect("server");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        Arc::new(server)
            .serve_on(listener, async {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
    });

    let now = now();
    let token = |k: &TestKey, sub: &str, org: i64, role: &str, groups: Json| {
        k.sign(&json!({"iss": issuer.url, "sub": sub, "exp": now + 600, "org": {"id": org, "role": role}, "groups": groups}))
    };
    let admin1 = token(&key, "a1", 1, "admin", json!([]));
    let admin2 = token(&key, "a2", 2, "admin", json!([]));
    for (tok, title, owner) in [
        (&admin1, "one", "u1"),
        (&admin1, "two", "u2"),
        (&admin2, "three", "u1"),
    ] {
        let q = format!(
            r#"mutation {{ createDoc(data: {{orgId: {}, owner: "{owner}", title: "{title}"}}) {{ id }} }}"#,
            if tok == &admin1 { 1 } else { 2 }
        );
        let r = post(addr, Some(tok), &q).await;
        assert!(r.1["data"]["createDoc"]["id"].is_number(), "{}", r.1);
    }
    let titles = |r: &(u16, Json)| -> Vec<String> {
        let docs = r.1["data"]["docs"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", r.1));
        docs.iter()
            .map(|d| d["title"].as_str().unwrap().to_string())
            .collect()
    };
    let q = "{ docs(orderBy: {id: ASC}) { title } }";
    // Nested claim `org.role`: an admin sees its own organisation's documents only.
    assert_eq!(titles(&post(addr, Some(&admin1), q).await), ["one", "two"]);
    assert_eq!(titles(&post(addr, Some(&admin2), q).await), ["three"]);
    // Array claim `groups`: an editor of org 1 sees all of org 1.
    assert_eq!(
        titles(
            &post(
                addr,
                Some(&token(
                    &key,
                    "u9",
                    1,
                    "member",
                    json!(["viewers", "editors"])
                )),
                q
            )
            .await
        ),
        ["one", "two"]
    );
    // Neither: only the member's own documents.
    assert_eq!(
        titles(
            &post(
                addr,
                Some(&token(&key, "u2", 1, "member", json!(["viewers"]))),
                q
            )
            .await
        ),
        ["two"]
    );
    // A member may not write.
    let r = post(
        addr,
        Some(&token(&key, "u2", 1, "member", json!(["editors"]))),
        r#"mutation { createDoc(data: {orgId: 1, owner: "u2", title: "x"}) { id } }"#,
    )
    .await;
    assert_eq!(r.1, json!({"errors": [{"message": "Not authorized"}]}));
    // Anonymous: the rule is false without claims (as for HS256 tokens).
    assert_eq!(
        post(addr, None, q).await,
        (200, json!({"errors": [{"message": "Not authorized"}]}))
    );

    // Refused tokens, answered as Exograph answers them (HTTP 200, a GraphQL error).
    let expired = key.sign(&json!({"iss": issuer.url, "sub": "a1", "exp": now - 3600, "org": {"id": 1, "role": "admin"}}));
    assert_eq!(
        post(addr, Some(&expired), q).await,
        (
            200,
            json!({"errors": [{"message": "Expired authentication"}]})
        )
    );
    let forged = token(&stranger, "a1", 1, "admin", json!([]));
    assert_eq!(
        post(addr, Some(&forged), q).await,
        (200, json!({"errors": [{"message": "Not authorized"}]}))
    );
    let hs256 = exo_runtime::jwt::sign_hs256(
        &json!({"iss": issuer.url, "sub": "a1", "exp": now + 600, "org": {"id": 1, "role": "admin"}}),
        b"guess",
    );
    assert_eq!(
        post(addr, Some(&hs256), q).await,
        (200, json!({"errors": [{"message": "Not authorized"}]}))
    );

    let _ = stop.send(());
    serving.await.unwrap();
    issuer.stop().await;
}

/// One GraphQL POST on a fresh connection; (status, body).
async fn post(addr: SocketAddr, token: Option<&str>, query: &str) -> (u16, Json) {
    let body = json!({ "query": query }).to_string();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    (
        status,
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}
