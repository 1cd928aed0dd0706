//! Argument values after validation: coerced to their input types, variables substituted,
//! and every leaf remembering where it came from (a literal in the document or a path into a
//! variable), so a cached plan can pull fresh values out of the next request's variables.

use std::sync::Arc;

pub use exo_ir::plan::PathSeg;

#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    /// Written in the document (or a default value): part of the plan itself.
    Literal,
    /// `variables[var]` followed by `path`.
    Var { var: Arc<str>, path: Vec<PathSeg> },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Null(Origin),
    Bool(bool, Origin),
    Int(i64, Origin),
    Float(f64, Origin),
    /// Strings and string-carried custom scalars (Decimal, dates, Uuid, Blob).
    Str(String, Origin),
    Enum(String, Origin),
    /// A `Json` scalar.
    Json(serde_json::Value, Origin),
    /// A list; its origin is the variable path when the whole list came from a variable.
    List(Vec<Val>, Origin),
    Object(Vec<(String, Val)>),
}

impl Val {
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null(_))
    }

    pub fn get(&self, key: &str) -> Option<&Val> {
        match self {
            Val::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(String, Val)]> {
        match self {
            Val::Object(f) => Some(f),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Val::Int(i, _) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s, _) | Val::Enum(s, _) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Val::Bool(b, _) => Some(*b),
            _ => None,
        }
    }

    /// The text this leaf binds to a SQL parameter (`None` for null).
    pub fn to_param_text(&self) -> Option<String> {
        match self {
            Val::Null(_) => None,
            Val::Bool(b, _) => Some(b.to_string()),
            Val::Int(i, _) => Some(i.to_string()),
            Val::Float(f, _) => Some(format_float(*f)),
            Val::Str(s, _) | Val::Enum(s, _) => Some(s.clone()),
            Val::Json(j, _) => Some(j.to_string()),
            Val::List(..) | Val::Object(_) => Some(self.to_json().to_string()),
        }
    }

    pub fn origin(&self) -> &Origin {
        const LIT: &Origin = &Origin::Literal;
        match self {
            Val::Null(o)
            | Val::Bool(_, o)
            | Val::Int(_, o)
            | Val::Float(_, o)
            | Val::Str(_, o)
            | Val::Enum(_, o)
            | Val::Json(_, o)
            | Val::List(_, o) => o,
            Val::Object(_) => LIT,
        }
    }

    /// Whether any leaf came from a variable (a literal list like `[$a, 1]`).
    pub fn has_var_leaf(&self) -> bool {
        match self {
            Val::List(items, _) => items.iter().any(|i| matches!(i.origin(), Origin::Var { .. }) || i.has_var_leaf()),
            Val::Object(fields) => {
                fields.iter().any(|(_, v)| matches!(v.origin(), Origin::Var { .. }) || v.has_var_leaf())
            }
            _ => false,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Val::Null(_) => J::Null,
            Val::Bool(b, _) => J::Bool(*b),
            Val::Int(i, _) => J::from(*i),
            Val::Float(f, _) => serde_json::Number::from_f64(*f).map(J::Number).unwrap_or(J::Null),
            Val::Str(s, _) | Val::Enum(s, _) => J::String(s.clone()),
            Val::Json(j, _) => j.clone(),
            Val::List(items, _) => J::Array(items.iter().map(Val::to_json).collect()),
            Val::Object(fields) => J::Object(fields.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }
}

pub fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// Follows a path into a JSON value.
pub fn lookup<'a>(mut v: &'a serde_json::Value, path: &[PathSeg]) -> Option<&'a serde_json::Value> {
    for seg in path {
        v = match seg {
            PathSeg::Key(k) => v.get(&**k)?,
            PathSeg::Index(i) => v.get(*i as usize)?,
        };
    }
    Some(v)
}
