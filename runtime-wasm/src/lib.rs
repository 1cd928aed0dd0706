//! The exo runtime core: load an IR, answer GraphQL requests with precompiled SQL.
//!
//! Target-agnostic (native and `wasm32-unknown-unknown`) and sans-IO: the host supplies the
//! request head, a clock and a [`engine::Db`] connection; sockets, pools and body reading live in
//! the native server and the Worker, while every HTTP decision (routes, methods, content types,
//! limits, CORS, the client address) is made once in [`edge`]. Planning (the loaded model,
//! validation, the planner, SQL, trusted documents) is `exo-planner`'s, re-exported here.
//! Depends on neither the compiler nor pest, miette, petgraph or sqlparser.

pub mod context;
pub mod edge;
pub mod engine;
pub mod env;
pub mod introspection;
pub mod jwk;
pub mod jwt;
pub mod mcp;
pub mod oidc;
pub mod pg_text;

// The planner's modules, under the paths the request path and the hosts have always used.
pub use exo_planner::{error, graphql, limits, meta_schema, plan, sql, system, trusted, validate, value};

pub use context::{AuthConfig, RequestHead};
pub use engine::{Config, Db, DbError, Engine, Introspection, Response, Stage};
pub use mcp::{McpConfig, McpMode, McpResponse};
pub use system::System;
