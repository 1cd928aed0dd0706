//! A minimal leveled logger driven by `EXO_LOG` (`error|warn|info|debug`, default `info`).
//!
//! Exograph accepts tracing filter syntax here; we take the first bare level in it
//! (`info,foo=debug` is `info`) instead of linking a filter engine for four levels.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

impl Level {
    /// Parses `EXO_LOG`. `trace` counts as `debug`; an unknown word gives `None`.
    pub fn parse(text: &str) -> Option<Level> {
        let word = text.split(',').map(str::trim).find(|part| !part.contains('='))?;
        match word.to_ascii_lowercase().as_str() {
            "error" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" | "trace" => Some(Level::Debug),
            _ => None,
        }
    }
}

pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

pub fn error(message: &str) {
    if enabled(Level::Error) {
        eprintln!("error: {message}");
    }
}

pub fn warn(message: &str) {
    if enabled(Level::Warn) {
        eprintln!("warning: {message}");
    }
}

/// Info lines go to stdout: they are the server's normal output (the startup line).
pub fn info(message: &str) {
    if enabled(Level::Info) {
        println!("{message}");
    }
}

pub fn debug(message: &str) {
    if enabled(Level::Debug) {
        eprintln!("debug: {message}");
    }
}
