//! End-to-end tests across crates: compile a schema example, create its database in an
//! ephemeral Postgres, and answer GraphQL through the runtime engine.

mod access;
mod bad_input;
mod bounds;
mod common;
mod edge;
mod examples;
mod exotest_sql;
mod fuzz_regressions;
mod http_limits;
mod injection;
mod introspection;
mod mcp;
mod oidc;
mod queries;
mod sql;
mod trusted;
