//! Executable SQL plans: what the runtime's planner produces for one GraphQL operation, and
//! what `exo build` stores for trusted documents compiled ahead of time. They live here, in
//! the IR crate, so that one definition serves the runtime's cache and the IR blob.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One step into a variable's JSON value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PathSeg {
    Key(Arc<str>),
    Index(u32),
}

/// Where a bind parameter's value comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ParamSource {
    Const(Option<String>),
    Var {
        var: Arc<str>,
        path: Vec<PathSeg>,
    },
    Context {
        context: u32,
        field: u32,
    },
    /// A variable of type `Json`, bound as JSON text (a string keeps its quotes), the way a
    /// `Json` literal is bound.
    JsonVar {
        var: Arc<str>,
        path: Vec<PathSeg>,
    },
    /// The keys an earlier step of a mutation script reported under `slot`: column `column`
    /// of each key, bound as one text array (`{"1","2"}`).
    Keys {
        slot: u32,
        column: u32,
    },
    /// The list cap (`EXO_MAX_LIST_ROWS`) plus one, the `LIMIT` of a list without an explicit
    /// `limit` (`NULL`, no limit, when the cap is off). It is bound at execution, so cached
    /// plans and trusted documents compiled at build time follow the server's setting.
    ListCap,
    /// An explicit `limit` (from the inner source): refused at execution when above the cap.
    Limit(Box<ParamSource>),
}

/// One SQL statement as the planner printed it, and where each `$n` comes from
/// (`params[n - 1]`). The planner builds a tree and prints it once; plans keep the text so
/// they stay plain data for the plan cache and the IR of trusted documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stmt {
    pub sql: String,
    pub params: Vec<ParamSource>,
}

/// One step of a root field's script. Steps run in order inside the request's transaction;
/// a statement reads the keys of earlier steps through [`ParamSource::Keys`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Step {
    /// Runs a statement whose first row, first column is the field's JSON (`null` when no row).
    Json(Stmt),
    /// Runs a statement returning one row per affected row: the primary-key values as text,
    /// one column each; they are the keys of slot 0.
    CollectKeys(Stmt),
    /// Runs a data-modifying statement whose rows are `(slot, key columns...)` as text: the
    /// keys of the rows it wrote, grouped by slot (slot 0 is the root field's rows).
    CollectSlots(Stmt),
    /// Fails the request with "Not authorized" when the statement (a `COUNT(*)` of written
    /// rows violating a rule) returns more than zero.
    Check(Stmt),
}

/// A model constraint (`@maxLength`, `@range`, integer width) on a value that comes from the
/// variables: checked on every execution of a plan, since a cached or precompiled plan is
/// reused with other values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueCheck {
    pub var: Arc<str>,
    pub path: Vec<PathSeg>,
    /// The model field, named in the error message.
    pub field: String,
    pub validation: crate::Validation,
    /// Where the error points (the mutation field).
    pub line: u32,
    pub column: u32,
}

// ---------------------------------------------------------------------------------------------
// Trusted documents
// ---------------------------------------------------------------------------------------------

/// A document from the project's `trusted-documents/`, with its operations compiled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustedDocument {
    /// Lowercase hex SHA-256 of the document text (or the manifest's id when it differs).
    pub sha256: String,
    pub document: String,
    pub operations: Vec<TrustedOperation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustedOperation {
    pub name: Option<String>,
    pub mutation: bool,
    /// `(name, GraphQL type)` of each declared variable, e.g. `("id", NonNull(Named("Int")))`.
    pub variables: Vec<(String, crate::graphql::TypeRef)>,
    /// The distinct compiled outcomes; variants point into this list.
    pub plans: Vec<TrustedOutcome>,
    /// One entry per variable shape and context outcome met at build time.
    pub variants: Vec<TrustedVariant>,
    /// Why some requests are planned at request time instead (`None`: never).
    pub fallback: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustedVariant {
    /// The variables' shape (presence, nulls, enum values, booleans) this plan was made for.
    pub shape: String,
    /// What the plan assumed about the request's context.
    pub deps: Vec<TrustedDep>,
    /// Index into the operation's `plans`.
    pub plan: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TrustedDep {
    /// The context field had this value (JSON text; `null` for absent).
    Value { context: u32, field: u32, json: String },
    /// Only whether the context field was null shaped the SQL.
    Null { context: u32, field: u32, is_null: bool },
    /// Only whether the context field was a list shaped the SQL.
    List { context: u32, field: u32, is_list: bool },
    /// The context field was non-null and equal to none of `excluded` (JSON texts); for a
    /// list field, a list holding none of them.
    Other { context: u32, field: u32, excluded: Vec<String>, list: bool },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TrustedOutcome {
    /// Planning failed for this context (for example "Not authorized", or a value in the
    /// document that the model refuses), with the error's `(line, column)` locations.
    Error {
        message: String,
        locations: Vec<(u32, u32)>,
    },
    Fields {
        fields: Vec<TrustedField>,
        needs_transaction: bool,
        checks: Vec<ValueCheck>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustedField {
    /// The response key (alias or field name).
    pub key: String,
    pub root: TrustedRoot,
}

/// What a root field answers when its last statement returns no row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoRow {
    /// A list field: `[]`.
    EmptyList,
    /// A nullable field: `null` (a row the caller may not read, or none at all).
    Null,
    /// A non-null field (`createT: T!`) whose row the caller may not read: the request fails
    /// with "Not authorized" and its transaction is rolled back, instead of answering null
    /// where the schema promises a value.
    NotAuthorized,
}

impl NoRow {
    /// The JSON for an absent row, when there is one.
    pub fn json(self) -> Option<&'static str> {
        match self {
            NoRow::EmptyList => Some("[]"),
            NoRow::Null => Some("null"),
            NoRow::NotAuthorized => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TrustedRoot {
    /// The steps run in order; the last JSON is the value (see [`NoRow`] when there is none).
    Sql { steps: Vec<Step>, no_row: NoRow },
    /// A constant JSON value (`__typename`).
    Const(String),
}
