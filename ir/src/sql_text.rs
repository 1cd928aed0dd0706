//! PostgreSQL quoting, written once for every crate that prints SQL text: the runtime's SQL
//! printer, the compiler's column defaults and `pg-schema`'s DDL.

use std::fmt::Write as _;

/// Appends a quoted identifier: `"a""b"` (embedded double quotes doubled).
pub fn write_ident(out: &mut String, name: &str) {
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

/// Quotes a Postgres identifier (doubling embedded quotes).
pub fn quote_ident(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 2);
    write_ident(&mut s, name);
    s
}

/// Appends a string literal: `'it''s'`, or an escape string (`E'a\nb'`) when it holds a
/// backslash or a control character, so that it reads the same whatever
/// `standard_conforming_strings` says and stays on one line.
pub fn write_literal(out: &mut String, s: &str) {
    let escape = s.chars().any(|c| c == '\\' || c.is_control());
    if escape {
        out.push('E');
    }
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' if escape => out.push_str("\\\\"),
            '\n' if escape => out.push_str("\\n"),
            '\r' if escape => out.push_str("\\r"),
            '\t' if escape => out.push_str("\\t"),
            // `\x` is a byte; the C1 controls (U+0080..U+009F) need `\u`.
            c if escape && c.is_control() && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if escape && c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// [`write_literal`] into a new string.
pub fn quote_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_literal(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_double_their_quotes() {
        assert_eq!(quote_ident("a\"b"), r#""a""b""#);
        assert_eq!(quote_ident("plain"), r#""plain""#);
    }

    #[test]
    fn literals_double_quotes_and_escape_backslashes_and_controls() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(""), "''");
        assert_eq!(quote_literal("a\\b"), r"E'a\\b'");
        assert_eq!(quote_literal("a\nb\t'"), r"E'a\nb\t'''");
        assert_eq!(quote_literal("\u{1}"), r"E'\x01'");
        assert_eq!(quote_literal("\u{85}"), r"E'\u0085'");
        assert_eq!(quote_literal("é"), "'é'");
    }
}
