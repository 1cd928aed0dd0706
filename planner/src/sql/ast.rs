//! The SQL tree the planner builds: just the PostgreSQL the planner writes, as data.
//!
//! Names borrow from the IR (or are fixed names of the planner), so building a tree allocates
//! only its nodes. A value from a request can only be a [`Expr::Param`], allocated by the
//! statement builder ([`super::Params`]); string literals hold names from the model and
//! response keys. Casts are [`Cast`] values, never text. Nodes derive neither `Clone` nor
//! `PartialEq`: the planner never needs them, and in the Worker their code costs size.

use std::borrow::Cow;

pub use exo_ir::Cast;

/// An identifier. The printer quotes every one except [`Ident::Plain`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ident<'a> {
    /// A name from the model (schema, table, column) or a fixed name of the planner, quoted.
    Name(&'a str),
    /// A generated alias, quoted: `"<stem>$<n>"` for a row, `"<stem>$w<n>"` for a CTE of
    /// written rows.
    Alias { stem: &'a str, written: bool, n: u32 },
    /// A fixed lowercase name of the planner (`k0`, `ord`, `keys`), printed bare.
    Plain(&'static str),
}

/// A table, schema-qualified unless it lives in `public`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableName<'a> {
    pub schema: Option<&'a str>,
    pub name: &'a str,
}

/// A parameter allocated by [`super::Params`]; the printer gives it its `$n`. It names its
/// builder too, so a node can never be printed with another statement's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParamId {
    pub(crate) builder: u32,
    pub(crate) index: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Like,
    ILike,
    /// `||`
    Concat,
    /// `@>`
    Contains,
    /// `<@`
    ContainedBy,
    /// `?` (a JSON object has the key)
    HasKey,
    /// `?&`
    HasAllKeys,
    /// `?|`
    HasAnyKey,
    /// `#>>` (the JSON value at a path, as text)
    JsonPathText,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Eq => "=",
            BinOp::Neq => "<>",
            BinOp::Lt => "<",
            BinOp::Lte => "<=",
            BinOp::Gt => ">",
            BinOp::Gte => ">=",
            BinOp::Like => "LIKE",
            BinOp::ILike => "ILIKE",
            BinOp::Concat => "||",
            BinOp::Contains => "@>",
            BinOp::ContainedBy => "<@",
            BinOp::HasKey => "?",
            BinOp::HasAllKeys => "?&",
            BinOp::HasAnyKey => "?|",
            BinOp::JsonPathText => "#>>",
        }
    }

    /// The operator with its operands swapped (`a < b` is `b > a`).
    pub fn flipped(self) -> BinOp {
        match self {
            BinOp::Lt => BinOp::Gt,
            BinOp::Gt => BinOp::Lt,
            BinOp::Lte => BinOp::Gte,
            BinOp::Gte => BinOp::Lte,
            other => other,
        }
    }
}

#[derive(Debug)]
pub enum Expr<'a> {
    /// `t.c`, or `c` alone.
    Column {
        table: Option<Ident<'a>>,
        column: Ident<'a>,
    },
    /// `t.*`
    AllColumns(Ident<'a>),
    /// `*` (in `COUNT(*)` and `RETURNING *`).
    Star,
    Param(ParamId),
    /// A string literal: a name from the model or a response key, never a request's value.
    Str(Cow<'a, str>),
    Int(i64),
    Bool(bool),
    Null,
    /// `DEFAULT` in a `VALUES` row.
    Default,
    Cast(Box<Expr<'a>>, Cow<'a, Cast>),
    /// `name(args [ORDER BY ...])`.
    Func {
        name: &'static str,
        args: Vec<Expr<'a>>,
        order_by: Vec<Order<'a>>,
    },
    Binary {
        op: BinOp,
        left: Box<Expr<'a>>,
        right: Box<Expr<'a>>,
    },
    /// `a AND b AND ...` (at least two terms; see [`super::builder::and`]).
    And(Vec<Expr<'a>>),
    Or(Vec<Expr<'a>>),
    Not(Box<Expr<'a>>),
    IsNull {
        expr: Box<Expr<'a>>,
        negated: bool,
    },
    Exists(Box<Query<'a>>),
    /// A scalar subquery.
    Subquery(Box<Query<'a>>),
    /// `ARRAY(SELECT ...)`
    Array(Box<Query<'a>>),
    /// `(a, b) IN (SELECT ...)`
    InSubquery {
        expr: Box<Expr<'a>>,
        query: Box<Query<'a>>,
    },
    /// `left op ANY(right)` or `left op ALL(right)`.
    Quantified {
        left: Box<Expr<'a>>,
        op: BinOp,
        all: bool,
        right: Box<Expr<'a>>,
    },
    /// `(a, b)`
    Tuple(Vec<Expr<'a>>),
    /// `CASE WHEN c THEN v ... [ELSE e] END`
    Case {
        whens: Vec<(Expr<'a>, Expr<'a>)>,
        otherwise: Option<Box<Expr<'a>>>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Asc,
    Desc,
}

/// An ordering term; without a direction the printer writes none (Postgres' default).
#[derive(Debug)]
pub struct Order<'a> {
    pub expr: Expr<'a>,
    pub dir: Option<Dir>,
}

/// A statement that returns rows: `[WITH ...] body`.
#[derive(Debug)]
pub struct Query<'a> {
    pub with: Vec<Cte<'a>>,
    pub body: Body<'a>,
}

#[derive(Debug)]
pub enum Body<'a> {
    Select(Box<Select<'a>>),
    /// `SELECT ... UNION ALL SELECT ...`
    UnionAll(Vec<Select<'a>>),
    Insert(Box<Insert<'a>>),
    Update(Box<Update<'a>>),
    Delete(Box<Delete<'a>>),
}

/// `name AS (query)`; a data-modifying query makes a data-modifying CTE.
#[derive(Debug)]
pub struct Cte<'a> {
    pub name: Ident<'a>,
    pub query: Query<'a>,
}

#[derive(Debug)]
pub struct SelectItem<'a> {
    pub expr: Expr<'a>,
    pub alias: Option<Ident<'a>>,
}

#[derive(Debug, Default)]
pub struct Select<'a> {
    pub items: Vec<SelectItem<'a>>,
    pub from: Option<From<'a>>,
    /// Inner joins after `from`.
    pub joins: Vec<Join<'a>>,
    pub filter: Option<Expr<'a>>,
    pub order_by: Vec<Order<'a>>,
    pub limit: Option<Expr<'a>>,
    pub offset: Option<Expr<'a>>,
}

#[derive(Debug)]
pub enum From<'a> {
    Table {
        table: TableName<'a>,
        alias: Option<Ident<'a>>,
    },
    /// A CTE (or another name in scope).
    Named(Ident<'a>),
    Subquery {
        query: Box<Query<'a>>,
        alias: Ident<'a>,
    },
    /// `f(...) [WITH ORDINALITY] AS alias(columns)`
    Function {
        call: Expr<'a>,
        ordinality: bool,
        alias: Ident<'a>,
        columns: Vec<Ident<'a>>,
    },
}

#[derive(Debug)]
pub struct Join<'a> {
    pub item: From<'a>,
    pub on: Expr<'a>,
}

#[derive(Debug)]
pub enum InsertSource<'a> {
    DefaultValues,
    Values(Vec<Vec<Expr<'a>>>),
    Query(Box<Query<'a>>),
}

#[derive(Debug)]
pub struct Insert<'a> {
    pub table: TableName<'a>,
    pub columns: Vec<Ident<'a>>,
    pub source: InsertSource<'a>,
    pub returning: Vec<SelectItem<'a>>,
}

#[derive(Debug)]
pub struct Update<'a> {
    pub table: TableName<'a>,
    pub alias: Ident<'a>,
    pub set: Vec<(Ident<'a>, Expr<'a>)>,
    pub filter: Expr<'a>,
    pub returning: Vec<SelectItem<'a>>,
}

#[derive(Debug)]
pub struct Delete<'a> {
    pub table: TableName<'a>,
    pub alias: Ident<'a>,
    pub using: Vec<From<'a>>,
    pub filter: Expr<'a>,
    pub returning: Vec<SelectItem<'a>>,
}
