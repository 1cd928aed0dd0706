//! Introspection (`__schema`, `__type`, `__typename`), answered from the IR's schema without
//! touching the database.

use exo_ir::graphql::{EnumValue, Field, InputValue, TypeKind, TypeRef};
use serde_json::{json, Map, Value as Json};

use crate::system::System;
use crate::validate::Selected;

/// A node of the introspection graph.
#[derive(Clone, Copy)]
enum Node<'s> {
    Schema,
    /// A named type.
    Named(&'s str),
    Wrapped(&'s TypeRef),
    Field(&'s Field),
    Input(&'s InputValue),
    Enum(&'s EnumValue),
    Directive(&'static str),
}

const SKIP_INCLUDE: [&str; 2] = ["skip", "include"];

/// Resolves one root introspection field.
pub fn resolve_root(system: &System, sel: &Selected<'_>) -> Json {
    match sel.field.name.as_str() {
        "__schema" => resolve(system, Node::Schema, &sel.selection),
        "__type" => {
            let name = sel.arg("name").and_then(|v| v.as_str()).unwrap_or("");
            match named_type(system, name) {
                Some(name) => resolve(system, Node::Named(name), &sel.selection),
                None => Json::Null,
            }
        }
        "__typename" => Json::String(sel.parent.to_string()),
        _ => Json::Null,
    }
}

/// Every named type, in the order introspection lists them.
fn all_type_names(system: &System) -> Vec<&str> {
    let mut names: Vec<&str> = system.schema().types.iter().map(|t| t.name.as_str()).collect();
    names.push("Query");
    if !system.schema().mutations.is_empty() {
        names.push("Mutation");
    }
    for s in ["Boolean", "Float", "ID", "Int", "String"] {
        names.push(s);
    }
    for t in system.introspection_types() {
        names.push(t.name.as_str());
    }
    names
}

fn named_type<'s>(system: &'s System, name: &str) -> Option<&'s str> {
    all_type_names(system).into_iter().find(|n| *n == name)
}

fn resolve(system: &System, node: Node<'_>, sel: &[Selected<'_>]) -> Json {
    let mut map = Map::new();
    for s in sel {
        let v = field_value(system, node, s);
        map.insert(s.key.clone(), v);
    }
    Json::Object(map)
}

fn list<'s>(system: &System, nodes: impl Iterator<Item = Node<'s>>, sel: &[Selected<'_>]) -> Json {
    Json::Array(nodes.map(|n| resolve(system, n, sel)).collect())
}

fn type_node(t: &TypeRef) -> Node<'_> {
    match t {
        TypeRef::Named(n) => Node::Named(n),
        w => Node::Wrapped(w),
    }
}

fn kind_of(system: &System, name: &str) -> &'static str {
    if name == "Query" || name == "Mutation" {
        return "OBJECT";
    }
    if System::is_builtin_scalar(name) {
        return "SCALAR";
    }
    match system.type_named(name).map(|t| &t.kind) {
        Some(TypeKind::Scalar) | None => "SCALAR",
        Some(TypeKind::Object { .. }) => "OBJECT",
        Some(TypeKind::InputObject { .. }) => "INPUT_OBJECT",
        Some(TypeKind::Enum { .. }) => "ENUM",
    }
}

fn field_value(system: &System, node: Node<'_>, s: &Selected<'_>) -> Json {
    let name = s.field.name.as_str();
    if name == "__typename" {
        return Json::String(s.parent.to_string());
    }
    match node {
        Node::Schema => match name {
            "description" => opt(system.schema().description.as_deref()),
            "types" => list(system, all_type_names(system).into_iter().map(Node::Named), &s.selection),
            "queryType" => resolve(system, Node::Named("Query"), &s.selection),
            "mutationType" => {
                if system.schema().mutations.is_empty() {
                    Json::Null
                } else {
                    resolve(system, Node::Named("Mutation"), &s.selection)
                }
            }
            "subscriptionType" => Json::Null,
            "directives" => list(system, SKIP_INCLUDE.iter().map(|d| Node::Directive(d)), &s.selection),
            _ => Json::Null,
        },
        Node::Named(tname) => {
            let ty = system.type_named(tname);
            match name {
                "kind" => Json::String(kind_of(system, tname).into()),
                "name" => Json::String(tname.into()),
                "description" => match tname {
                    "Query" | "Mutation" => Json::Null,
                    _ => opt(ty.and_then(|t| t.description.as_deref())),
                },
                "fields" => match system.object_fields(tname) {
                    Some(fields) => {
                        let fields: Vec<&Field> = fields.iter().collect();
                        list(system, fields.into_iter().map(Node::Field), &s.selection)
                    }
                    None => Json::Null,
                },
                "interfaces" => {
                    if system.object_fields(tname).is_some() {
                        json!([])
                    } else {
                        Json::Null
                    }
                }
                "possibleTypes" => Json::Null,
                "enumValues" => match ty.map(|t| &t.kind) {
                    Some(TypeKind::Enum { values }) => list(system, values.iter().map(Node::Enum), &s.selection),
                    _ => Json::Null,
                },
                "inputFields" => match ty.map(|t| &t.kind) {
                    Some(TypeKind::InputObject { fields }) => {
                        list(system, fields.iter().map(Node::Input), &s.selection)
                    }
                    _ => Json::Null,
                },
                "ofType" | "specifiedByURL" => Json::Null,
                "isOneOf" => match ty.map(|t| &t.kind) {
                    Some(TypeKind::InputObject { .. }) => Json::Bool(false),
                    _ => Json::Null,
                },
                _ => Json::Null,
            }
        }
        Node::Wrapped(t) => match name {
            "kind" => Json::String(if matches!(t, TypeRef::List(_)) { "LIST" } else { "NON_NULL" }.into()),
            "ofType" => match t {
                TypeRef::List(inner) | TypeRef::NonNull(inner) => resolve(system, type_node(inner), &s.selection),
                TypeRef::Named(_) => Json::Null,
            },
            _ => Json::Null,
        },
        Node::Field(f) => match name {
            "name" => Json::String(f.name.clone()),
            "description" => opt(f.description.as_deref()),
            "args" => list(system, f.args.iter().map(Node::Input), &s.selection),
            "type" => resolve(system, type_node(&f.ty), &s.selection),
            "isDeprecated" => Json::Bool(false),
            _ => Json::Null,
        },
        Node::Input(iv) => match name {
            "name" => Json::String(iv.name.clone()),
            "description" => opt(iv.description.as_deref()),
            "type" => resolve(system, type_node(&iv.ty), &s.selection),
            "defaultValue" => opt(iv.default_value.as_deref()),
            "isDeprecated" => Json::Bool(false),
            _ => Json::Null,
        },
        Node::Enum(ev) => match name {
            "name" => Json::String(ev.name.clone()),
            "description" => opt(ev.description.as_deref()),
            "isDeprecated" => Json::Bool(false),
            _ => Json::Null,
        },
        Node::Directive(d) => match name {
            "name" => Json::String(d.into()),
            "description" => Json::String(
                if d == "skip" {
                    "Directs the executor to skip this field or fragment when the `if` argument is true."
                } else {
                    "Directs the executor to include this field or fragment only when the `if` argument is true."
                }
                .into(),
            ),
            "isRepeatable" => Json::Bool(false),
            "locations" => json!(["FIELD", "FRAGMENT_SPREAD", "INLINE_FRAGMENT"]),
            "args" => {
                let mut m = Map::new();
                for a in &s.selection {
                    let v = match a.field.name.as_str() {
                        "name" => json!("if"),
                        "description" => json!(if d == "skip" { "Skipped when true." } else { "Included when true." }),
                        "type" => boolean_nn_type(&a.selection),
                        "defaultValue" => Json::Null,
                        "isDeprecated" => json!(false),
                        "__typename" => json!("__InputValue"),
                        _ => Json::Null,
                    };
                    m.insert(a.key.clone(), v);
                }
                Json::Array(vec![Json::Object(m)])
            }
            _ => Json::Null,
        },
    }
}

fn boolean_nn_type(sel: &[Selected<'_>]) -> Json {
    let mut m = Map::new();
    for s in sel {
        let v = match s.field.name.as_str() {
            "kind" => json!("NON_NULL"),
            "ofType" => {
                let mut inner = Map::new();
                for t in &s.selection {
                    let v = match t.field.name.as_str() {
                        "kind" => json!("SCALAR"),
                        "name" => json!("Boolean"),
                        "__typename" => json!("__Type"),
                        _ => Json::Null,
                    };
                    inner.insert(t.key.clone(), v);
                }
                Json::Object(inner)
            }
            "__typename" => json!("__Type"),
            _ => Json::Null,
        };
        m.insert(s.key.clone(), v);
    }
    Json::Object(m)
}

fn opt(s: Option<&str>) -> Json {
    s.map(|s| Json::String(s.to_string())).unwrap_or(Json::Null)
}
