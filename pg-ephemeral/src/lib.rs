//! Throwaway PostgreSQL clusters for tests, benchmarks, `exo test` and `exo yolo`.
//!
//! # Lifecycle
//!
//! [`EphemeralPostgres::start`] goes through these steps, in this order:
//!
//! 1. **Find the binaries**: `$EXO_PG_BIN_DIR`, else the first `PATH` entry holding both `initdb`
//!    and `pg_ctl`, else `/usr/lib/postgresql/<version>/bin` (highest version first), then
//!    `/usr/pgsql-<version>/bin` and `/usr/local/pgsql/bin`. None found is an error that
//!    [`Error::is_not_installed`] recognises and whose message says how to install one.
//! 2. **Pick the owner**: when we are root (`geteuid() == 0`) every server-side program runs as
//!    the `postgres` user, because `initdb` and `postgres` refuse root; otherwise as ourselves.
//! 3. **Make a directory** `/tmp/exo-pg-<pid>-<n>-<nonce>/` (mode 0700, owned by the server
//!    user) holding `data/`, `sock/` (the Unix socket, kept out of `/var/run/postgresql`) and
//!    `postgres.log`.
//! 4. **Start a watchdog** (see below) before anything else can be left behind.
//! 5. **`initdb`** with `-U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync`, retried
//!    with `--locale=C` where `C.UTF-8` is missing.
//! 6. **`pg_ctl start -w`** on a free port of 127.0.0.1 (bind port 0, read it, release it), with
//!    durability off (`fsync`, `synchronous_commit`, `full_page_writes`) and
//!    `max_connections=200`. Losing a race for the port retries with a new one, up to 5 times.
//!    [`EphemeralPostgres::start_with_tls`] also writes the given certificate and key (mode
//!    0600, owned by the server user) and adds `ssl=on`; plain connections still work.
//!
//! The cluster is then reachable at [`EphemeralPostgres::url`],
//! `postgres://postgres@127.0.0.1:PORT/postgres`, without a password.
//!
//! # Ending
//!
//! * An owned instance stops on [`Drop`] (or [`EphemeralPostgres::stop`], which reports
//!   errors): `pg_ctl stop -m fast`, falling back to `SIGQUIT`, then the directory is removed.
//!   Afterwards nothing listens on the port.
//! * [`EphemeralPostgres::shared`] starts one cluster per process on first use. Statics are never
//!   dropped, so it registers an `atexit` handler that does the same when the process exits
//!   normally (including `std::process::exit`, which is how a failing test run ends).
//! * If the process dies without running either (`SIGKILL`, Ctrl-C, `SIGTERM`, abort), the
//!   **watchdog** cleans up: a detached `/bin/sh` in its own session, blocked reading a pipe whose
//!   write end only this process holds. The kernel closes the pipe when the process dies; the
//!   watchdog then sends the postmaster `SIGQUIT`, waits for it, and deletes the directory, within
//!   about a second. No signal handlers are installed, so the caller's own Ctrl-C handling is
//!   untouched.
//!
//! # Deadlines
//!
//! Every helper program runs under a deadline (`initdb` 120 s, `pg_ctl start` 60 s via `-t` plus
//! a margin, `pg_ctl stop` 30 s, `psql` 120 s) and is killed with its process group past it.
//! Errors quote the program's stderr/stdout and, for server start-up, the tail of the server log.

mod binaries;
mod command;
mod watchdog;

use std::fmt;
use std::fs;
use std::io;
use std::net::TcpListener;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use binaries::Binaries;
pub use binaries::BIN_DIR_ENV;
use command::{command, run, run_ok, ServerUser};
use watchdog::Watchdog;

const HOST: &str = "127.0.0.1";
const SUPERUSER: &str = "postgres";
const PORT_ATTEMPTS: usize = 5;
const INITDB_TIMEOUT: Duration = Duration::from_secs(120);
/// Passed to `pg_ctl -t`; our own deadline adds a margin so pg_ctl reports first.
const START_WAIT_SECS: u64 = 60;
const STOP_WAIT_SECS: u64 = 30;
const PSQL_TIMEOUT: Duration = Duration::from_secs(120);
/// Lines of `postgres.log` quoted in start-up errors.
const LOG_TAIL_LINES: usize = 30;

/// Why a cluster could not be started, queried or stopped. The message is complete and
/// user-facing: it quotes the failing program's output and, where relevant, the server log.
#[derive(Debug, Clone)]
pub struct Error {
    message: String,
    not_installed: bool,
}

impl Error {
    fn new(message: impl Into<String>) -> Self {
        Error { message: message.into(), not_installed: false }
    }

    fn not_installed(message: String) -> Self {
        Error { message, not_installed: true }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// No PostgreSQL installation was found; callers may want to print the message as a hint.
    pub fn is_not_installed(&self) -> bool {
        self.not_installed
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// A running PostgreSQL cluster in a private temporary directory. See the crate docs for its
/// lifecycle.
pub struct EphemeralPostgres {
    bins: Binaries,
    user: Option<ServerUser>,
    base: PathBuf,
    port: u16,
    /// Started with `ssl=on` (see [`EphemeralPostgres::start_with_tls`]).
    tls: bool,
    watchdog: Mutex<Option<Watchdog>>,
    shut_down: AtomicBool,
}

static SHARED: OnceLock<Result<EphemeralPostgres, Error>> = OnceLock::new();

impl EphemeralPostgres {
    /// Creates and starts a new cluster, owned by the caller and stopped on drop.
    pub fn start() -> Result<Self, Error> {
        Self::start_inner(None)
    }

    /// Like [`start`](Self::start), with `ssl=on` and the given server certificate (PEM, the
    /// chain after the leaf if any) and private key (PEM). The files are written into the
    /// cluster's directory, owned by the server user, mode 0600 (Postgres refuses a key that
    /// others can read). Clients may connect with or without TLS.
    pub fn start_with_tls(cert_pem: &str, key_pem: &str) -> Result<Self, Error> {
        Self::start_inner(Some((cert_pem, key_pem)))
    }

    fn start_inner(tls: Option<(&str, &str)>) -> Result<Self, Error> {
        let bins = Binaries::locate()?;
        let user = command::server_user()?;
        let base = make_base_dir(user.as_ref())?;
        let watchdog = match Watchdog::spawn(&base) {
            Ok(w) => w,
            Err(e) => {
                let _ = fs::remove_dir_all(&base);
                return Err(e);
            }
        };
        let mut pg = EphemeralPostgres {
            bins,
            user,
            base,
            port: 0,
            tls: tls.is_some(),
            watchdog: Mutex::new(Some(watchdog)),
            shut_down: AtomicBool::new(false),
        };
        // From here on, an early return drops `pg`, which stops whatever was started.
        pg.initdb()?;
        if let Some((cert, key)) = tls {
            pg.write_server_file("server.crt", cert)?;
            pg.write_server_file("server.key", key)?;
        }
        pg.port = pg.start_server()?;
        Ok(pg)
    }

    /// Writes `contents` to `name` in the cluster's directory, readable by the server user only.
    fn write_server_file(&self, name: &str, contents: &str) -> Result<PathBuf, Error> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let path = self.base.join(name);
        let written = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| io::Write::write_all(&mut f, contents.as_bytes()))
            .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(0o600)));
        let owned = match (&written, &self.user) {
            (Ok(()), Some(u)) => chown(&path, u).map_err(|(_, e)| e),
            _ => Ok(()),
        };
        written.and(owned).map_err(|e| Error::new(format!("could not write {}: {e}", path.display())))?;
        Ok(path)
    }

    /// Replaces the cluster's `pg_hba.conf` with `contents` and reloads the configuration
    /// (tests of password and TLS-only authentication). Keep a `trust` line for `postgres`
    /// over TCP: the helpers ([`psql`](Self::psql), database creation) connect that way.
    pub fn replace_hba(&self, contents: &str) -> Result<(), Error> {
        let path = self.data_dir().join("pg_hba.conf");
        fs::write(&path, contents).map_err(|e| Error::new(format!("could not write {}: {e}", path.display())))?;
        if let Some(u) = &self.user {
            chown(&path, u)
                .map_err(|(_, e)| Error::new(format!("could not hand {} to the server user: {e}", path.display())))?;
        }
        self.psql(SUPERUSER, "SELECT pg_reload_conf()")?;
        Ok(())
    }

    /// Stops the server but keeps the cluster, so [`resume`](Self::resume) can start it again
    /// on the same port (tests of what happens while the database is down).
    pub fn pause(&self) -> Result<(), Error> {
        self.stop_server()
    }

    /// Starts a server stopped by [`pause`](Self::pause) on its old port.
    pub fn resume(&self) -> Result<(), Error> {
        let mut last = None;
        // The port was ours a moment ago; a connection in TIME_WAIT does not block it
        // (Postgres binds with SO_REUSEADDR), but a slow stop may: retry briefly.
        for _ in 0..PORT_ATTEMPTS {
            match self.start_on(self.port) {
                Ok(()) => return Ok(()),
                Err((e, _)) => last = Some(e),
            }
            thread::sleep(Duration::from_millis(200));
        }
        Err(last.expect("at least one attempt"))
    }

    /// The cluster shared by everything in this process, started on first call and stopped when
    /// the process exits. A failed start is remembered: later calls return the same error
    /// instead of paying for another attempt.
    pub fn shared() -> Result<&'static EphemeralPostgres, Error> {
        SHARED
            .get_or_init(|| {
                let started = EphemeralPostgres::start();
                if started.is_ok() {
                    // SAFETY: registering a plain `extern "C" fn` has no preconditions. If it
                    // fails (`!= 0`), the watchdog still cleans up once the process is gone.
                    unsafe { libc::atexit(stop_shared_at_exit) };
                }
                started
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// URL of the `postgres` database.
    pub fn url(&self) -> String {
        self.url_for(SUPERUSER)
    }

    /// URL of database `db` (not checked for existence; pass a name from
    /// [`create_database`](Self::create_database) or [`unique_db_name`]).
    pub fn url_for(&self, db: &str) -> String {
        format!("postgres://{SUPERUSER}@{HOST}:{}/{db}", self.port)
    }

    pub fn host(&self) -> &'static str {
        HOST
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's data directory (removed when the instance stops).
    pub fn data_dir(&self) -> PathBuf {
        self.base.join("data")
    }

    /// The server log, useful when a test fails.
    pub fn log_path(&self) -> PathBuf {
        self.base.join("postgres.log")
    }

    /// The directory the PostgreSQL binaries were taken from.
    pub fn bin_dir(&self) -> &Path {
        &self.bins.dir
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&fs::read(self.log_path()).unwrap_or_default(), lines)
    }

    /// Creates an empty database `name` (`[a-z0-9_]+`, at most 63 bytes) and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, Error> {
        validate_db_name(name)?;
        self.psql(SUPERUSER, &format!("CREATE DATABASE \"{name}\""))?;
        Ok(self.url_for(name))
    }

    /// Creates database `name` as a copy of `template` and returns its URL. Cloning a migrated
    /// template is much faster than migrating each test's database. The template must have no
    /// open connections while it is copied.
    pub fn create_database_from_template(&self, name: &str, template: &str) -> Result<String, Error> {
        validate_db_name(name)?;
        validate_db_name(template)?;
        self.psql(SUPERUSER, &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""))?;
        Ok(self.url_for(name))
    }

    /// Drops database `name` if it exists, disconnecting its sessions first.
    pub fn drop_database(&self, name: &str) -> Result<(), Error> {
        validate_db_name(name)?;
        self.psql(SUPERUSER, &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))?;
        Ok(())
    }

    /// Runs `sql` (one or more statements) in database `db` with `psql`, stopping at the first
    /// error, and returns the unaligned, tuples-only output without its trailing newlines
    /// (`SELECT 1, 2` gives `"1|2"`).
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, Error> {
        validate_db_name(db)?;
        // psql runs as ourselves: only server programs refuse root, and trust auth lets any OS
        // user in as `postgres` over TCP.
        let mut cmd = command(&self.bins.psql, None);
        cmd.args(["-X", "-q", "-A", "-t", "-h", HOST, "-U", SUPERUSER, "-v", "ON_ERROR_STOP=1"])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(db)
            .arg("-c")
            .arg(sql)
            .env("PGCONNECT_TIMEOUT", "10");
        let what = format!("`psql` on database `{db}`");
        let output = run_ok(cmd, &what, PSQL_TIMEOUT)?;
        Ok(String::from_utf8_lossy(&output.stdout).trim_end_matches('\n').to_owned())
    }

    /// Stops the cluster and removes its directory, reporting what went wrong, if anything.
    /// Dropping does the same but can only ignore errors.
    pub fn stop(self) -> Result<(), Error> {
        self.shutdown()
    }

    fn server_command(&self, program: &Path) -> std::process::Command {
        let mut cmd = command(program, self.user.as_ref());
        // The server user may not be able to read our working directory (e.g. /root), and
        // pg_ctl fails to locate itself when it cannot.
        cmd.current_dir(&self.base);
        cmd
    }

    fn initdb(&self) -> Result<(), Error> {
        let mut failures = Vec::new();
        for locale in ["C.UTF-8", "C"] {
            // A failed initdb removes what it created, but be sure before retrying.
            let _ = fs::remove_dir_all(self.data_dir());
            let mut cmd = self.server_command(&self.bins.initdb);
            cmd.arg("-D")
                .arg(self.data_dir())
                .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync"])
                .arg(format!("--locale={locale}"));
            let output = run(cmd, "`initdb`", INITDB_TIMEOUT)?;
            if output.status.success() {
                return Ok(());
            }
            failures.push(command::failure_message(&format!("`initdb --locale={locale}`"), &output));
        }
        Err(Error::new(format!(
            "could not create a cluster in {}:\n{}",
            self.data_dir().display(),
            failures.join("\n")
        )))
    }

    fn start_server(&self) -> Result<u16, Error> {
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            match self.start_on(port) {
                Ok(()) => return Ok(port),
                Err((e, lost_port_race)) => {
                    last_error = Some(e);
                    if !lost_port_race {
                        break;
                    }
                }
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    /// Starts the server on `port`; an error says whether another process took the port.
    fn start_on(&self, port: u16) -> Result<(), (Error, bool)> {
        let log_start = fs::metadata(self.log_path()).map(|m| m.len()).unwrap_or(0);
        let mut options = format!(
            "-p {port} -h {HOST} -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200",
            self.base.join("sock").display()
        );
        if self.tls {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                self.base.join("server.crt").display(),
                self.base.join("server.key").display()
            ));
        }
        let mut cmd = self.server_command(&self.bins.pg_ctl);
        cmd.arg("-D")
            .arg(self.data_dir())
            .arg("-o")
            .arg(options)
            .args(["-w", "-t", &START_WAIT_SECS.to_string(), "-l"])
            .arg(self.log_path())
            .arg("start");
        let outcome = run(cmd, "`pg_ctl start`", Duration::from_secs(START_WAIT_SECS + 15));
        let output = match outcome {
            Ok(output) if output.status.success() => return Ok(()),
            Ok(output) => command::failure_message("`pg_ctl start`", &output),
            Err(e) => e.message,
        };
        let log = fs::read(self.log_path()).unwrap_or_default();
        let new_log = log.get(log_start as usize..).unwrap_or_default();
        // A half-started server would make the next attempt fail with "another server
        // might be running".
        let _ = self.stop_server();
        let message = format!(
            "could not start PostgreSQL on {HOST}:{port}: {output}\n  server log ({}):\n{}",
            self.log_path().display(),
            command::indent(&tail(new_log, LOG_TAIL_LINES))
        );
        let lost_port_race = String::from_utf8_lossy(new_log).contains("could not bind")
            || String::from_utf8_lossy(new_log).contains("could not create any TCP/IP sockets");
        Err((Error::new(message), lost_port_race))
    }

    /// Stops the server if it runs: `pg_ctl stop -m fast`, else `SIGQUIT` to the postmaster.
    fn stop_server(&self) -> Result<(), Error> {
        let pidfile = self.data_dir().join("postmaster.pid");
        if !pidfile.exists() {
            return Ok(());
        }
        let mut cmd = self.server_command(&self.bins.pg_ctl);
        cmd.arg("-D").arg(self.data_dir()).args(["stop", "-m", "fast", "-w", "-t", &STOP_WAIT_SECS.to_string()]);
        let what = "`pg_ctl stop`";
        let failure = match run(cmd, what, Duration::from_secs(STOP_WAIT_SECS + 10)) {
            Ok(output) if output.status.success() => return Ok(()),
            Ok(output) => command::failure_message(what, &output),
            Err(e) => e.message,
        };
        let Some(pid) = read_postmaster_pid(&pidfile) else {
            // No postmaster recorded: it was never started or has exited meanwhile.
            return Ok(());
        };
        // SAFETY: signalling a pid; SIGQUIT asks the postmaster for an immediate shutdown.
        unsafe { libc::kill(pid, libc::SIGQUIT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        // SAFETY: signal 0 only checks for existence.
        // The postmaster removes its pid file last; `kill -0` alone would also see a zombie.
        while pidfile.exists() && unsafe { libc::kill(pid, 0) } == 0 {
            if Instant::now() > deadline {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                return Err(Error::new(format!(
                    "{failure}\n  the postmaster (pid {pid}) ignored SIGQUIT and was killed"
                )));
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Idempotent: the first call stops the server, removes the directory and dismisses the
    /// watchdog; later calls do nothing.
    fn shutdown(&self) -> Result<(), Error> {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let stopped = self.stop_server();
        let removed = match fs::remove_dir_all(&self.base) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::new(format!("could not remove {}: {e}", self.base.display())))
            }
            _ => Ok(()),
        };
        if let Some(watchdog) = self.watchdog.lock().unwrap_or_else(|p| p.into_inner()).take() {
            watchdog.release();
        }
        stopped.and(removed)
    }
}

impl Drop for EphemeralPostgres {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

impl fmt::Debug for EphemeralPostgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EphemeralPostgres").field("url", &self.url()).field("dir", &self.base).finish()
    }
}

extern "C" fn stop_shared_at_exit() {
    // Unwinding out of an `extern "C"` function aborts; a failed cleanup must not.
    let _ = std::panic::catch_unwind(|| {
        if let Some(Ok(pg)) = SHARED.get() {
            let _ = pg.shutdown();
        }
    });
}

/// A fresh database name, `prefix` (lowercased, other characters as `_`, at most 24 bytes)
/// plus a suffix unique within this machine for the life of the process.
pub fn unique_db_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut clean: String = prefix
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '_' })
        .take(24)
        .collect();
    if clean.is_empty() {
        clean.push_str("db");
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // The nonce separates processes whose pids were reused against a long-lived cluster.
    format!("{clean}_{}_{n}_{:x}", std::process::id(), nonce() & 0xffff)
}

fn validate_db_name(name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(Error::new(format!("invalid database name `{name}`: use 1 to 63 characters from [a-z0-9_]")))
    }
}

fn nonce() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// Creates `/tmp/exo-pg-…` with `sock/` inside, owned by the server user when switching.
/// Fixed under /tmp, not `$TMPDIR`: the `postgres` user must be able to reach it, and the
/// socket path must stay under the 107-byte `sun_path` limit.
fn make_base_dir(user: Option<&ServerUser>) -> Result<PathBuf, Error> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut builder = fs::DirBuilder::new();
    builder.mode(0o700);
    let mut last_error = None;
    for _ in 0..10 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let base = PathBuf::from(format!("/tmp/exo-pg-{}-{n}-{:x}", std::process::id(), nonce() & 0xffffff));
        match builder.create(&base) {
            Ok(()) => {
                let sock = base.join("sock");
                let result = builder.create(&sock).map_err(|e| (sock.clone(), e)).and_then(|()| match user {
                    Some(u) => chown(&base, u).and_then(|()| chown(&sock, u)),
                    None => Ok(()),
                });
                return match result {
                    Ok(()) => Ok(base),
                    Err((path, e)) => {
                        let _ = fs::remove_dir_all(&base);
                        let owner = user.map(|u| format!(" for user `{}`", u.name)).unwrap_or_default();
                        Err(Error::new(format!("could not prepare {}{owner}: {e}", path.display())))
                    }
                };
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(Error::new(format!("could not create a directory under /tmp: {e}"))),
        }
    }
    Err(Error::new(format!("could not create a unique directory under /tmp: {}", last_error.expect("looped"))))
}

fn chown(path: &Path, user: &ServerUser) -> Result<(), (PathBuf, io::Error)> {
    std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid)).map_err(|e| (path.to_owned(), e))
}

/// A port that was free a moment ago; PostgreSQL binds with SO_REUSEADDR, and a lost race is
/// retried by the caller.
fn free_port() -> Result<u16, Error> {
    TcpListener::bind((HOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| Error::new(format!("could not find a free port on {HOST}: {e}")))
}

fn read_postmaster_pid(pidfile: &Path) -> Option<libc::pid_t> {
    fs::read_to_string(pidfile).ok()?.lines().next()?.trim().parse().ok().filter(|&pid| pid > 0)
}

fn tail(bytes: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_restricted() {
        for ok in ["postgres", "t_1", "abc_123_ff"] {
            assert!(validate_db_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "a-b", "a\"; DROP DATABASE x; --", "a b", &"x".repeat(64)] {
            assert!(validate_db_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unique_names_are_valid_and_distinct() {
        let a = unique_db_name("My-Test::case");
        let b = unique_db_name("My-Test::case");
        assert_ne!(a, b);
        assert!(a.starts_with("my_test__case_"), "{a}");
        validate_db_name(&a).unwrap();
        validate_db_name(&unique_db_name(&"é".repeat(100))).unwrap();
        validate_db_name(&unique_db_name("")).unwrap();
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail(b"a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail(b"", 2), "");
    }
}
