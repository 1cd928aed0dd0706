//! The server's logging, driven by `EXO_LOG` in the `tracing` filter syntax Exograph uses
//! (`RUST_LOG`'s): comma-separated directives, each a level (`info`) or `target=level`
//! (`exo::request=warn`, `h2=warn`), the most specific target prefix winning.
//!
//! exo emits under two targets: `exo` (startup, warnings, errors) and `exo::request` (one line
//! per HTTP GraphQL request). Directives for other targets (`h2`, `hyper`) are accepted and
//! have nothing to filter: those libraries log nothing here. A filter engine with regexes
//! (tracing-subscriber's `env-filter`) would cost build time for two targets, so the
//! effective level of each is worked out once, at startup, and read with one relaxed load.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

/// `off` as a level: nothing passes.
const OFF: u8 = 0;

/// The target of general messages.
pub const TARGET: &str = "exo";
/// The target of the per-request lines.
pub const REQUEST_TARGET: &str = "exo::request";

static GENERAL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static REQUEST: AtomicU8 = AtomicU8::new(Level::Info as u8);

impl Level {
    fn parse(word: &str) -> Option<u8> {
        Some(match word.trim().to_ascii_lowercase().as_str() {
            "off" => OFF,
            "error" => Level::Error as u8,
            "warn" | "warning" => Level::Warn as u8,
            "info" => Level::Info as u8,
            "debug" => Level::Debug as u8,
            "trace" => Level::Trace as u8,
            _ => return None,
        })
    }
}

/// A parsed `EXO_LOG`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// The bare level, `info` when none is given.
    default: u8,
    /// `target=level` directives, in the order given.
    directives: Vec<(String, u8)>,
}

impl Default for Filter {
    fn default() -> Filter {
        Filter { default: Level::Info as u8, directives: vec![] }
    }
}

impl Filter {
    /// Parses the `tracing` directive syntax. Span and field filters (`[span{field}]`) have
    /// nothing to select here and are refused rather than silently ignored.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let mut filter = Filter::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part.contains('[') || part.contains('{') {
                return Err(format!(
                    "`{part}`: span and field filters are not supported; use `level` or `target=level`"
                ));
            }
            let bad_level =
                |level: &str| format!("`{part}`: `{level}` is not a level; use off, error, warn, info, debug or trace");
            match part.split_once('=') {
                Some((target, level)) => {
                    let level = Level::parse(level).ok_or_else(|| bad_level(level))?;
                    filter.directives.push((target.trim().to_string(), level));
                }
                // A bare word is a level, or a target enabled at every level.
                None => match Level::parse(part) {
                    Some(level) => filter.default = level,
                    None if part.chars().all(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '-') => {
                        filter.directives.push((part.to_string(), Level::Trace as u8))
                    }
                    None => return Err(bad_level(part)),
                },
            }
        }
        Ok(filter)
    }

    /// The most verbose level enabled for `target`: the longest directive whose target is a
    /// prefix of it (at a `::` boundary), else the bare level.
    fn level_for(&self, target: &str) -> u8 {
        self.directives
            .iter()
            .filter(|(t, _)| target == t || target.strip_prefix(t.as_str()).is_some_and(|rest| rest.starts_with("::")))
            .max_by_key(|(t, _)| t.len())
            .map(|(_, level)| *level)
            .unwrap_or(self.default)
    }

    /// Whether `level` passes for `target`.
    pub fn enabled(&self, target: &str, level: Level) -> bool {
        level as u8 <= self.level_for(target)
    }
}

/// Installs `filter` for the whole process.
pub fn set_filter(filter: &Filter) {
    GENERAL.store(filter.level_for(TARGET), Ordering::Relaxed);
    REQUEST.store(filter.level_for(REQUEST_TARGET), Ordering::Relaxed);
}

/// Every target at `level` (`--quiet` is `warn`).
pub fn set_level(level: Level) {
    GENERAL.store(level as u8, Ordering::Relaxed);
    REQUEST.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= GENERAL.load(Ordering::Relaxed)
}

/// Whether request lines are written (`exo::request` at `info`).
pub fn requests_enabled() -> bool {
    Level::Info as u8 <= REQUEST.load(Ordering::Relaxed)
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

/// What one GraphQL request did, for its log line. Holds no variables, tokens or headers.
pub struct RequestRecord<'a> {
    /// The operation's name (from `operationName` or the document), or `-`.
    pub operation: &'a str,
    pub status: u16,
    pub duration_ms: f64,
    /// SQL statements sent and rows Postgres returned (JSON documents and keys, not list items).
    pub statements: u32,
    pub rows: u64,
    pub errors: usize,
}

/// Writes one request line to stderr, in a single `write` so lines from several threads never
/// interleave: `<time> INFO exo::request: operation=... status=... duration_ms=... ...`.
pub fn request(record: &RequestRecord<'_>) {
    let line = format!(
        "{} INFO {REQUEST_TARGET}: operation={} status={} duration_ms={:.3} statements={} rows={} errors={}\n",
        utc_now(),
        quote_if_needed(record.operation),
        record.status,
        record.duration_ms,
        record.statements,
        record.rows,
        record.errors
    );
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// A GraphQL name needs no quotes; anything else (`-`, odd input) is quoted.
fn quote_if_needed(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        s.to_string()
    } else {
        format!("{s:?}")
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` without a date library (days to civil date: Howard Hinnant's
/// algorithm).
fn utc_now() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// The name of the operation a request body runs, for the log: `operationName`, else the
/// first named operation in `query`, else `-`. Never anything from `variables`.
pub fn operation_name(body: &[u8]) -> String {
    let Ok(serde_json::Value::Object(payload)) = serde_json::from_slice::<serde_json::Value>(body) else {
        return "-".to_string();
    };
    if let Some(name) = payload.get("operationName").and_then(|v| v.as_str()).filter(|n| is_name(n)) {
        return name.to_string();
    }
    payload.get("query").and_then(|q| q.as_str()).and_then(first_operation_name).unwrap_or_else(|| "-".to_string())
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The name after the first `query`/`mutation`/`subscription` keyword at the top level of a
/// document (outside braces, parentheses, strings and comments).
fn first_operation_name(doc: &str) -> Option<String> {
    let bytes = doc.as_bytes();
    let (mut i, mut depth) = (0, 0i32);
    let mut after_keyword = false;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'(' => {
                if depth == 0 && after_keyword {
                    return None;
                }
                depth += 1
            }
            b'}' | b')' => depth -= 1,
            _ if depth == 0 && (c.is_ascii_alphabetic() || c == b'_') => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &doc[start..i];
                if after_keyword {
                    return Some(word.to_string());
                }
                after_keyword = matches!(word, "query" | "mutation" | "subscription");
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_follow_the_tracing_syntax() {
        let f = Filter::parse("debug,h2=warn").unwrap();
        assert!(f.enabled("exo", Level::Debug));
        assert!(!f.enabled("h2", Level::Info));
        assert!(f.enabled("h2::codec", Level::Warn));
        let f = Filter::parse("warn,exo::request=info").unwrap();
        assert!(f.enabled(REQUEST_TARGET, Level::Info));
        assert!(!f.enabled(TARGET, Level::Info));
        let f = Filter::parse("info,exo::request=off").unwrap();
        assert!(!f.enabled(REQUEST_TARGET, Level::Error));
        assert!(f.enabled(TARGET, Level::Info));
        // The longest matching target wins, at `::` boundaries only.
        let f = Filter::parse("error,exo=debug,exo::request=warn,exoplanet=trace").unwrap();
        assert!(f.enabled(TARGET, Level::Debug));
        assert!(!f.enabled(REQUEST_TARGET, Level::Info));
        assert_eq!(Filter::parse("").unwrap(), Filter::default());
        assert!(Filter::parse("TRACE").unwrap().enabled("anything", Level::Trace));
    }

    #[test]
    fn bad_filters_say_what_is_accepted() {
        assert!(Filter::parse("info,h2=").unwrap_err().contains("not a level"));
        assert!(Filter::parse("debug!").unwrap_err().contains("not a level"));
        // A bare name is a target at every level, as in `tracing`.
        assert!(Filter::parse("loud").unwrap().enabled("loud", Level::Trace));
        assert!(Filter::parse("exo=loud").unwrap_err().contains("not a level"));
        assert!(Filter::parse("[span{x=1}]=debug").unwrap_err().contains("not supported"));
    }

    #[test]
    fn operation_names_come_from_the_request_not_its_variables() {
        let body = |v: serde_json::Value| v.to_string().into_bytes();
        assert_eq!(operation_name(&body(serde_json::json!({"query": "query Todos { todos { id } }"}))), "Todos");
        assert_eq!(
            operation_name(&body(
                serde_json::json!({"query": "# query Fake\nmutation($t: String = \"query X\") @a { x }"})
            )),
            "-"
        );
        assert_eq!(
            operation_name(&body(serde_json::json!({"query": "fragment F on T { a } mutation Add($x: Int) { x }"}))),
            "Add"
        );
        assert_eq!(
            operation_name(&body(serde_json::json!({"query": "query A { a } query B { b }", "operationName": "B"}))),
            "B"
        );
        assert_eq!(operation_name(&body(serde_json::json!({"query": "{ a }", "operationName": "x y"}))), "-");
        assert_eq!(operation_name(b"not json"), "-");
    }

    #[test]
    fn timestamps_are_utc_rfc3339() {
        let t = utc_now();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        assert!(t.starts_with("20"), "{t}");
    }
}
