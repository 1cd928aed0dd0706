//! The exo runtime core: load an IR, answer GraphQL requests with precompiled SQL.
//!
//! Target-agnostic (native and `wasm32-unknown-unknown`) and sans-IO: the host supplies the
//! request head, a clock and a [`engine::Db`] connection; sockets, pools and HTTP live in the
//! native server and the Worker. Depends on neither the compiler nor pest, miette or petgraph.

pub mod context;
pub mod engine;
pub mod env;
pub mod error;
pub mod graphql;
pub mod introspection;
pub mod jwt;
pub mod limits;
pub mod plan;
pub mod system;
pub mod trusted;
pub mod validate;
pub mod value;

pub use context::{AuthConfig, RequestHead};
pub use engine::{Config, Db, DbError, Engine, Introspection, Response};
pub use system::System;
