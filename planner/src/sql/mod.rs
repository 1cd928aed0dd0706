//! A small typed SQL tree of our own ([`ast`]), its printer ([`print`]) and the statement
//! builder ([`builder`]). The planner builds every statement as a tree and prints it once; no
//! SQL text is assembled anywhere else. sqlparser's AST would do, but would weigh on the
//! Worker's size; this covers just what the planner writes.

pub mod ast;
pub mod builder;
pub mod print;

pub use ast::*;
pub use builder::*;
pub use print::Layout;

#[cfg(test)]
mod tests;
