//! A loaded system: the decoded IR plus the lookup tables validation and planning need.
//!
//! Built once per process (or Worker isolate); everything here is read-only afterwards. Pure
//! lookup data: this module imports nothing from the request path (trusted documents, context,
//! introspection answers, the engine); `planner/tests/layers.rs` checks it.

use std::collections::HashMap;

use exo_ir::graphql::{Field, Resolver, Schema, Type, TypeKind, TypeRef};
use exo_ir::Ir;

use crate::meta_schema;

pub struct System {
    pub ir: Ir,
    /// Named types by name: the model's types followed by the introspection types.
    types: HashMap<String, TypeSlot>,
    introspection_types: Vec<Type>,
    /// `__schema` and `__type`, offered on the query root.
    pub introspection_root: Vec<Field>,
    /// `__typename`.
    pub typename_field: Field,
    /// How the planner prints SQL: compact (the default, what Postgres is sent) or pretty
    /// (tests that snapshot the SQL set it).
    pub sql_layout: crate::sql::Layout,
}

#[derive(Clone, Copy)]
enum TypeSlot {
    Model(usize),
    Introspection(usize),
}

#[derive(Debug)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

pub const BUILTIN_SCALARS: [&str; 5] = ["Int", "Float", "String", "Boolean", "ID"];

impl System {
    /// Decodes an `index.exo_ir` file.
    pub fn from_bytes(bytes: &[u8]) -> Result<System, LoadError> {
        let ir = exo_ir::decode(bytes).map_err(|e| LoadError(e.to_string()))?;
        Ok(System::new(ir))
    }

    pub fn new(ir: Ir) -> System {
        let mut types = HashMap::new();
        for (i, t) in ir.graphql.types.iter().enumerate() {
            types.insert(t.name.clone(), TypeSlot::Model(i));
        }
        let introspection_types = meta_schema::types();
        for (i, t) in introspection_types.iter().enumerate() {
            types.insert(t.name.clone(), TypeSlot::Introspection(i));
        }
        System {
            sql_layout: crate::sql::Layout::Compact,
            ir,
            types,
            introspection_types,
            introspection_root: meta_schema::root_fields(),
            typename_field: Field {
                name: "__typename".into(),
                description: None,
                args: vec![],
                ty: TypeRef::named("String").non_null(),
                resolver: Resolver::Meta,
            },
        }
    }

    pub fn schema(&self) -> &Schema {
        &self.ir.graphql
    }

    pub fn type_named(&self, name: &str) -> Option<&Type> {
        match self.types.get(name)? {
            TypeSlot::Model(i) => Some(&self.ir.graphql.types[*i]),
            TypeSlot::Introspection(i) => Some(&self.introspection_types[*i]),
        }
    }

    pub fn introspection_types(&self) -> &[Type] {
        &self.introspection_types
    }

    pub fn is_builtin_scalar(name: &str) -> bool {
        BUILTIN_SCALARS.contains(&name)
    }

    /// Whether a named type is a leaf (scalar or enum).
    pub fn is_leaf(&self, name: &str) -> bool {
        if Self::is_builtin_scalar(name) {
            return true;
        }
        matches!(self.type_named(name).map(|t| &t.kind), Some(TypeKind::Scalar) | Some(TypeKind::Enum { .. }))
    }

    /// The fields of an object type; `None` for other kinds.
    pub fn object_fields(&self, name: &str) -> Option<&[Field]> {
        match name {
            "Query" => Some(&self.ir.graphql.queries),
            "Mutation" => Some(&self.ir.graphql.mutations),
            _ => match &self.type_named(name)?.kind {
                TypeKind::Object { fields } => Some(fields),
                _ => None,
            },
        }
    }

    /// Looks a field up on an object type, including `__typename` and the introspection roots.
    pub fn field<'a>(&'a self, type_name: &str, field: &str) -> Option<&'a Field> {
        if field == "__typename" {
            return Some(&self.typename_field);
        }
        if type_name == "Query" && field.starts_with("__") {
            return self.introspection_root.iter().find(|f| f.name == field);
        }
        self.object_fields(type_name)?.iter().find(|f| f.name == field)
    }
}
