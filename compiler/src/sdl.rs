//! Prints a [`Schema`] as SDL, byte for byte as graphql-js 16 `printSchema` prints it.
//!
//! Exograph's expected schemas are `printSchema(buildClientSchema(introspection))`, so the
//! rules here are graphql-js's: the `schema { ... }` block only when there is a description
//! (our root types always use the default names), descriptions as block strings whenever
//! `isPrintableAsBlockString` allows, arguments on one line unless one has a description,
//! definitions separated by one blank line, and no trailing newline. Types come in the order
//! the runtime's introspection lists them: `schema.types` (sorted by name), then `Query`,
//! then `Mutation` when it has fields. Built-in scalars are never in `schema.types`.

use exo_ir::graphql::{EnumValue, Field, InputValue, Schema, Type, TypeKind};

/// The SDL of `schema`, without a trailing newline.
pub fn print_sdl(schema: &Schema) -> String {
    let mut blocks = Vec::new();
    if let Some(desc) = &schema.description {
        let mut block = description(desc, "", true);
        block.push_str("schema {\n  query: Query\n");
        if !schema.mutations.is_empty() {
            block.push_str("  mutation: Mutation\n");
        }
        block.push('}');
        blocks.push(block);
    }
    blocks.extend(schema.types.iter().map(print_type));
    blocks.push(format!("type Query{}", fields_block(&schema.queries)));
    if !schema.mutations.is_empty() {
        blocks.push(format!("type Mutation{}", fields_block(&schema.mutations)));
    }
    blocks.join("\n\n")
}

fn print_type(ty: &Type) -> String {
    let desc = ty.description.as_deref().map(|d| description(d, "", true)).unwrap_or_default();
    let body = match &ty.kind {
        TypeKind::Scalar => format!("scalar {}", ty.name),
        TypeKind::Object { fields } => format!("type {}{}", ty.name, fields_block(fields)),
        TypeKind::InputObject { fields } => {
            let items: Vec<String> = fields
                .iter()
                .enumerate()
                .map(|(i, f)| format!("{}  {}", opt_description(&f.description, "  ", i == 0), input_value(f)))
                .collect();
            format!("input {}{}", ty.name, block(&items))
        }
        TypeKind::Enum { values } => {
            let items: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(i, EnumValue { name, description })| {
                    format!("{}  {name}", opt_description(description, "  ", i == 0))
                })
                .collect();
            format!("enum {}{}", ty.name, block(&items))
        }
    };
    desc + &body
}

fn fields_block(fields: &[Field]) -> String {
    let items: Vec<String> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            format!("{}  {}{}: {}", opt_description(&f.description, "  ", i == 0), f.name, args(&f.args, "  "), f.ty)
        })
        .collect();
    block(&items)
}

/// ` {\n...\n}`, or nothing for an empty list (graphql-js prints `type T` then).
fn block(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(" {{\n{}\n}}", items.join("\n"))
    }
}

fn args(args: &[InputValue], indentation: &str) -> String {
    if args.is_empty() {
        return String::new();
    }
    if args.iter().all(|a| a.description.as_deref().is_none_or(str::is_empty)) {
        let parts: Vec<String> = args.iter().map(input_value).collect();
        return format!("({})", parts.join(", "));
    }
    let inner = format!("  {indentation}");
    let parts: Vec<String> = args
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}{inner}{}", opt_description(&a.description, &inner, i == 0), input_value(a)))
        .collect();
    format!("(\n{}\n{indentation})", parts.join("\n"))
}

fn input_value(v: &InputValue) -> String {
    match &v.default_value {
        Some(default) => format!("{}: {} = {default}", v.name, v.ty),
        None => format!("{}: {}", v.name, v.ty),
    }
}

fn opt_description(desc: &Option<String>, indentation: &str, first_in_block: bool) -> String {
    desc.as_deref().map(|d| description(d, indentation, first_in_block)).unwrap_or_default()
}

/// A description and its newline, indented; a description that is not first in its block
/// gets a blank line before it.
fn description(desc: &str, indentation: &str, first_in_block: bool) -> String {
    let literal = if printable_as_block_string(desc) { block_string(desc) } else { quoted_string(desc) };
    let prefix =
        if !indentation.is_empty() && !first_in_block { format!("\n{indentation}") } else { indentation.to_string() };
    format!("{prefix}{}\n", literal.replace('\n', &format!("\n{indentation}")))
}

fn is_white_space(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// graphql-js `isPrintableAsBlockString`: false when a block string would not round-trip
/// (control characters, `\r`, a leading or trailing blank line, or an indent common to
/// every line after the first).
fn printable_as_block_string(value: &str) -> bool {
    if value.is_empty() {
        return true;
    }
    let mut is_empty_line = true;
    let mut has_indent = false;
    let mut has_common_indent = true;
    let mut seen_non_empty_line = false;
    for c in value.chars() {
        match c {
            '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}' | '\u{f}' | '\r' => return false,
            '\n' => {
                if is_empty_line && !seen_non_empty_line {
                    return false;
                }
                seen_non_empty_line = true;
                is_empty_line = true;
                has_indent = false;
            }
            '\t' | ' ' => has_indent = has_indent || is_empty_line,
            _ => {
                has_common_indent = has_common_indent && has_indent;
                is_empty_line = false;
            }
        }
    }
    if is_empty_line {
        return false;
    }
    !(has_common_indent && seen_non_empty_line)
}

/// graphql-js `printBlockString` (without `minimize`).
fn block_string(value: &str) -> String {
    let escaped = value.replace("\"\"\"", "\\\"\"\"");
    let lines: Vec<&str> = split_lines(&escaped);
    let is_single_line = lines.len() == 1;
    let force_leading_new_line =
        lines.len() > 1 && lines[1..].iter().all(|l| l.chars().next().is_none_or(is_white_space));
    let has_trailing_triple_quotes = escaped.ends_with("\\\"\"\"");
    let has_trailing_quote = value.ends_with('"') && !has_trailing_triple_quotes;
    let has_trailing_slash = value.ends_with('\\');
    let force_trailing_newline = has_trailing_quote || has_trailing_slash;
    // graphql-js measures `length` in UTF-16 code units.
    let print_as_multiple_lines = !is_single_line
        || value.encode_utf16().count() > 70
        || force_trailing_newline
        || force_leading_new_line
        || has_trailing_triple_quotes;
    let skip_leading_new_line = is_single_line && value.chars().next().is_some_and(is_white_space);
    let mut result = String::new();
    if (print_as_multiple_lines && !skip_leading_new_line) || force_leading_new_line {
        result.push('\n');
    }
    result.push_str(&escaped);
    if print_as_multiple_lines || force_trailing_newline {
        result.push('\n');
    }
    format!("\"\"\"{result}\"\"\"")
}

/// Splits on `\r\n`, `\n` or `\r`, as `split(/\r\n|[\n\r]/g)` does.
fn split_lines(s: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                lines.push(&s[start..i]);
                i += 2;
                start = i;
            }
            b'\n' | b'\r' => {
                lines.push(&s[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    lines.push(&s[start..]);
    lines
}

/// graphql-js `printString`: a `"..."` literal with control characters, `"` and `\` escaped.
fn quoted_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => out.push_str(&format!("\\u{:04X}", c as u32)),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}
