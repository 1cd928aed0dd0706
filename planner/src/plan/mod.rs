//! Planning: `(system, validated operation, request context) -> Plan`.
//!
//! Every root field becomes SQL that makes Postgres build the field's JSON: one statement per
//! query field, a short script per mutation field. Each statement is built as a tree
//! ([`crate::sql`]) and printed once. User values never enter SQL text: each one becomes a
//! parameter node with a typed cast from the IR. Parameters remember where their values come
//! from (a literal, a path into a variable, a context field, the keys of an earlier step), so a
//! plan can be cached and re-bound for the next request.
//!
//! By concern: [`select`] (selections and JSON shaping), [`filter`] (`where` and `orderBy`),
//! [`access`] (partial evaluation of access rules), [`field_access`] (field-level rules
//! wherever a field is used), [`mutation`] (write scripts), [`checks`] (value constraints).

pub(crate) mod access;
mod checks;
mod field_access;
mod filter;
mod mutation;
pub(crate) mod select;
#[cfg(test)]
mod tests;

use exo_ir::graphql::Resolver;
use exo_ir::{ColumnId, ColumnSql, Entity, EntityId, Ir, JsonOut, ParamIn, TableId};
use serde_json::Value as Json;

use crate::context::RequestContext;
use crate::error::{write_json_string, GqlError};
use crate::graphql::{OperationKind, Pos};
use crate::sql::{self, Expr, Ident, Layout, ParamId, Params, Query, TableName};
use crate::system::System;
use crate::validate::{Operation, Selected};
use crate::value::{Origin, Val};
pub(crate) use access::literal_json;
pub use checks::check_value;
pub use exo_ir::plan::{NoRow, ParamSource, PathSeg, Step, Stmt, ValueCheck};
pub use select::LIST_CAP_MARKER;

/// An assumption a plan makes about a context field.
#[derive(Debug, Clone, PartialEq)]
pub enum CtxDep {
    /// The value was evaluated while planning (compared with a literal or another context).
    Value { context: u32, field: u32, value: Json },
    /// The value is bound as a parameter; only whether it was null shaped the SQL.
    Null { context: u32, field: u32, is_null: bool },
    /// The value is bound as a parameter; whether it was a list shaped the SQL.
    List { context: u32, field: u32, is_list: bool },
    /// The value was non-null and none of `excluded` (a list holding none of them, when
    /// `list`). Only trusted-document compilation produces it, for plans made with a value
    /// that stands for every value outside the literals the access rules name.
    Other { context: u32, field: u32, excluded: Vec<Json>, list: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub enum RootPlan {
    /// A field answered by SQL: the steps run in order; the last JSON is the field's value.
    Sql { steps: Vec<Step>, no_row: NoRow },
    /// `__schema` / `__type` / `__typename`: answered without the database; the selection is
    /// kept so the executor can resolve it.
    Introspection,
    /// A constant JSON value.
    Const(String),
}

#[derive(Debug, Clone)]
pub struct FieldPlan {
    pub key: String,
    pub plan: RootPlan,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub kind: OperationKind,
    pub fields: Vec<FieldPlan>,
    /// What the SQL assumed about the request's context: a plan is reused only for requests
    /// whose context agrees.
    pub context_deps: Vec<CtxDep>,
    pub needs_transaction: bool,
    /// Constraints on values taken from the variables, checked before every execution.
    pub checks: Vec<ValueCheck>,
    /// False when a value from the variables was baked into the SQL (a literal list holding
    /// variables): such a plan is used once and not cached.
    pub cacheable: bool,
}

/// Plans a validated operation.
pub fn plan(system: &System, op: &Operation<'_>, ctx: &RequestContext) -> Result<Plan, GqlError> {
    plan_with_deps(system, op, ctx).0
}

/// Like [`plan`], also returning what the outcome (a plan or an error) assumed about the
/// context.
pub fn plan_with_deps(
    system: &System,
    op: &Operation<'_>,
    ctx: &RequestContext,
) -> (Result<Plan, GqlError>, Vec<CtxDep>) {
    let mut deps = vec![];
    let result = plan_inner(system, op, ctx, &mut deps);
    (result, deps)
}

fn plan_inner<'a>(
    system: &'a System,
    op: &'a Operation<'_>,
    ctx: &'a RequestContext,
    deps: &mut Vec<CtxDep>,
) -> Result<Plan, GqlError> {
    let mut checks = vec![];
    let mut fields = vec![];
    let mut cacheable = true;
    for sel in &op.fields {
        let mut p = Planner::new(&system.ir, ctx, system.sql_layout, deps);
        let plan = p.root(sel)?;
        cacheable &= p.cacheable;
        checks.append(&mut p.checks);
        fields.push(FieldPlan { key: sel.key.clone(), plan });
    }
    let sql_fields = fields.iter().filter(|f| matches!(f.plan, RootPlan::Sql { .. })).count();
    let multi_step = fields.iter().any(|f| matches!(&f.plan, RootPlan::Sql { steps, .. } if steps.len() > 1));
    Ok(Plan {
        kind: op.kind,
        fields,
        context_deps: deps.clone(),
        needs_transaction: op.kind == OperationKind::Mutation || sql_fields > 1 || multi_step,
        checks,
        cacheable,
    })
}

/// Plans one root field: owns the field's parameters and the state partial evaluation keeps.
pub(crate) struct Planner<'a, 'd> {
    pub(crate) ir: &'a Ir,
    ctx: &'a RequestContext,
    layout: Layout,
    /// The parameters of the statement being built.
    params: Params,
    /// Statements printed so far (each gets a new parameter builder).
    statements: u32,
    aliases: u32,
    deps: &'d mut Vec<CtxDep>,
    /// Aliases bound to `.some(p => ...)` parameters, by param index.
    lambda: Vec<(u32, EntityId, Ident<'a>)>,
    cacheable: bool,
    checks: Vec<ValueCheck>,
    /// Set when a comparison met a context value the request does not carry.
    missing_context: bool,
    /// Whether the rule being evaluated is a read rule ([`Planner::read_access`]).
    reading: bool,
    /// Where the `where` argument being planned stands (for errors about its values).
    filter_pos: Pos,
    /// Read rules of the fields the filter being planned uses, ANDed in at its row's level
    /// (see [`field_access`]).
    guards: Vec<Expr<'a>>,
    /// While the checks after a nested write are planned: the slots of the rows it created.
    /// A `.some(...)` collection does not count them, so a nested row cannot authorize
    /// itself (or a sibling) by being one of the rows its rule looks for.
    unwritten: Vec<(EntityId, usize)>,
    /// While a create or update rule is checked against input (the prechecks): the columns
    /// of a pseudo-row whose value is not known before the write (a key the database
    /// generates; for the check of an update's input alone, every column the input does not
    /// set). A comparison reaching one is left out, counted as met, as Exograph does.
    unknown: Vec<(Ident<'a>, ColumnId)>,
    /// While a create rule is checked: the rows the input gives a one-to-many field of a
    /// pseudo-row, which `.some(...)` over that field looks at (the new row has no others).
    input_children: Vec<InputChildren<'a>>,
    /// Comparisons evaluated, and those left out as unknown (so that `!` of a rule made only
    /// of left-out comparisons stays met, as in Exograph).
    leaves: u32,
    ignored: u32,
    /// While a create's precheck is planned: `(alias of a row, many-to-one field, CTE)`, where
    /// the field refers to a row the same mutation creates, held as it would be written by the
    /// one-row CTE. Rule paths through the field read that row instead of the table.
    pseudo: Vec<(Ident<'a>, u32, Ident<'a>)>,
}

/// The nested rows a create's input gives field `field` of the pseudo-row at `parent`: each
/// a pseudo-row query with its own alias.
pub(crate) struct InputChildren<'a> {
    pub(crate) parent: Ident<'a>,
    pub(crate) field: u32,
    pub(crate) target: EntityId,
    pub(crate) rows: Vec<(Ident<'a>, Query<'a>)>,
}

fn bad_request(msg: impl Into<String>) -> GqlError {
    GqlError::new(msg)
}

impl<'a, 'd> Planner<'a, 'd> {
    pub(crate) fn new(ir: &'a Ir, ctx: &'a RequestContext, layout: Layout, deps: &'d mut Vec<CtxDep>) -> Self {
        Planner {
            ir,
            ctx,
            layout,
            params: Params::new(0),
            statements: 0,
            aliases: 0,
            deps,
            lambda: vec![],
            cacheable: true,
            checks: vec![],
            missing_context: false,
            reading: false,
            filter_pos: Pos { line: 0, column: 0 },
            guards: vec![],
            unwritten: vec![],
            pseudo: vec![],
            unknown: vec![],
            input_children: vec![],
            leaves: 0,
            ignored: 0,
        }
    }

    /// A fresh alias for a row of `entity`: `"todos$3"`.
    fn alias(&mut self, entity: &'a Entity) -> Ident<'a> {
        self.aliases += 1;
        Ident::Alias { stem: &entity.sql.alias, written: false, n: self.aliases }
    }

    /// A fresh name for a CTE of rows of `entity` written by a mutation: `"todos$w3"`.
    fn cte_name(&mut self, entity: EntityId) -> Ident<'a> {
        self.aliases += 1;
        Ident::Alias { stem: &self.ir.entity(entity).sql.alias, written: true, n: self.aliases }
    }

    fn table_name(&self, table: TableId) -> TableName<'a> {
        let t = self.ir.table(table);
        TableName { schema: (t.schema != "public").then_some(t.schema.as_str()), name: &t.name }
    }

    fn column_name(&self, table: TableId, column: ColumnId) -> &'a str {
        &self.ir.table(table).columns[column as usize].name
    }

    /// `alias.column` for a column of `table`.
    fn column(&self, alias: Ident<'a>, table: TableId, column: ColumnId) -> Expr<'a> {
        sql::col(alias, self.column_name(table, column))
    }

    /// The parameter node for `src`.
    fn param(&mut self, src: ParamSource) -> Expr<'a> {
        self.params.add(src)
    }

    /// The parameter node for a validated argument value.
    fn val_param(&mut self, v: &Val) -> Expr<'a> {
        Expr::Param(self.val_param_id(v))
    }

    /// The parameter for a validated argument value, to make nodes of (`Expr::Param(id)`).
    fn val_param_id(&mut self, v: &Val) -> ParamId {
        let src = self.val_param_source(v);
        self.params.add_id(src)
    }

    /// Where a validated argument value's parameter comes from.
    fn val_param_source(&mut self, v: &Val) -> ParamSource {
        if v.has_var_leaf() && matches!(v.origin(), Origin::Literal) {
            self.cacheable = false;
        }
        match v.origin() {
            Origin::Var { var, path } if matches!(v, Val::Json(..)) => {
                ParamSource::JsonVar { var: var.clone(), path: path.clone() }
            }
            Origin::Var { var, path } => ParamSource::Var { var: var.clone(), path: path.clone() },
            Origin::Literal => ParamSource::Const(v.to_param_text()),
        }
    }

    /// Prints a finished statement with the parameters it uses; the next statement starts
    /// with no parameters.
    fn statement(&mut self, q: &Query<'_>) -> Stmt {
        let stmt = self.params.statement(q, self.layout);
        self.statements += 1;
        self.params = Params::new(self.statements);
        stmt
    }

    fn root(&mut self, sel: &'a Selected<'_>) -> Result<RootPlan, GqlError> {
        let ir = self.ir;
        match sel.field.resolver {
            Resolver::Meta => {
                if sel.field.name == "__typename" {
                    let mut s = String::new();
                    write_json_string(&mut s, sel.parent);
                    Ok(RootPlan::Const(s))
                } else {
                    Ok(RootPlan::Introspection)
                }
            }
            Resolver::ByPk { entity } => self.lookup(entity, &ir.entity(entity).pk, sel),
            Resolver::ByUnique { entity, lookup } => {
                self.lookup(entity, &ir.entity(entity).unique_lookups[lookup as usize].fields, sel)
            }
            Resolver::Collection { entity } => self.collection_root(entity, sel),
            Resolver::Aggregate { entity } => self.aggregate_root(entity, sel),
            Resolver::Create { entity, many } => self.create(entity, many, sel),
            Resolver::Update { entity, many } => self.update(entity, many, sel),
            Resolver::Delete { entity, many } => self.delete(entity, many, sel),
            _ => Err(bad_request(format!("field `{}` cannot be queried at the root", sel.field.name))),
        }
    }
}

/// A column's value as response JSON.
fn json_value<'a>(sql: &ColumnSql, col: Expr<'a>) -> Expr<'a> {
    match sql.json {
        JsonOut::Plain => col,
        JsonOut::Text => sql::cast(col, sql::Cast::Text),
        JsonOut::TextArray => sql::cast(col, sql::Cast::Array(Box::new(sql::Cast::Text))),
        JsonOut::Base64 => sql::func(
            "translate",
            vec![sql::func("encode", vec![col, sql::str_lit("base64")]), sql::str_lit("\n"), sql::str_lit("")],
        ),
    }
}

/// A text parameter (or another text expression) turned into a value of a column's type.
fn param_in<'a>(p: &'a ParamIn, e: Expr<'a>) -> Expr<'a> {
    match p {
        ParamIn::Cast(c) => sql::cast_ref(e, c),
        ParamIn::Base64 => sql::func("decode", vec![e, sql::str_lit("base64")]),
    }
}

/// Like [`param_in`] for a binding made at plan time (an array element's).
fn param_in_owned(p: ParamIn, e: Expr<'_>) -> Expr<'_> {
    match p {
        ParamIn::Cast(c) => sql::cast(e, c),
        ParamIn::Base64 => sql::func("decode", vec![e, sql::str_lit("base64")]),
    }
}
