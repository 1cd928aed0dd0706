//! HS256 JSON Web Tokens for the `auth` key of a test, and the per-file secret
//! they are signed with.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

/// The header `jsonwebtoken::Header::default()` produces, byte for byte, so
/// tokens look like the reference runner's.
const HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;

/// Signs `claims` with HS256.
pub fn encode_hs256(claims: &Map<String, Value>, secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(HEADER);
    let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Adds `iat = now` and `exp = now + 3600` (seconds) to the evaluated claims.
pub fn with_validity(mut claims: Map<String, Value>, now_seconds: u64) -> Map<String, Value> {
    claims.insert("iat".to_string(), Value::from(now_seconds));
    claims.insert("exp".to_string(), Value::from(now_seconds + 3600));
    claims
}

/// A random 30-character alphanumeric secret.
pub fn random_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(30);
    while out.len() < 30 {
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes).expect("the operating system provides randomness");
        // Rejection sampling keeps the characters uniform: 248 = 4 * 62.
        for b in bytes {
            if b < 248 && out.len() < 30 {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_hs256_vector() {
        // Expected value computed independently with Python's hmac/hashlib/base64
        // over the same header, compact claims JSON and secret.
        let claims = json!({"exp": 1700003600, "iat": 1700000000, "role": "admin", "sub": 7});
        let token = encode_hs256(claims.as_object().unwrap(), "abcdefghijklmnopqrstuvwxyz0123");
        assert_eq!(
            token,
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.\
             eyJleHAiOjE3MDAwMDM2MDAsImlhdCI6MTcwMDAwMDAwMCwicm9sZSI6ImFkbWluIiwic3ViIjo3fQ.\
             FDpt07Wklbqu_o7pv2TILh1UFxHambHWKcQqWUwcrhE"
        );
    }

    #[test]
    fn validity_claims() {
        let claims = with_validity(json!({"sub": 1}).as_object().unwrap().clone(), 100);
        assert_eq!(Value::Object(claims), json!({"sub": 1, "iat": 100, "exp": 3700}));
    }

    #[test]
    fn secrets_are_alphanumeric_and_fresh() {
        let a = random_secret();
        assert_eq!(a.len(), 30);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_secret());
    }
}
