//! HS256 JSON Web Tokens (`EXO_JWT_SECRET`): verification for requests (and signing, for
//! tests and `exo yolo`). Provider tokens (`EXO_OIDC_URL`) are verified in [`crate::oidc`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value as Json;
use sha2::Sha256;

use crate::oidc::{TokenError, LEEWAY_SECONDS};

type HmacSha256 = Hmac<Sha256>;

/// Verifies signature, algorithm (`HS256` only; `none` never authenticates) and `exp`, which
/// allows [`LEEWAY_SECONDS`] of clock skew as provider tokens do (and as Exograph's HS256
/// validation, `jsonwebtoken`'s default, does).
pub fn verify_hs256(token: &str, secret: &[u8], now: u64) -> Result<Json, TokenError> {
    let invalid = |why: &str| TokenError::Invalid(why.to_string());
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(invalid("Malformed token"));
    };
    let header: Json = decode_json(h).ok_or_else(|| invalid("Malformed token"))?;
    if header.get("alg").and_then(Json::as_str) != Some("HS256") {
        return Err(invalid("Unsupported token algorithm"));
    }
    let sig = URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).map_err(|_| invalid("Malformed token signature"))?;
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| invalid("Invalid secret"))?;
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    mac.verify_slice(&sig).map_err(|_| invalid("Invalid token signature"))?;
    let claims: Json = decode_json(p).ok_or_else(|| invalid("Malformed token"))?;
    match claims.get("exp") {
        Some(exp) => {
            let exp = exp.as_f64().ok_or_else(|| invalid("Invalid exp claim"))?;
            if exp + (LEEWAY_SECONDS as f64) < now as f64 {
                return Err(TokenError::Expired);
            }
        }
        None => return Err(invalid("Token has no exp claim")),
    }
    Ok(claims)
}

fn decode_json(part: &str) -> Option<Json> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Signs claims with HS256 (for `exo yolo`, `exo test` and tests). The header is the one
/// `jsonwebtoken::Header::default()` writes, byte for byte, so tokens look like the ones
/// Exograph's test runner signs.
pub fn sign_hs256(claims: &Json, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{header}.{payload}.{sig}")
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
        let token = sign_hs256(&claims, b"abcdefghijklmnopqrstuvwxyz0123");
        assert_eq!(
            token,
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.\
             eyJleHAiOjE3MDAwMDM2MDAsImlhdCI6MTcwMDAwMDAwMCwicm9sZSI6ImFkbWluIiwic3ViIjo3fQ.\
             FDpt07Wklbqu_o7pv2TILh1UFxHambHWKcQqWUwcrhE"
        );
        let verified = verify_hs256(&token, b"abcdefghijklmnopqrstuvwxyz0123", 1700000000).unwrap();
        assert_eq!(verified, claims);
        assert!(verify_hs256(&token, b"another secret", 1700000000).is_err());
    }

    #[test]
    fn exp_allows_the_leeway_and_no_more() {
        let secret = b"leeway-secret";
        let token = sign_hs256(&json!({"exp": 1_000_000, "sub": 1}), secret);
        assert!(verify_hs256(&token, secret, 1_000_000).is_ok());
        assert!(verify_hs256(&token, secret, 1_000_000 + LEEWAY_SECONDS).is_ok());
        assert_eq!(verify_hs256(&token, secret, 1_000_000 + LEEWAY_SECONDS + 1), Err(TokenError::Expired));
        let no_exp = sign_hs256(&json!({"sub": 1}), secret);
        assert!(matches!(verify_hs256(&no_exp, secret, 1), Err(TokenError::Invalid(_))));
    }
}
