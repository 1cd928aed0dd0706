//! One module per `exo` subcommand.

pub mod build;
pub mod deploy;
pub mod dev;
pub mod graphql;
pub mod new;
pub mod schema;
pub mod serve;
pub mod test;
pub mod test_worker;
pub mod yolo;

use crate::Failure;

/// A tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))
}

/// The database URL: `--database`, else `EXO_POSTGRES_URL`, else `DATABASE_URL`.
pub fn database_url(flag: Option<String>) -> Result<String, Failure> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    flag.or_else(|| env("EXO_POSTGRES_URL")).or_else(|| env("DATABASE_URL")).ok_or_else(|| {
        Failure::new(
            "no database given; pass `--database postgres://user@host:port/db`, or set `EXO_POSTGRES_URL` \
             (or `DATABASE_URL`)",
        )
    })
}

/// Writes `text` to `path`, or to stdout when there is no path.
pub fn write_output(path: Option<&std::path::Path>, text: &str) -> Result<(), Failure> {
    match path {
        None => {
            let mut text = text.to_string();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            print_stdout(&text);
            Ok(())
        }
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    Failure::new(format!("cannot create `{}`: {e}; check its permissions", parent.display()))
                })?;
            }
            let mut text = text.to_string();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            std::fs::write(path, text).map_err(|e| {
                Failure::new(format!("cannot write `{}`: {e}; check the path and its permissions", path.display()))
            })
        }
    }
}

/// Prints to stdout; a closed pipe (`exo graphql schema | head`) is not an error.
pub fn print_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
