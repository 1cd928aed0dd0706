//! The exo runtime core: load an IR, answer GraphQL requests with precompiled SQL.
//!
//! Target-agnostic (native and `wasm32-unknown-unknown`) and sans-IO: the host supplies the
//! request head, a clock and a [`engine::Db`] connection; sockets, pools and body reading live in
//! the native server and the Worker, while every HTTP decision (routes, methods, content types,
//! limits, CORS, the client address) is made once in [`edge`]. Depends on neither the compiler nor pest, miette or petgraph.

pub mod context;
pub mod edge;
pub mod engine;
pub mod env;
pub mod error;
pub mod graphql;
pub mod introspection;
pub mod jwk;
pub mod jwt;
pub mod limits;
pub mod mcp;
pub mod meta_schema;
pub mod oidc;
pub mod pg_text;
pub mod plan;
pub mod sql;
pub mod system;
pub mod trusted;
pub mod validate;
pub mod value;

pub use context::{AuthConfig, RequestHead};
pub use engine::{Config, Db, DbError, Engine, Introspection, Response};
pub use mcp::{McpConfig, McpMode, McpResponse};
pub use system::System;
