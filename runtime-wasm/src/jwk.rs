//! JSON Web Keys (RFC 7517, 7518, 8037) as OIDC verification needs them: a provider's JWKS
//! parsed into public keys, and which signature algorithm each key may verify.
//!
//! Parsing is target-independent; checking a signature with a key is the host's job
//! ([`crate::oidc::OidcHost::verify_signature`]: `ring` natively, WebCrypto in the Worker).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value as Json;

/// The asymmetric JWS algorithms exo accepts. `none`, the HMAC family (a provider's tokens
/// are never HMAC-signed; accepting them would let a public key act as an HMAC secret) and
/// RSA-PSS are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Es256,
    Es384,
    EdDsa,
}

impl Alg {
    pub fn parse(name: &str) -> Option<Alg> {
        Some(match name {
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "EdDSA" => Alg::EdDsa,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// The hash for RSA and ECDSA (`SHA-256`, as WebCrypto names it); EdDSA has none.
    pub fn hash(self) -> Option<&'static str> {
        match self {
            Alg::Rs256 | Alg::Es256 => Some("SHA-256"),
            Alg::Rs384 | Alg::Es384 => Some("SHA-384"),
            Alg::Rs512 => Some("SHA-512"),
            Alg::EdDsa => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Curve {
    P256,
    P384,
}

impl Curve {
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }

    fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }
}

/// A public key's numbers, decoded from base64url.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyMaterial {
    /// Modulus and public exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed point's coordinates, each exactly the curve's size.
    Ec { curve: Curve, x: Vec<u8>, y: Vec<u8> },
    /// The 32-byte Ed25519 public key.
    Ed25519 { x: Vec<u8> },
}

/// RSA keys below 2048 bits are refused (as `ring` refuses them), so both hosts accept the
/// same keys.
pub const MIN_RSA_BITS: usize = 2048;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The key's own `alg`, when it names one: then only that algorithm may use it.
    pub alg: Option<Alg>,
    pub material: KeyMaterial,
}

impl Jwk {
    /// Whether a token signed with `alg` may be checked with this key: the key type and curve
    /// must fit the algorithm, and a key that names its algorithm allows only that one.
    pub fn allows(&self, alg: Alg) -> bool {
        if self.alg.is_some_and(|a| a != alg) {
            return false;
        }
        matches!(
            (&self.material, alg),
            (KeyMaterial::Rsa { .. }, Alg::Rs256 | Alg::Rs384 | Alg::Rs512)
                | (KeyMaterial::Ec { curve: Curve::P256, .. }, Alg::Es256)
                | (KeyMaterial::Ec { curve: Curve::P384, .. }, Alg::Es384)
                | (KeyMaterial::Ed25519 { .. }, Alg::EdDsa)
        )
    }

    /// The key as a minimal public JWK (no `alg`, `use` or `key_ops`), as JSON text, for hosts
    /// that import keys from JWK (WebCrypto). Written by hand: `json!` costs the Worker ~2 KB.
    pub fn to_public_jwk(&self) -> String {
        let b = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        match &self.material {
            KeyMaterial::Rsa { n, e } => format!(r#"{{"kty":"RSA","n":"{}","e":"{}"}}"#, b(n), b(e)),
            KeyMaterial::Ec { curve, x, y } => {
                format!(r#"{{"kty":"EC","crv":"{}","x":"{}","y":"{}"}}"#, curve.name(), b(x), b(y))
            }
            KeyMaterial::Ed25519 { x } => format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#, b(x)),
        }
    }
}

/// A provider's key set: the keys exo can use, and why the others were left out (kept for
/// messages; a JWKS commonly also lists encryption keys or algorithms exo does not support).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
    pub skipped: Vec<String>,
}

impl Jwks {
    /// Parses a JWKS document (`{"keys": [...]}`). A key exo cannot use is skipped, not an
    /// error; a document that is not a key set is.
    pub fn parse(body: &[u8]) -> Result<Jwks, String> {
        let doc: Json = serde_json::from_slice(body).map_err(|e| format!("the key set is not JSON ({e})"))?;
        let Some(list) = doc.get("keys").and_then(Json::as_array) else {
            return Err("the key set has no `keys` array".into());
        };
        let mut set = Jwks::default();
        for (i, key) in list.iter().enumerate() {
            match parse_key(key) {
                Ok(k) => set.keys.push(k),
                Err(why) => {
                    let kid = key.get("kid").and_then(Json::as_str).map(|k| format!(" `{k}`")).unwrap_or_default();
                    set.skipped.push(format!("key {i}{kid}: {why}"));
                }
            }
        }
        Ok(set)
    }

    /// Keys that may check a token with this `kid` (or, for a token without one, every key)
    /// and algorithm.
    pub fn candidates<'a>(&'a self, kid: Option<&'a str>, alg: Alg) -> impl Iterator<Item = &'a Jwk> + 'a {
        self.keys.iter().filter(move |k| kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)) && k.allows(alg))
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

fn parse_key(key: &Json) -> Result<Jwk, String> {
    let field = |name: &str| key.get(name).and_then(Json::as_str);
    if let Some(u) = field("use") {
        if u != "sig" {
            return Err(format!("its `use` is `{u}`, not `sig`"));
        }
    }
    if let Some(ops) = key.get("key_ops").and_then(Json::as_array) {
        if !ops.iter().any(|o| o.as_str() == Some("verify")) {
            return Err("its `key_ops` do not include `verify`".into());
        }
    }
    let alg = match field("alg") {
        None => None,
        Some(a) => Some(Alg::parse(a).ok_or_else(|| format!("algorithm `{a}` is not supported"))?),
    };
    let bytes = |name: &str| -> Result<Vec<u8>, String> {
        let text = field(name).ok_or_else(|| format!("`{name}` is missing"))?;
        URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).map_err(|_| format!("`{name}` is not base64url"))
    };
    let material = match field("kty") {
        Some("RSA") => {
            let n = strip_zeros(bytes("n")?);
            let e = strip_zeros(bytes("e")?);
            let bits = n.first().map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
            if bits < MIN_RSA_BITS {
                return Err(format!("RSA modulus of {bits} bits is below {MIN_RSA_BITS}"));
            }
            if e.is_empty() || e.len() > 4 {
                return Err("RSA exponent out of range".into());
            }
            KeyMaterial::Rsa { n, e }
        }
        Some("EC") => {
            let curve = match field("crv") {
                Some("P-256") => Curve::P256,
                Some("P-384") => Curve::P384,
                Some(c) => return Err(format!("curve `{c}` is not supported")),
                None => return Err("`crv` is missing".into()),
            };
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != curve.coordinate_len() || y.len() != curve.coordinate_len() {
                return Err(format!("coordinates are not {} bytes", curve.coordinate_len()));
            }
            KeyMaterial::Ec { curve, x, y }
        }
        Some("OKP") => match field("crv") {
            Some("Ed25519") => {
                let x = bytes("x")?;
                if x.len() != 32 {
                    return Err("an Ed25519 key is 32 bytes".into());
                }
                KeyMaterial::Ed25519 { x }
            }
            Some(c) => return Err(format!("curve `{c}` is not supported")),
            None => return Err("`crv` is missing".into()),
        },
        Some(k) => return Err(format!("key type `{k}` is not supported")),
        None => return Err("`kty` is missing".into()),
    };
    let jwk = Jwk { kid: field("kid").map(str::to_string), alg, material };
    // A key whose declared algorithm does not fit its type (an EC key marked RS256) is useless.
    if let Some(a) = alg {
        if !jwk.allows(a) {
            return Err(format!("its `alg` `{}` does not fit its key type", a.name()));
        }
    }
    Ok(jwk)
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn keys_exo_cannot_use_are_skipped_with_a_reason() {
        let n = b64(&[0xc5; 256]);
        let small_n = b64(&[0xc5; 128]);
        let doc = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "r", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "small", "n": small_n, "e": "AQAB"},
            {"kty": "RSA", "kid": "pss", "alg": "PS256", "n": n, "e": "AQAB"},
            {"kty": "EC", "kid": "e", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32])},
            {"kty": "EC", "kid": "k1", "crv": "secp256k1", "x": b64(&[1; 32]), "y": b64(&[2; 32])},
            {"kty": "EC", "kid": "mismatch", "alg": "RS256", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32])},
            {"kty": "OKP", "kid": "o", "crv": "Ed25519", "x": b64(&[3; 32])},
            {"kty": "oct", "kid": "h", "k": "c2VjcmV0"}
        ]});
        let set = Jwks::parse(doc.to_string().as_bytes()).unwrap();
        let kids: Vec<_> = set.keys.iter().map(|k| k.kid.clone().unwrap()).collect();
        assert_eq!(kids, ["r", "e", "o"]);
        assert_eq!(set.skipped.len(), 6, "{:?}", set.skipped);
        assert!(set.skipped.iter().any(|s| s.contains("`small`") && s.contains("1024 bits")), "{:?}", set.skipped);
        assert!(set.skipped.iter().any(|s| s.contains("`oct`")), "{:?}", set.skipped);
        assert!(Jwks::parse(b"{}").unwrap_err().contains("`keys`"));
        assert!(Jwks::parse(b"<html>").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn a_key_allows_only_algorithms_of_its_type_and_declared_alg() {
        let rsa = Jwk { kid: None, alg: None, material: KeyMaterial::Rsa { n: vec![1; 256], e: vec![1, 0, 1] } };
        assert!(rsa.allows(Alg::Rs256) && rsa.allows(Alg::Rs512));
        assert!(!rsa.allows(Alg::Es256) && !rsa.allows(Alg::EdDsa));
        let rs384 = Jwk { alg: Some(Alg::Rs384), ..rsa.clone() };
        assert!(rs384.allows(Alg::Rs384) && !rs384.allows(Alg::Rs256));
        let p256 = Jwk { kid: None, alg: None, material: KeyMaterial::Ec { curve: Curve::P256, x: vec![], y: vec![] } };
        assert!(p256.allows(Alg::Es256) && !p256.allows(Alg::Es384) && !p256.allows(Alg::Rs256));
        assert_eq!(Alg::parse("none"), None);
        // The JWK written for WebCrypto parses back to the same key.
        let ec = Jwk {
            kid: None,
            alg: None,
            material: KeyMaterial::Ec { curve: Curve::P384, x: vec![7; 48], y: vec![9; 48] },
        };
        let back = Jwks::parse(format!(r#"{{"keys":[{}]}}"#, ec.to_public_jwk()).as_bytes()).unwrap();
        assert_eq!(back.keys, [ec]);
        assert_eq!(Alg::parse("HS256"), None);
    }
}
