//! A detached shell that stops the server and deletes its directory once this process is gone,
//! however it went (normal exit, panic, `SIGKILL`, Ctrl-C).
//!
//! The watchdog reads its stdin, a pipe whose only write end lives in this process (std opens
//! pipes close-on-exec, so `pg_ctl` and `postgres` do not inherit it). The kernel closes that end
//! when the process dies for any reason, `read` returns, and the watchdog sends the postmaster
//! `SIGQUIT` (immediate shutdown) and removes the directory. Unlike polling `kill -0 PARENT`,
//! this needs no permission over the parent, and neither PID reuse nor an unreaped zombie
//! parent fools it. The watchdog runs in its own session, so a Ctrl-C aimed at the terminal's
//! foreground group does not kill it before it has cleaned up.
//!
//! The postmaster deletes `postmaster.pid` as its last act, so the wait ends on that rather than
//! on `kill -0`: an orphaned postmaster becomes a zombie of PID 1, and some container inits reap
//! zombies late or never.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::Error;

const SCRIPT: &str = r#"
base=$1
pidfile=$1/data/postmaster.pid
read -r _ignored
if [ -f "$pidfile" ]; then
  pid=$(head -n 1 "$pidfile")
  if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
    i=0
    while [ -f "$pidfile" ] && kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do
      sleep 0.1
      i=$((i + 1))
    done
    kill -KILL "$pid" 2>/dev/null
  fi
fi
rm -rf "$base"
"#;

pub(crate) struct Watchdog {
    child: Child,
    /// Closing this (or our death) is the signal to clean up.
    trigger: Option<ChildStdin>,
}

impl Watchdog {
    /// Starts guarding `base`, the directory holding `data/`, the socket and the log.
    pub fn spawn(base: &Path) -> Result<Self, Error> {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(SCRIPT).arg("exo-pg-watchdog").arg(base);
        // Null stdout/stderr: an inherited pipe would keep `cargo test` waiting for EOF.
        cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).current_dir("/");
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| if libc::setsid() == -1 { Err(io::Error::last_os_error()) } else { Ok(()) });
        }
        let mut child =
            cmd.spawn().map_err(|e| Error::new(format!("could not start the cleanup watchdog (/bin/sh): {e}")))?;
        let trigger = child.stdin.take();
        Ok(Watchdog { child, trigger })
    }

    /// Called after an orderly shutdown: the watchdog finds nothing left to do and exits; we
    /// reap it briefly so it does not linger as a zombie.
    pub fn release(mut self) {
        drop(self.trigger.take());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(None) => thread::sleep(Duration::from_millis(2)),
                _ => return,
            }
        }
    }
}
