//! The claims of a test's `auth` key (signed with `exo_runtime::jwt::sign_hs256`), and random
//! secrets: the per-file JWT secret of `exo test`, and the secrets `exo yolo` and `exo deploy`
//! generate.

use serde_json::{Map, Value};

/// Adds `iat = now` and `exp = now + 3600` (seconds) to the evaluated claims.
pub fn with_validity(mut claims: Map<String, Value>, now_seconds: u64) -> Map<String, Value> {
    claims.insert("iat".to_string(), Value::from(now_seconds));
    claims.insert("exp".to_string(), Value::from(now_seconds + 3600));
    claims
}

/// A random 30-character alphanumeric secret (about 178 bits), from the operating system.
pub fn random_secret() -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(30);
    while out.len() < 30 {
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes)?;
        // Rejection sampling keeps the characters uniform: 248 = 4 * 62.
        for b in bytes {
            if b < 248 && out.len() < 30 {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validity_claims() {
        let claims = with_validity(json!({"sub": 1}).as_object().unwrap().clone(), 100);
        assert_eq!(Value::Object(claims), json!({"sub": 1, "iat": 100, "exp": 3700}));
    }

    #[test]
    fn secrets_are_alphanumeric_and_fresh() {
        let a = random_secret().unwrap();
        assert_eq!(a.len(), 30);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_secret().unwrap());
    }
}
