//! TLS to Postgres with rustls: the `sslmode`/`ssl`/`sslrootcert` URL parameters, the
//! certificate checks each mode asks for, and a `tokio_postgres` TLS connector that reports
//! `tls-server-end-point` channel binding (so SCRAM uses `SCRAM-SHA-256-PLUS` when offered).
//!
//! tokio-postgres knows only `disable|prefer|require` and does no TLS itself; exo takes the
//! libpq modes out of the URL, gives tokio-postgres the transport mode (`Disable`, `Prefer` or
//! `Require`) and decides here what is verified:
//!
//! | mode | TLS | verified |
//! |---|---|---|
//! | `disable` | never | - |
//! | `allow` | only if the plain attempt is refused | nothing |
//! | `prefer` (default) | if the server offers it | nothing |
//! | `require` | always | nothing; the chain (as `verify-ca`) when `sslrootcert` is given, as libpq does |
//! | `verify-ca` | always | the chain, against `sslrootcert` or the platform's roots |
//! | `verify-full` (`ssl=true`) | always | the chain and the host name |
//!
//! The provider is `ring`: it builds in a fraction of aws-lc-rs's time and needs no C
//! toolchain beyond what `ring` itself compiles.

use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::Digest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// The libpq `sslmode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<SslMode> {
        Some(match value.to_ascii_lowercase().as_str() {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// What tokio-postgres is told: whether to send `SSLRequest` and whether a refusal ends
    /// the attempt. `allow` starts plain (see `db::connect`).
    pub(crate) fn transport(self) -> tokio_postgres::config::SslMode {
        use tokio_postgres::config::SslMode as T;
        match self {
            SslMode::Disable | SslMode::Allow => T::Disable,
            SslMode::Prefer => T::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => T::Require,
        }
    }
}

/// The TLS parameters of a database URL, taken out of it (tokio-postgres rejects most of them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsParams {
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
}

/// Splits `ssl`, `sslmode` and `sslrootcert` off a URL's query. Errors are messages (without
/// the URL; the caller adds it).
pub(crate) fn take_tls_params(url: &str) -> Result<(String, TlsParams), String> {
    let mut params = TlsParams { mode: SslMode::Prefer, root_cert: None };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), params));
    };
    let mut kept = Vec::new();
    let (mut ssl_flag, mut sslmode) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "ssl" => {
                ssl_flag = Some(match value.to_ascii_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(format!("`ssl={value}` is not a boolean; use `ssl=true` (same as `sslmode=verify-full`) or `ssl=false`")),
                })
            }
            "sslmode" => {
                sslmode = Some(SslMode::parse(&value).ok_or_else(|| {
                    format!("`sslmode={value}` is not a TLS mode; use one of disable, allow, prefer, require, verify-ca, verify-full")
                })?)
            }
            "sslrootcert" => params.root_cert = Some(PathBuf::from(value)),
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" => {
                return Err(format!("`{key}` (client certificates, revocation lists) is not supported; authenticate with a password"))
            }
            _ => kept.push(pair),
        }
    }
    params.mode = match (sslmode, ssl_flag) {
        (Some(mode), _) => mode,
        (None, Some(true)) => SslMode::VerifyFull,
        (None, Some(false)) => SslMode::Disable,
        (None, None) => SslMode::Prefer,
    };
    // libpq: `require` with a root certificate verifies the chain.
    if params.mode == SslMode::Require && params.root_cert.is_some() {
        params.mode = SslMode::VerifyCa;
    }
    let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    Ok((url, params))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A ready rustls configuration for one mode (built once per pool).
#[derive(Clone)]
pub(crate) struct Tls {
    pub(crate) params: TlsParams,
    config: Option<Arc<ClientConfig>>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("params", &self.params).finish()
    }
}

impl Tls {
    /// Loads the roots the mode needs (`sslrootcert`, else the platform's) and builds the
    /// rustls configuration.
    pub(crate) fn new(params: TlsParams) -> Result<Tls, String> {
        if params.mode == SslMode::Disable {
            return Ok(Tls { params, config: None });
        }
        // rustls 0.23.48 deprecates the ring provider for lacking post-quantum key exchange;
        // kept on purpose (see the module docs): aws-lc-rs would add minutes to every build.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?;
        let verifier: Arc<dyn ServerCertVerifier> = match params.mode {
            SslMode::Disable | SslMode::Allow | SslMode::Prefer | SslMode::Require => {
                Arc::new(NoVerification(provider))
            }
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let roots = match &params.root_cert {
                    Some(path) => Arc::new(load_root_file(path)?),
                    None => platform_roots()?,
                };
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| format!("cannot set up certificate verification: {e}"))?;
                Arc::new(Verification { webpki, check_name: params.mode == SslMode::VerifyFull })
            }
        };
        let mut config = builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
        // PostgreSQL 17 checks ALPN on direct TLS; older servers ignore it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(Tls { params, config: Some(Arc::new(config)) })
    }

    /// The connector for one connection to `host` (the name the certificate must carry). An
    /// unusable name (a Unix socket's empty host) fails only if TLS is actually negotiated:
    /// `prefer` over a Unix socket gets `N` and stays plain.
    pub(crate) fn connector(&self, host: &str) -> Result<RustlsConnect, String> {
        let config = self.config.clone().ok_or("TLS is disabled (`sslmode=disable`)")?;
        let name =
            ServerName::try_from(host.to_string()).map_err(|_| format!("`{host}` is not a valid host name for TLS"));
        Ok(RustlsConnect { config, name, mode: self.params.mode })
    }
}

fn load_root_file(path: &std::path::Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read `sslrootcert` file `{shown}`: {e}"))?;
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| format!("`sslrootcert` file `{shown}` is not PEM: {e}"))?;
        store
            .add(cert)
            .map_err(|e| format!("`sslrootcert` file `{shown}` holds a certificate rustls cannot use: {e}"))?;
    }
    if store.is_empty() {
        return Err(format!("`sslrootcert` file `{shown}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)"));
    }
    Ok(store)
}

/// The platform's trusted roots, read once per process (about 150 certificates).
fn platform_roots() -> Result<Arc<RootCertStore>, String> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut store = RootCertStore::empty();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found.errors.first().map(|e| format!(" ({e})")).unwrap_or_default();
                return Err(format!(
                    "no trusted root certificates found on this system{why}; install `ca-certificates`, \
                     or give the server's CA with `sslrootcert=/path/to/ca.pem`"
                ));
            }
            Ok(Arc::new(store))
        })
        .clone()
}

/// `require`, `prefer` and `allow`: encrypted, but any certificate is accepted (as libpq).
/// Handshake signatures are still checked, so the server holds the certificate's key.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca` and `verify-full`: webpki's checks; `verify-ca` forgives a name mismatch only.
#[derive(Debug)]
struct Verification {
    webpki: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for Verification {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// A failed handshake, in words a user can act on.
#[derive(Debug)]
pub(crate) struct TlsError(String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

impl TlsError {
    fn from_handshake(e: io::Error, host: &ServerName<'_>, mode: SslMode) -> TlsError {
        let host = host.to_str();
        let rustls_error = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let message = match rustls_error {
            Some(rustls::Error::InvalidCertificate(cert)) => describe_certificate_error(cert, &host, mode),
            Some(other) => format!("TLS handshake with `{host}` failed: {other}"),
            None => format!("TLS handshake with `{host}` failed: {e}"),
        };
        TlsError(message)
    }
}

fn describe_certificate_error(e: &CertificateError, host: &str, mode: SslMode) -> String {
    match e {
        CertificateError::UnknownIssuer => format!(
            "the server's certificate has an unknown issuer (not signed by a trusted CA; `sslmode={}`): \
             give the CA that signed it with `sslrootcert=/path/to/ca.pem`",
            mode.as_str()
        ),
        CertificateError::NotValidForNameContext { presented, .. } => format!(
            "the server's certificate is for host {}, not `{host}` (`sslmode=verify-full` checks the name): \
             connect with a name the certificate carries, or use `sslmode=verify-ca`",
            presented.iter().map(|n| format!("`{}`", presented_name(n))).collect::<Vec<_>>().join(", ")
        ),
        CertificateError::NotValidForName => format!(
            "the server's certificate is not for host `{host}` (`sslmode=verify-full` checks the name): \
             connect with a name the certificate carries, or use `sslmode=verify-ca`"
        ),
        CertificateError::BadSignature => format!(
            "the server's certificate does not verify against the trusted CA (bad signature; `sslmode={}`): \
             give the CA that signed it with `sslrootcert=/path/to/ca.pem`",
            mode.as_str()
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the server's certificate has expired".to_string()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet (check the clock)".to_string()
        }
        other => format!("the server's certificate was refused: {other:?}"),
    }
}

/// A name as rustls reports it (`DnsName("db.example")`, `IpAddress(10.0.0.1)`), bare.
fn presented_name(name: &str) -> &str {
    name.strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| name.strip_prefix("IpAddress(").and_then(|n| n.strip_suffix(')')))
        .unwrap_or(name)
}

/// Hooks a stream gets before TLS takes it over.
pub(crate) trait BeforeTls {
    /// The stream is about to carry TLS records instead of Postgres messages.
    fn before_tls(&mut self) {}
}

impl BeforeTls for tokio_postgres::Socket {}

/// The short-lived connection a cancel request goes over.
impl BeforeTls for tokio::net::TcpStream {}

/// Connects one stream; made per connection by [`Tls::connector`] or [`MakeRustls`].
pub(crate) struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: Result<ServerName<'static>, String>,
    mode: SslMode,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + BeforeTls + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = TlsError;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream<S>, TlsError>> + Send>>;

    fn connect(self, mut stream: S) -> Self::Future {
        stream.before_tls();
        Box::pin(async move {
            let name = self.name.map_err(TlsError)?;
            let connector = tokio_rustls::TlsConnector::from(self.config);
            match connector.connect(name.clone(), stream).await {
                Ok(tls) => Ok(RustlsStream(Box::new(tls))),
                Err(e) => Err(TlsError::from_handshake(e, &name, self.mode)),
            }
        })
    }
}

/// For tokio-postgres's own connector (Unix sockets, several hosts).
#[derive(Clone)]
pub(crate) struct MakeRustls(pub(crate) Tls);

impl MakeTlsConnect<tokio_postgres::Socket> for MakeRustls {
    type Stream = RustlsStream<tokio_postgres::Socket>;
    type TlsConnect = RustlsConnect;
    type Error = TlsError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, TlsError> {
        self.0.connector(domain).map_err(TlsError)
    }
}

/// The encrypted stream; boxed because rustls's connection state is large.
pub(crate) struct RustlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        let (_, connection) = self.0.get_ref();
        connection
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(|cert| tls_server_end_point(cert.as_ref()))
            .map(ChannelBinding::tls_server_end_point)
            .unwrap_or_else(ChannelBinding::none)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

/// RFC 5929 `tls-server-end-point`: the certificate hashed with its signature's hash, SHA-256
/// for MD5 and SHA-1. `None` for algorithms without a defined binding (Ed25519, RSA-PSS), in
/// which case SCRAM goes without channel binding.
fn tls_server_end_point(cert: &[u8]) -> Option<Vec<u8>> {
    const SHA256: &[&[u8]] = &[
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04], // md5WithRSAEncryption
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05], // sha1WithRSAEncryption
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b], // sha256WithRSAEncryption
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01],             // ecdsa-with-SHA1
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02],       // ecdsa-with-SHA256
    ];
    const SHA384: &[&[u8]] = &[
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c], // sha384WithRSAEncryption
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],       // ecdsa-with-SHA384
    ];
    const SHA512: &[&[u8]] = &[
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d], // sha512WithRSAEncryption
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],       // ecdsa-with-SHA512
    ];
    let oid = signature_algorithm(cert)?;
    if SHA256.contains(&oid) {
        Some(sha2::Sha256::digest(cert).to_vec())
    } else if SHA384.contains(&oid) {
        Some(sha2::Sha384::digest(cert).to_vec())
    } else if SHA512.contains(&oid) {
        Some(sha2::Sha512::digest(cert).to_vec())
    } else {
        None
    }
}

/// The OID bytes of `Certificate.signatureAlgorithm` (a DER walk: SEQUENCE { tbs SEQUENCE,
/// SEQUENCE { OID, ... }, BIT STRING }).
fn signature_algorithm(cert: &[u8]) -> Option<&[u8]> {
    let (tag, body, _) = der(cert)?;
    if tag != 0x30 {
        return None;
    }
    let (_, _, after_tbs) = der(body)?;
    let (tag, algorithm, _) = der(after_tbs)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, oid, _) = der(algorithm)?;
    (tag == 0x06).then_some(oid)
}

/// One DER element: (tag, contents, rest).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        rest = &rest[n..];
        len
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(url: &str) -> (String, TlsParams) {
        take_tls_params(url).unwrap()
    }

    #[test]
    fn url_parameters_become_modes() {
        assert_eq!(params("postgres://h/db").1.mode, SslMode::Prefer);
        assert_eq!(params("postgres://h/db?ssl=true").1.mode, SslMode::VerifyFull);
        assert_eq!(params("postgres://h/db?ssl=false").1.mode, SslMode::Disable);
        assert_eq!(params("postgres://h/db?ssl=true&sslmode=require").1.mode, SslMode::Require);
        for (text, mode) in [
            ("disable", SslMode::Disable),
            ("allow", SslMode::Allow),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
        ] {
            let (url, p) = params(&format!("postgres://h/db?application_name=x&sslmode={text}&connect_timeout=3"));
            assert_eq!(p.mode, mode);
            assert_eq!(url, "postgres://h/db?application_name=x&connect_timeout=3");
        }
        let (url, p) = params("postgres://h/db?sslmode=require&sslrootcert=%2Ftmp%2Fmy%20ca.pem");
        assert_eq!(url, "postgres://h/db");
        assert_eq!(p.mode, SslMode::VerifyCa, "require with a root certificate verifies the chain, as libpq");
        assert_eq!(p.root_cert, Some(PathBuf::from("/tmp/my ca.pem")));
    }

    #[test]
    fn bad_parameters_say_what_is_accepted() {
        assert!(take_tls_params("postgres://h/db?sslmode=strict").unwrap_err().contains("verify-full"));
        assert!(take_tls_params("postgres://h/db?ssl=yes").unwrap_err().contains("ssl=true"));
        assert!(take_tls_params("postgres://h/db?sslcert=/c.pem").unwrap_err().contains("not supported"));
    }

    #[test]
    fn missing_root_file_is_named() {
        let e = Tls::new(TlsParams { mode: SslMode::VerifyFull, root_cert: Some("/nonexistent/ca.pem".into()) })
            .unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn der_walk_finds_the_signature_algorithm() {
        // SEQUENCE { SEQUENCE {}, SEQUENCE { OID ecdsa-with-SHA256 }, BIT STRING {} }
        let oid = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
        let mut alg = vec![0x06, oid.len() as u8];
        alg.extend_from_slice(&oid);
        let mut body = vec![0x30, 0x00, 0x30, alg.len() as u8];
        body.extend_from_slice(&alg);
        body.extend_from_slice(&[0x03, 0x01, 0x00]);
        let mut cert = vec![0x30, body.len() as u8];
        cert.extend_from_slice(&body);
        assert_eq!(signature_algorithm(&cert), Some(&oid[..]));
        assert_eq!(tls_server_end_point(&cert).map(|h| h.len()), Some(32));
        assert_eq!(signature_algorithm(&cert[..5]), None);
    }
}

#[cfg(test)]
mod pg_tests;
