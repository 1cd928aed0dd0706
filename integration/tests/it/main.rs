//! End-to-end tests across crates: compile a schema example, create its database in an
//! ephemeral Postgres, and answer GraphQL through the runtime engine.

mod access;
mod bounds;
mod common;
mod edge;
mod examples;
mod fuzz_regressions;
mod exotest_sql;
mod bad_input;
mod http_limits;
mod injection;
mod introspection;
mod mcp;
mod oidc;
mod queries;
mod sql;
mod trusted;
