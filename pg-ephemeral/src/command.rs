//! Running a helper program with a deadline, as the server user when we are root, and turning a
//! failure into an error that carries what the program printed.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use std::{env, mem, ptr, thread};

use crate::Error;

/// The account that owns the cluster when this process runs as root (`initdb` and `postgres`
/// refuse to run as root).
#[derive(Debug, Clone)]
pub(crate) struct ServerUser {
    pub name: &'static str,
    pub uid: u32,
    pub gid: u32,
}

/// `None` when we are not root: the cluster then belongs to us and runs without switching users.
pub(crate) fn server_user() -> Result<Option<ServerUser>, Error> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = "postgres";
    let (uid, gid) = lookup_user(name).ok_or_else(|| {
        Error::new(format!(
            "running as root, but there is no `{name}` user to own the cluster (`initdb` refuses \
             root); `apt-get install -y postgresql` creates it, or run `useradd --system {name}`"
        ))
    })?;
    Ok(Some(ServerUser { name, uid, gid }))
}

fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let c_name = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain old data; getpwnam_r only writes into `pwd` and `buf`, whose
    // lengths we pass, and `result` is either null or `&mut pwd` afterwards.
    unsafe {
        let mut pwd: libc::passwd = mem::zeroed();
        let mut result: *mut libc::passwd = ptr::null_mut();
        let rc = libc::getpwnam_r(c_name.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        (rc == 0 && !result.is_null()).then_some((pwd.pw_uid, pwd.pw_gid))
    }
}

/// A command for `program` with the caller's `PG*` variables removed (a stray `PGDATA`,
/// `PGHOST` or `PGOPTIONS` would otherwise redirect it), running as `user` when given.
///
/// Switching users through `Command::uid`/`gid` rather than `runuser`/`su` needs no extra
/// program, no PAM session and no shell quoting; std also drops root's supplementary groups.
pub(crate) fn command(program: &Path, user: Option<&ServerUser>) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("PG")) {
            cmd.env_remove(key);
        }
    }
    if let Some(user) = user {
        cmd.uid(user.uid).gid(user.gid);
    }
    cmd
}

/// Runs `cmd` to completion, killing it (and its process group) after `timeout`.
///
/// A non-zero exit is not an error here: the caller decides, with the output in hand.
pub(crate) fn run(mut cmd: Command, what: &str, timeout: Duration) -> Result<Output, Error> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // Its own process group, so a timeout can kill whatever it forked too.
    cmd.process_group(0);
    let child = cmd
        .spawn()
        .map_err(|e| Error::new(format!("could not run {what} ({}): {e}", cmd.get_program().to_string_lossy())))?;
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(_) => {
            // SAFETY: kill with a negative pid signals the process group we created above.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let partial = rx.recv().ok().and_then(Result::ok);
            let detail = partial.map(|o| output_text(&o)).unwrap_or_default();
            return Err(Error::new(format!("{what} did not finish within {}s{detail}", timeout.as_secs())));
        }
    };
    output.map_err(|e| Error::new(format!("could not wait for {what}: {e}")))
}

/// Like [`run`], but a non-zero exit becomes an error quoting the program's output.
pub(crate) fn run_ok(cmd: Command, what: &str, timeout: Duration) -> Result<Output, Error> {
    let output = run(cmd, what, timeout)?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(Error::new(failure_message(what, &output)))
    }
}

pub(crate) fn failure_message(what: &str, output: &Output) -> String {
    format!("{what} failed ({}){}", output.status, output_text(output))
}

/// The program's stderr and stdout as indented trailing lines, or nothing when both are empty.
fn output_text(output: &Output) -> String {
    let mut text = String::new();
    for (label, bytes) in [("stderr", &output.stderr), ("stdout", &output.stdout)] {
        let body = String::from_utf8_lossy(bytes);
        let body = body.trim_end();
        if !body.is_empty() {
            text.push_str(&format!("\n  {label}:\n"));
            text.push_str(&indent(body));
        }
    }
    text
}

pub(crate) fn indent(body: &str) -> String {
    body.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}
