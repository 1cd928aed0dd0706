//! Compares an expected response (a [`JsValue`]) with an actual one.
//!
//! The rules follow the reference runner's `assertEquals`:
//! - objects have exactly the expected keys, in any order;
//! - arrays have the expected length and match in order, unless their field
//!   path (indices left out, e.g. `data.todos.tags`) is marked `@unordered`,
//!   in which case each expected element needs a distinct matching element;
//! - primitives compare strictly (`1` and `1.0` are the same number);
//! - an expected `null` also matches a missing value, numbers, booleans, and
//!   empty strings, arrays and objects, because the reference checks it as an
//!   object with no keys (`typeof null === "object"`). Tests written against
//!   that behaviour must keep passing here.
//!
//! Functions and other unevaluable parts of the expected value cannot be
//! checked; they match anything and are returned as [`Unverified`] so that the
//! caller can report the test as unsupported rather than passed.

use crate::js::{short, JsValue};
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;

/// A part of the expectation that was skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unverified {
    pub path: String,
    pub reason: String,
}

/// The first difference found.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// Dotted path with array indices, e.g. `data.todos.0.title`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() { "<root>" } else { &self.path };
        write!(f, "assertion failed at '{path}': {}", self.message)
    }
}

/// Checks `actual` against `expected`; `unordered` holds field paths.
pub fn assert_matches(
    expected: &JsValue,
    actual: &Value,
    unordered: &HashSet<String>,
) -> Result<Vec<Unverified>, Mismatch> {
    let mut unverified = Vec::new();
    let mut cx = Context { unordered, path: Vec::new(), field_path: Vec::new() };
    cx.compare(expected, Some(actual), &mut unverified)?;
    Ok(unverified)
}

struct Context<'a> {
    unordered: &'a HashSet<String>,
    /// Display path, with indices.
    path: Vec<String>,
    /// Field path, without indices, as `@unordered` records it.
    field_path: Vec<String>,
}

impl Context<'_> {
    fn mismatch(&self, message: String) -> Mismatch {
        Mismatch { path: self.path.join("."), message }
    }

    fn compare(
        &mut self,
        expected: &JsValue,
        actual: Option<&Value>,
        unverified: &mut Vec<Unverified>,
    ) -> Result<(), Mismatch> {
        let got = || actual.map_or("undefined".to_string(), render_compact);
        match expected {
            JsValue::Function(src) => {
                unverified.push(Unverified {
                    path: self.path.join("."),
                    reason: format!("JavaScript function in expected response: `{}`", short(src)),
                });
                Ok(())
            }
            JsValue::Opaque(src) => {
                unverified.push(Unverified {
                    path: self.path.join("."),
                    reason: format!("unsupported JavaScript in expected response: `{}`", short(src)),
                });
                Ok(())
            }
            JsValue::Undefined => match actual {
                None => Ok(()),
                Some(other) => Err(self.mismatch(format!("expected undefined, got {}", render_compact(other)))),
            },
            JsValue::Null => match actual {
                None | Some(Value::Null | Value::Number(_) | Value::Bool(_)) => Ok(()),
                Some(Value::String(s)) if s.is_empty() => Ok(()),
                Some(Value::Array(a)) if a.is_empty() => Ok(()),
                Some(Value::Object(o)) if o.is_empty() => Ok(()),
                Some(other) => Err(self.mismatch(format!("expected null, got {}", render_compact(other)))),
            },
            JsValue::Bool(e) => match actual {
                Some(Value::Bool(a)) if a == e => Ok(()),
                _ => Err(self.mismatch(format!("expected {e}, got {}", got()))),
            },
            JsValue::Number(e) => match actual {
                Some(Value::Number(a)) if numbers_equal(e, a) => Ok(()),
                _ => Err(self.mismatch(format!("expected {e}, got {}", got()))),
            },
            JsValue::String(e) => match actual {
                Some(Value::String(a)) if a == e => Ok(()),
                _ => Err(self.mismatch(format!("expected {}, got {}", Value::String(e.clone()), got()))),
            },
            JsValue::Array(expected_items) => {
                let Some(Value::Array(actual_items)) = actual else {
                    return Err(self.mismatch(format!(
                        "expected an array of {} element(s), got {}",
                        expected_items.len(),
                        got()
                    )));
                };
                if expected_items.len() != actual_items.len() {
                    return Err(self.mismatch(format!(
                        "expected an array of {} element(s), got {} element(s)",
                        expected_items.len(),
                        actual_items.len()
                    )));
                }
                if self.unordered.contains(&self.field_path.join(".")) {
                    self.compare_unordered(expected_items, actual_items, unverified)
                } else {
                    for (i, (e, a)) in expected_items.iter().zip(actual_items).enumerate() {
                        self.path.push(i.to_string());
                        let result = self.compare(e, Some(a), unverified);
                        self.path.pop();
                        result?;
                    }
                    Ok(())
                }
            }
            JsValue::Object(entries) => {
                let Some(Value::Object(map)) = actual else {
                    return Err(self.mismatch(format!("expected an object, got {}", got())));
                };
                for (key, e) in entries {
                    self.path.push(key.clone());
                    self.field_path.push(key.clone());
                    let result = self.compare(e, map.get(key), unverified);
                    self.path.pop();
                    self.field_path.pop();
                    result?;
                }
                for (key, value) in map {
                    // An entry whose value is undefined does not count as present (JavaScript).
                    if !entries.iter().any(|(k, v)| k == key && !matches!(v, JsValue::Undefined)) {
                        return Err(self.mismatch(format!("unexpected key '{key}' (value {})", render_compact(value))));
                    }
                }
                Ok(())
            }
        }
    }

    /// Multiset matching: a perfect bipartite matching between expected and
    /// actual elements (augmenting paths), so the order of candidates never
    /// causes a false failure.
    fn compare_unordered(
        &mut self,
        expected: &[JsValue],
        actual: &[Value],
        unverified: &mut Vec<Unverified>,
    ) -> Result<(), Mismatch> {
        let n = expected.len();
        let mut outcomes: Vec<Vec<Option<Vec<Unverified>>>> = Vec::with_capacity(n);
        for (i, e) in expected.iter().enumerate() {
            let mut row = Vec::with_capacity(n);
            for (j, a) in actual.iter().enumerate() {
                self.path.push(j.to_string());
                let mut found = Vec::new();
                let ok = self.compare(e, Some(a), &mut found).is_ok();
                self.path.pop();
                row.push(ok.then_some(found));
            }
            if row.iter().all(Option::is_none) {
                self.path.push(i.to_string());
                let m = self.mismatch(format!(
                    "no element of the (unordered) actual array matches expected element {}",
                    render_compact(&e.to_display_json())
                ));
                self.path.pop();
                return Err(m);
            }
            outcomes.push(row);
        }
        let mut owner: Vec<Option<usize>> = vec![None; n];
        for (i, e) in expected.iter().enumerate() {
            let mut seen = vec![false; n];
            if !augment(i, &outcomes, &mut owner, &mut seen) {
                return Err(self.mismatch(format!(
                    "the (unordered) actual array has no distinct match for expected element {i}: {}",
                    render_compact(&e.to_display_json())
                )));
            }
        }
        for (j, owner) in owner.iter().enumerate() {
            if let Some(i) = owner {
                unverified.extend(outcomes[*i][j].iter().flatten().cloned());
            }
        }
        Ok(())
    }
}

fn augment(
    i: usize,
    outcomes: &[Vec<Option<Vec<Unverified>>>],
    owner: &mut [Option<usize>],
    seen: &mut [bool],
) -> bool {
    for j in 0..owner.len() {
        if outcomes[i][j].is_none() || seen[j] {
            continue;
        }
        seen[j] = true;
        if owner[j].is_none_or(|other| augment(other, outcomes, owner, seen)) {
            owner[j] = Some(i);
            return true;
        }
    }
    false
}

fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        _ => a.as_f64() == b.as_f64(),
    }
}

/// One-line JSON, shortened for messages.
pub fn render_compact(value: &Value) -> String {
    let s = value.to_string();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

/// A line diff of the pretty-printed expected and actual values, with three
/// lines of context around each change (`-` expected, `+` actual).
pub fn render_diff(expected: &Value, actual: &Value) -> String {
    let expected = serde_json::to_string_pretty(expected).unwrap_or_default();
    let actual = serde_json::to_string_pretty(actual).unwrap_or_default();
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    if a.len().saturating_mul(b.len()) > 4_000_000 {
        return format!("expected:\n{expected}\nactual:\n{actual}");
    }
    // Longest common subsequence table, filled from the end.
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut lines: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            lines.push(('-', a[i]));
            i += 1;
        } else {
            lines.push(('+', b[j]));
            j += 1;
        }
    }
    let changed: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| l.0 != ' ').map(|(k, _)| k).collect();
    let keep = |k: usize| changed.iter().any(|&c| c.abs_diff(k) <= 3);
    let mut out = String::from("--- expected\n+++ actual\n");
    let mut skipped = false;
    for (k, (sign, line)) in lines.iter().enumerate() {
        if keep(k) {
            out.push_str(&format!("{sign} {line}\n"));
            skipped = false;
        } else if !skipped {
            out.push_str("  ...\n");
            skipped = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::js::{parse, Mode};
    use serde_json::json;

    fn check(expected: &str, actual: Value, unordered: &[&str]) -> Result<Vec<Unverified>, Mismatch> {
        let expected = parse(expected, Mode::Expected).unwrap().eval(&Default::default()).unwrap();
        let unordered = unordered.iter().map(|s| s.to_string()).collect();
        assert_matches(&expected, &actual, &unordered)
    }

    fn failure(expected: &str, actual: Value) -> String {
        check(expected, actual, &[]).unwrap_err().to_string()
    }

    #[test]
    fn objects_are_exact_and_order_insensitive() {
        assert!(check(r#"{"data": {"b": 2, "a": 1}}"#, json!({"data": {"a": 1, "b": 2}}), &[]).is_ok());
        assert_eq!(
            failure(r#"{"data": {"a": 1}}"#, json!({"data": {"a": 1, "b": 2}})),
            "assertion failed at 'data': unexpected key 'b' (value 2)"
        );
        assert_eq!(
            failure(r#"{"data": {"a": 1, "c": 3}}"#, json!({"data": {"a": 1}})),
            "assertion failed at 'data.c': expected 3, got undefined"
        );
    }

    #[test]
    fn undefined_stands_for_an_absent_key() {
        let expected = JsValue::Object(vec![("a".into(), JsValue::Number(1.into())), ("b".into(), JsValue::Undefined)]);
        let none = HashSet::new();
        assert!(assert_matches(&expected, &json!({"a": 1}), &none).is_ok());
        let e = assert_matches(&expected, &json!({"a": 1, "b": null}), &none).unwrap_err();
        assert_eq!(e.to_string(), "assertion failed at 'b': expected undefined, got null");
    }

    #[test]
    fn primitives_are_strict() {
        assert_eq!(
            failure(r#"{"data": {"todos": [{"title": "x"}]}}"#, json!({"data": {"todos": [{"title": "y"}]}})),
            r#"assertion failed at 'data.todos.0.title': expected "x", got "y""#
        );
        assert_eq!(failure(r#"{"a": 1}"#, json!({"a": "1"})), r#"assertion failed at 'a': expected 1, got "1""#);
        assert_eq!(failure(r#"{"a": true}"#, json!({"a": 1})), "assertion failed at 'a': expected true, got 1");
        assert!(check(r#"{"a": 1, "b": 2.5}"#, json!({"a": 1.0, "b": 2.5}), &[]).is_ok());
    }

    #[test]
    fn arrays_in_order_unless_unordered() {
        let actual = json!({"data": {"todos": [{"id": 2, "tags": ["b", "a"]}, {"id": 1, "tags": []}]}});
        let expected = r#"{"data": {"todos": [{"id": 1, "tags": []}, {"id": 2, "tags": ["a", "b"]}]}}"#;
        assert_eq!(
            check(expected, actual.clone(), &[]).unwrap_err().to_string(),
            "assertion failed at 'data.todos.0.id': expected 1, got 2"
        );
        // Only the outer array is unordered: the inner tags still compare in order.
        assert_eq!(check(expected, actual.clone(), &["data.todos"]).unwrap_err().path, "data.todos.1");
        assert!(check(expected, actual, &["data.todos", "data.todos.tags"]).is_ok());
        assert_eq!(
            failure("[1, 2]", json!([1, 2, 3])),
            "assertion failed at '<root>': expected an array of 2 element(s), got 3 element(s)"
        );
    }

    #[test]
    fn unordered_is_a_multiset_match() {
        // Duplicates must be matched by distinct elements.
        assert!(check("[1, 1, 2]", json!([1, 2, 2]), &[""]).is_err());
        assert!(check("[2, 1, 1]", json!([1, 2, 1]), &[""]).is_ok());
        // Greedy matching would pair `null` with 0 and then fail on 0; a perfect
        // matching exists.
        assert!(check("[null, 0]", json!([0, null]), &[""]).is_ok());
    }

    #[test]
    fn null_quirk() {
        for actual in [json!(null), json!(3), json!(false), json!([]), json!({}), json!("")] {
            assert!(check(r#"{"a": null}"#, json!({"a": actual}), &[]).is_ok(), "{actual}");
        }
        assert!(check(r#"{"a": null}"#, json!({}), &[]).is_ok(), "a missing key matches null");
        for actual in [json!("x"), json!([1]), json!({"k": 1})] {
            assert!(check(r#"{"a": null}"#, json!({"a": actual}), &[]).is_err(), "{actual}");
        }
        // The quirk is one-way: an expected value never matches an actual null.
        assert_eq!(
            failure(r#"{"a": {}}"#, json!({"a": null})),
            "assertion failed at 'a': expected an object, got null"
        );
    }

    #[test]
    fn functions_are_unverified_not_passed() {
        let unverified = check(
            r#"{"data": {"t": (t) => t.startsWith("T"), "id": 1}}"#,
            json!({"data": {"t": "Title", "id": 1}}),
            &[],
        )
        .unwrap();
        assert_eq!(unverified.len(), 1);
        assert_eq!(unverified[0].path, "data.t");
        assert!(unverified[0].reason.contains("JavaScript function"));
        // A real mismatch elsewhere is still a failure.
        assert!(check(r#"{"data": {"t": (t) => true, "id": 1}}"#, json!({"data": {"t": "x", "id": 2}}), &[]).is_err());
    }

    #[test]
    fn diff_shows_changed_lines() {
        let diff = render_diff(&json!({"a": 1, "b": [1, 2]}), &json!({"a": 1, "b": [1, 3]}));
        assert!(diff.contains("-     2\n+     3\n"), "{diff}");
    }
}
