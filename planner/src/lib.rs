//! What plans a GraphQL operation, without handling a request: the loaded model's lookup data
//! ([`System`]), the GraphQL parser and validation, the planner and its SQL tree, and trusted
//! documents (compiled ahead of time by the compiler, run by the runtime).
//!
//! Target-agnostic (native and `wasm32-unknown-unknown`); depends on neither the compiler nor
//! pest, miette, petgraph or sqlparser. The request path (HTTP edge, token verification,
//! execution, MCP) is `exo-runtime`'s, which re-exports these modules.

pub mod context;
pub mod error;
pub mod graphql;
pub mod limits;
pub mod meta_schema;
pub mod plan;
pub mod sql;
pub mod system;
pub mod trusted;
pub mod validate;
pub mod value;

pub use context::RequestContext;
pub use system::System;
