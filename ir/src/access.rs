//! Access rules as expression trees, already resolved against the model.
//!
//! The compiler applies Exograph's precedence (`create`/`update`/`delete` over `mutation`
//! over the unnamed rule; `query` over the unnamed rule; default `false`) so the runtime
//! sees one expression per operation kind. Paths are field indices, never names.

use serde::{Deserialize, Serialize};

use crate::{ContextId, EntityId, FieldId, Literal};

/// The effective rule for each kind of operation on an entity (or a field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityAccess {
    pub query: AccessExpr,
    pub create: AccessExpr,
    pub update: AccessExpr,
    pub delete: AccessExpr,
}

impl EntityAccess {
    pub fn all(value: bool) -> Self {
        EntityAccess {
            query: AccessExpr::Const(value),
            create: AccessExpr::Const(value),
            update: AccessExpr::Const(value),
            delete: AccessExpr::Const(value),
        }
    }
}

impl Default for EntityAccess {
    fn default() -> Self {
        EntityAccess::all(false)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccessExpr {
    Const(bool),
    Not(Box<AccessExpr>),
    And(Box<AccessExpr>, Box<AccessExpr>),
    Or(Box<AccessExpr>, Box<AccessExpr>),
    /// A comparison. A bare boolean operand `self.public` is lowered to `self.public == true`;
    /// `Ctx.roles.contains(x)` is lowered to `x in Ctx.roles`.
    Cmp {
        op: CmpOp,
        lhs: AccessOperand,
        rhs: AccessOperand,
    },
    /// `<collection>.some(param => body)`: true when some related row satisfies `body`.
    /// `collection` is a path ending in a one-to-many field; inside `body`,
    /// [`AccessOperand::Param`] with this `param` index refers to the related row.
    Some {
        collection: AccessOperand,
        param: u32,
        body: Box<AccessExpr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    /// `lhs in rhs`: rhs is a list (an array context field or an array column).
    In,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccessOperand {
    Literal(Literal),
    /// A context value, `AuthContext.id`.
    Context {
        context: ContextId,
        field: u32,
    },
    /// `self.a.b`: fields walked from the row the rule is about. Empty means the row itself.
    SelfPath(Vec<PathStep>),
    /// `p.a.b` inside `.some(p => ...)`: fields walked from the lambda's row.
    Param {
        param: u32,
        path: Vec<PathStep>,
    },
}

/// One step of a path: field `field` of entity `entity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStep {
    pub entity: EntityId,
    pub field: FieldId,
}
