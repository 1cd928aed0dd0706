//! Locating the PostgreSQL binaries (`initdb`, `pg_ctl`, `psql`) this crate drives.

use std::env;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::Error;

/// Environment variable naming a directory that holds `initdb` and `pg_ctl`; it wins over discovery.
pub const BIN_DIR_ENV: &str = "EXO_PG_BIN_DIR";

/// The programs of one PostgreSQL installation.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    pub dir: PathBuf,
    pub initdb: PathBuf,
    pub pg_ctl: PathBuf,
    pub psql: PathBuf,
}

impl Binaries {
    /// Searches `$EXO_PG_BIN_DIR`, then `PATH`, then the distribution layouts, newest version first.
    pub fn locate() -> Result<Self, Error> {
        if let Some(dir) = env::var_os(BIN_DIR_ENV) {
            let dir = PathBuf::from(dir);
            return if has_server(&dir) {
                Ok(Self::in_dir(dir))
            } else {
                Err(Error::not_installed(format!(
                    "`{BIN_DIR_ENV}` is set to `{}`, which does not contain `initdb` and `pg_ctl`",
                    dir.display()
                )))
            };
        }
        candidate_dirs().into_iter().find(|dir| has_server(dir)).map(|dir| Self::in_dir(resolve_links(dir))).ok_or_else(
            || {
                Error::not_installed(format!(
                    "no PostgreSQL server binaries (`initdb` and `pg_ctl`) found on PATH or under \
                     /usr/lib/postgresql/*/bin; install them with `apt-get install -y postgresql` \
                     (Debian/Ubuntu) or point `{BIN_DIR_ENV}` at the directory holding them"
                ))
            },
        )
    }

    fn in_dir(dir: PathBuf) -> Self {
        // Debian's /usr/bin/psql is a wrapper that picks a cluster; the one next to `initdb` is
        // the plain client and matches the server version.
        let psql = Some(dir.join("psql"))
            .filter(|p| is_executable(p))
            .or_else(|| path_dirs().map(|d| d.join("psql")).find(|p| is_executable(p)))
            .unwrap_or_else(|| PathBuf::from("psql"));
        Binaries { initdb: dir.join("initdb"), pg_ctl: dir.join("pg_ctl"), psql, dir }
    }
}

/// `/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb` means the installation, with
/// its matching `psql`, lives in the link's target directory.
fn resolve_links(dir: PathBuf) -> PathBuf {
    match dir.join("initdb").canonicalize().ok().and_then(|p| p.parent().map(Path::to_path_buf)) {
        Some(real) if real != dir && has_server(&real) => real,
        _ => dir,
    }
}

fn has_server(dir: &Path) -> bool {
    is_executable(&dir.join("initdb")) && is_executable(&dir.join("pg_ctl"))
}

fn is_executable(path: &Path) -> bool {
    path.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

fn path_dirs() -> impl Iterator<Item = PathBuf> {
    env::var_os("PATH").map(|p| env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default().into_iter()
}

fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = path_dirs().collect();
    // Debian/Ubuntu: /usr/lib/postgresql/15/bin; RHEL/PGDG: /usr/pgsql-15/bin.
    dirs.extend(versioned_dirs(Path::new("/usr/lib/postgresql"), "", "bin"));
    dirs.extend(versioned_dirs(Path::new("/usr"), "pgsql-", "bin"));
    dirs.push(PathBuf::from("/usr/local/pgsql/bin"));
    dirs
}

/// Children of `parent` named `{prefix}{version}`, joined with `suffix`, highest version first.
fn versioned_dirs(parent: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let Ok(entries) = parent.read_dir() else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version = parse_version(name.strip_prefix(prefix)?)?;
            Some((version, e.path().join(suffix)))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, dir)| dir).collect()
}

/// `"15"` -> `[15]`, `"9.6"` -> `[9, 6]`; anything else is not a version directory.
fn parse_version(text: &str) -> Option<Vec<u32>> {
    text.split('.').map(|part| part.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_numerically_not_lexically() {
        let mut versions = ["9.6", "15", "10", "12"].map(|v| parse_version(v).unwrap());
        versions.sort_by(|a, b| b.cmp(a));
        assert_eq!(versions, [vec![15], vec![12], vec![10], vec![9, 6]]);
        assert_eq!(parse_version("main"), None);
    }
}
