//! End-to-end tests against real PostgreSQL binaries: start, query, drop, and clean-up after a
//! killed process.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use exo_pg_ephemeral::{unique_db_name, EphemeralPostgres, BIN_DIR_ENV};

/// Selects what `child_process_helper` does when this binary re-runs itself.
const CHILD_ENV: &str = "EXO_PG_EPHEMERAL_TEST_CHILD";

fn port_is_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).is_ok()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn owned_cluster_creates_queries_and_drops_databases() {
    let started = Instant::now();
    let pg = EphemeralPostgres::start().unwrap();
    eprintln!("start took {} ms ({})", started.elapsed().as_millis(), pg.bin_dir().display());
    let port = pg.port();
    let data_dir = pg.data_dir();
    assert!(data_dir.join("PG_VERSION").exists());
    assert_eq!(pg.url(), format!("postgres://postgres@127.0.0.1:{port}/postgres"));
    assert!(port_is_open(port));

    let first = unique_db_name("it_first");
    let second = unique_db_name("it_second");
    assert_eq!(pg.create_database(&first).unwrap(), pg.url_for(&first));
    assert_eq!(pg.create_database(&second).unwrap(), pg.url_for(&second));
    assert_eq!(pg.psql(&first, "SELECT 1").unwrap(), "1");
    assert_eq!(pg.psql(&second, "SELECT 1").unwrap(), "1");
    assert_eq!(pg.psql(&second, "SHOW fsync; SHOW server_encoding").unwrap(), "off\nUTF8");

    pg.drop_database(&first).unwrap();
    let listed = |name: &str| {
        pg.psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")).unwrap()
    };
    assert_eq!(listed(&first), "0");
    assert_eq!(listed(&second), "1");
    let err = pg.psql(&first, "SELECT 1").unwrap_err();
    assert!(err.message().contains("does not exist"), "{err}");
    // Dropping again is fine (IF EXISTS).
    pg.drop_database(&first).unwrap();

    let stopping = Instant::now();
    drop(pg);
    eprintln!("drop took {} ms", stopping.elapsed().as_millis());
    assert!(!data_dir.exists(), "{} survived the drop", data_dir.display());
    assert!(!port_is_open(port), "port {port} still accepts connections");
}

#[test]
fn shared_cluster_is_one_instance() {
    let a = EphemeralPostgres::shared().unwrap();
    let b = EphemeralPostgres::shared().unwrap();
    assert!(std::ptr::eq(a, b));
    let db = unique_db_name("it_shared");
    a.create_database(&db).unwrap();
    assert_eq!(b.psql(&db, "SELECT 40 + 2").unwrap(), "42");
    b.drop_database(&db).unwrap();
}

#[test]
fn errors_quote_the_cause() {
    let pg = EphemeralPostgres::shared().unwrap();
    let err = pg.create_database("Bad\"Name").unwrap_err();
    assert!(err.message().contains("invalid database name"), "{err}");
    let err = pg.psql("postgres", "SELECT no_such_column").unwrap_err();
    assert!(err.message().contains("no_such_column"), "{err}");
    // ON_ERROR_STOP: the statement after the failing one never runs.
    let db = unique_db_name("it_errors");
    let err = pg.psql("postgres", &format!("SELECT 1/0; CREATE DATABASE {db}")).unwrap_err();
    assert!(err.message().contains("division by zero"), "{err}");
    assert_eq!(pg.psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'")).unwrap(), "0");
}

#[test]
fn missing_binaries_say_how_to_install() {
    let output = run_child("missing", &[(BIN_DIR_ENV, "/nonexistent/exo-pg-bin")]).wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("CHILD-OK"), "{stdout}");
}

#[test]
fn watchdog_cleans_up_after_sigkill() {
    let mut child = run_child("watchdog", &[]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines
        .by_ref()
        .map(Result::unwrap)
        // libtest prints `test child_process_helper ... ` on the same line first.
        .find_map(|line| line.split_once("READY ").map(|(_, rest)| rest.to_owned()))
        .expect("the child printed READY");
    let (port, dir) = ready.split_once(' ').unwrap();
    let (port, dir): (u16, PathBuf) = (port.parse().unwrap(), dir.into());
    assert!(port_is_open(port) && dir.exists());

    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    wait_until("the watchdog removes the data directory", Duration::from_secs(20), || !dir.exists());
    wait_until("the port closes", Duration::from_secs(5), || !port_is_open(port));
    eprintln!("watchdog cleaned up {} ms after SIGKILL", killed.elapsed().as_millis());
}

/// Re-runs this test binary for `child_process_helper` alone.
fn run_child(role: &str, envs: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_process_helper", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Does nothing in a normal run; in a child started by `run_child` plays the requested role.
#[test]
fn child_process_helper() {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("watchdog") => {
            let pg = EphemeralPostgres::start().unwrap();
            let dir = pg.data_dir().parent().unwrap().to_owned();
            println!("READY {} {}", pg.port(), dir.display());
            // Parked until the parent kills us; never reaches Drop.
            std::thread::sleep(Duration::from_secs(120));
            std::process::abort();
        }
        Ok("missing") => {
            let err = EphemeralPostgres::start().unwrap_err();
            assert!(err.is_not_installed(), "{err}");
            assert!(err.message().contains(BIN_DIR_ENV), "{err}");
            let err = EphemeralPostgres::shared().unwrap_err();
            assert!(err.is_not_installed(), "{err}");
            println!("CHILD-OK");
        }
        _ => {}
    }
}
