//! The values of a request's contexts (`context AuthContext { ... }`), as the planner reads
//! them. Resolving them from a request (token, headers, cookies, environment) is the runtime's
//! job (`exo_runtime::context::build`); trusted documents are planned with chosen values.

use exo_ir::{ContextSource, Ir};
use serde_json::Value as Json;

#[derive(Debug, Default)]
pub struct RequestContext {
    /// `values[context][field]`; `None` when the source gave nothing.
    values: Vec<Vec<Option<Json>>>,
}

impl RequestContext {
    pub fn empty() -> RequestContext {
        RequestContext::default()
    }

    /// A context with the given values (`values[context][field]`), as resolved from a request,
    /// or chosen to plan trusted documents ahead of time.
    pub fn from_values(values: Vec<Vec<Option<Json>>>) -> RequestContext {
        RequestContext { values }
    }

    pub fn value(&self, context: u32, field: u32) -> Option<&Json> {
        self.values.get(context as usize)?.get(field as usize)?.as_ref()
    }

    /// Whether any context field reads the JWT (else tokens are not even looked at).
    pub fn needs_jwt(ir: &Ir) -> bool {
        ir.contexts.iter().any(|c| c.fields.iter().any(|f| matches!(f.source, ContextSource::Jwt(_))))
    }
}
