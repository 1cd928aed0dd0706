//! The Worker half of OIDC (wasm32 only): [`WorkerOidcHost`] fetches the discovery document
//! and key set with the Workers `fetch` and checks signatures with WebCrypto
//! (`crypto.subtle`), so the wasm carries no RSA or elliptic-curve code. Key selection,
//! caching and claims are the runtime's [`exo_runtime::oidc`], as natively.

use std::cell::RefCell;
use std::time::Duration;

use exo_runtime::jwk::{Alg, Jwk, KeyMaterial};
use exo_runtime::oidc::{HttpReply, OidcHost, MAX_DOCUMENT_BYTES};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use worker::worker_sys::web_sys;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`, bound directly: `worker::Fetch` and its wrappers cost more wasm.
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(url: &str, init: &JsValue) -> js_sys::Promise;

    /// `AbortSignal.timeout(ms)`: aborts the fetch, body included, after `ms`.
    #[wasm_bindgen(js_namespace = AbortSignal, js_name = timeout)]
    fn abort_after(ms: f64) -> JsValue;

    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = importKey, catch)]
    fn import_key(
        format: &str,
        key: &JsValue,
        algorithm: &JsValue,
        extractable: bool,
        usages: &JsValue,
    ) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = verify, catch)]
    fn subtle_verify(
        algorithm: &JsValue,
        key: &JsValue,
        signature: &[u8],
        data: &[u8],
    ) -> Result<js_sys::Promise, JsValue>;
}

/// Imported keys are kept per isolate (importing costs more than verifying); bounded so a
/// provider rotating often cannot grow it without end.
const MAX_IMPORTED_KEYS: usize = 32;

#[derive(Default)]
pub struct WorkerOidcHost {
    /// A short list searched in order: no hashing code for a handful of keys.
    imported: RefCell<Vec<((Alg, KeyMaterial), JsValue)>>,
}

fn js(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap_or(JsValue::NULL)
}

fn message(e: JsValue) -> String {
    e.as_string()
        .or_else(|| js_sys::Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string()))
        .unwrap_or_else(|| format!("{e:?}"))
}

/// The WebCrypto algorithm, as JSON, for importing a key (`import`) or verifying (`!import`).
fn algorithm(key: &Jwk, alg: Alg, import: bool) -> String {
    match (&key.material, alg.hash()) {
        // RSA binds the hash at import.
        (KeyMaterial::Rsa { .. }, Some(hash)) => format!(r#"{{"name":"RSASSA-PKCS1-v1_5","hash":"{hash}"}}"#),
        (KeyMaterial::Ec { curve, .. }, Some(_)) if import => {
            format!(r#"{{"name":"ECDSA","namedCurve":"{}"}}"#, curve.name())
        }
        (KeyMaterial::Ec { .. }, Some(hash)) => format!(r#"{{"name":"ECDSA","hash":"{hash}"}}"#),
        _ => r#"{"name":"Ed25519"}"#.to_string(),
    }
}

impl WorkerOidcHost {
    async fn crypto_key(&self, key: &Jwk, alg: Alg) -> Result<JsValue, String> {
        let id = (alg, key.material.clone());
        if let Some((_, k)) = self.imported.borrow().iter().find(|(i, _)| *i == id) {
            return Ok(k.clone());
        }
        let usages = js_sys::Array::of1(&"verify".into());
        let promise = import_key("jwk", &js(&key.to_public_jwk()), &js(&algorithm(key, alg, true)), false, &usages)
            .map_err(message)?;
        let imported =
            JsFuture::from(promise).await.map_err(|e| format!("importing the key failed: {}", message(e)))?;
        let mut cache = self.imported.borrow_mut();
        if cache.len() >= MAX_IMPORTED_KEYS {
            cache.clear();
        }
        cache.push((id, imported.clone()));
        Ok(imported)
    }
}

impl OidcHost for WorkerOidcHost {
    async fn get(&self, url: &str, timeout: Duration) -> Result<HttpReply, String> {
        let init = js_sys::Object::new();
        // On timeout the fetch fails with the signal's `TimeoutError` ("... aborted due to timeout").
        let _ = js_sys::Reflect::set(&init, &"signal".into(), &abort_after(timeout.as_secs_f64() * 1000.0));
        let response = JsFuture::from(global_fetch(url, &init)).await.map_err(message)?;
        let response: web_sys::Response =
            response.dyn_into().map_err(|_| "fetch did not return a Response".to_string())?;
        let status = response.status();
        let header = |name: &str| response.headers().get(name).ok().flatten();
        let cache_control = header("cache-control");
        // Refused before reading when the length is announced (a chunked body is checked below).
        if header("content-length")
            .and_then(|l| l.trim().parse::<u64>().ok())
            .is_some_and(|l| l > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(format!("the document is larger than {MAX_DOCUMENT_BYTES} bytes"));
        }
        let body = response.array_buffer().map_err(message)?;
        let body = JsFuture::from(body).await.map_err(|e| format!("reading the body failed: {}", message(e)))?;
        let body = js_sys::Uint8Array::new(&body);
        if body.length() as usize > MAX_DOCUMENT_BYTES {
            return Err(format!("the document is larger than {MAX_DOCUMENT_BYTES} bytes"));
        }
        Ok(HttpReply { status, body: body.to_vec(), cache_control })
    }

    async fn verify_signature(&self, key: &Jwk, alg: Alg, message: &[u8], signature: &[u8]) -> Result<bool, String> {
        let crypto_key = self.crypto_key(key, alg).await?;
        let promise =
            subtle_verify(&js(&algorithm(key, alg, false)), &crypto_key, signature, message).map_err(self::message)?;
        let verdict = JsFuture::from(promise).await.map_err(|e| format!("verifying failed: {}", self::message(e)))?;
        Ok(verdict.as_bool() == Some(true))
    }

    fn warn(&self, text: &str) {
        worker::console_warn!("exo: {text}");
    }
}
