//! Finds projects, their tests and init files: `(root, pattern) -> Vec<Project>`.
//!
//! A project is a directory with `src/index.exo` and a `tests/` directory. If
//! the root qualifies it is the only project; otherwise projects are collected
//! recursively below it (symlinks followed, each real directory visited once).
//! Directory entries are sorted so runs are reproducible; within a directory,
//! files come before subdirectories.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    pub dir: PathBuf,
    /// Tests whose names match the pattern, in run order.
    pub tests: Vec<TestCase>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    /// E.g. `todo/graphql/update-todo-user`.
    pub name: String,
    pub path: PathBuf,
    /// `init*.gql` and `init*.sql` to run first: the `tests/` directory's,
    /// then each subdirectory's down to the test's own, each sorted by name.
    pub init_files: Vec<PathBuf>,
}

/// Discovers projects under `root`, keeping only tests matching `pattern`.
/// Projects left with no test are dropped.
pub fn discover(root: &Path, pattern: Option<&str>) -> Result<Vec<Project>, String> {
    if !root.is_dir() {
        return Err(format!("{} is not a directory", root.display()));
    }
    let mut dirs = Vec::new();
    if is_project(root) {
        dirs.push(root.to_path_buf());
    } else {
        let mut visited = HashSet::new();
        find_projects(root, &mut visited, &mut dirs)?;
    }
    let mut projects = Vec::new();
    for dir in dirs {
        let prefix = relative_name(root, &dir);
        let mut tests = Vec::new();
        collect_tests(&dir.join("tests"), &prefix, &[], &mut tests)?;
        tests.retain(|t: &TestCase| pattern.is_none_or(|p| wildcard_match(p, &t.name)));
        if !tests.is_empty() {
            projects.push(Project { dir, tests });
        }
    }
    Ok(projects)
}

fn is_project(dir: &Path) -> bool {
    dir.join("src").join("index.exo").is_file() && dir.join("tests").is_dir()
}

fn relative_name(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
}

/// Sorted entries of a directory, split into (files, directories).
fn sorted_entries(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?.path();
        // `is_dir` follows symlinks.
        if path.is_dir() {
            dirs.push(path);
        } else {
            files.push(path);
        }
    }
    files.sort();
    dirs.sort();
    Ok((files, dirs))
}

fn find_projects(dir: &Path, visited: &mut HashSet<PathBuf>, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let real = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    if !visited.insert(real) {
        return Ok(());
    }
    if is_project(dir) {
        out.push(dir.to_path_buf());
    }
    let (_, subdirs) = sorted_entries(dir)?;
    for sub in subdirs {
        let name = sub.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // Build output and dependencies never hold projects, and can be huge.
        if name.starts_with('.') || name == "target" || name == "node_modules" {
            continue;
        }
        find_projects(&sub, visited, out)?;
    }
    Ok(())
}

fn collect_tests(dir: &Path, prefix: &str, inherited: &[PathBuf], out: &mut Vec<TestCase>) -> Result<(), String> {
    let (files, subdirs) = sorted_entries(dir)?;
    let mut inits = inherited.to_vec();
    for file in &files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with("init") && (name.ends_with(".gql") || name.ends_with(".sql")) {
            inits.push(file.clone());
        }
    }
    for file in &files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(stem) = name.strip_suffix(".exotest") {
            let name = if prefix.is_empty() { stem.to_string() } else { format!("{prefix}/{stem}") };
            out.push(TestCase { name, path: file.clone(), init_files: inits.clone() });
        }
    }
    for sub in subdirs {
        let sub_name = sub.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let prefix = if prefix.is_empty() { sub_name } else { format!("{prefix}/{sub_name}") };
        collect_tests(&sub, &prefix, &inits, out)?;
    }
    Ok(())
}

/// `*` matches any run of characters (including `/`), `?` exactly one.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ni));
            pi += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ni = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
    }

    fn tree() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        for f in [
            "todo/src/index.exo",
            "todo/tests/basic-query.exotest",
            "todo/tests/init-b.sql",
            "todo/tests/init-a.gql",
            "todo/tests/notes.md",
            "todo/tests/graphql/update-todo-user.exotest",
            "todo/tests/graphql/init.gql",
            "todo/tests/graphql/deep/x.exotest",
            "nested/group/blog/src/index.exo",
            "nested/group/blog/tests/posts.exotest",
            "no-tests/src/index.exo",
            "no-model/tests/a.exotest",
            "todo/target/ignored/src/index.exo",
            "todo/target/ignored/tests/t.exotest",
        ] {
            touch(r, f);
        }
        tmp
    }

    #[test]
    fn finds_projects_tests_and_inherited_inits() {
        let tmp = tree();
        let r = tmp.path();
        let projects = discover(r, None).unwrap();
        let dirs: Vec<String> = projects.iter().map(|p| relative_name(r, &p.dir)).collect();
        assert_eq!(dirs, vec!["nested/group/blog", "todo"]);
        let todo = &projects[1];
        let names: Vec<&str> = todo.tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, vec!["todo/basic-query", "todo/graphql/update-todo-user", "todo/graphql/deep/x"]);
        let inits =
            |i: usize| -> Vec<String> { todo.tests[i].init_files.iter().map(|p| relative_name(r, p)).collect() };
        assert_eq!(inits(0), vec!["todo/tests/init-a.gql", "todo/tests/init-b.sql"]);
        assert_eq!(inits(2), vec!["todo/tests/init-a.gql", "todo/tests/init-b.sql", "todo/tests/graphql/init.gql"]);
        assert_eq!(projects[0].tests[0].name, "nested/group/blog/posts");
    }

    #[test]
    fn root_that_is_a_project_and_patterns() {
        let tmp = tree();
        let projects = discover(&tmp.path().join("todo"), Some("graphql/*")).unwrap();
        assert_eq!(projects.len(), 1);
        let names: Vec<&str> = projects[0].tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, vec!["graphql/update-todo-user", "graphql/deep/x"]);
        assert!(discover(tmp.path(), Some("nothing*")).unwrap().is_empty());
        assert!(discover(&tmp.path().join("missing"), None).is_err());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "a/b"));
        assert!(wildcard_match("todo/*-user", "todo/graphql/update-todo-user"));
        assert!(wildcard_match("t?do/*", "todo/x"));
        assert!(!wildcard_match("t?do", "tdo"));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(wildcard_match("exact", "exact"));
        assert!(!wildcard_match("exact", "exactly"));
    }
}
