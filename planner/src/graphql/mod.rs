//! Parsing of GraphQL executable documents (October 2021 spec) sent by untrusted clients.
//!
//! The stage is `&str -> ast::Document` and nothing else: no validation against the schema,
//! no type-system definitions (SDL), no printing. It is hand-written and dependency-free so
//! that it costs the Worker little size.
//!
//! Invariants, stated as absences:
//! - No input makes [`parse`] panic or overflow the stack: recursion depth, token count and
//!   input size are all bounded by [`ParseLimits`], and every limit is checked before the
//!   work it guards.
//! - The AST borrows from the source: names, numbers and strings without escapes are
//!   `&'a str` slices, so a typical query allocates only the `Vec`s of the tree. Strings
//!   with escapes and block strings are owned (`Cow::Owned`).
//! - The lexer never looks more than one token ahead, and positions cost O(bytes moved), so
//!   parsing is linear in the input size.
//!
//! Error messages follow graphql-js (`Syntax Error: Expected Name, found "}".`) so clients
//! see familiar text; positions are 1-based lines and columns counted in Unicode scalar
//! values (the spec's "characters"), where graphql-js counts UTF-16 code units. The two
//! differ only after a character outside the Basic Multilingual Plane on the same line.

pub mod ast;
mod lexer;
mod parser;

use std::fmt;

pub use ast::*;

/// A position in the source: 1-based line and column, the column counted in Unicode scalar
/// values. `\n`, `\r\n` and `\r` each end a line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Bounds on the work one document may cause. Exceeding any of them is a [`ParseError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseLimits {
    /// Maximum number of tokens, not counting the end of input. graphql-js calls this
    /// `maxTokens`; the error text is the same.
    pub max_tokens: usize,
    /// Maximum nesting of selection sets, list and object values, and list types, counted
    /// together because they share the call stack. It is the only bound on stack use, so
    /// raising it far above the default needs a correspondingly larger stack.
    pub max_depth: usize,
    /// Maximum size of the source text in bytes, checked before lexing starts.
    pub max_bytes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits { max_tokens: 15_000, max_depth: 64, max_bytes: 1024 * 1024 }
    }
}

/// A syntax error or exceeded limit. `message` is the full text shown to clients, including
/// the `Syntax Error: ` prefix, as graphql-js puts it in a response's `errors[].message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub pos: Pos,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.pos)
    }
}

impl std::error::Error for ParseError {}

/// Parses an executable document: operations and fragments, no type-system definitions.
///
/// Stops at the first error; a document with a syntax error is rejected as a whole, so
/// there is nothing to accumulate.
pub fn parse<'a>(src: &'a str, limits: &ParseLimits) -> Result<Document<'a>, ParseError> {
    parser::parse_document(src, limits)
}
