//! Terminal facts for rendering diagnostics: colour only on a terminal, and its width.

use std::io::IsTerminal;

/// Width used when stderr is not a terminal (or its size is unknown).
const DEFAULT_WIDTH: usize = 100;

pub fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub fn stderr_width() -> usize {
    if std::io::stderr().is_terminal() {
        if let Some(w) = tty_width(libc::STDERR_FILENO) {
            return w;
        }
    }
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|w| *w > 20).unwrap_or(DEFAULT_WIDTH)
}

fn tty_width(fd: i32) -> Option<usize> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the pointer we pass, which lives for the call.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_col > 20).then_some(size.ws_col as usize)
}

pub fn stdout_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Whether a person can answer a question on stdin.
pub fn stdin_interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// How a status line looks on a terminal.
#[derive(Clone, Copy)]
pub enum Tone {
    Good,
    Warn,
    Bad,
}

/// `text` in the tone's colour when `color` holds, else unchanged.
pub fn paint(text: &str, tone: Tone, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let code = match tone {
        Tone::Good => "32",
        Tone::Warn => "33",
        Tone::Bad => "31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}
