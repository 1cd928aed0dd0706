//! The GraphQL type system exposed by a model, as data.
//!
//! The runtime validates documents against it and answers introspection from it; each field
//! carries a [`Resolver`] tying it back to the entities. Types are sorted by name; `Query` and
//! `Mutation` fields are sorted by name; object fields keep declaration order with `...Agg`
//! fields last (as Exograph prints them).

use serde::{Deserialize, Serialize};

use crate::{EntityId, FieldId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Schema {
    pub description: Option<String>,
    /// Every named type except the built-in scalars (`Int`, `Float`, `String`, `Boolean`, `ID`)
    /// and the introspection types, sorted by name.
    pub types: Vec<Type>,
    pub queries: Vec<Field>,
    /// Empty when no mutation is allowed by the access rules.
    pub mutations: Vec<Field>,
}

impl Schema {
    pub fn type_by_name(&self, name: &str) -> Option<&Type> {
        self.types.binary_search_by(|t| t.name.as_str().cmp(name)).ok().map(|i| &self.types[i])
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Type {
    pub name: String,
    pub description: Option<String>,
    pub kind: TypeKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TypeKind {
    /// A custom scalar (`Decimal`, `LocalDate`, `Uuid`, ...) with what it carries.
    Scalar,
    Object {
        fields: Vec<Field>,
    },
    InputObject {
        fields: Vec<InputValue>,
    },
    Enum {
        values: Vec<EnumValue>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub description: Option<String>,
    pub args: Vec<InputValue>,
    pub ty: TypeRef,
    pub resolver: Resolver,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputValue {
    pub name: String,
    pub description: Option<String>,
    pub ty: TypeRef,
    /// A GraphQL literal, as printed in SDL.
    pub default_value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnumValue {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TypeRef {
    Named(String),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl TypeRef {
    pub fn named(name: &str) -> TypeRef {
        TypeRef::Named(name.to_string())
    }
    pub fn non_null(self) -> TypeRef {
        TypeRef::NonNull(Box::new(self))
    }
    pub fn list(self) -> TypeRef {
        TypeRef::List(Box::new(self))
    }
    /// The named type at the core of wrappers.
    pub fn base_name(&self) -> &str {
        match self {
            TypeRef::Named(n) => n,
            TypeRef::List(t) | TypeRef::NonNull(t) => t.base_name(),
        }
    }
}

impl std::fmt::Display for TypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeRef::Named(n) => write!(f, "{n}"),
            TypeRef::List(t) => write!(f, "[{t}]"),
            TypeRef::NonNull(t) => write!(f, "{t}!"),
        }
    }
}

/// How a field is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resolver {
    // Root query fields.
    /// `todo(id: Int!)`
    ByPk {
        entity: EntityId,
    },
    /// `todos(where, orderBy, limit, offset)`
    Collection {
        entity: EntityId,
    },
    /// `todosAgg(where)`
    Aggregate {
        entity: EntityId,
    },
    /// `userByEmail(email)`: index into [`crate::Entity::unique_lookups`].
    ByUnique {
        entity: EntityId,
        lookup: u32,
    },
    // Root mutation fields.
    Create {
        entity: EntityId,
        many: bool,
    },
    /// `many == false`: `updateTodo(<pk>, data)`, else `updateTodos(where, data)`.
    Update {
        entity: EntityId,
        many: bool,
    },
    Delete {
        entity: EntityId,
        many: bool,
    },
    // Fields of entity object types.
    /// A column or a relation field of an entity type.
    EntityField {
        entity: EntityId,
        field: FieldId,
    },
    /// `todosAgg` on a one-to-many relation field.
    RelationAggregate {
        entity: EntityId,
        field: FieldId,
    },
    // Fields of `TAgg` and `<Scalar>Agg` types.
    /// A field of `TAgg`: the aggregates of one column.
    AggregateField {
        entity: EntityId,
        field: FieldId,
    },
    AggregateOp(AggOp),
    /// A field of a `@json` object type, read from the JSON value.
    JsonField,
    /// Fields answered without the database (`__typename`, introspection).
    Meta,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggOp {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

impl AggOp {
    pub fn name(self) -> &'static str {
        match self {
            AggOp::Count => "count",
            AggOp::Sum => "sum",
            AggOp::Avg => "avg",
            AggOp::Min => "min",
            AggOp::Max => "max",
        }
    }
}

/// Defines a closed set of names the compiler writes into the schema and the planner reads
/// back: one definition, so neither side spells them as string literals.
macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name in the GraphQL schema.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn from_name(name: &str) -> Option<$name> {
                match name {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

named_enum! {
    /// An operator of a scalar filter input (`IntFilter { lt: 3 }`).
    FilterOp {
        Eq = "eq",
        Neq = "neq",
        Lt = "lt",
        Lte = "lte",
        Gt = "gt",
        Gte = "gte",
        Like = "like",
        ILike = "ilike",
        StartsWith = "startsWith",
        EndsWith = "endsWith",
        /// `Json`: the value contains the argument.
        Contains = "contains",
        ContainedBy = "containedBy",
        MatchKey = "matchKey",
        MatchAllKeys = "matchAllKeys",
        MatchAnyKey = "matchAnyKey",
    }
}

named_enum! {
    /// The logical fields of an entity filter (`TFilter { and: [...], not: {...} }`).
    LogicalOp {
        And = "and",
        Or = "or",
        Not = "not",
    }
}

named_enum! {
    /// Arguments of root fields and fields of nested update inputs that the planner reads by
    /// what they mean.
    ArgRole {
        Where = "where",
        OrderBy = "orderBy",
        Limit = "limit",
        Offset = "offset",
        Data = "data",
        /// Nested update input: rows to create under the parent.
        Create = "create",
        /// Nested update input: children to update.
        Update = "update",
        /// Nested update input: children to delete.
        Delete = "delete",
    }
}

impl FilterOp {
    /// The operators of a filter on a scalar of each kind.
    pub const ORDERED: &'static [FilterOp] =
        &[FilterOp::Eq, FilterOp::Neq, FilterOp::Lt, FilterOp::Lte, FilterOp::Gt, FilterOp::Gte];
    pub const STRING: &'static [FilterOp] = &[
        FilterOp::Eq,
        FilterOp::Neq,
        FilterOp::Lt,
        FilterOp::Lte,
        FilterOp::Gt,
        FilterOp::Gte,
        FilterOp::Like,
        FilterOp::ILike,
        FilterOp::StartsWith,
        FilterOp::EndsWith,
    ];
    pub const EQUALITY: &'static [FilterOp] = &[FilterOp::Eq, FilterOp::Neq];
    pub const JSON: &'static [FilterOp] =
        &[FilterOp::Contains, FilterOp::ContainedBy, FilterOp::MatchKey, FilterOp::MatchAllKeys, FilterOp::MatchAnyKey];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for op in FilterOp::ALL {
            assert_eq!(FilterOp::from_name(op.name()), Some(*op));
        }
        for op in LogicalOp::ALL {
            assert_eq!(LogicalOp::from_name(op.name()), Some(*op));
        }
        for role in ArgRole::ALL {
            assert_eq!(ArgRole::from_name(role.name()), Some(*role));
        }
        assert_eq!(FilterOp::from_name("and"), None);
        assert_eq!(LogicalOp::from_name("eq"), None);
    }
}
