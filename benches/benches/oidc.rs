//! Token verification per request with a warm key cache: HS256 (`EXO_JWT_SECRET`) beside
//! provider tokens (`EXO_OIDC_URL`) signed RS256, ES256 and EdDSA, verified natively (`ring`)
//! through the runtime's OIDC verifier, with the same claims.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion};
use exo_runtime::jwk::Jwks;
use exo_runtime::oidc::{OidcVerifier, Provider};
use exo_server::oidc::NativeOidcHost;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::json;

const NOW: u64 = 1_800_000_000;
const ISSUER: &str = "https://id.example";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn token(alg: &str, kid: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
    let claims = json!({"iss": ISSUER, "sub": "user-1", "exp": NOW + 3600, "org": {"id": 1, "role": "admin"}, "groups": ["editors"]});
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

fn oidc(c: &mut Criterion) {
    let rng = SystemRandom::new();
    // RSA 2048 from openssl (ring does not generate RSA keys).
    let der = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-outform", "DER"])
        .output()
        .expect("this bench generates an RSA key with `openssl genpkey`");
    let rsa = Arc::new(RsaKeyPair::from_der(&der.stdout).expect("an RSAPrivateKey"));
    let rsa_public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(rsa.public());
    let p256 = {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap()
    };
    let ed = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref()).unwrap();
    let point = p256.public_key().as_ref();
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "rsa", "alg": "RS256", "n": b64(&rsa_public.n), "e": b64(&rsa_public.e)},
        {"kty": "EC", "kid": "p256", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])},
        {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(ed.public_key().as_ref())},
    ]});
    let jwks = Jwks::parse(jwks.to_string().as_bytes()).unwrap();
    assert_eq!(jwks.keys.len(), 3, "{:?}", jwks.skipped);
    let provider = Provider { url: ISSUER.into(), issuer: ISSUER.into(), jwks_uri: format!("{ISSUER}/jwks") };
    // Cached for a day from NOW: every verification below is a warm-cache one.
    let verifier = OidcVerifier::from_parts(provider, jwks, 86_400, NOW, NativeOidcHost::default());

    let tokens = [
        (
            "RS256",
            token("RS256", "rsa", |m| {
                let mut sig = vec![0; rsa.public().modulus_len()];
                rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, m, &mut sig).unwrap();
                sig
            }),
        ),
        ("ES256", token("ES256", "p256", |m| p256.sign(&rng, m).unwrap().as_ref().to_vec())),
        ("EdDSA", token("EdDSA", "ed", |m| ed.sign(m).as_ref().to_vec())),
    ];
    let hs256 = {
        let claims = json!({"iss": ISSUER, "sub": "user-1", "exp": NOW + 3600, "org": {"id": 1, "role": "admin"}, "groups": ["editors"]});
        exo_runtime::jwt::sign_hs256(&claims, b"a-shared-secret")
    };
    c.bench_function("token-verify/HS256", |b| {
        b.iter(|| exo_runtime::jwt::verify_hs256(&hs256, b"a-shared-secret", NOW).unwrap())
    });
    for (alg, token) in &tokens {
        assert!(block_on(verifier.verify(token, NOW)).is_ok(), "{alg}");
        c.bench_function(&format!("token-verify/{alg}"), |b| b.iter(|| block_on(verifier.verify(token, NOW)).unwrap()));
    }
}

/// With a warm cache the verifier never waits, so one poll completes it.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

criterion_group!(benches, oidc);
criterion_main!(benches);
