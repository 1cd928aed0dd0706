//! `exo test --cf-worker [--hyperdrive]`: each test file is served by the Worker build of the
//! runtime in real workerd (`wrangler dev` on 127.0.0.1), over HTTP, against the file's fresh
//! database: directly (`EXO_POSTGRES_URL`) or through a local Hyperdrive binding.
//!
//! One `wrangler dev` per test file, because each file has its own database, JWT secret and
//! variables. It runs in its own process group, so the whole tree (wrangler, esbuild, two
//! workerd processes) is stopped when the file ends.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use exo_pg_ephemeral::EphemeralPostgres;
use exo_testing::{TestRequest, TestResponse, TestServer};
use tokio_postgres::Client;

use crate::commands::deploy;

/// How long `wrangler dev` may take to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long one request may take before the test fails (instead of hanging).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const HYPERDRIVE_BINDING: &str = "HYPERDRIVE";

pub struct WorkerMode {
    hyperdrive: bool,
    bundle: PathBuf,
    wrangler: PathBuf,
    /// Whether `start` waits for an answered request (else only for the port to accept
    /// connections, leaving the isolate's first request to the test).
    probe: bool,
}

impl WorkerMode {
    pub fn new(hyperdrive: bool) -> Result<WorkerMode, crate::Failure> {
        let wrangler = wrangler_path().ok_or_else(|| {
            crate::Failure::new(
                "`--cf-worker` needs wrangler: run `scripts/install-worker-toolchain.sh` in the exo repository, \
                 or set `EXO_WRANGLER` to a wrangler executable",
            )
        })?;
        let bundle = deploy::bundle_dir(false)?;
        Ok(WorkerMode { hyperdrive, bundle, wrangler, probe: true })
    }

    /// Started Workers have served no request yet: `start` waits only for the port (for
    /// tests of the isolate's cold start).
    #[cfg_attr(not(all(test, feature = "worker-e2e")), allow(dead_code))]
    pub fn cold(self) -> WorkerMode {
        WorkerMode { probe: false, ..self }
    }

    /// Lays the Worker bundle into the project's `target/cf-worker/`, beside its IR.
    pub fn prepare_project(&self, dir: &Path) -> Result<(), String> {
        deploy::install_bundle(&self.bundle, &dir.join("target").join("cf-worker"))
            .map_err(|f| f.message().unwrap_or("cannot install the Worker bundle").to_string())
    }

    /// Starts `wrangler dev` for one test file and waits until it answers.
    pub fn start(
        &self,
        project: &Path,
        pg_port: u16,
        db_name: &str,
        mut vars: Vec<(String, String)>,
    ) -> Result<WorkerProcess, String> {
        let dir = tempfile::Builder::new()
            .prefix("exo-worker-test-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let main = std::fs::canonicalize(project)
            .map_err(|e| format!("cannot resolve `{}`: {e}", project.display()))?
            .join("target/cf-worker/index.js");
        let mut toml = format!(
            "name = \"exotest\"\nmain = {}\ncompatibility_date = \"2025-01-01\"\n\n\
             [[rules]]\ntype = \"Data\"\nglobs = [\"**/*.exo_ir\"]\nfallthrough = true\n\n",
            toml_string(&main.to_string_lossy())
        );
        if self.hyperdrive {
            vars.retain(|(k, _)| k != "EXO_POSTGRES_URL" && k != "DATABASE_URL");
            vars.push(("EXO_HYPERDRIVE_BINDING".into(), HYPERDRIVE_BINDING.into()));
            // The local emulation wants a password; the test cluster trusts local connections.
            toml.push_str(&format!(
                "[[hyperdrive]]\nbinding = \"{HYPERDRIVE_BINDING}\"\nid = \"exotest\"\nlocalConnectionString = {}\n\n",
                toml_string(&format!("postgres://postgres:exotest@127.0.0.1:{pg_port}/{db_name}"))
            ));
        }
        vars.sort();
        toml.push_str("[vars]\n");
        for (k, v) in &vars {
            toml.push_str(&format!("{} = {}\n", toml_string(k), toml_string(v)));
        }
        let config = dir.path().join("wrangler.toml");
        std::fs::write(&config, toml).map_err(|e| format!("cannot write `{}`: {e}", config.display()))?;

        // A port picked here can still be taken before wrangler binds it (by another test's
        // wrangler, or anything else on the machine): start again on fresh ports when that is
        // the failure.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.spawn(&config, &dir) {
                Err(e) if attempt < 4 && e.contains("Address already in use") => continue,
                Err(e) => return Err(e),
                Ok(mut process) => {
                    process._dir = Some(dir);
                    return Ok(process);
                }
            }
        }
    }

    fn spawn(&self, config: &Path, dir: &tempfile::TempDir) -> Result<WorkerProcess, String> {
        let free_port = || exo_testing::free_port().map_err(|e| format!("cannot find a free port: {e}"));
        let port = free_port()?;
        let inspector = free_port()?;
        let log_path = dir.path().join(format!("wrangler-{port}.log"));
        let log =
            std::fs::File::create(&log_path).map_err(|e| format!("cannot create `{}`: {e}", log_path.display()))?;
        let stdout = log.try_clone().map_err(|e| e.to_string())?;
        // Spawn and register under the lock, so an interrupt either sees this group or stops
        // the spawn.
        let mut groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
        if STOPPING.load(Ordering::SeqCst) {
            return Err("interrupted".into());
        }
        let child = Command::new(&self.wrangler)
            .args(["dev", "--config"])
            .arg(config)
            .args(["--ip", "127.0.0.1", "--port", &port.to_string(), "--inspector-port", &inspector.to_string()])
            .arg("--persist-to")
            .arg(dir.path().join("state"))
            .args(["--log-level", "warn", "--show-interactive-dev-session=false"])
            .current_dir(dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", self.wrangler.display()))?;
        groups.push(child.id() as i32);
        drop(groups);
        let mut process = WorkerProcess { child, port, _dir: None, log: log_path };
        process.wait_ready(self.probe)?;
        Ok(process)
    }
}

/// The process groups of running `wrangler dev`s, so an interrupted `exo test` still stops
/// them (they are not in the terminal's foreground group).
static GROUPS: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

/// Set by an interrupt: no new `wrangler dev` may start.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// On SIGINT or SIGTERM: stop every registered group (SIGTERM to wrangler, then SIGKILL to the
/// group), then exit like the signal would.
pub fn stop_on_signal(rt: &tokio::runtime::Runtime) {
    rt.spawn(async {
        exo_server::shutdown_signal().await;
        {
            let groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
            STOPPING.store(true, Ordering::SeqCst);
            for pgid in groups.iter() {
                // SAFETY: kill(2) on a wrangler this process started; it stops its own children.
                unsafe { libc::kill(*pgid, libc::SIGTERM) };
            }
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        for pgid in GROUPS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            // SAFETY: kill(2) on the process groups this process started.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        std::process::exit(130);
    });
}

/// wrangler from `EXO_WRANGLER`, the workspace's `cf-worker/node_modules`, or `PATH`.
fn wrangler_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("EXO_WRANGLER").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cf-worker/node_modules/.bin/wrangler");
    if local.is_file() {
        return Some(local);
    }
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join("wrangler")).find(|p| p.is_file())
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A running `wrangler dev` and its temporary directory (removed on drop, after the process
/// group is stopped).
pub struct WorkerProcess {
    child: Child,
    port: u16,
    /// Removed when the process is dropped (after `stop`).
    _dir: Option<tempfile::TempDir>,
    log: PathBuf,
}

impl WorkerProcess {
    pub fn port(&self) -> u16 {
        self.port
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Waits until the Worker answers a request (`probe`), or only until its port accepts
    /// connections (wrangler holds requests until the Worker is up).
    fn wait_ready(&mut self, probe: bool) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("`wrangler dev` exited ({status}) before serving:\n{}", self.log_tail()));
            }
            // A failed bundle leaves wrangler waiting for a fix: do not wait for it.
            if std::fs::read_to_string(&self.log).is_ok_and(|l| l.contains("Build failed")) {
                return Err(format!("wrangler could not bundle the Worker:\n{}", self.log_tail()));
            }
            if !probe && TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            let answer = match probe {
                true => post(self.port, "/graphql", br#"{"query":"{ __typename }"}"#, &[], Duration::from_secs(30)),
                false => Err(String::new()),
            };
            if let Ok(r) = answer {
                if r.status == 200 {
                    return Ok(());
                }
                if r.status >= 500 {
                    return Err(format!(
                        "the Worker failed its first request ({}): {}\n{}",
                        r.status,
                        String::from_utf8_lossy(&r.body),
                        self.log_tail()
                    ));
                }
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "`wrangler dev` did not answer within {}s:\n{}",
                    START_TIMEOUT.as_secs(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the whole process group: SIGTERM to wrangler (which stops and reaps its esbuild and
    /// workerd children), a grace period, then SIGKILL to whatever is left of the group.
    pub fn stop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: kill(2) on the child this process started.
        unsafe { libc::kill(pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // workerd children may outlive wrangler: end whatever is left of the group.
        // SAFETY: kill(2) with a negative pid signals the process group the child leads.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
        GROUPS.lock().unwrap_or_else(|e| e.into_inner()).retain(|g| *g != pgid);
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An HTTP response, as much as the tests need.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// One `POST` over a fresh HTTP/1.1 connection (`Connection: close`).
pub fn post(
    port: u16,
    path: &str,
    body: &[u8],
    headers: &[(String, String)],
    timeout: Duration,
) -> Result<HttpResponse, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("cannot connect to 127.0.0.1:{port}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    let has_content_type = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if !has_content_type {
        request.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        if k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
            return Err(format!("header `{k}` cannot be sent over HTTP/1.1"));
        }
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| format!("cannot send the request: {e}"))?;
    // Read until the response is complete (by Content-Length or the last chunk), not until the
    // server closes: a server that keeps the socket open must not stall the test.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if response_complete(&raw) {
            break;
        }
        let n = stream.read(&mut buf).map_err(|e| format!("cannot read the response: {e}"))?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    parse_response(&raw)
}

/// Whether `raw` holds a whole response: headers plus `Content-Length` bytes, or a chunked body
/// up to its last chunk. Without either, only the end of the stream says so.
fn response_complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let body = &raw[end + 4..];
    for line in head.split("\r\n").skip(1) {
        if let Some(v) = line.strip_prefix("content-length:") {
            return v.trim().parse::<usize>().is_ok_and(|n| body.len() >= n);
        }
        if line.starts_with("transfer-encoding:") && line.contains("chunked") {
            return body.ends_with(b"0\r\n\r\n") && dechunk(body).is_ok();
        }
    }
    false
}

fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("the response has no header end")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "the response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line `{status_line}`"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Ok(HttpResponse { status, headers, body })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").ok_or("a chunk has no size line")?;
        let size_text = std::str::from_utf8(&data[..line_end]).map_err(|_| "bad chunk size")?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size `{size_text}`"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("a chunk is cut short".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// One test file served by a Worker; dropping it stops wrangler and drops the database.
pub struct WorkerFileServer {
    pub rt: tokio::runtime::Handle,
    pub worker: Option<WorkerProcess>,
    pub sql: Option<Client>,
    pub pg: &'static EphemeralPostgres,
    pub db_name: String,
}

impl TestServer for WorkerFileServer {
    fn port(&self) -> Option<u16> {
        self.worker.as_ref().map(WorkerProcess::port)
    }

    fn request(&self, request: TestRequest) -> Result<TestResponse, String> {
        let worker = self.worker.as_ref().expect("present until drop");
        let body = request.body.to_string();
        let r = post(worker.port(), "/graphql", body.as_bytes(), &request.headers, REQUEST_TIMEOUT)?;
        let text = String::from_utf8_lossy(&r.body);
        let parsed = serde_json::from_str(&text)
            .map_err(|e| format!("the Worker answered {} with invalid JSON ({e}): {text}", r.status))?;
        Ok(TestResponse { status: r.status, body: parsed, headers: r.headers })
    }

    fn run_sql(&self, sql: &str) -> Result<(), String> {
        let client = self.sql.as_ref().expect("present until drop");
        self.rt.block_on(client.batch_execute(sql)).map_err(|e| match e.as_db_error() {
            Some(db) => db.message().to_string(),
            None => e.to_string(),
        })
    }
}

impl Drop for WorkerFileServer {
    fn drop(&mut self) {
        self.worker = None;
        self.sql = None;
        let _ = self.pg.drop_database(&self.db_name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chunked_responses() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"{\"a\":1}");
        assert!(r.headers.contains(&("content-type".into(), "application/json".into())));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
        assert!(response_complete(raw));
        assert!(!response_complete(&raw[..raw.len() - 3]));
    }

    #[test]
    fn content_length_completes_a_response() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert!(response_complete(raw));
        assert!(!response_complete(&raw[..raw.len() - 1]));
        assert!(!response_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"));
    }

    #[test]
    fn toml_strings_escape() {
        assert_eq!(toml_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
    }
}
