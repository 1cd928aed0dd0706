//! GraphQL error objects, as the response's `errors` list carries them.

use crate::graphql::{ParseError, Pos};

#[derive(Debug, Clone, PartialEq)]
pub struct GqlError {
    pub message: String,
    pub locations: Vec<Pos>,
}

impl GqlError {
    pub fn new(message: impl Into<String>) -> GqlError {
        GqlError { message: message.into(), locations: vec![] }
    }

    pub fn at(message: impl Into<String>, pos: Pos) -> GqlError {
        GqlError { message: message.into(), locations: vec![pos] }
    }

    /// Appends this error as a JSON object to `out`.
    pub fn write_json(&self, out: &mut String) {
        out.push_str("{\"message\":");
        write_json_string(out, &self.message);
        if !self.locations.is_empty() {
            out.push_str(",\"locations\":[");
            for (i, l) in self.locations.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&format!("{{\"line\":{},\"column\":{}}}", l.line, l.column));
            }
            out.push(']');
        }
        out.push('}');
    }
}

/// `{"errors":[...]}`
pub fn errors_body(errors: &[GqlError]) -> String {
    let mut out = String::from("{\"errors\":[");
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        e.write_json(&mut out);
    }
    out.push_str("]}");
    out
}

/// Appends `s` as a JSON string literal.
pub fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A document that does not parse, reported as Exograph reports it (its parser's framed
/// message: the position, the line with a caret, what was expected). Parse limits (token
/// count, depth, size) keep their own messages.
pub fn parse_error(source: &str, e: ParseError) -> GqlError {
    let Some(rest) = e.message.strip_prefix("Syntax Error: ") else {
        return GqlError::at(e.message, e.pos);
    };
    if rest.contains("Parsing aborted") {
        return GqlError::at(e.message, e.pos);
    }
    // ASCII case mapping only: the parser's messages are ASCII here, and Unicode case tables
    // would cost the Worker about 10 KB of gzip.
    let what = match rest.strip_prefix("Expected ").and_then(|r| r.split_once(", found")) {
        Some((expected, _)) => format!("expected {}", expected.to_ascii_lowercase()),
        None => {
            let mut r = rest.trim_end_matches('.').to_string();
            if let Some(first) = r.get_mut(..1) {
                first.make_ascii_lowercase();
            }
            r
        }
    };
    let line_text = source.lines().nth(e.pos.line.saturating_sub(1) as usize).unwrap_or("");
    let gutter = " ".repeat(e.pos.line.to_string().len());
    let caret = " ".repeat(e.pos.column.saturating_sub(1) as usize);
    GqlError::at(
        format!(
            "Syntax error:\n{gutter}--> {}:{}\n{gutter} |\n{} | {line_text}\n{gutter} | {caret}^---\n{gutter} |\n{gutter} = {what}",
            e.pos.line, e.pos.column, e.pos.line
        ),
        e.pos,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_are_framed_like_exograph() {
        let source = "{\n  todos(id: 1\n}";
        let e = crate::graphql::parse(source, &Default::default()).unwrap_err();
        let g = parse_error(source, e);
        assert_eq!(g.message, "Syntax error:\n --> 3:1\n  |\n3 | }\n  | ^---\n  |\n  = expected name");
        assert_eq!(g.locations, vec![Pos { line: 3, column: 1 }]);
        let limit = ParseError {
            message: "Syntax Error: Document contains more than 5 tokens. Parsing aborted.".into(),
            pos: Pos::default(),
        };
        assert_eq!(
            parse_error("", limit).message,
            "Syntax Error: Document contains more than 5 tokens. Parsing aborted."
        );
    }
}
