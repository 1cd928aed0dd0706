//! A small evaluator for the JavaScript-ish values in `.exotest` files.
//!
//! Test files write `variable`, `auth`, `headers` and `response` as JavaScript
//! source. In practice they are JSON with a few JavaScript liberties, which this
//! module handles without a JavaScript engine:
//!
//! - unquoted and numeric object keys, single-quoted and plain template
//!   strings, trailing commas, `//` and `/* */` comments;
//! - references to test variables: `$.name`, `$.name[1]`, `$.a.b[0][2]`,
//!   `$["name"]`, and `.length` on arrays and strings;
//! - function literals (`(t) => ...`, `t => ...`, `function (t) {...}`), which
//!   are kept as opaque [`JsValue::Function`] leaves.
//!
//! Anything else (operators, calls to `deno:` helpers, `new Date()`) cannot be
//! evaluated faithfully. Outside `response` it is an [`JsError::Unsupported`]
//! error; inside `response` ([`Mode::Expected`]) it becomes an opaque
//! [`JsValue::Opaque`] leaf, so the rest of the response can still be checked.
//!
//! The pipeline is `&str -> Expr` ([`parse`]) then `(Expr, variables) -> JsValue`
//! ([`Expr::eval`]) then, for values that are sent, `JsValue -> serde_json::Value`
//! ([`JsValue::to_json`], which follows `JSON.stringify`).

use serde_json::{Map, Number, Value};
use std::fmt;

/// How a source is going to be used, which decides what unsupported syntax means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A value that is sent or bound (`variable`, `auth`, `headers`): every part
    /// must be evaluated exactly.
    Value,
    /// An expected `response`: unevaluable parts become opaque leaves.
    Expected,
}

/// A parsed JavaScript-ish expression, before test variables are substituted.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Expr>),
    /// Keys in source order; a repeated key replaces the earlier value in place,
    /// as in JavaScript.
    Object(Vec<(String, Expr)>),
    /// `$` followed by accessors.
    Variable(Vec<Accessor>),
    /// A function literal; the text is kept for messages.
    Function(String),
    /// Source this module cannot evaluate (only produced in [`Mode::Expected`]).
    Opaque(String),
}

/// One step of a `$` reference.
#[derive(Clone, Debug, PartialEq)]
pub enum Accessor {
    Key(String),
    Index(usize),
}

/// An evaluated value: JSON plus the two leaves that cannot be checked here.
#[derive(Clone, Debug, PartialEq)]
pub enum JsValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<JsValue>),
    Object(Vec<(String, JsValue)>),
    Function(String),
    Opaque(String),
    /// JavaScript's `undefined`: a property the object does not have (`$.user.nickname`).
    /// In an object it stands for an absent key, as `JSON.stringify` and Exograph's matcher
    /// treat it.
    Undefined,
}

/// Why a source could not be parsed or evaluated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsError {
    /// Valid-looking JavaScript outside the supported subset. Tests using it are
    /// reported as unsupported rather than failed.
    Unsupported(String),
    /// A source that is not even the start of a JavaScript value, or a `$`
    /// reference that does not resolve. Tests using it fail.
    Invalid(String),
}

impl fmt::Display for JsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsError::Unsupported(m) | JsError::Invalid(m) => f.write_str(m),
        }
    }
}

/// Parses a JavaScript-ish expression.
pub fn parse(source: &str, mode: Mode) -> Result<Expr, JsError> {
    let mut p = Parser { src: source, pos: 0, mode };
    p.skip_trivia()?;
    if p.at_end() {
        return Err(JsError::Invalid("empty expression".to_string()));
    }
    let expr = p.value()?;
    p.skip_trivia()?;
    if p.peek() == Some(';') {
        p.pos += 1;
        p.skip_trivia()?;
    }
    if !p.at_end() {
        let (line, col) = p.line_col(p.pos);
        return Err(p.unsupported_or_invalid(format!(
            "unsupported JavaScript at {line}:{col}: `{}` (only JSON-like values and `$` references are evaluated)",
            p.snippet(p.pos)
        )));
    }
    Ok(expr)
}

impl Expr {
    /// True if a function literal occurs anywhere in the expression.
    pub fn contains_function(&self) -> bool {
        match self {
            Expr::Function(_) => true,
            Expr::Array(items) => items.iter().any(Expr::contains_function),
            Expr::Object(entries) => entries.iter().any(|(_, e)| e.contains_function()),
            _ => false,
        }
    }

    /// Substitutes test variables. `variables` is the `$` object.
    pub fn eval(&self, variables: &Map<String, Value>) -> Result<JsValue, JsError> {
        Ok(match self {
            Expr::Null => JsValue::Null,
            Expr::Bool(b) => JsValue::Bool(*b),
            Expr::Number(n) => JsValue::Number(n.clone()),
            Expr::String(s) => JsValue::String(s.clone()),
            Expr::Array(items) => JsValue::Array(items.iter().map(|e| e.eval(variables)).collect::<Result<_, _>>()?),
            Expr::Object(entries) => JsValue::Object(
                entries.iter().map(|(k, e)| Ok((k.clone(), e.eval(variables)?))).collect::<Result<_, JsError>>()?,
            ),
            Expr::Variable(accessors) => match resolve(accessors, variables)? {
                Some(value) => JsValue::from_json(&value),
                None => JsValue::Undefined,
            },
            Expr::Function(src) => JsValue::Function(src.clone()),
            Expr::Opaque(src) => JsValue::Opaque(src.clone()),
        })
    }
}

fn render_reference(accessors: &[Accessor]) -> String {
    let mut s = "$".to_string();
    for a in accessors {
        match a {
            Accessor::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Accessor::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The value a `$` reference names; `None` (undefined) for a missing property of an object,
/// as in JavaScript. Reading further from undefined is an error, as it throws there.
fn resolve(accessors: &[Accessor], variables: &Map<String, Value>) -> Result<Option<Value>, JsError> {
    let Some((Accessor::Key(first), rest)) = accessors.split_first() else {
        return Ok(Some(Value::Object(variables.clone())));
    };
    let mut current = variables.get(first).cloned().ok_or_else(|| {
        let known: Vec<&str> = variables.keys().map(String::as_str).collect();
        JsError::Invalid(format!(
            "test variable `{first}` is not defined (defined: {})",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        ))
    })?;
    for (i, accessor) in rest.iter().enumerate() {
        let shown = render_reference(&accessors[..i + 2]);
        current = match (accessor, current) {
            (Accessor::Index(n), Value::Array(mut items)) => {
                let length = items.len();
                if *n >= length {
                    return Err(JsError::Invalid(format!("`{shown}` is out of range (length {length})")));
                }
                items.swap_remove(*n)
            }
            (Accessor::Key(k), Value::Object(mut map)) if map.contains_key(k) => map.remove(k).unwrap_or_default(),
            (Accessor::Key(_), Value::Object(_)) if i + 1 == rest.len() => return Ok(None),
            (Accessor::Key(k), Value::Array(items)) if k == "length" => Value::from(items.len()),
            // JavaScript counts UTF-16 code units.
            (Accessor::Key(k), Value::String(s)) if k == "length" => Value::from(s.encode_utf16().count()),
            (_, other) => {
                return Err(JsError::Invalid(format!(
                    "`{shown}` does not exist (the value before it is {})",
                    crate::matcher::render_compact(&other)
                )))
            }
        };
    }
    Ok(Some(current))
}

impl JsValue {
    pub fn from_json(value: &Value) -> JsValue {
        match value {
            Value::Null => JsValue::Null,
            Value::Bool(b) => JsValue::Bool(*b),
            Value::Number(n) => JsValue::Number(n.clone()),
            Value::String(s) => JsValue::String(s.clone()),
            Value::Array(items) => JsValue::Array(items.iter().map(JsValue::from_json).collect()),
            Value::Object(map) => {
                JsValue::Object(map.iter().map(|(k, v)| (k.clone(), JsValue::from_json(v))).collect())
            }
        }
    }

    /// Converts like `JSON.parse(JSON.stringify(x))`: functions vanish from
    /// objects and become `null` in arrays. A top-level function (or an opaque
    /// value) has no JSON form.
    pub fn to_json(&self) -> Result<Value, JsError> {
        match self {
            JsValue::Function(src) => {
                Err(JsError::Unsupported(format!("a JavaScript function (`{}`) is not a value", short(src))))
            }
            JsValue::Opaque(src) => {
                Err(JsError::Unsupported(format!("unsupported JavaScript expression `{}`", short(src))))
            }
            JsValue::Undefined => Err(JsError::Invalid("the value is undefined".to_string())),
            other => Ok(other.to_json_lossy()),
        }
    }

    fn to_json_lossy(&self) -> Value {
        match self {
            JsValue::Null | JsValue::Function(_) | JsValue::Opaque(_) | JsValue::Undefined => Value::Null,
            JsValue::Bool(b) => Value::Bool(*b),
            JsValue::Number(n) => Value::Number(n.clone()),
            JsValue::String(s) => Value::String(s.clone()),
            JsValue::Array(items) => Value::Array(items.iter().map(JsValue::to_json_lossy).collect()),
            JsValue::Object(entries) => Value::Object(
                entries
                    .iter()
                    .filter(|(_, v)| !matches!(v, JsValue::Function(_) | JsValue::Undefined))
                    .map(|(k, v)| (k.clone(), v.to_json_lossy()))
                    .collect(),
            ),
        }
    }

    /// A JSON rendering for messages, with functions and opaque parts shown as
    /// strings.
    pub fn to_display_json(&self) -> Value {
        match self {
            JsValue::Function(src) => Value::String(format!("<function {}>", short(src))),
            JsValue::Opaque(src) => Value::String(format!("<unevaluated {}>", short(src))),
            JsValue::Undefined => Value::String("<undefined>".to_string()),
            JsValue::Array(items) => Value::Array(items.iter().map(JsValue::to_display_json).collect()),
            JsValue::Object(entries) => {
                Value::Object(entries.iter().map(|(k, v)| (k.clone(), v.to_display_json())).collect())
            }
            other => other.to_json_lossy(),
        }
    }
}

/// Shortens source text for one-line messages.
pub(crate) fn short(src: &str) -> String {
    let one_line: String = src.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 60 {
        format!("{}…", one_line.chars().take(60).collect::<String>())
    } else {
        one_line
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    mode: Mode,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$'
}

fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

impl<'a> Parser<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(offset)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn line_col(&self, pos: usize) -> (usize, usize) {
        let before = &self.src[..pos];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    fn snippet(&self, pos: usize) -> String {
        short(&self.src[pos..].chars().take(40).collect::<String>())
    }

    fn unsupported_or_invalid(&self, message: String) -> JsError {
        JsError::Unsupported(message)
    }

    fn invalid(&self, what: &str) -> JsError {
        let (line, col) = self.line_col(self.pos);
        let found = if self.at_end() { "end of input".to_string() } else { format!("`{}`", self.snippet(self.pos)) };
        JsError::Invalid(format!("invalid JavaScript value at {line}:{col}: expected {what}, found {found}"))
    }

    fn skip_trivia(&mut self) -> Result<(), JsError> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('/') if self.peek_at(1) == Some('/') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                Some('/') if self.peek_at(1) == Some('*') => {
                    let start = self.pos;
                    match self.src[self.pos + 2..].find("*/") {
                        Some(end) => self.pos += 2 + end + 2,
                        None => {
                            self.pos = start;
                            return Err(self.invalid("the end of a `/*` comment"));
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn ident(&mut self) -> Option<&'a str> {
        let start = self.pos;
        match self.peek() {
            Some(c) if is_ident_start(c) => {
                self.bump();
            }
            _ => return None,
        }
        while matches!(self.peek(), Some(c) if is_ident_continue(c)) {
            self.bump();
        }
        Some(&self.src[start..self.pos])
    }

    /// True if the next token ends a value: `,`, a closer, `;` or the end.
    fn at_value_end(&mut self) -> Result<bool, JsError> {
        self.skip_trivia()?;
        Ok(matches!(self.peek(), None | Some(',' | '}' | ']' | ')' | ';')))
    }

    /// Parses one value, then checks that nothing but a delimiter follows it.
    fn value(&mut self) -> Result<Expr, JsError> {
        let start = self.pos;
        let result = self.primary();
        let ok = match &result {
            Ok(_) => self.at_value_end()?,
            Err(JsError::Unsupported(_)) => false,
            Err(JsError::Invalid(_)) => return result,
        };
        if ok {
            return result;
        }
        // Something this module cannot evaluate starts or continues here.
        if self.mode == Mode::Expected {
            self.pos = start;
            self.skip_expression()?;
            return Ok(Expr::Opaque(self.src[start..self.pos].trim().to_string()));
        }
        match result {
            Err(e) => Err(e),
            Ok(_) if !matches!(self.peek(), Some(c) if "+-*/%<>=!&|?.^~([".contains(c)) => {
                let expected = if self.mode_in_container(start) { "`,` or a closing bracket" } else { "the end" };
                Err(self.invalid(expected))
            }
            Ok(_) => {
                let (line, col) = self.line_col(self.pos);
                Err(JsError::Unsupported(format!(
                    "unsupported JavaScript at {line}:{col}: `{}` (only JSON-like values and `$` references are evaluated)",
                    self.snippet(self.pos)
                )))
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, JsError> {
        self.skip_trivia()?;
        let start = self.pos;
        match self.peek() {
            None => Err(self.invalid("a value")),
            Some('{') => self.object(),
            Some('[') => self.array(),
            Some('"' | '\'') => Ok(Expr::String(self.string()?)),
            Some('`') => self.template(),
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => self.number(),
            Some('(') => {
                if self.arrow_follows_parens()? {
                    self.skip_expression()?;
                    Ok(Expr::Function(self.src[start..self.pos].trim().to_string()))
                } else {
                    self.bump();
                    let inner = self.value()?;
                    self.skip_trivia()?;
                    if self.peek() != Some(')') {
                        return Err(self.invalid("`)`"));
                    }
                    self.bump();
                    Ok(inner)
                }
            }
            Some('$') if !matches!(self.peek_at(1), Some(c) if is_ident_continue(c)) => self.reference(),
            Some(c) if is_ident_start(c) => {
                let word = self.ident().unwrap_or_default();
                match word {
                    "null" => Ok(Expr::Null),
                    "true" => Ok(Expr::Bool(true)),
                    "false" => Ok(Expr::Bool(false)),
                    "function" | "async" => {
                        self.pos = start;
                        self.skip_expression()?;
                        Ok(Expr::Function(self.src[start..self.pos].trim().to_string()))
                    }
                    _ => {
                        self.skip_trivia()?;
                        if self.src[self.pos..].starts_with("=>") {
                            self.pos = start;
                            self.skip_expression()?;
                            return Ok(Expr::Function(self.src[start..self.pos].trim().to_string()));
                        }
                        let (line, col) = self.line_col(start);
                        Err(JsError::Unsupported(format!(
                            "unsupported JavaScript at {line}:{col}: `{word}` (identifiers, helpers from `deno:` and calls are not evaluated)"
                        )))
                    }
                }
            }
            Some(_) => Err(self.invalid("a value")),
        }
    }

    /// After `(`: scans to the matching `)` and reports whether `=>` follows.
    fn arrow_follows_parens(&mut self) -> Result<bool, JsError> {
        let start = self.pos;
        let result = self.skip_balanced().and_then(|()| {
            self.skip_trivia()?;
            Ok(self.src[self.pos..].starts_with("=>"))
        });
        self.pos = start;
        match result {
            Ok(b) => Ok(b),
            Err(_) => Ok(false),
        }
    }

    fn reference(&mut self) -> Result<Expr, JsError> {
        self.bump(); // `$`
        let mut accessors = Vec::new();
        loop {
            // No trivia inside a reference: `$.a .b` is unusual enough to reject.
            match self.peek() {
                Some('.') => {
                    self.bump();
                    let name = self.ident().ok_or_else(|| self.invalid("a name after `.`"))?;
                    accessors.push(Accessor::Key(name.to_string()));
                }
                Some('[') => {
                    self.bump();
                    self.skip_trivia()?;
                    match self.peek() {
                        Some('"' | '\'') => accessors.push(Accessor::Key(self.string()?)),
                        Some(c) if c.is_ascii_digit() => {
                            let start = self.pos;
                            while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                                self.bump();
                            }
                            let index =
                                self.src[start..self.pos].parse().map_err(|_| self.invalid("an array index"))?;
                            accessors.push(Accessor::Index(index));
                        }
                        _ => {
                            let (line, col) = self.line_col(self.pos);
                            return Err(JsError::Unsupported(format!(
                                "unsupported JavaScript at {line}:{col}: computed index `{}`",
                                self.snippet(self.pos)
                            )));
                        }
                    }
                    self.skip_trivia()?;
                    if self.bump() != Some(']') {
                        return Err(self.invalid("`]`"));
                    }
                }
                _ => break,
            }
        }
        Ok(Expr::Variable(accessors))
    }

    fn object(&mut self) -> Result<Expr, JsError> {
        self.bump(); // `{`
        let mut entries: Vec<(String, Expr)> = Vec::new();
        loop {
            self.skip_trivia()?;
            let key = match self.peek() {
                Some('}') => {
                    self.bump();
                    return Ok(Expr::Object(entries));
                }
                Some('"' | '\'') => self.string()?,
                Some(c) if c.is_ascii_digit() => match self.number()? {
                    Expr::Number(n) => n.to_string(),
                    _ => unreachable!("number() returns numbers"),
                },
                Some(c) if is_ident_start(c) => self.ident().unwrap_or_default().to_string(),
                Some('[') | Some('.') => {
                    let (line, col) = self.line_col(self.pos);
                    return Err(JsError::Unsupported(format!(
                        "unsupported JavaScript at {line}:{col}: computed or spread object key `{}`",
                        self.snippet(self.pos)
                    )));
                }
                _ => return Err(self.invalid("an object key or `}`")),
            };
            self.skip_trivia()?;
            if self.peek() != Some(':') {
                let (line, col) = self.line_col(self.pos);
                if matches!(self.peek(), Some(',' | '}' | '(')) {
                    return Err(JsError::Unsupported(format!(
                        "unsupported JavaScript at {line}:{col}: shorthand property or method `{key}`"
                    )));
                }
                return Err(self.invalid("`:` after an object key"));
            }
            self.bump();
            let value = self.value()?;
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
            self.skip_trivia()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some('}') => {}
                _ => return Err(self.invalid("`,` or `}` in an object")),
            }
        }
    }

    fn array(&mut self) -> Result<Expr, JsError> {
        self.bump(); // `[`
        let mut items = Vec::new();
        loop {
            self.skip_trivia()?;
            match self.peek() {
                Some(']') => {
                    self.bump();
                    return Ok(Expr::Array(items));
                }
                Some(',') => {
                    let (line, col) = self.line_col(self.pos);
                    return Err(JsError::Unsupported(format!("unsupported JavaScript at {line}:{col}: array hole")));
                }
                _ => {}
            }
            items.push(self.value()?);
            self.skip_trivia()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {}
                _ => return Err(self.invalid("`,` or `]` in an array")),
            }
        }
    }

    fn string(&mut self) -> Result<String, JsError> {
        let quote = self.bump().unwrap_or('"');
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.invalid("a closing quote")),
                Some(c) if c == quote => return Ok(out),
                Some('\n') if quote != '`' => return Err(self.invalid("a closing quote before the line ends")),
                Some('\\') => self.escape(&mut out)?,
                Some(c) => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), JsError> {
        let c = self.bump().ok_or_else(|| self.invalid("an escape"))?;
        match c {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '0' => out.push('\0'),
            '\n' => {}
            'u' => {
                let code = if self.peek() == Some('{') {
                    self.bump();
                    let start = self.pos;
                    while matches!(self.peek(), Some(c) if c.is_ascii_hexdigit()) {
                        self.bump();
                    }
                    let hex = &self.src[start..self.pos];
                    if self.bump() != Some('}') {
                        return Err(self.invalid("`}` after a `\\u{` escape"));
                    }
                    u32::from_str_radix(hex, 16).map_err(|_| self.invalid("hex digits"))?
                } else {
                    let unit = self.hex4()?;
                    if (0xD800..0xDC00).contains(&unit) && self.src[self.pos..].starts_with("\\u") {
                        self.pos += 2;
                        let low = self.hex4()?;
                        0x10000 + ((unit - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF)
                    } else {
                        unit
                    }
                };
                out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
            'x' => {
                let start = self.pos;
                for _ in 0..2 {
                    self.bump();
                }
                let code = u32::from_str_radix(self.src.get(start..self.pos).unwrap_or(""), 16)
                    .map_err(|_| self.invalid("two hex digits after `\\x`"))?;
                out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
            other => out.push(other),
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, JsError> {
        let hex = self.src.get(self.pos..self.pos + 4).unwrap_or("");
        let code = u32::from_str_radix(hex, 16).map_err(|_| self.invalid("four hex digits after `\\u`"))?;
        self.pos += 4;
        Ok(code)
    }

    fn template(&mut self) -> Result<Expr, JsError> {
        let start = self.pos;
        let s = self.string()?;
        if self.src[start..self.pos].contains("${") {
            let (line, col) = self.line_col(start);
            return Err(JsError::Unsupported(format!(
                "unsupported JavaScript at {line}:{col}: template literal with `${{...}}`"
            )));
        }
        Ok(Expr::String(s))
    }

    fn number(&mut self) -> Result<Expr, JsError> {
        let start = self.pos;
        let negative = match self.peek() {
            Some('-') => {
                self.bump();
                true
            }
            Some('+') => {
                self.bump();
                false
            }
            _ => false,
        };
        let digits_start = self.pos;
        if self.src[self.pos..].starts_with("0x") || self.src[self.pos..].starts_with("0X") {
            self.pos += 2;
            let hex_start = self.pos;
            while matches!(self.peek(), Some(c) if c.is_ascii_hexdigit()) {
                self.bump();
            }
            let v = i64::from_str_radix(&self.src[hex_start..self.pos], 16).map_err(|_| self.invalid("hex digits"))?;
            return Ok(Expr::Number(Number::from(if negative { -v } else { v })));
        }
        while matches!(self.peek(), Some(c) if c.is_ascii_digit() || c == '_') {
            self.bump();
        }
        let mut float = false;
        if self.peek() == Some('.') && matches!(self.peek_at(1), Some(c) if c.is_ascii_digit())
            || (self.peek() == Some('.') && self.pos > digits_start)
        {
            float = true;
            self.bump();
            while matches!(self.peek(), Some(c) if c.is_ascii_digit() || c == '_') {
                self.bump();
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            float = true;
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                self.bump();
            }
        }
        let text: String = self.src[digits_start..self.pos].chars().filter(|c| *c != '_').collect();
        if text.is_empty() || text == "." {
            self.pos = start;
            if self.src[start..].starts_with("-Infinity") || self.src[start..].starts_with("-$") {
                let (line, col) = self.line_col(start);
                return Err(JsError::Unsupported(format!(
                    "unsupported JavaScript at {line}:{col}: `{}`",
                    self.snippet(start)
                )));
            }
            return Err(self.invalid("a number"));
        }
        let number = if !float {
            let magnitude: Option<i128> = text.parse().ok();
            match magnitude.map(|m| if negative { -m } else { m }) {
                Some(v) if i64::try_from(v).is_ok() => Number::from(v as i64),
                Some(v) if u64::try_from(v).is_ok() => Number::from(v as u64),
                _ => float_number(&text, negative).ok_or_else(|| self.invalid("a number"))?,
            }
        } else {
            float_number(&text, negative).ok_or_else(|| self.invalid("a finite number"))?
        };
        Ok(Expr::Number(number))
    }

    /// Skips one balanced bracket group starting at an opener.
    fn skip_balanced(&mut self) -> Result<(), JsError> {
        let mut depth = 0usize;
        let mut previous_significant = '(';
        loop {
            self.skip_trivia()?;
            let Some(c) = self.peek() else {
                return Err(self.invalid("a closing bracket"));
            };
            match c {
                '(' | '[' | '{' => {
                    depth += 1;
                    self.bump();
                }
                ')' | ']' | '}' => {
                    self.bump();
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(());
                    }
                }
                '"' | '\'' | '`' => {
                    self.string()?;
                }
                '/' if "(,=:[!&|?{};+-*%<>~^".contains(previous_significant) => self.skip_regex()?,
                c if is_ident_start(c) => {
                    previous_significant = self.word_class();
                    continue;
                }
                _ => {
                    self.bump();
                }
            }
            previous_significant = c;
        }
    }

    /// Skips JavaScript up to the next `,`, `;` or unmatched closer at depth 0.
    /// Used for function literals and, in expected responses, opaque parts.
    fn skip_expression(&mut self) -> Result<(), JsError> {
        let mut previous_significant = '(';
        loop {
            self.skip_trivia()?;
            let Some(c) = self.peek() else { return Ok(()) };
            match c {
                ',' | ';' | ')' | ']' | '}' => return Ok(()),
                '(' | '[' | '{' => self.skip_balanced()?,
                '"' | '\'' | '`' => {
                    self.string()?;
                }
                '/' if "(,=:[!&|?{};+-*%<>~^".contains(previous_significant) => self.skip_regex()?,
                c if is_ident_start(c) => {
                    previous_significant = self.word_class();
                    continue;
                }
                _ => {
                    self.bump();
                }
            }
            previous_significant = if c == '>' && self.src[..self.pos].ends_with("=>") { '=' } else { c };
        }
    }

    /// Consumes a word and says what a following `/` means: after keywords
    /// such as `return` it starts a regular expression (`(`), after a name
    /// it divides (`a`).
    fn word_class(&mut self) -> char {
        match self.ident().unwrap_or_default() {
            "return" | "typeof" | "case" | "in" | "of" | "void" | "delete" | "throw" | "new" | "yield" | "await"
            | "instanceof" | "else" | "do" => '(',
            _ => 'a',
        }
    }

    /// True if the value starting at `start` sits inside an array, object or
    /// parentheses (the source before it has an unclosed opener).
    fn mode_in_container(&self, start: usize) -> bool {
        self.src[..start].trim_end().ends_with(['[', '{', ',', ':', '('])
    }

    fn skip_regex(&mut self) -> Result<(), JsError> {
        self.bump(); // `/`
        let mut in_class = false;
        loop {
            match self.bump() {
                None | Some('\n') => return Err(self.invalid("the end of a regular expression")),
                Some('\\') => {
                    self.bump();
                }
                Some('[') => in_class = true,
                Some(']') => in_class = false,
                Some('/') if !in_class => break,
                Some(_) => {}
            }
        }
        while matches!(self.peek(), Some(c) if c.is_ascii_alphabetic()) {
            self.bump();
        }
        Ok(())
    }
}

fn float_number(text: &str, negative: bool) -> Option<Number> {
    let v: f64 = text.parse().ok()?;
    let v = if negative { -v } else { v };
    if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 && !text.contains(['e', 'E']) {
        // `1.0` is the number 1 in JavaScript.
        return Some(Number::from(v as i64));
    }
    Number::from_f64(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Map<String, Value> {
        json!({
            "u1Id": 7,
            "ids": [1, 2, 3],
            "nested": [[10, 11], [20, 21, 22]],
            "obj": {"a": {"b": [ "x", "y" ]}},
            "name": "héllo",
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn eval(src: &str) -> Result<Value, JsError> {
        parse(src, Mode::Value)?.eval(&vars())?.to_json()
    }

    #[test]
    fn plain_json() {
        assert_eq!(
            eval(r#"{"a": [1, -2.5, true, false, null, "s\n\u00e9"], "b": {}}"#).unwrap(),
            json!({"a": [1, -2.5, true, false, null, "s\né"], "b": {}})
        );
    }

    #[test]
    fn javascript_liberties() {
        let src = r#"
            // leading comment
            {
              id: 1, /* inline */ 'single': 'it\'s',
              "trailing": [1, 2, 3,],
              42: `tmpl`,
              $dollar: 0x10,
              float: 1.0,
              exp: 1e3,
            };
        "#;
        assert_eq!(
            eval(src).unwrap(),
            json!({"id": 1, "single": "it's", "trailing": [1, 2, 3], "42": "tmpl", "$dollar": 16, "float": 1, "exp": 1000.0})
        );
    }

    #[test]
    fn variable_references() {
        assert_eq!(eval("$.u1Id").unwrap(), json!(7));
        assert_eq!(eval("{ id: $.ids[1] }").unwrap(), json!({"id": 2}));
        assert_eq!(eval("$.nested[1][2]").unwrap(), json!(22));
        assert_eq!(eval("$.obj.a.b[0]").unwrap(), json!("x"));
        assert_eq!(eval(r#"$["obj"]['a'].b[1]"#).unwrap(), json!("y"));
        assert_eq!(eval("[$.ids.length, $.name.length]").unwrap(), json!([3, 5]));
        assert_eq!(eval("($.u1Id)").unwrap(), json!(7));
    }

    #[test]
    fn bad_references_are_invalid() {
        let e = eval("$.missing").unwrap_err();
        assert!(matches!(&e, JsError::Invalid(m) if m.contains("`missing` is not defined")), "{e:?}");
        let e = eval("$.ids[9]").unwrap_err();
        assert!(matches!(&e, JsError::Invalid(m) if m.contains("`$.ids[9]` is out of range (length 3)")), "{e:?}");
        // A missing property of an object is undefined: an absent key inside an object, and
        // reading through it fails as in JavaScript.
        let value = parse("{ a: $.obj.missing, b: 1 }", Mode::Expected).unwrap().eval(&vars()).unwrap();
        assert_eq!(
            value,
            JsValue::Object(vec![("a".into(), JsValue::Undefined), ("b".into(), JsValue::Number(1.into()))])
        );
        assert_eq!(value.to_json().unwrap(), json!({"b": 1}));
        assert!(eval("$.obj.missing.x").is_err());
        let e = eval("$.u1Id.foo").unwrap_err();
        assert!(matches!(&e, JsError::Invalid(m) if m.contains("`$.u1Id.foo` does not exist")), "{e:?}");
    }

    #[test]
    fn functions_in_expected_responses() {
        let src = r#"{ "data": { "todos": [ { "id": $.u1Id, "title": (t) => t.startsWith("T, }") }, {"title": t => t.length > 0}, {"f": function(x) { return x === 1; }}, {"g": async (x) => { return /a,}/.test(x); }} ] } }"#;
        let expr = parse(src, Mode::Expected).unwrap();
        assert!(expr.contains_function());
        let value = expr.eval(&vars()).unwrap();
        let JsValue::Object(top) = &value else { panic!() };
        let JsValue::Object(data) = &top[0].1 else { panic!() };
        let JsValue::Array(todos) = &data[0].1 else { panic!() };
        assert_eq!(
            todos[0],
            JsValue::Object(vec![
                ("id".into(), JsValue::Number(7.into())),
                ("title".into(), JsValue::Function(r#"(t) => t.startsWith("T, }")"#.into())),
            ])
        );
        assert_eq!(todos[1], JsValue::Object(vec![("title".into(), JsValue::Function("t => t.length > 0".into()))]));
        assert!(
            matches!(&todos[2], JsValue::Object(e) if matches!(&e[0].1, JsValue::Function(s) if s.starts_with("function(x)")))
        );
        assert!(matches!(&todos[3], JsValue::Object(e) if matches!(&e[0].1, JsValue::Function(s) if s.ends_with("}"))));
        // JSON.stringify semantics when a function ends up in a sent value.
        assert_eq!(value.to_json().unwrap()["data"]["todos"][1], json!({}));
    }

    #[test]
    fn unsupported_syntax() {
        for src in ["$.u1Id + 1", "{a: helper(1)}", "new Date()", "{ a }", "`x${1}`", "{...$.obj}"] {
            let e = parse(src, Mode::Value).unwrap_err();
            assert!(matches!(e, JsError::Unsupported(_)), "{src}: {e:?}");
        }
        // In an expected response the unsupported part becomes an opaque leaf.
        let expr = parse(r#"{"a": approximatelyEqual(1, 2), "b": 1 + 2, "c": 3}"#, Mode::Expected).unwrap();
        assert_eq!(
            expr,
            Expr::Object(vec![
                ("a".into(), Expr::Opaque("approximatelyEqual(1, 2)".into())),
                ("b".into(), Expr::Opaque("1 + 2".into())),
                ("c".into(), Expr::Number(3.into())),
            ])
        );
    }

    #[test]
    fn invalid_syntax() {
        for src in ["", "{", "[1 2]", "{\"a\" 1}", "'unterminated", "/* open"] {
            let e = parse(src, Mode::Value).unwrap_err();
            assert!(matches!(e, JsError::Invalid(_)), "{src}: {e:?}");
        }
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        assert_eq!(eval("{a: 1, b: 2, a: 3}").unwrap(), json!({"a": 3, "b": 2}));
    }
}
