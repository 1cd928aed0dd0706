//! GraphQL error objects, as the response's `errors` list carries them.

use crate::graphql::Pos;

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
