//! The introspection types of the GraphQL spec (`__Schema`, `__Type`, ...) and the root fields
//! `__schema` and `__type`, as schema data: `System` looks them up beside the model's types.
//! Answering introspection queries is the job of `introspection.rs`, on the request path.

use exo_ir::graphql::{EnumValue, Field, InputValue, Resolver, Type, TypeKind, TypeRef};

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
