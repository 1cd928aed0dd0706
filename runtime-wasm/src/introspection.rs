//! Introspection (`__schema`, `__type`, `__typename`), answered from the IR's schema without
//! touching the database.

use exo_ir::graphql::{EnumValue, Field, InputValue, Resolver, Type, TypeKind, TypeRef};
use serde_json::{json, Map, Value as Json};

use crate::system::System;
use crate::validate::Selected;

fn field(name: &str, ty: TypeRef, args: Vec<InputValue>) -> Field {
    Field { name: name.into(), description: None, args, ty, resolver: Resolver::Meta }
}

fn arg(name: &str, ty: TypeRef, default: Option<&str>) -> InputValue {
    InputValue { name: name.into(), description: None, ty, default_value: default.map(str::to_string) }
}

fn n(name: &str) -> TypeRef {
    TypeRef::named(name)
}

fn nn(name: &str) -> TypeRef {
    TypeRef::named(name).non_null()
}

fn list_nn(name: &str) -> TypeRef {
    nn(name).list()
}

fn include_deprecated() -> Vec<InputValue> {
    vec![arg("includeDeprecated", n("Boolean"), Some("false"))]
}

/// `__schema` and `__type(name:)`.
pub fn root_fields() -> Vec<Field> {
    vec![field("__schema", nn("__Schema"), vec![]), field("__type", n("__Type"), vec![arg("name", nn("String"), None)])]
}

fn object(name: &str, fields: Vec<Field>) -> Type {
    Type { name: name.into(), description: None, kind: TypeKind::Object { fields } }
}

fn enumeration(name: &str, values: &[&str]) -> Type {
    Type {
        name: name.into(),
        description: None,
        kind: TypeKind::Enum {
            values: values.iter().map(|v| EnumValue { name: v.to_string(), description: None }).collect(),
        },
    }
}

/// The introspection types of the spec.
pub fn types() -> Vec<Type> {
    vec![
        object(
            "__Schema",
            vec![
                field("description", n("String"), vec![]),
                field("types", list_nn("__Type").non_null(), vec![]),
                field("queryType", nn("__Type"), vec![]),
                field("mutationType", n("__Type"), vec![]),
                field("subscriptionType", n("__Type"), vec![]),
                field("directives", list_nn("__Directive").non_null(), vec![]),
            ],
        ),
        object(
            "__Type",
            vec![
                field("kind", nn("__TypeKind"), vec![]),
                field("name", n("String"), vec![]),
                field("description", n("String"), vec![]),
                field("specifiedByURL", n("String"), vec![]),
                field("fields", list_nn("__Field"), include_deprecated()),
                field("interfaces", list_nn("__Type"), vec![]),
                field("possibleTypes", list_nn("__Type"), vec![]),
                field("enumValues", list_nn("__EnumValue"), include_deprecated()),
                field("inputFields", list_nn("__InputValue"), include_deprecated()),
                field("ofType", n("__Type"), vec![]),
                field("isOneOf", n("Boolean"), vec![]),
            ],
        ),
        object(
            "__Field",
            vec![
                field("name", nn("String"), vec![]),
                field("description", n("String"), vec![]),
                field("args", list_nn("__InputValue").non_null(), include_deprecated()),
                field("type", nn("__Type"), vec![]),
                field("isDeprecated", nn("Boolean"), vec![]),
                field("deprecationReason", n("String"), vec![]),
            ],
        ),
        object(
            "__InputValue",
            vec![
                field("name", nn("String"), vec![]),
                field("description", n("String"), vec![]),
                field("type", nn("__Type"), vec![]),
                field("defaultValue", n("String"), vec![]),
                field("isDeprecated", nn("Boolean"), vec![]),
                field("deprecationReason", n("String"), vec![]),
            ],
        ),
        object(
            "__EnumValue",
            vec![
                field("name", nn("String"), vec![]),
                field("description", n("String"), vec![]),
                field("isDeprecated", nn("Boolean"), vec![]),
                field("deprecationReason", n("String"), vec![]),
            ],
        ),
        object(
            "__Directive",
            vec![
                field("name", nn("String"), vec![]),
                field("description", n("String"), vec![]),
                field("isRepeatable", nn("Boolean"), vec![]),
                field("locations", list_nn("__DirectiveLocation").non_null(), vec![]),
                field("args", list_nn("__InputValue").non_null(), include_deprecated()),
            ],
        ),
        enumeration(
            "__TypeKind",
            &["SCALAR", "OBJECT", "INTERFACE", "UNION", "ENUM", "INPUT_OBJECT", "LIST", "NON_NULL"],
        ),
        enumeration(
            "__DirectiveLocation",
            &[
                "QUERY",
                "MUTATION",
                "SUBSCRIPTION",
                "FIELD",
                "FRAGMENT_DEFINITION",
                "FRAGMENT_SPREAD",
                "INLINE_FRAGMENT",
                "VARIABLE_DEFINITION",
                "SCHEMA",
                "SCALAR",
                "OBJECT",
                "FIELD_DEFINITION",
                "ARGUMENT_DEFINITION",
                "INTERFACE",
                "UNION",
                "ENUM",
                "ENUM_VALUE",
                "INPUT_OBJECT",
                "INPUT_FIELD_DEFINITION",
            ],
        ),
    ]
}

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
