//! OpenID Connect (`EXO_OIDC_URL`): discovery, the provider's key set with its cache, and
//! verification of RS256/RS384/RS512/ES256/ES384/EdDSA tokens.
//!
//! Everything here is shared by the native server and the Worker. The host supplies two
//! things through [`OidcHost`]: an HTTP `GET` and "does this signature verify with this key"
//! (`ring` natively, WebCrypto's `crypto.subtle` in the Worker, so the wasm carries no RSA or
//! elliptic-curve code).
//!
//! Rules (documented in README):
//! - the issuer is what `<EXO_OIDC_URL>/.well-known/openid-configuration` says; a token's
//!   `iss` must equal it;
//! - `exp` is required; `exp` and `nbf` allow [`LEEWAY_SECONDS`] of clock skew;
//! - the key set is cached for its `Cache-Control: max-age` (else [`DEFAULT_MAX_AGE`], at
//!   most [`MAX_MAX_AGE`]); after that it is fetched again on the next token;
//! - a token whose `kid` is not in the set triggers one refetch (key rotation), but the key
//!   set is fetched at most once per [`REFETCH_INTERVAL_SECONDS`], so a flood of made-up
//!   `kid`s costs the provider one request per interval;
//! - when a fetch fails (the provider is down), the keys already held keep working;
//! - a fetch at start-up may take [`START_TIMEOUT`]; a refresh, which runs inside a request,
//!   only [`REFRESH_TIMEOUT`], so a provider that accepts connections but never answers
//!   delays one request per interval by that much, not by the start-up timeout.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value as Json;

use crate::jwk::{Alg, Jwk, Jwks};

/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 60;
/// The key set is fetched at most this often (seconds), whatever the tokens say.
pub const REFETCH_INTERVAL_SECONDS: u64 = 10;
/// How long a key set without `Cache-Control: max-age` is used before fetching it again.
pub const DEFAULT_MAX_AGE: u64 = 300;
/// The longest a key set is used without fetching it again, whatever `max-age` says.
pub const MAX_MAX_AGE: u64 = 24 * 3600;
/// Discovery documents and key sets larger than this are refused.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// How long discovery and the first key-set fetch may take (start-up).
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a key-set refresh may take: it runs inside a request, which waits for it.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(2);

/// `Send` natively (the server's futures move between tasks), nothing in wasm (JavaScript
/// values are not `Send`, and the Worker is single-threaded).
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + ?Sized> MaybeSend for T {}
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// `Send + Sync` natively, nothing in wasm.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSendSync: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync + ?Sized> MaybeSendSync for T {}
#[cfg(target_arch = "wasm32")]
pub trait MaybeSendSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSendSync for T {}

/// A boxed future, `Send` natively.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
#[cfg(target_arch = "wasm32")]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Why a token was refused. Answered as Exograph answers it: `Expired` as
/// "Expired authentication", everything else as "Not authorized".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    Expired,
    /// Malformed, wrongly signed, unknown key, wrong issuer, not yet valid, ...; the reason
    /// is for logs, never for the client.
    Invalid(String),
}

/// Verifies a token and returns its claims. The engine holds one (behind `Arc`) when
/// `EXO_OIDC_URL` is set.
pub trait TokenVerifier: MaybeSendSync {
    fn verify<'a>(&'a self, token: &'a str, now: u64) -> BoxFuture<'a, Result<Json, TokenError>>;
}

/// An HTTP answer as the verifier needs it.
pub struct HttpReply {
    pub status: u16,
    pub body: Vec<u8>,
    /// The `Cache-Control` header, if any.
    pub cache_control: Option<String>,
}

/// What the host does for the verifier.
pub trait OidcHost: MaybeSendSync {
    /// `GET url`, given up (an error) when the whole answer, body included, has not arrived
    /// within `timeout`. Errors say what went wrong (connection refused, TLS, timeout).
    fn get(&self, url: &str, timeout: Duration) -> impl Future<Output = Result<HttpReply, String>> + MaybeSend;
    /// Whether `signature` over `message` verifies with `key` under `alg` (the verifier has
    /// already checked that the key allows `alg`). `Err` is for failures of the host itself.
    fn verify_signature(
        &self,
        key: &Jwk,
        alg: Alg,
        message: &[u8],
        signature: &[u8],
    ) -> impl Future<Output = Result<bool, String>> + MaybeSend;
    /// Something an operator should see (a failed key refresh); the native server logs it.
    fn warn(&self, _message: &str) {}
    /// Why a token was refused (the client only sees "Not authorized"); the native server
    /// logs it at debug level.
    fn refused(&self, _reason: &str) {}
}

/// What discovery found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    /// `EXO_OIDC_URL` as given.
    pub url: String,
    pub issuer: String,
    pub jwks_uri: String,
}

/// Reads `<url>/.well-known/openid-configuration`. Errors name the URL.
pub async fn discover<H: OidcHost>(url: &str, host: &H) -> Result<Provider, String> {
    let config_url = format!("{}/.well-known/openid-configuration", url.trim_end_matches('/'));
    let fail = |why: String| format!("cannot use the OIDC provider `EXO_OIDC_URL` = `{url}`: {why}");
    let reply =
        host.get(&config_url, START_TIMEOUT).await.map_err(|e| fail(format!("fetching {config_url} failed: {e}")))?;
    if reply.status != 200 {
        return Err(fail(format!("{config_url} answered HTTP {}", reply.status)));
    }
    let doc: Json = serde_json::from_slice(&reply.body)
        .map_err(|e| fail(format!("{config_url} is not an OpenID configuration document ({e})")))?;
    let text = |name: &str| doc.get(name).and_then(Json::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let issuer = text("issuer").ok_or_else(|| fail(format!("{config_url} names no `issuer`")))?;
    let jwks_uri = text("jwks_uri").ok_or_else(|| fail(format!("{config_url} names no `jwks_uri`")))?;
    Ok(Provider { url: url.to_string(), issuer, jwks_uri })
}

struct KeyState {
    jwks: Arc<Jwks>,
    /// Unix seconds after which the set is fetched again.
    expires_at: u64,
    /// When the last fetch started (successful or not); the rate limit counts from here.
    last_attempt: u64,
}

/// Verifies tokens of one provider, with its key set cached (see the module's rules).
pub struct OidcVerifier<H> {
    provider: Provider,
    host: H,
    state: Mutex<KeyState>,
}

impl<H: OidcHost> OidcVerifier<H> {
    /// Discovery, then the key set: what `exo serve` does at start-up. Any failure is an
    /// error naming the URL.
    pub async fn start(url: &str, host: H, now: u64) -> Result<OidcVerifier<H>, String> {
        let provider = discover(url, &host).await?;
        let (jwks, max_age) = fetch_jwks(&provider, &host, START_TIMEOUT).await.map_err(|e| {
            format!("cannot use the OIDC provider `EXO_OIDC_URL` = `{url}`: its key set {}: {e}", provider.jwks_uri)
        })?;
        if jwks.keys.is_empty() {
            return Err(format!(
                "cannot use the OIDC provider `EXO_OIDC_URL` = `{url}`: its key set {} holds no key exo can use ({})",
                provider.jwks_uri,
                jwks.skipped.join("; ")
            ));
        }
        Ok(OidcVerifier::from_parts(provider, jwks, max_age, now, host))
    }

    /// A verifier for an already discovered provider and fetched key set (benches, tests).
    pub fn from_parts(provider: Provider, jwks: Jwks, max_age: u64, now: u64, host: H) -> OidcVerifier<H> {
        let state = KeyState { jwks: Arc::new(jwks), expires_at: now.saturating_add(max_age), last_attempt: now };
        OidcVerifier { provider, host, state: Mutex::new(state) }
    }

    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    pub fn host(&self) -> &H {
        &self.host
    }

    /// Verifies `token` at time `now` (Unix seconds) and returns its claims.
    pub async fn verify(&self, token: &str, now: u64) -> Result<Json, TokenError> {
        let jws = Jws::split(token)?;
        let alg = match jws.header.get("alg").and_then(Json::as_str) {
            Some("none") => return Err(invalid("algorithm `none` is never accepted")),
            Some(name) => Alg::parse(name).ok_or_else(|| invalid(format!("algorithm `{name}` is not accepted")))?,
            None => return Err(invalid("the token header names no algorithm")),
        };
        let kid = match jws.header.get("kid") {
            None => None,
            Some(Json::String(k)) => Some(k.as_str()),
            Some(_) => return Err(invalid("the token's `kid` is not a string")),
        };

        let (mut jwks, stale) = self.snapshot(now);
        let mut fetched = false;
        if stale {
            if let Some(fresh) = self.refresh(now).await {
                jwks = fresh;
                fetched = true;
            }
        }
        let known = match kid {
            Some(kid) => jwks.has_kid(kid),
            None => jwks.candidates(None, alg).next().is_some(),
        };
        if !known && !fetched {
            // Perhaps the provider rotated its keys: one refetch, within the rate limit.
            if let Some(fresh) = self.refresh(now).await {
                jwks = fresh;
            }
        }
        let mut any = false;
        for key in jwks.candidates(kid, alg) {
            any = true;
            match self.host.verify_signature(key, alg, jws.signing_input.as_bytes(), &jws.signature).await {
                Ok(true) => return check_claims(jws.claims()?, &self.provider.issuer, now),
                Ok(false) => {}
                Err(e) => return Err(invalid(format!("the signature could not be checked: {e}"))),
            }
        }
        Err(if any {
            invalid("the signature does not verify")
        } else if kid.is_some_and(|k| jwks.has_kid(k)) {
            invalid(format!("key `{}` does not allow algorithm `{}`", kid.unwrap_or_default(), alg.name()))
        } else {
            invalid(format!("no key `{}` in the provider's key set", kid.unwrap_or("(none)")))
        })
    }

    /// The current key set, and whether it has expired.
    fn snapshot(&self, now: u64) -> (Arc<Jwks>, bool) {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (state.jwks.clone(), now >= state.expires_at)
    }

    /// Fetches the key set again unless one was fetched less than
    /// [`REFETCH_INTERVAL_SECONDS`] ago; `None` when rate-limited or when the fetch failed
    /// (the keys held stay in use).
    async fn refresh(&self, now: u64) -> Option<Arc<Jwks>> {
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if now < state.last_attempt.saturating_add(REFETCH_INTERVAL_SECONDS) {
                return None;
            }
            // Claimed before the fetch, so concurrent requests do not fetch too.
            state.last_attempt = now;
        }
        match fetch_jwks(&self.provider, &self.host, REFRESH_TIMEOUT).await {
            Ok((jwks, max_age)) => {
                let jwks = Arc::new(jwks);
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                state.jwks = jwks.clone();
                state.expires_at = now.saturating_add(max_age);
                Some(jwks)
            }
            Err(e) => {
                self.host.warn(&format!(
                    "cannot refresh the OIDC key set from {}: {e}; the keys already fetched stay in use",
                    self.provider.jwks_uri
                ));
                None
            }
        }
    }
}

impl<H: OidcHost + 'static> TokenVerifier for OidcVerifier<H> {
    fn verify<'a>(&'a self, token: &'a str, now: u64) -> BoxFuture<'a, Result<Json, TokenError>> {
        Box::pin(async move {
            let verdict = OidcVerifier::verify(self, token, now).await;
            if let Err(TokenError::Invalid(reason)) = &verdict {
                self.host.refused(reason);
            }
            verdict
        })
    }
}

/// Fetches and parses the key set; returns it with how long it may be used.
async fn fetch_jwks<H: OidcHost>(provider: &Provider, host: &H, timeout: Duration) -> Result<(Jwks, u64), String> {
    let reply = host.get(&provider.jwks_uri, timeout).await?;
    if reply.status != 200 {
        return Err(format!("HTTP {}", reply.status));
    }
    let jwks = Jwks::parse(&reply.body)?;
    Ok((jwks, max_age(reply.cache_control.as_deref())))
}

/// Seconds a response may be used, from `Cache-Control` (`max-age`; `no-store`/`no-cache`
/// mean 0, so the set is fetched again on the next token, still at most once per interval).
pub fn max_age(cache_control: Option<&str>) -> u64 {
    let Some(value) = cache_control else {
        return DEFAULT_MAX_AGE;
    };
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return 0;
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            age = n.trim_matches('"').parse::<u64>().ok();
        }
    }
    age.unwrap_or(DEFAULT_MAX_AGE).min(MAX_MAX_AGE)
}

fn invalid(why: impl Into<String>) -> TokenError {
    TokenError::Invalid(why.into())
}

/// A compact JWS split into its parts.
pub struct Jws<'a> {
    pub header: Json,
    /// `base64url(header) "." base64url(payload)`, the bytes the signature covers.
    pub signing_input: &'a str,
    payload: &'a str,
    pub signature: Vec<u8>,
}

impl<'a> Jws<'a> {
    pub fn split(token: &'a str) -> Result<Jws<'a>, TokenError> {
        let malformed = || invalid("malformed token");
        let (signing_input, signature) = token.rsplit_once('.').ok_or_else(malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or_else(malformed)?;
        if payload.contains('.') {
            return Err(malformed());
        }
        let header: Json = decode_json(header).ok_or_else(malformed)?;
        if !header.is_object() {
            return Err(malformed());
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| malformed())?;
        Ok(Jws { header, signing_input, payload, signature })
    }

    /// The payload, decoded only after the signature verified.
    pub fn claims(&self) -> Result<Json, TokenError> {
        match decode_json(self.payload) {
            Some(c @ Json::Object(_)) => Ok(c),
            _ => Err(invalid("the token's claims are not a JSON object")),
        }
    }
}

fn decode_json(part: &str) -> Option<Json> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `exp` (required), `nbf` (if present), both with [`LEEWAY_SECONDS`]; `iss` equal to the
/// provider's issuer.
pub fn check_claims(claims: Json, issuer: &str, now: u64) -> Result<Json, TokenError> {
    let time = |name: &str| -> Result<Option<f64>, TokenError> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| invalid(format!("`{name}` is not a number"))),
        }
    };
    let now = now as f64;
    let leeway = LEEWAY_SECONDS as f64;
    match time("exp")? {
        None => return Err(invalid("the token has no `exp`")),
        Some(exp) if now > exp + leeway => return Err(TokenError::Expired),
        Some(_) => {}
    }
    if let Some(nbf) = time("nbf")? {
        if now + leeway < nbf {
            return Err(invalid("the token is not valid yet (`nbf`)"));
        }
    }
    match claims.get("iss").and_then(Json::as_str) {
        Some(iss) if iss == issuer => Ok(claims),
        Some(iss) => Err(invalid(format!("issuer `{iss}` is not `{issuer}`"))),
        None => Err(invalid("the token has no `iss`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cache_control_sets_the_key_sets_lifetime() {
        assert_eq!(max_age(None), DEFAULT_MAX_AGE);
        assert_eq!(max_age(Some("public, max-age=3600, must-revalidate")), 3600);
        assert_eq!(max_age(Some("Max-Age=17")), 17);
        assert_eq!(max_age(Some("no-store")), 0);
        assert_eq!(max_age(Some("max-age=99999999")), MAX_MAX_AGE);
        assert_eq!(max_age(Some("private")), DEFAULT_MAX_AGE);
    }

    #[test]
    fn claims_are_checked_with_leeway() {
        let iss = "https://issuer.example";
        let now = 1_000_000;
        let ok = |c: Json| check_claims(c, iss, now);
        assert!(ok(json!({"iss": iss, "exp": now + 10})).is_ok());
        // Within the leeway either side.
        assert!(ok(json!({"iss": iss, "exp": now - 59, "nbf": now + 59})).is_ok());
        assert_eq!(ok(json!({"iss": iss, "exp": now - 61})), Err(TokenError::Expired));
        assert!(
            matches!(ok(json!({"iss": iss, "exp": now + 10, "nbf": now + 61})), Err(TokenError::Invalid(m)) if m.contains("nbf"))
        );
        assert!(
            matches!(ok(json!({"iss": "https://other.example", "exp": now + 10})), Err(TokenError::Invalid(m)) if m.contains("issuer"))
        );
        assert!(matches!(ok(json!({"iss": iss})), Err(TokenError::Invalid(m)) if m.contains("exp")));
        assert!(matches!(ok(json!({"exp": now + 10})), Err(TokenError::Invalid(m)) if m.contains("iss")));
        assert!(matches!(ok(json!({"iss": iss, "exp": "tomorrow"})), Err(TokenError::Invalid(_))));
    }

    #[test]
    fn malformed_tokens_are_invalid_not_panics() {
        for t in ["", ".", "..", "a.b", "a.b.c.d", "e30.e30.!!", "bm90IGpzb24.e30.", "W10.e30."] {
            assert!(matches!(Jws::split(t), Err(TokenError::Invalid(_))), "{t}");
        }
        let jws = Jws::split("e30.bm90IGpzb24.").unwrap();
        assert!(jws.claims().is_err());
    }
}
