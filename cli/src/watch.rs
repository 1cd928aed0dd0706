//! Watching `src/` for changes by polling.
//!
//! Why polling and not the `notify` crate: a model is a handful of small files, and stating
//! them every 100 ms costs microseconds; polling works the same on every filesystem (bind
//! mounts into containers, network shares and WSL drives, where inotify events often never
//! arrive), sees editors' write-to-temp-then-rename saves without special cases, and adds no
//! dependency. The cost is up to one poll interval of latency, well under the reload budget.
//!
//! Files are compared by content (a hash), not by modification time: coarse filesystem clocks
//! can give two quick saves the same mtime, and saving an unchanged file should not reload.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often `src/` is scanned.
pub const POLL: Duration = Duration::from_millis(100);
/// A change counts once the tree has stayed the same for this long (editors save in steps).
pub const SETTLE: Duration = Duration::from_millis(50);

/// Files larger than this are compared by modification time instead of content.
const MAX_HASHED: u64 = 1 << 20;

/// Every watched file with its size and a hash of its content, sorted by path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(Vec<(PathBuf, u64, u64)>);

impl Fingerprint {
    /// Scans `dir` recursively, skipping hidden files and editor backups (`.x.swp`, `x~`).
    pub fn scan(dir: &Path) -> Fingerprint {
        let mut files = Vec::new();
        collect(dir, &mut files);
        files.sort();
        Fingerprint(files)
    }
}

fn collect(dir: &Path, out: &mut Vec<(PathBuf, u64, u64)>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            collect(&path, out);
        } else {
            // A file that vanished between listing and reading counts as empty; the next scan
            // settles it.
            let mut hasher = DefaultHasher::new();
            if meta.len() <= MAX_HASHED {
                fs::read(&path).unwrap_or_default().hash(&mut hasher);
            } else {
                meta.modified().ok().hash(&mut hasher);
            }
            out.push((path, meta.len(), hasher.finish()));
        }
    }
}

pub struct Watcher {
    dirs: Vec<PathBuf>,
    last: Fingerprint,
}

impl Watcher {
    /// Watches `dirs` (missing ones count as empty), starting from how they are now.
    pub fn new(dirs: Vec<PathBuf>) -> Watcher {
        let mut watcher = Watcher { dirs, last: Fingerprint::default() };
        watcher.last = watcher.scan();
        watcher
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    fn scan(&self) -> Fingerprint {
        let mut files = Vec::new();
        for dir in &self.dirs {
            files.extend(Fingerprint::scan(dir).0);
        }
        Fingerprint(files)
    }

    /// Completes when the tree has changed and then stayed unchanged for [`SETTLE`].
    pub async fn changed(&mut self) {
        loop {
            tokio::time::sleep(POLL).await;
            let mut now = self.scan();
            if now == self.last {
                continue;
            }
            loop {
                tokio::time::sleep(SETTLE).await;
                let again = self.scan();
                if again == now {
                    break;
                }
                now = again;
            }
            self.last = now;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_sees_edits_and_new_files_but_not_backups() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        fs::create_dir_all(dir.join("sub")).expect("mkdir");
        fs::write(dir.join("index.exo"), "a").expect("write");
        let before = Fingerprint::scan(dir);
        fs::write(dir.join("index.exo~"), "backup").expect("write");
        fs::write(dir.join(".index.exo.swp"), "swap").expect("write");
        assert_eq!(Fingerprint::scan(dir), before, "backups and hidden files are ignored");
        fs::write(dir.join("index.exo"), "b").expect("write");
        let edited = Fingerprint::scan(dir);
        assert_ne!(edited, before, "a same-size edit is seen");
        fs::write(dir.join("index.exo"), "b").expect("write");
        assert_eq!(Fingerprint::scan(dir), edited, "saving the same content again is no change");
        fs::write(dir.join("sub").join("more.exo"), "x").expect("write");
        assert_ne!(Fingerprint::scan(dir), edited, "a new file in a subdirectory is seen");
    }

    #[tokio::test]
    async fn watcher_completes_after_a_change() {
        let tmp = tempfile::tempdir().expect("temp dir");
        fs::write(tmp.path().join("index.exo"), "a").expect("write");
        let mut watcher = Watcher::new(vec![tmp.path().to_path_buf(), tmp.path().join("missing")]);
        let path = tmp.path().join("index.exo");
        let writer = tokio::spawn(async move {
            tokio::time::sleep(POLL).await;
            fs::write(path, "changed").expect("write");
        });
        watcher.changed().await;
        writer.await.expect("writer");
        assert_eq!(watcher.last, Fingerprint::scan(tmp.path()));
    }
}
