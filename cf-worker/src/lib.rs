//! The exo runtime as a Cloudflare Worker.
//!
//! One prebuilt wasm serves every model: the JS entry (`js/index.js`) imports the project's
//! `index.exo_ir` as a Data module and hands it to [`handle`](glue) with each request; the IR is
//! decoded once per isolate. Postgres is reached through `worker::Socket` and tokio-postgres
//! `connect_raw`, one connection per request (pooling is Hyperdrive's job), closed before the
//! response is returned.
//!
//! | module | role | target |
//! |---|---|---|
//! | [`config`] | `EXO_*` vars -> engine, database, HTTP edge settings | any |
//! | [`pg`] | URL or Hyperdrive -> host, port, TLS, session settings | any |
//! | `glue` | the exported `handle`, the adapter to the shared edge, the `Db` over a Worker socket | wasm32 |
//! | `oidc` | `EXO_OIDC_URL`: key sets through `fetch`, signatures through WebCrypto | wasm32 |

pub mod config;
pub mod pg;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod glue;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod oidc;
