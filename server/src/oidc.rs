//! The native half of OIDC (`EXO_OIDC_URL`): [`NativeOidcHost`] fetches the discovery document
//! and key set over HTTP/1.1 (hyper's client; rustls with the `ring` provider and the
//! platform's root certificates for `https://`) and checks signatures with `ring`. Everything
//! else (key selection, caching, claims) is the runtime's [`exo_runtime::oidc`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use exo_runtime::jwk::{Alg, Curve, Jwk, KeyMaterial};
use exo_runtime::oidc::{HttpReply, OidcHost, OidcVerifier, MAX_DOCUMENT_BYTES};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::error::Error;
use crate::log;

/// HTTP and signatures for the runtime's OIDC verifier, natively.
#[derive(Default)]
pub struct NativeOidcHost {
    tls: OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
}

/// Discovery and the first key set, for `exo serve` / `exo dev` start-up: a failure is an
/// error naming `EXO_OIDC_URL`.
pub async fn start(url: &str, now: u64) -> Result<OidcVerifier<NativeOidcHost>, Error> {
    let verifier = OidcVerifier::start(url, NativeOidcHost::default(), now).await.map_err(Error::new)?;
    let provider = verifier.provider();
    log::info(&format!("OIDC: issuer {}, keys from {}", provider.issuer, provider.jwks_uri));
    Ok(verifier)
}

impl OidcHost for NativeOidcHost {
    async fn get(&self, url: &str, timeout: Duration) -> Result<HttpReply, String> {
        // Dropping the fetch on timeout closes its connection.
        match tokio::time::timeout(timeout, self.fetch(url)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        }
    }

    async fn verify_signature(&self, key: &Jwk, alg: Alg, message: &[u8], sig: &[u8]) -> Result<bool, String> {
        Ok(verify(key, alg, message, sig))
    }

    fn warn(&self, message: &str) {
        log::warn(message);
    }

    fn refused(&self, reason: &str) {
        log::debug(&format!("OIDC token refused: {reason}"));
    }
}

/// Checks a JWS signature with `ring`. ECDSA signatures in JWS are the fixed-width `r || s`.
pub fn verify(key: &Jwk, alg: Alg, message: &[u8], sig: &[u8]) -> bool {
    match (&key.material, alg) {
        (KeyMaterial::Rsa { n, e }, _) => {
            let params = match alg {
                Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                Alg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                _ => return false,
            };
            RsaPublicKeyComponents { n, e }.verify(params, message, sig).is_ok()
        }
        (KeyMaterial::Ec { curve, x, y }, _) => {
            let params = match (curve, alg) {
                (Curve::P256, Alg::Es256) => &signature::ECDSA_P256_SHA256_FIXED,
                (Curve::P384, Alg::Es384) => &signature::ECDSA_P384_SHA384_FIXED,
                _ => return false,
            };
            let mut point = Vec::with_capacity(1 + x.len() + y.len());
            point.push(0x04);
            point.extend_from_slice(x);
            point.extend_from_slice(y);
            UnparsedPublicKey::new(params, point).verify(message, sig).is_ok()
        }
        (KeyMaterial::Ed25519 { x }, Alg::EdDsa) => {
            UnparsedPublicKey::new(&signature::ED25519, x).verify(message, sig).is_ok()
        }
        (KeyMaterial::Ed25519 { .. }, _) => false,
    }
}

/// The parts of an `http://` or `https://` URL a GET needs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target<'a> {
    pub tls: bool,
    /// Without brackets, for connecting and for TLS server names.
    pub host: &'a str,
    pub port: u16,
    /// As written, for the `Host` header.
    pub authority: &'a str,
    pub path: &'a str,
}

pub(crate) fn parse_url(url: &str) -> Result<Target<'_>, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("`{url}` is not an http:// or https:// URL"));
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = path.split('#').next().unwrap_or_default();
    let path = match path {
        "" => "/",
        p if p.starts_with('/') => p,
        _ => return Err(format!("`{url}` has a query but no path")),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("`{url}` has no host, or has credentials in it"));
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| format!("`{url}` has an unclosed `[`"))?;
        match after.strip_prefix(':') {
            Some(p) => (host, p.parse().map_err(|_| format!("`{url}` has a bad port"))?),
            None if after.is_empty() => (host, default_port),
            None => return Err(format!("`{url}` has a bad host")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| format!("`{url}` has a bad port"))?),
            None => (authority, default_port),
        }
    };
    Ok(Target { tls, host, port, authority, path })
}

impl NativeOidcHost {
    async fn fetch(&self, url: &str) -> Result<HttpReply, String> {
        let target = parse_url(url)?;
        let tcp = TcpStream::connect((target.host, target.port))
            .await
            .map_err(|e| format!("cannot connect to {}:{}: {e}", target.host, target.port))?;
        let _ = tcp.set_nodelay(true);
        if !target.tls {
            return request(tcp, &target).await;
        }
        let config = self.tls.get_or_init(tls_config).clone()?;
        let name = rustls::pki_types::ServerName::try_from(target.host.to_string())
            .map_err(|_| format!("`{}` is not a valid TLS server name", target.host))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {} failed: {e}", target.host))?;
        request(stream, &target).await
    }
}

async fn request<S>(stream: S, target: &Target<'_>) -> Result<HttpReply, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    // The connection task ends when `sender` is dropped and the response is read.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = hyper::Request::get(target.path)
        .header(hyper::header::HOST, target.authority)
        .header(hyper::header::ACCEPT, "application/json")
        .header(hyper::header::USER_AGENT, concat!("exo/", env!("CARGO_PKG_VERSION")))
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let response: hyper::Response<Incoming> = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    // Refused before reading when the length is announced (`Limited` checks the rest).
    let announced =
        response.headers().get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if announced.is_some_and(|l| l > MAX_DOCUMENT_BYTES as u64) {
        return Err(format!("the document is larger than {MAX_DOCUMENT_BYTES} bytes"));
    }
    let cache_control = response
        .headers()
        .get_all(hyper::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ");
    let body = Limited::new(response.into_body(), MAX_DOCUMENT_BYTES)
        .collect()
        .await
        .map_err(|e| format!("reading the body failed: {e}"))?
        .to_bytes()
        .to_vec();
    Ok(HttpReply { status, body, cache_control: (!cache_control.is_empty()).then_some(cache_control) })
}

/// TLS for `https://` providers: the platform's root certificates, rustls with `ring`.
// rustls 0.23.48 deprecates the `ring` provider (no post-quantum key exchange); it is kept
// because `ring` already does the signature checks and the Postgres TLS work uses it too.
#[allow(deprecated)]
pub(crate) fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(format!(
            "no trusted root certificates were found on this system ({} errors); install the CA certificates \
             (`apt-get install ca-certificates`)",
            found.errors.len()
        ));
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("https://id.example/.well-known/openid-configuration").unwrap();
        assert_eq!(
            t,
            Target {
                tls: true,
                host: "id.example",
                port: 443,
                authority: "id.example",
                path: "/.well-known/openid-configuration"
            }
        );
        let t = parse_url("http://127.0.0.1:8080").unwrap();
        assert_eq!((t.host, t.port, t.path), ("127.0.0.1", 8080, "/"));
        let t = parse_url("http://[::1]:9/keys?v=2#x").unwrap();
        assert_eq!((t.host, t.port, t.authority, t.path), ("::1", 9, "[::1]:9", "/keys?v=2"));
        for bad in ["ftp://x", "https://", "http://user:pw@x/", "http://x:port/", "http://[::1/"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_a_start_up_error_naming_it() {
        // A port nothing listens on: bind, read the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let e = match start(&url, 0).await {
            Err(e) => e,
            Ok(_) => panic!("discovery against a closed port succeeded"),
        };
        assert!(e.message().contains(&format!("`EXO_OIDC_URL` = `{url}`")), "{e}");
        assert!(e.message().contains("cannot connect"), "{e}");
    }
}
