//! OTLP over the wire: finished spans as an `ExportTraceServiceRequest` protobuf (a small
//! hand-written encoder for the eight messages involved, instead of prost and generated code),
//! sent as `http/protobuf` (a `POST` over HTTP/1.1) or `grpc` (the unary `Export` call over
//! HTTP/2, with its length-prefixed frame and `grpc-status` trailer).
//!
//! Field numbers are those of `opentelemetry/proto/{collector/trace,trace,common,resource}/v1`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{Protocol, Span, TelemetryConfig, TraceRecord, Value};

/// The gRPC method of the trace service.
const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// How much of a collector's answer is read (it is an empty message or a partial-success note).
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// Appends protobuf fields to a buffer.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    fn uint(&mut self, field: u32, v: u64) {
        self.key(field, 0);
        self.varint(v);
    }

    fn fixed64(&mut self, field: u32, v: u64) {
        self.key(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    /// A nested message written by `f`.
    fn message(&mut self, field: u32, f: impl FnOnce(&mut Writer)) {
        let mut inner = Writer::default();
        f(&mut inner);
        self.bytes(field, &inner.0);
    }
}

/// `KeyValue { key = 1; AnyValue value = 2 }`, `AnyValue { string_value = 1; int_value = 3 }`.
fn key_value(w: &mut Writer, field: u32, key: &str, value: &Value) {
    w.message(field, |kv| {
        kv.string(1, key);
        kv.message(2, |any| match value {
            Value::Str(s) => any.string(1, s),
            Value::Static(s) => any.string(1, s),
            Value::Int(i) => any.uint(3, *i as u64),
        });
    });
}

/// `ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1 }` with one resource
/// (`Resource { attributes = 1 }`) and one scope (`ScopeSpans { scope = 1; spans = 2 }`,
/// `InstrumentationScope { name = 1; version = 2 }`).
pub(crate) fn encode_request(resource: &[(String, String)], traces: &[TraceRecord]) -> Vec<u8> {
    let mut w = Writer::default();
    w.message(1, |rs| {
        rs.message(1, |r| {
            for (k, v) in resource {
                key_value(r, 1, k, &Value::Str(v.clone()));
            }
        });
        rs.message(2, |ss| {
            ss.message(1, |scope| {
                scope.string(1, "exo");
                scope.string(2, env!("CARGO_PKG_VERSION"));
            });
            for trace in traces {
                for span in &trace.spans {
                    ss.message(2, |s| encode_span(s, &trace.trace_id, span));
                }
            }
        });
    });
    w.0
}

/// `Span { trace_id = 1; span_id = 2; parent_span_id = 4; name = 5; kind = 6;
/// start_time_unix_nano = 7 (fixed64); end_time_unix_nano = 8 (fixed64); attributes = 9;
/// status = 15 }`, `Status { message = 2; code = 3 }` (code 2: error).
fn encode_span(w: &mut Writer, trace_id: &[u8; 16], span: &Span) {
    w.bytes(1, trace_id);
    w.bytes(2, &span.id);
    if let Some(parent) = &span.parent {
        w.bytes(4, parent);
    }
    w.string(5, &span.name);
    w.uint(6, span.kind as u64);
    w.fixed64(7, span.start_ns);
    w.fixed64(8, span.end_ns);
    for (k, v) in &span.attributes {
        key_value(w, 9, k, v);
    }
    if let Some(message) = &span.error {
        w.message(15, |st| {
            if !message.is_empty() {
                st.string(2, message);
            }
            st.uint(3, 2);
        });
    }
}

/// Where spans go and how.
pub(crate) struct Transport {
    config: Arc<TelemetryConfig>,
    /// The collector's address, parsed once.
    tls: bool,
    host: String,
    port: u16,
    authority: String,
    path: String,
    sender: Option<Sender>,
}

enum Sender {
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Transport {
    pub(crate) fn new(config: Arc<TelemetryConfig>) -> Result<Transport, String> {
        let target = crate::oidc::parse_url(&config.endpoint)?;
        let path = match config.protocol {
            Protocol::Grpc => GRPC_PATH.to_string(),
            Protocol::HttpProtobuf => target.path.to_string(),
        };
        Ok(Transport {
            tls: target.tls,
            host: target.host.to_string(),
            port: target.port,
            authority: target.authority.to_string(),
            path,
            sender: None,
            config,
        })
    }

    /// Sends one encoded request within the export timeout; the connection is kept for the
    /// next export while it stays open.
    pub(crate) async fn export(&mut self, message: Vec<u8>) -> Result<(), String> {
        let timeout = self.config.timeout;
        match tokio::time::timeout(timeout, self.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(format!("no answer within {} ms (`OTEL_EXPORTER_OTLP_TIMEOUT`)", timeout.as_millis()))
            }
        }
    }

    async fn send(&mut self, message: Vec<u8>) -> Result<(), String> {
        let usable = match &mut self.sender {
            Some(Sender::Http1(s)) => s.ready().await.is_ok(),
            Some(Sender::Http2(s)) => s.ready().await.is_ok(),
            None => false,
        };
        if !usable {
            self.sender = Some(self.connect().await?);
        }
        let grpc = self.config.protocol == Protocol::Grpc;
        // HTTP/2 takes the whole URI (its `:authority`); HTTP/1.1 the path and a `Host` header.
        let uri = if grpc {
            format!("{}://{}{}", if self.tls { "https" } else { "http" }, self.authority, self.path)
        } else {
            self.path.clone()
        };
        let mut req =
            hyper::Request::post(uri).header(hyper::header::USER_AGENT, concat!("exo/", env!("CARGO_PKG_VERSION")));
        let body = if grpc {
            req = req.header(hyper::header::CONTENT_TYPE, "application/grpc").header(hyper::header::TE, "trailers");
            // The gRPC frame: not compressed (0), the length (big-endian u32), the message.
            let mut framed = Vec::with_capacity(message.len() + 5);
            framed.push(0);
            framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
            framed.extend_from_slice(&message);
            framed
        } else {
            req = req
                .header(hyper::header::HOST, &self.authority)
                .header(hyper::header::CONTENT_TYPE, "application/x-protobuf");
            message
        };
        for (name, value) in &self.config.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        let req = req.body(Full::new(Bytes::from(body))).map_err(|e| format!("cannot build the request: {e}"))?;
        let response = match self.sender.as_mut() {
            Some(Sender::Http1(s)) => s.send_request(req).await,
            Some(Sender::Http2(s)) => s.send_request(req).await,
            None => unreachable!("connected above"),
        }
        .map_err(|e| format!("the request failed: {e}"))?;
        let status = response.status();
        let head_status = grpc_status(response.headers());
        let collected = Limited::new(response.into_body(), MAX_REPLY_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?;
        if !status.is_success() {
            return Err(format!("the collector answered HTTP {}", status.as_u16()));
        }
        if grpc {
            // A trailers-only answer carries the status in its headers.
            let (code, message) = head_status
                .or_else(|| collected.trailers().and_then(grpc_status))
                .ok_or("the collector's answer has no `grpc-status`")?;
            if code != "0" {
                return Err(format!("the collector answered grpc-status {code}: {message}"));
            }
        }
        Ok(())
    }

    async fn connect(&self) -> Result<Sender, String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot connect to {}:{}: {e}", self.host, self.port))?;
        let _ = tcp.set_nodelay(true);
        let grpc = self.config.protocol == Protocol::Grpc;
        if !self.tls {
            return handshake(tcp, grpc).await;
        }
        let mut config = crate::oidc::tls_config()?.as_ref().clone();
        config.alpn_protocols = vec![if grpc { b"h2".to_vec() } else { b"http/1.1".to_vec() }];
        let name = rustls::pki_types::ServerName::try_from(self.host.clone())
            .map_err(|_| format!("`{}` is not a valid TLS server name", self.host))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {} failed: {e}", self.host))?;
        handshake(stream, grpc).await
    }
}

async fn handshake<S>(stream: S, http2: bool) -> Result<Sender, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(stream);
    if http2 {
        let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| format!("the HTTP/2 handshake failed: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Sender::Http2(sender))
    } else {
        let (sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("the HTTP/1.1 handshake failed: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Sender::Http1(sender))
    }
}

fn grpc_status(headers: &hyper::HeaderMap) -> Option<(String, String)> {
    let code = headers.get("grpc-status")?.to_str().ok()?.to_string();
    let message = headers.get("grpc-message").and_then(|m| m.to_str().ok()).unwrap_or_default().to_string();
    Some((code, message))
}

/// A bound on how long the last export may take at shutdown.
pub(crate) const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::SpanKind;

    #[test]
    fn varints_and_fixed_fields_follow_the_wire_format() {
        let mut w = Writer::default();
        w.uint(1, 300);
        assert_eq!(w.0, [0x08, 0xAC, 0x02]);
        let mut w = Writer::default();
        w.fixed64(7, 1);
        assert_eq!(w.0, [0x39, 1, 0, 0, 0, 0, 0, 0, 0]);
        let mut w = Writer::default();
        w.string(5, "ab");
        assert_eq!(w.0, [0x2A, 2, b'a', b'b']);
        let mut w = Writer::default();
        key_value(&mut w, 9, "n", &Value::Int(-1));
        // A negative int64 is ten bytes of varint.
        assert_eq!(w.0.len(), 2 + 3 + 2 + 11);
    }

    #[test]
    fn a_request_holds_the_resource_the_scope_and_every_span() {
        let span = |name: &str| Span {
            id: [1; 8],
            parent: None,
            name: name.to_string().into(),
            kind: SpanKind::Server,
            start_ns: 10,
            end_ns: 20,
            attributes: vec![],
            error: None,
        };
        let traces = [TraceRecord { trace_id: [7; 16], spans: vec![span("first"), span("second")] }];
        let bytes = encode_request(&[("service.name".into(), "svc".into())], &traces);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("service.name") && text.contains("svc") && text.contains("exo"));
        assert!(text.contains("first") && text.contains("second"));
        assert_eq!(bytes[0], 0x0A, "field 1, length-delimited");
    }
}
