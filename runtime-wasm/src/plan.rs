//! Planning: `(system, validated operation, request context) -> Plan`.
//!
//! Every root field becomes SQL that makes Postgres build the field's JSON: one statement per
//! query field, a short script per mutation field. User values never enter SQL text: each one
//! becomes a numbered text parameter with a typed cast taken from the IR's column templates.
//! Parameters remember where their values come from (a literal, a path into a variable, a
//! context field), so a plan can be cached and re-bound for the next request.

use std::fmt::Write as _;

use exo_ir::graphql::Resolver;
use exo_ir::{
    AccessExpr, AccessOperand, CmpOp, Entity, EntityId, Field, FieldKind, Ir, Literal, PathStep, ScalarType,
    ValueType,
};
use serde_json::Value as Json;

use crate::context::RequestContext;
use crate::error::{write_json_string, GqlError};
use crate::graphql::OperationKind;
use crate::system::System;
use crate::validate::{Operation, Selected};
use crate::value::{Origin, Val};
pub use exo_ir::plan::{NoRow, ParamSource, PathSeg, Step, Stmt, ValueCheck};

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
pub fn plan_with_deps(system: &System, op: &Operation<'_>, ctx: &RequestContext) -> (Result<Plan, GqlError>, Vec<CtxDep>) {
    let mut deps = vec![];
    let result = plan_inner(system, op, ctx, &mut deps);
    (result, deps)
}

fn plan_inner(system: &System, op: &Operation<'_>, ctx: &RequestContext, deps: &mut Vec<CtxDep>) -> Result<Plan, GqlError> {
    let mut checks = vec![];
    let mut fields = vec![];
    let mut cacheable = true;
    for sel in &op.fields {
        let mut p =
            Planner { ir: &system.ir, ctx, params: vec![], aliases: 0, deps, lambda: vec![], cacheable: true, checks: vec![], missing_context: false, filter_pos: crate::graphql::Pos { line: 0, column: 0 } };
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

/// Outcome of partially evaluating an access rule with the request's context.
enum Cond {
    True,
    False,
    Sql(String),
}

impl Cond {
    fn and(self, other: Cond) -> Cond {
        match (self, other) {
            (Cond::False, _) | (_, Cond::False) => Cond::False,
            (Cond::True, c) | (c, Cond::True) => c,
            (Cond::Sql(a), Cond::Sql(b)) => Cond::Sql(format!("({a} AND {b})")),
        }
    }
    fn or(self, other: Cond) -> Cond {
        match (self, other) {
            (Cond::True, _) | (_, Cond::True) => Cond::True,
            (Cond::False, c) | (c, Cond::False) => c,
            (Cond::Sql(a), Cond::Sql(b)) => Cond::Sql(format!("({a} OR {b})")),
        }
    }
    fn not(self) -> Cond {
        match self {
            Cond::True => Cond::False,
            Cond::False => Cond::True,
            Cond::Sql(a) => Cond::Sql(format!("NOT {a}")),
        }
    }
    fn to_sql(&self) -> &str {
        match self {
            Cond::True => "TRUE",
            Cond::False => "FALSE",
            Cond::Sql(s) => s,
        }
    }
}

/// An access-rule operand after partial evaluation.
enum Operand {
    Value(Json),
    /// A SQL expression of a column (with its IR column for casts), or a lambda row.
    Column { sql: String, param_expr: String },
    /// A context value left as a parameter: the index into `params` is assigned on use.
    CtxParam { context: u32, field: u32, value: Json },
}

pub(crate) struct Planner<'a> {
    pub(crate) ir: &'a Ir,
    ctx: &'a RequestContext,
    pub(crate) params: Vec<ParamSource>,
    aliases: usize,
    deps: &'a mut Vec<CtxDep>,
    /// Aliases bound to `.some(p => ...)` parameters, by param index.
    lambda: Vec<(u32, EntityId, String)>,
    cacheable: bool,
    checks: Vec<ValueCheck>,
    /// Set when a comparison met a context value the request does not carry.
    missing_context: bool,
    /// Where the `where` argument being planned stands (for errors about its values).
    filter_pos: crate::graphql::Pos,
}

fn bad_request(msg: impl Into<String>) -> GqlError {
    GqlError::new(msg)
}

impl<'a> Planner<'a> {
    fn alias(&mut self, entity: &Entity) -> String {
        self.aliases += 1;
        format!("\"{}${}\"", entity.sql.alias.replace('"', ""), self.aliases)
    }

    pub(crate) fn param(&mut self, src: ParamSource) -> usize {
        if let Some(i) = self.params.iter().position(|p| *p == src) {
            return i + 1;
        }
        self.params.push(src);
        self.params.len()
    }

    fn val_param(&mut self, v: &Val) -> usize {
        if v.has_var_leaf() && matches!(v.origin(), Origin::Literal) {
            self.cacheable = false;
        }
        let src = match v.origin() {
            Origin::Var { var, path } if matches!(v, Val::Json(..)) => {
                ParamSource::JsonVar { var: var.clone(), path: path.clone() }
            }
            Origin::Var { var, path } => ParamSource::Var { var: var.clone(), path: path.clone() },
            Origin::Literal => ParamSource::Const(v.to_param_text()),
        };
        self.param(src)
    }

    fn take_stmt(&mut self, sql: String) -> Stmt {
        Stmt { sql, params: std::mem::take(&mut self.params) }
    }

    fn root(&mut self, sel: &Selected<'_>) -> Result<RootPlan, GqlError> {
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
            Resolver::Collection { entity } => {
                let e = ir.entity(entity);
                let a = self.alias(e);
                let from = self.filtered_rows(entity, &a, None, sel)?;
                let Some(from) = from else {
                    return Err(GqlError::new("Not authorized"));
                };
                let obj = self.object(entity, &a, &sel.selection)?;
                let sql = format!("SELECT COALESCE(json_agg({obj}), '[]'::json)::text FROM ({from}) AS {a}");
                Ok(RootPlan::Sql { steps: vec![Step::Json(self.take_stmt(sql))], no_row: NoRow::EmptyList })
            }
            Resolver::Aggregate { entity } => {
                let e = ir.entity(entity);
                let a = self.alias(e);
                let from = self.filtered_rows(entity, &a, None, sel)?;
                let Some(from) = from else {
                    return Err(GqlError::new("Not authorized"));
                };
                let obj = self.aggregate_object(entity, &a, &sel.selection)?;
                let sql = format!("SELECT {obj}::text FROM ({from}) AS {a}");
                Ok(RootPlan::Sql { steps: vec![Step::Json(self.take_stmt(sql))], no_row: NoRow::Null })
            }
            Resolver::Create { entity, many } => self.create(entity, many, sel),
            Resolver::Update { entity, many } => self.update(entity, many, sel),
            Resolver::Delete { entity, many } => self.delete(entity, many, sel),
            _ => Err(bad_request(format!("field `{}` cannot be queried at the root", sel.field.name))),
        }
    }

    /// `todo(id:)` / `userByEmail(email:)`: the row whose `fields` equal the arguments.
    fn lookup(&mut self, entity: EntityId, fields: &[u32], sel: &Selected<'_>) -> Result<RootPlan, GqlError> {
        let e = self.ir.entity(entity);
        let a = self.alias(e);
        let mut conds = vec![];
        for &f in fields {
            let field = &e.fields[f as usize];
            let v = sel.arg(&field.name).ok_or_else(|| bad_request(format!("missing argument `{}`", field.name)))?;
            conds.push(self.key_condition(e, field, &a, v)?);
        }
        self.single(entity, &a, conds, sel)
    }

    /// A pk or unique lookup: one row or null.
    fn single(&mut self, entity: EntityId, a: &str, conds: Vec<String>, sel: &Selected<'_>) -> Result<RootPlan, GqlError> {
        let e = self.ir.entity(entity);
        let access = self.access(&e.access.query, entity, a);
        let mut cond = conds.join(" AND ");
        match access {
            Cond::False => return Err(GqlError::new("Not authorized")),
            Cond::True => {}
            Cond::Sql(s) => {
                let _ = write!(cond, " AND {s}");
            }
        }
        let obj = self.object(entity, a, &sel.selection)?;
        let sql = format!("SELECT {obj}::text FROM {} AS {a} WHERE {cond}", e.sql.table);
        Ok(RootPlan::Sql { steps: vec![Step::Json(self.take_stmt(sql))], no_row: NoRow::Null })
    }

    /// `alias.col = $n` for a key field (a scalar, or a relation given as `{pk: value}`).
    fn key_condition(&mut self, e: &Entity, field: &Field, a: &str, v: &Val) -> Result<String, GqlError> {
        match &field.kind {
            FieldKind::Column { sql, .. } => {
                let n = self.val_param(v);
                Ok(format!("{a}.{} = {}", sql.name, sql.param(n)))
            }
            FieldKind::ManyToOne { target, columns, target_columns, .. } => {
                let t = self.ir.entity(*target);
                let table = self.ir.table(e.table);
                let ttable = self.ir.table(t.table);
                let mut parts = vec![];
                for (c, tc) in columns.iter().zip(target_columns) {
                    // Find the target pk field owning this column.
                    let (tf, _) = t
                        .fields
                        .iter()
                        .enumerate()
                        .find(|(_, f)| matches!(&f.kind, FieldKind::Column { column, .. } if column == tc))
                        .ok_or_else(|| bad_request("composite relation keys nested more than one level are not supported"))?;
                    let tfield = &t.fields[tf];
                    let inner = v.get(&tfield.name).ok_or_else(|| bad_request(format!("missing key field `{}`", tfield.name)))?;
                    let n = self.val_param(inner);
                    let cast = match &tfield.kind {
                        FieldKind::Column { sql, .. } => sql.param(n),
                        _ => format!("${n}"),
                    };
                    let _ = ttable;
                    parts.push(format!("{a}.{} = {cast}", exo_ir::quote_ident(&table.columns[*c as usize].name)));
                }
                Ok(parts.join(" AND "))
            }
            FieldKind::OneToMany { .. } => Err(bad_request("a collection cannot be a key")),
        }
    }

    /// `SELECT a.* FROM table AS a WHERE <relation> AND <where> AND <access> ORDER BY .. LIMIT .. OFFSET ..`,
    /// or `None` when access is denied outright.
    fn filtered_rows(
        &mut self,
        entity: EntityId,
        a: &str,
        join: Option<String>,
        sel: &Selected<'_>,
    ) -> Result<Option<String>, GqlError> {
        let e = self.ir.entity(entity);
        let mut cond = match join {
            Some(j) => Cond::Sql(j),
            None => Cond::True,
        };
        if let Some(w) = sel.arg("where") {
            self.filter_pos = sel.pos;
            let p = self.predicate(entity, a, w)?;
            cond = cond.and(p);
        }
        let access = self.access(&e.access.query, entity, a);
        if matches!(access, Cond::False) {
            return Ok(None);
        }
        cond = cond.and(access);
        let mut sql = format!("SELECT {a}.* FROM {} AS {a}", e.sql.table);
        match cond {
            Cond::True => {}
            Cond::False => sql.push_str(" WHERE FALSE"),
            Cond::Sql(s) => {
                let _ = write!(sql, " WHERE {s}");
            }
        }
        let order = match sel.arg("orderBy") {
            Some(o) if !o.is_null() => self.order_by(entity, a, o)?,
            _ => vec![],
        };
        let mut order = order;
        if order.is_empty() && sel.field.args.iter().any(|x| x.name == "orderBy") {
            // A stable order by default: the primary key.
            for &f in &e.pk {
                if let FieldKind::Column { sql: c, .. } = &e.fields[f as usize].kind {
                    order.push(format!("{a}.{} ASC", c.name));
                }
            }
        }
        if !order.is_empty() {
            let _ = write!(sql, " ORDER BY {}", order.join(", "));
        }
        if let Some(l) = sel.arg("limit").filter(|v| !v.is_null()) {
            if l.as_i64().is_some_and(|x| x < 0) {
                return Err(GqlError::at("Invalid value for 'limit': must not be negative", sel.pos));
            }
            let n = self.val_param(l);
            let _ = write!(sql, " LIMIT ${n}::int8");
        }
        if let Some(o) = sel.arg("offset").filter(|v| !v.is_null()) {
            if o.as_i64().is_some_and(|x| x < 0) {
                return Err(GqlError::at("Invalid value for 'offset': must not be negative", sel.pos));
            }
            let n = self.val_param(o);
            let _ = write!(sql, " OFFSET ${n}::int8");
        }
        Ok(Some(sql))
    }

    /// `json_build_object(...)` for the selection of an entity row bound to alias `a`.
    fn object(&mut self, entity: EntityId, a: &str, selection: &[Selected<'_>]) -> Result<String, GqlError> {
        let e = self.ir.entity(entity);
        let mut pairs: Vec<String> = Vec::with_capacity(selection.len());
        for s in selection {
            let mut key = String::new();
            sql_string(&mut key, &s.key);
            let value = match s.field.resolver {
                Resolver::Meta => {
                    let mut v = String::new();
                    sql_string(&mut v, &e.name);
                    v
                }
                Resolver::EntityField { field, .. } => self.field_value(entity, field, a, s)?,
                Resolver::RelationAggregate { field, .. } => {
                    let f = &e.fields[field as usize];
                    let FieldKind::OneToMany { target, inverse, .. } = &f.kind else {
                        return Err(bad_request("aggregate over a non-collection"));
                    };
                    let t = self.ir.entity(*target);
                    let b = self.alias(t);
                    let join = self.join_condition(*target, *inverse, &b, a);
                    match self.filtered_rows(*target, &b, Some(join), s)? {
                        None => "NULL".to_string(),
                        Some(from) => {
                            let obj = self.aggregate_object(*target, &b, &s.selection)?;
                            format!("(SELECT {obj} FROM ({from}) AS {b})")
                        }
                    }
                }
                _ => return Err(bad_request(format!("unexpected field `{}`", s.field.name))),
            };
            pairs.push(format!("{key}, {value}"));
        }
        Ok(build_object(&pairs))
    }

    /// The JSON value of one field of row `a`.
    fn field_value(&mut self, entity: EntityId, field_id: u32, a: &str, s: &Selected<'_>) -> Result<String, GqlError> {
        let e = self.ir.entity(entity);
        let f = &e.fields[field_id as usize];
        let value = match &f.kind {
            FieldKind::Column { sql, .. } => sql.json_value(a),
            FieldKind::ManyToOne { target, .. } => {
                let t = self.ir.entity(*target);
                let b = self.alias(t);
                let join = self.many_to_one_join(entity, field_id, a, &b);
                let access = self.access(&t.access.query, *target, &b);
                match access {
                    Cond::False => "NULL".to_string(),
                    access => {
                        let obj = self.object(*target, &b, &s.selection)?;
                        let cond = Cond::Sql(join).and(access);
                        format!("(SELECT {obj} FROM {} AS {b} WHERE {})", t.sql.table, cond.to_sql())
                    }
                }
            }
            FieldKind::OneToMany { target, inverse, one_to_one } => {
                let t = self.ir.entity(*target);
                let b = self.alias(t);
                let join = self.join_condition(*target, *inverse, &b, a);
                if *one_to_one {
                    let access = self.access(&t.access.query, *target, &b);
                    match access {
                        Cond::False => "NULL".to_string(),
                        access => {
                            let obj = self.object(*target, &b, &s.selection)?;
                            let cond = Cond::Sql(join).and(access);
                            format!("(SELECT {obj} FROM {} AS {b} WHERE {} LIMIT 1)", t.sql.table, cond.to_sql())
                        }
                    }
                } else {
                    match self.filtered_rows(*target, &b, Some(join), s)? {
                        None => "'[]'::json".to_string(),
                        Some(from) => {
                            let obj = self.object(*target, &b, &s.selection)?;
                            format!("(SELECT COALESCE(json_agg({obj}), '[]'::json) FROM ({from}) AS {b})")
                        }
                    }
                }
            }
        };
        // Field-level access: hide the value when the rule does not hold for this row.
        if let Some(acc) = &f.access {
            return Ok(match self.access(&acc.query, entity, a) {
                Cond::True => value,
                Cond::False => "NULL".into(),
                Cond::Sql(c) => format!("CASE WHEN {c} THEN {value} END"),
            });
        }
        Ok(value)
    }

    /// `b.fk = a.pk` for the one-to-many relation whose inverse many-to-one field is
    /// `inverse` on entity `target` (alias `b`), seen from the parent alias `a`.
    fn join_condition(&self, target: EntityId, inverse: u32, b: &str, a: &str) -> String {
        self.many_to_one_join(target, inverse, b, a)
    }

    /// For many-to-one field `field` of `entity` at alias `a`, the condition matching the
    /// referenced row at alias `b`.
    fn many_to_one_join(&self, entity: EntityId, field: u32, a: &str, b: &str) -> String {
        let e = self.ir.entity(entity);
        let FieldKind::ManyToOne { target, columns, target_columns, .. } = &e.fields[field as usize].kind else {
            return "FALSE".into();
        };
        let table = self.ir.table(e.table);
        let ttable = self.ir.table(self.ir.entity(*target).table);
        columns
            .iter()
            .zip(target_columns)
            .map(|(c, tc)| {
                format!(
                    "{b}.{} = {a}.{}",
                    exo_ir::quote_ident(&ttable.columns[*tc as usize].name),
                    exo_ir::quote_ident(&table.columns[*c as usize].name)
                )
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// `json_build_object` of a `TAgg` selection over rows at alias `a`.
    fn aggregate_object(&mut self, entity: EntityId, a: &str, selection: &[Selected<'_>]) -> Result<String, GqlError> {
        let e = self.ir.entity(entity);
        let mut pairs = vec![];
        for s in selection {
            let mut key = String::new();
            sql_string(&mut key, &s.key);
            let value = match s.field.resolver {
                Resolver::Meta => {
                    let mut v = String::new();
                    sql_string(&mut v, s.parent);
                    v
                }
                Resolver::AggregateField { field, .. } => {
                    let f = &e.fields[field as usize];
                    let FieldKind::Column { ty, sql, .. } = &f.kind else {
                        return Err(bad_request("aggregate of a relation"));
                    };
                    let col = format!("{a}.{}", sql.name);
                    let scalar = ty.scalar();
                    let mut ops = vec![];
                    for op in &s.selection {
                        let mut k = String::new();
                        sql_string(&mut k, &op.key);
                        let v = match op.field.resolver {
                            Resolver::AggregateOp(o) => agg_sql(o, &col, scalar),
                            Resolver::Meta => {
                                let mut v = String::new();
                                sql_string(&mut v, op.parent);
                                v
                            }
                            _ => return Err(bad_request("unexpected aggregate field")),
                        };
                        ops.push(format!("{k}, {v}"));
                    }
                    build_object(&ops)
                }
                _ => return Err(bad_request("unexpected aggregate field")),
            };
            pairs.push(format!("{key}, {value}"));
        }
        Ok(build_object(&pairs))
    }

    // -----------------------------------------------------------------------------------------
    // Filters and ordering
    // -----------------------------------------------------------------------------------------

    /// A `TFilter` value as a SQL condition over alias `a`.
    fn predicate(&mut self, entity: EntityId, a: &str, filter: &Val) -> Result<Cond, GqlError> {
        let Some(fields) = filter.as_object() else {
            return Ok(Cond::True);
        };
        let e = self.ir.entity(entity);
        let mut cond = Cond::True;
        for (k, v) in fields {
            let c = match k.as_str() {
                "and" | "or" => {
                    let items: Vec<&Val> = match v {
                        Val::List(items, _) => items.iter().collect(),
                        Val::Null(_) => continue,
                        other => vec![other],
                    };
                    if items.is_empty() {
                        return Err(bad_request("Logical operation predicate does not have any arguments"));
                    }
                    let mut acc = if k == "and" { Cond::True } else { Cond::False };
                    for item in items {
                        let p = self.predicate(entity, a, item)?;
                        acc = if k == "and" { acc.and(p) } else { acc.or(p) };
                    }
                    acc
                }
                "not" => {
                    if v.is_null() {
                        continue;
                    }
                    self.predicate(entity, a, v)?.not()
                }
                name => {
                    if v.is_null() {
                        continue;
                    }
                    let Some((fid, f)) = e.field_by_name(name) else {
                        return Err(bad_request(format!("unknown filter field `{name}`")));
                    };
                    self.field_predicate(entity, fid, f, a, v)?
                }
            };
            cond = cond.and(c);
        }
        Ok(cond)
    }

    fn field_predicate(&mut self, entity: EntityId, fid: u32, f: &Field, a: &str, v: &Val) -> Result<Cond, GqlError> {
        match &f.kind {
            FieldKind::Column { ty, sql, .. } => {
                let col = format!("{a}.{}", sql.name);
                let Some(ops) = v.as_object() else {
                    // `BlobFilter` and similar scalar filters: equality.
                    let n = self.val_param(v);
                    return Ok(Cond::Sql(format!("{col} = {}", sql.param(n))));
                };
                let is_array = matches!(ty, ValueType::Array(_));
                let mut cond = Cond::True;
                for (op, arg) in ops {
                    if f.validation.single_precision && !is_array {
                        self.check_filter_value(f, arg)?;
                    }
                    let c = self.operator(op, &col, sql, arg, ty, is_array)?;
                    cond = cond.and(c);
                }
                Ok(cond)
            }
            FieldKind::ManyToOne { target, .. } => {
                let t = self.ir.entity(*target);
                let b = self.alias(t);
                let join = self.many_to_one_join(entity, fid, a, &b);
                let inner = self.predicate(*target, &b, v)?;
                let access = self.access(&t.access.query, *target, &b);
                let cond = Cond::Sql(join).and(inner).and(access);
                Ok(match cond {
                    Cond::False => Cond::False,
                    c => Cond::Sql(format!("EXISTS (SELECT 1 FROM {} AS {b} WHERE {})", t.sql.table, c.to_sql())),
                })
            }
            FieldKind::OneToMany { target, inverse, .. } => {
                let t = self.ir.entity(*target);
                let b = self.alias(t);
                let join = self.join_condition(*target, *inverse, &b, a);
                let inner = self.predicate(*target, &b, v)?;
                let access = self.access(&t.access.query, *target, &b);
                let cond = Cond::Sql(join).and(inner).and(access);
                Ok(match cond {
                    Cond::False => Cond::False,
                    c => Cond::Sql(format!("EXISTS (SELECT 1 FROM {} AS {b} WHERE {})", t.sql.table, c.to_sql())),
                })
            }
        }
    }

    /// A value compared with a single-precision column must be one (a `real` parameter that
    /// overflows or underflows is an error in Postgres). `@range` does not apply to filters.
    fn check_filter_value(&mut self, f: &Field, v: &Val) -> Result<(), GqlError> {
        let validation = exo_ir::Validation { single_precision: true, ..Default::default() };
        self.check_value_now_and_later(&f.name, &validation, v, self.filter_pos)
    }

    /// Checks `v` against the model's constraints now, and, when it comes from a variable,
    /// records the check in the plan so every later execution (with other values) repeats it.
    fn check_value_now_and_later(
        &mut self,
        field: &str,
        validation: &exo_ir::Validation,
        v: &Val,
        pos: crate::graphql::Pos,
    ) -> Result<(), GqlError> {
        check_constraints(field, validation, v, pos)?;
        if let Origin::Var { var, path } = v.origin() {
            if *validation != exo_ir::Validation::default() {
                self.checks.push(ValueCheck {
                    var: var.clone(),
                    path: path.clone(),
                    field: field.to_string(),
                    validation: validation.clone(),
                    line: pos.line,
                    column: pos.column,
                });
            }
        }
        Ok(())
    }

    fn operator(
        &mut self,
        op: &str,
        col: &str,
        sql: &exo_ir::ColumnSql,
        arg: &Val,
        ty: &ValueType,
        is_array: bool,
    ) -> Result<Cond, GqlError> {
        if arg.is_null() {
            return Ok(match op {
                "eq" => Cond::Sql(format!("{col} IS NULL")),
                "neq" => Cond::Sql(format!("{col} IS NOT NULL")),
                _ => Cond::True,
            });
        }
        let n = self.val_param(arg);
        // For array columns, scalar comparisons test the elements.
        let typed = if is_array && ty.scalar() != Some(ScalarType::Int) {
            // The element's own type (`{}::real[]` -> `$1::real`), so enum elements compare
            // with an enum and single-precision elements with a single-precision value.
            match sql.param_expr.strip_suffix("[]") {
                Some(elem) => elem.replace("{}", &format!("${n}")),
                None => format!("${n}{}", ty.scalar().map(param_cast_for).unwrap_or("")),
            }
        } else if ty.scalar() == Some(ScalarType::Int) {
            // Compared as int8 whatever the column's width, so `{lt: 99999}` on a smallint is
            // true for every row instead of an out-of-range cast error.
            format!("${n}::int8")
        } else {
            sql.param(n)
        };
        // Pattern operators on an array match when some element matches; the element must be
        // the left operand (`elem LIKE pattern`), so `ANY` cannot express them.
        if is_array {
            let pattern = match op {
                "like" | "ilike" => Some(format!("${n}::text")),
                "startsWith" => Some(format!("${n}::text || '%'")),
                "endsWith" => Some(format!("'%' || ${n}::text")),
                _ => None,
            };
            if let Some(pattern) = pattern {
                let like = if op == "ilike" { "ILIKE" } else { "LIKE" };
                return Ok(Cond::Sql(format!(
                    "EXISTS (SELECT 1 FROM unnest({col}) AS \"element\" WHERE \"element\" {like} {pattern})"
                )));
            }
        }
        let sym = match op {
            "eq" => "=",
            "neq" => "<>",
            "lt" => "<",
            "lte" => "<=",
            "gt" => ">",
            "gte" => ">=",
            "like" => "LIKE",
            "ilike" => "ILIKE",
            "startsWith" => return Ok(Cond::Sql(format!("{col} LIKE ${n}::text || '%'"))),
            "endsWith" => return Ok(Cond::Sql(format!("{col} LIKE '%' || ${n}::text"))),
            "contains" => return Ok(Cond::Sql(format!("{col} @> ${n}::jsonb"))),
            "containedBy" => return Ok(Cond::Sql(format!("{col} <@ ${n}::jsonb"))),
            // The key is a `Json` value: a JSON string, unquoted here.
            "matchKey" => return Ok(Cond::Sql(format!("{col} ? (${n}::jsonb #>> '{{}}')"))),
            "matchAllKeys" => {
                return Ok(Cond::Sql(format!("{col} ?& ARRAY(SELECT jsonb_array_elements_text(${n}::jsonb))")))
            }
            "matchAnyKey" => {
                return Ok(Cond::Sql(format!("{col} ?| ARRAY(SELECT jsonb_array_elements_text(${n}::jsonb))")))
            }
            other => return Err(bad_request(format!("unknown filter operator `{other}`"))),
        };
        if is_array {
            let any = if op == "neq" { "ALL" } else { "ANY" };
            return Ok(Cond::Sql(format!("{typed} {} {any}({col})", flip(sym))));
        }
        Ok(Cond::Sql(format!("{col} {sym} {typed}")))
    }

    /// `orderBy` as a list of SQL order terms.
    fn order_by(&mut self, entity: EntityId, a: &str, o: &Val) -> Result<Vec<String>, GqlError> {
        let items: Vec<&Val> = match o {
            Val::List(items, _) => items.iter().collect(),
            other => vec![other],
        };
        let mut out = vec![];
        for item in items {
            let Some(fields) = item.as_object() else { continue };
            for (k, v) in fields {
                if v.is_null() {
                    continue;
                }
                self.order_term(entity, a, k, v, &mut out, None)?;
            }
        }
        Ok(out)
    }

    /// One ordering entry. `via` wraps the column in scalar subqueries for relation paths.
    fn order_term(
        &mut self,
        entity: EntityId,
        a: &str,
        k: &str,
        v: &Val,
        out: &mut Vec<String>,
        via: Option<&dyn Fn(String) -> String>,
    ) -> Result<(), GqlError> {
        let e = self.ir.entity(entity);
        let Some((fid, f)) = e.field_by_name(k) else {
            return Err(bad_request(format!("unknown ordering field `{k}`")));
        };
        match &f.kind {
            FieldKind::Column { sql, .. } => {
                // Postgres' default null placement, so a primary-key or other btree index
                // can serve the order.
                let dir = match v.as_str() {
                    Some("DESC") => "DESC",
                    _ => "ASC",
                };
                let expr = format!("{a}.{}", sql.name);
                let expr = match via {
                    Some(w) => w(expr),
                    None => expr,
                };
                out.push(format!("{expr} {dir}"));
            }
            FieldKind::ManyToOne { target, .. } => {
                let t = self.ir.entity(*target);
                let b = self.alias(t);
                let t_alias = b.clone();
                let join = self.many_to_one_join(entity, fid, a, &b);
                let table = t.sql.table.clone();
                let wrap = move |inner: String| format!("(SELECT {inner} FROM {table} AS {b} WHERE {join})");
                let combined: Box<dyn Fn(String) -> String> = match via {
                    Some(outer) => Box::new(move |x| outer(wrap(x))),
                    None => Box::new(wrap),
                };
                let items: Vec<&Val> = match v {
                    Val::List(items, _) => items.iter().collect(),
                    other => vec![other],
                };
                for item in items {
                    if let Some(fields) = item.as_object() {
                        for (k2, v2) in fields {
                            if v2.is_null() {
                                continue;
                            }
                            self.order_term(*target, &t_alias, k2, v2, out, Some(&*combined))?;
                        }
                    }
                }
            }
            FieldKind::OneToMany { .. } => {
                return Err(bad_request(format!("cannot order by the collection `{k}`")));
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Access rules
    // -----------------------------------------------------------------------------------------

    /// `l && r` (`and`) or `l || r`, short-circuiting on the deciding constant. When the result
    /// is decided without SQL, the parameters the branches bound are dropped again.
    fn access_junction(&mut self, l: &AccessExpr, r: &AccessExpr, entity: EntityId, a: &str, and: bool) -> Cond {
        let mark = self.params.len();
        let l = self.access(l, entity, a);
        let decided = if and { matches!(l, Cond::False) } else { matches!(l, Cond::True) };
        let c = if decided {
            l
        } else {
            let r = self.access(r, entity, a);
            if and { l.and(r) } else { l.or(r) }
        };
        if !matches!(c, Cond::Sql(_)) {
            self.params.truncate(mark);
        }
        c
    }

    /// Partially evaluates an access rule for the row at alias `a` of `entity`.
    fn access(&mut self, expr: &AccessExpr, entity: EntityId, a: &str) -> Cond {
        match expr {
            AccessExpr::Const(true) => Cond::True,
            AccessExpr::Const(false) => Cond::False,
            AccessExpr::Not(e) => {
                // A comparison with a missing context value is unknown rather than false: it
                // stays false under `!` too (as SQL's NULL would), so `!(self.owner ==
                // AuthContext.id)` does not admit anonymous callers. When the inner rule is
                // decided false and a missing value took part, the negation is false as well
                // (this errs on the side of refusing, e.g. for `!(unknown && false)`).
                let before = self.missing_context;
                self.missing_context = false;
                let inner = self.access(e, entity, a);
                let unknown = self.missing_context;
                self.missing_context |= before;
                if unknown && matches!(inner, Cond::False) {
                    Cond::False
                } else {
                    inner.not()
                }
            }
            AccessExpr::And(l, r) => self.access_junction(l, r, entity, a, true),
            AccessExpr::Or(l, r) => self.access_junction(l, r, entity, a, false),
            AccessExpr::Cmp { op, lhs, rhs } => {
                let l = self.operand(lhs, entity, a);
                let r = self.operand(rhs, entity, a);
                match (l, r) {
                    (Some(l), Some(r)) => self.compare(*op, l, r),
                    _ => Cond::False,
                }
            }
            AccessExpr::Some { collection, param, body } => {
                let (owner, path, base_alias) = match collection {
                    AccessOperand::SelfPath(p) => (entity, p.as_slice(), a.to_string()),
                    AccessOperand::Param { param, path } => match self.lambda.iter().find(|(p, _, _)| p == param) {
                        Some((_, e, al)) => (*e, path.as_slice(), al.clone()),
                        None => return Cond::False,
                    },
                    _ => return Cond::False,
                };
                // Walk many-to-one steps with EXISTS wrappers, then the final one-to-many.
                let Some((last, prefix)) = path.split_last() else { return Cond::False };
                let mut cur_entity = owner;
                let mut cur_alias = base_alias;
                let mut wrappers: Vec<String> = vec![];
                for step in prefix {
                    let e = self.ir.entity(step.entity);
                    let FieldKind::ManyToOne { target, .. } = &e.fields[step.field as usize].kind else {
                        return Cond::False;
                    };
                    let t = self.ir.entity(*target);
                    let b = self.alias(t);
                    let join = self.many_to_one_join(cur_entity, step.field, &cur_alias, &b);
                    wrappers.push(format!("EXISTS (SELECT 1 FROM {} AS {b} WHERE {join} AND ", t.sql.table));
                    cur_entity = *target;
                    cur_alias = b;
                }
                let _ = owner;
                let e = self.ir.entity(last.entity);
                let FieldKind::OneToMany { target, inverse, .. } = &e.fields[last.field as usize].kind else {
                    return Cond::False;
                };
                let t = self.ir.entity(*target);
                let b = self.alias(t);
                let join = self.join_condition(*target, *inverse, &b, &cur_alias);
                self.lambda.push((*param, *target, b.clone()));
                let inner = self.access(body, *target, &b);
                self.lambda.pop();
                let mut sql = match Cond::Sql(join).and(inner) {
                    Cond::False => return Cond::False,
                    c => format!("EXISTS (SELECT 1 FROM {} AS {b} WHERE {})", t.sql.table, c.to_sql()),
                };
                for w in wrappers.into_iter().rev() {
                    sql = format!("{w}{sql})");
                }
                Cond::Sql(sql)
            }
        }
    }

    fn context_value(&mut self, context: u32, field: u32) -> Json {
        self.ctx.value(context, field).cloned().unwrap_or(Json::Null)
    }

    fn record_dep(&mut self, context: u32, field: u32, value: Option<Json>) {
        let dep = match value {
            Some(value) => CtxDep::Value { context, field, value },
            None => {
                let is_null = self.ctx.value(context, field).is_none_or(|v| v.is_null());
                CtxDep::Null { context, field, is_null }
            }
        };
        if !self.deps.contains(&dep) {
            self.deps.push(dep);
        }
    }

    fn operand(&mut self, op: &AccessOperand, entity: EntityId, a: &str) -> Option<Operand> {
        match op {
            AccessOperand::Literal(l) => Some(Operand::Value(literal_json(l))),
            AccessOperand::Context { context, field } => {
                let value = self.context_value(*context, *field);
                Some(Operand::CtxParam { context: *context, field: *field, value })
            }
            AccessOperand::SelfPath(path) => self.path_sql(entity, a, path),
            AccessOperand::Param { param, path } => {
                let (_, e, al) = self.lambda.iter().find(|(p, _, _)| p == param)?.clone();
                self.path_sql(e, &al, path)
            }
        }
    }

    /// A column reached from `entity` at alias `a` through `path` (many-to-one steps become
    /// scalar subqueries; a step to the target's key reads the foreign key directly).
    fn path_sql(&mut self, entity: EntityId, a: &str, path: &[PathStep]) -> Option<Operand> {
        let (first, rest) = path.split_first()?;
        let e = self.ir.entity(entity);
        let f = &e.fields[first.field as usize];
        match &f.kind {
            FieldKind::Column { sql, .. } if rest.is_empty() => {
                Some(Operand::Column { sql: format!("{a}.{}", sql.name), param_expr: sql.param_expr.clone() })
            }
            FieldKind::ManyToOne { target, columns, target_columns, .. } => {
                let t = self.ir.entity(*target);
                if rest.is_empty() {
                    // `self.user` compared as a whole: compare its key.
                    let table = self.ir.table(e.table);
                    let c = columns.first()?;
                    let pexpr = t.pk.first().and_then(|pk| match &t.fields[*pk as usize].kind {
                        FieldKind::Column { sql, .. } => Some(sql.param_expr.clone()),
                        _ => None,
                    })?;
                    return Some(Operand::Column {
                        sql: format!("{a}.{}", exo_ir::quote_ident(&table.columns[*c as usize].name)),
                        param_expr: pexpr,
                    });
                }
                let next = &rest[0];
                let tf = &t.fields[next.field as usize];
                if rest.len() == 1 {
                    if let FieldKind::Column { column, sql, .. } = &tf.kind {
                        if let Some(i) = target_columns.iter().position(|tc| tc == column) {
                            let table = self.ir.table(e.table);
                            return Some(Operand::Column {
                                sql: format!("{a}.{}", exo_ir::quote_ident(&table.columns[columns[i] as usize].name)),
                                param_expr: sql.param_expr.clone(),
                            });
                        }
                    }
                }
                let b = self.alias(t);
                let join = self.many_to_one_join(entity, first.field, a, &b);
                match self.path_sql(*target, &b, rest)? {
                    Operand::Column { sql, param_expr } => Some(Operand::Column {
                        sql: format!("(SELECT {sql} FROM {} AS {b} WHERE {join})", t.sql.table),
                        param_expr,
                    }),
                    other => Some(other),
                }
            }
            _ => None,
        }
    }

    fn compare(&mut self, op: CmpOp, l: Operand, r: Operand) -> Cond {
        use Operand::*;
        // A comparison with a context value the request does not carry (no token, no such
        // claim) is false, whatever the operator and the other side, as in Exograph. Without
        // this, `self.editor.id == AuthContext.id` became `editor_id IS NULL` for anonymous
        // callers and let them update every post without an editor.
        for side in [&l, &r] {
            if let CtxParam { context, field, value } = side {
                if value.is_null() {
                    let (context, field) = (*context, *field);
                    self.record_dep(context, field, None);
                    self.missing_context = true;
                    return Cond::False;
                }
            }
        }
        match (l, r) {
            (Value(x), Value(y)) => bool_cond(eval_cmp(op, &x, &y)),
            (CtxParam { context, field, value }, Value(y)) => {
                self.record_dep(context, field, Some(value.clone()));
                bool_cond(eval_cmp(op, &value, &y))
            }
            (Value(x), CtxParam { context, field, value }) => {
                self.record_dep(context, field, Some(value.clone()));
                bool_cond(eval_cmp(op, &x, &value))
            }
            (CtxParam { context: c1, field: f1, value: v1 }, CtxParam { context: c2, field: f2, value: v2 }) => {
                self.record_dep(c1, f1, Some(v1.clone()));
                self.record_dep(c2, f2, Some(v2.clone()));
                bool_cond(eval_cmp(op, &v1, &v2))
            }
            (Column { sql, param_expr }, other) => self.column_cmp(op, &sql, &param_expr, other, false),
            (other, Column { sql, param_expr }) => self.column_cmp(op, &sql, &param_expr, other, true),
        }
    }

    fn column_cmp(&mut self, op: CmpOp, col: &str, param_expr: &str, other: Operand, flipped: bool) -> Cond {
        let (placeholder, is_null, list) = match other {
            Operand::Value(v) => {
                let is_null = v.is_null();
                let list = v.is_array();
                let n = self.param(ParamSource::Const(json_param_text(&v)));
                (n, is_null, list)
            }
            Operand::CtxParam { context, field, value } => {
                // Only whether the value is null (or a list) shapes the SQL.
                let dep = CtxDep::List { context, field, is_list: value.is_array() };
                if !self.deps.contains(&dep) {
                    self.deps.push(dep);
                }
                self.record_dep(context, field, None);
                let n = self.param(ParamSource::Context { context, field });
                (n, value.is_null(), value.is_array())
            }
            Operand::Column { sql: other_col, .. } => {
                let sym = cmp_sym(if flipped { flip_op(op) } else { op });
                if op == CmpOp::In {
                    return Cond::Sql(format!("{col} = ANY({other_col})"));
                }
                return Cond::Sql(format!("{col} {sym} {other_col}"));
            }
        };
        if is_null {
            return match op {
                CmpOp::Eq => Cond::Sql(format!("{col} IS NULL")),
                CmpOp::Neq => Cond::Sql(format!("{col} IS NOT NULL")),
                _ => Cond::False,
            };
        }
        if op == CmpOp::In || list {
            // `self.x in Ctx.list`: compare textually with the list's elements.
            if flipped {
                // `value in self.arrayColumn`
                let p = param_expr.replace("{}", &format!("${placeholder}"));
                return Cond::Sql(format!("{p} = ANY({col})"));
            }
            return Cond::Sql(format!(
                "{col}::text IN (SELECT jsonb_array_elements_text(${placeholder}::jsonb))"
            ));
        }
        let p = param_expr.replace("{}", &format!("${placeholder}"));
        let op = if flipped { flip_op(op) } else { op };
        Cond::Sql(format!("({col} {} {p})", cmp_sym(op)))
    }

    // -----------------------------------------------------------------------------------------
    // Mutations
    // -----------------------------------------------------------------------------------------

    fn create(&mut self, entity: EntityId, many: bool, sel: &Selected<'_>) -> Result<RootPlan, GqlError> {
        let e = self.ir.entity(entity);
        let data = sel.arg("data").ok_or_else(|| bad_request("missing `data`"))?;
        let rows: Vec<&Val> = match data {
            Val::List(items, _) => items.iter().collect(),
            other => vec![other],
        };
        if rows.is_empty() {
            return Ok(RootPlan::Const("[]".into()));
        }
        self.require(&e.access.create, entity)?;
        self.params.clear();
        let mut inputs = Vec::with_capacity(rows.len());
        for row in &rows {
            inputs.push(self.row_columns(entity, row, true, &[], sel)?);
        }
        let mut script = Script::new(entity, true);
        let mut steps = vec![];
        if inputs.iter().all(|r| r.nested.is_empty()) {
            // The common shape: one multi-row INSERT returning the new keys.
            for input in &inputs {
                script.add_refs(0, &input.refs);
            }
            let table = self.ir.table(e.table);
            let mut cols: Vec<u32> = inputs.iter().flat_map(|r| r.cols.iter().map(|(c, _)| *c)).collect();
            cols.sort_unstable();
            cols.dedup();
            let mut sql = format!("INSERT INTO {} ", e.sql.table);
            if cols.is_empty() {
                // Every value comes from defaults.
                sql = format!("INSERT INTO {} DEFAULT VALUES", e.sql.table);
                if rows.len() > 1 {
                    return Err(bad_request("creating several rows with only default values is not supported"));
                }
            } else {
                let names: Vec<String> = cols.iter().map(|c| exo_ir::quote_ident(&table.columns[*c as usize].name)).collect();
                let _ = write!(sql, "({}) VALUES ", names.join(", "));
                let tuples: Vec<String> = inputs
                    .iter()
                    .map(|input| {
                        let items: Vec<String> = cols
                            .iter()
                            .map(|c| input.cols.iter().find(|(x, _)| x == c).map(|(_, v)| v.clone()).unwrap_or_else(|| "DEFAULT".into()))
                            .collect();
                        format!("({})", items.join(", "))
                    })
                    .collect();
                sql.push_str(&tuples.join(", "));
            }
            let keys = self.key_columns_text(e);
            let _ = write!(sql, " RETURNING {}", keys.join(", "));
            steps.push(Step::CollectKeys(self.take_stmt(sql)));
        } else {
            // Nested children: one data-modifying statement, a CTE per inserted row, each child
            // row inserted from its parent's CTE.
            for input in inputs {
                self.insert_row(&mut script, entity, input, None, 0, sel)?;
            }
            let sql = self.script_sql(&script);
            steps.push(Step::CollectSlots(self.take_stmt(sql)));
        }
        self.slot_checks(&script, &mut steps)?;
        steps.push(self.select_by_keys(entity, many, true, sel)?);
        // `createT` returns `T!`: a created row the caller may not read is an error, not null.
        Ok(RootPlan::Sql { steps, no_row: if many { NoRow::EmptyList } else { NoRow::NotAuthorized } })
    }

    /// Fails with "Not authorized" when `rule` is false whatever the rows hold; otherwise the
    /// rule is enforced in SQL later. Parameters spent deciding are given back.
    fn require(&mut self, rule: &AccessExpr, entity: EntityId) -> Result<(), GqlError> {
        let mark = self.params.len();
        let a = self.alias(self.ir.entity(entity));
        let decided = self.access(rule, entity, &a);
        self.params.truncate(mark);
        if matches!(decided, Cond::False) {
            return Err(GqlError::new("Not authorized"));
        }
        Ok(())
    }

    /// What one input row sets. `skip` lists fields supplied by the caller instead (the
    /// back-reference to a parent, the keys of a nested update).
    fn row_columns<'v>(
        &mut self,
        entity: EntityId,
        row: &'v Val,
        creating: bool,
        skip: &[u32],
        sel: &Selected<'_>,
    ) -> Result<RowInput<'v>, GqlError> {
        let e = self.ir.entity(entity);
        let given = row.as_object().unwrap_or(&[]);
        let mut out = RowInput { cols: vec![], nested: vec![], refs: vec![] };
        for (fid, f) in e.fields.iter().enumerate() {
            let fid = fid as u32;
            if skip.contains(&fid) {
                continue;
            }
            let v = given.iter().find(|(k, _)| *k == f.name).map(|(_, v)| v);
            match &f.kind {
                FieldKind::Column { sql, column, .. } => {
                    let value = match v {
                        Some(v) => {
                            self.check_value_now_and_later(&f.name, &f.validation, v, sel.pos)?;
                            if v.is_null() {
                                "NULL".to_string()
                            } else {
                                let n = self.val_param(v);
                                match (f.kind_value_type(), sql.param_expr.strip_suffix("[]")) {
                                    // Arrays travel as JSON text: unpack the elements and cast them.
                                    (Some(ValueType::Array(_)), Some(elem)) => {
                                        let elem = elem.replace("{}", "x");
                                        format!("ARRAY(SELECT {elem} FROM jsonb_array_elements_text(${n}::jsonb) AS t(x))")
                                    }
                                    _ => sql.param(n),
                                }
                            }
                        }
                        None if creating => match &f.default {
                            Some(exo_ir::FieldDefault::Context { context, field }) => {
                                let n = self.param(ParamSource::Context { context: *context, field: *field });
                                sql.param(n)
                            }
                            _ => continue,
                        },
                        None => continue,
                    };
                    out.cols.push((*column, value));
                }
                FieldKind::ManyToOne { target, columns, target_columns, .. } => {
                    let t = self.ir.entity(*target);
                    match v {
                        Some(v) if v.is_null() => {
                            for c in columns {
                                out.cols.push((*c, "NULL".into()));
                            }
                        }
                        Some(v) => {
                            for (c, tc) in columns.iter().zip(target_columns) {
                                let tfield = t
                                    .fields
                                    .iter()
                                    .find(|f| matches!(&f.kind, FieldKind::Column { column, .. } if column == tc))
                                    .ok_or_else(|| bad_request("unsupported nested key"))?;
                                let FieldKind::Column { sql, .. } = &tfield.kind else { unreachable!() };
                                let inner = v
                                    .get(&tfield.name)
                                    .ok_or_else(|| bad_request(format!("missing key field `{}`", tfield.name)))?;
                                let n = self.val_param(inner);
                                out.cols.push((*c, sql.param(n)));
                            }
                            // A reference named by the caller must be one the caller may read.
                            out.refs.push(fid);
                        }
                        None if creating => {
                            if let Some(exo_ir::FieldDefault::Context { context, field }) = &f.default {
                                let (c, tc) = (columns[0], target_columns[0]);
                                let tfield = t
                                    .fields
                                    .iter()
                                    .find(|f| matches!(&f.kind, FieldKind::Column { column, .. } if *column == tc));
                                let n = self.param(ParamSource::Context { context: *context, field: *field });
                                let p = match tfield.map(|f| &f.kind) {
                                    Some(FieldKind::Column { sql, .. }) => sql.param(n),
                                    _ => format!("${n}"),
                                };
                                out.cols.push((c, p));
                            }
                        }
                        None => {}
                    }
                }
                FieldKind::OneToMany { .. } => {
                    if let Some(v) = v.filter(|v| !v.is_null()) {
                        out.nested.push((fid, v));
                    }
                }
            }
        }
        out.cols.sort_by_key(|(c, _)| *c);
        Ok(out)
    }

    fn cte_name(&mut self, entity: EntityId) -> String {
        self.aliases += 1;
        format!("\"{}$w{}\"", self.ir.entity(entity).sql.alias.replace('"', ""), self.aliases)
    }

    /// `parent`: the CTE of the parent rows and this entity's field pointing back to them;
    /// the row is inserted once per parent row, its foreign key taken from the parent.
    fn insert_row(
        &mut self,
        script: &mut Script,
        entity: EntityId,
        mut input: RowInput<'_>,
        parent: Option<(&str, u32)>,
        slot: usize,
        sel: &Selected<'_>,
    ) -> Result<(), GqlError> {
        let ir = self.ir;
        let e = ir.entity(entity);
        let table = ir.table(e.table);
        if let Some((pcte, back)) = parent {
            let FieldKind::ManyToOne { target, columns, target_columns, .. } = &e.fields[back as usize].kind else {
                return Err(bad_request("a nested collection must point back to its parent"));
            };
            let ptable = ir.table(ir.entity(*target).table);
            for (c, tc) in columns.iter().zip(target_columns) {
                input.cols.retain(|(x, _)| x != c);
                input.cols.push((*c, format!("{pcte}.{}", exo_ir::quote_ident(&ptable.columns[*tc as usize].name))));
            }
            input.cols.sort_by_key(|(c, _)| *c);
        }
        let name = self.cte_name(entity);
        let names: Vec<String> = input.cols.iter().map(|(c, _)| exo_ir::quote_ident(&table.columns[*c as usize].name)).collect();
        let values: Vec<&str> = input.cols.iter().map(|(_, v)| v.as_str()).collect();
        let sql = match parent {
            _ if input.cols.is_empty() => format!("INSERT INTO {} DEFAULT VALUES RETURNING *", e.sql.table),
            None => format!("INSERT INTO {} ({}) VALUES ({}) RETURNING *", e.sql.table, names.join(", "), values.join(", ")),
            Some((pcte, _)) => {
                format!("INSERT INTO {} ({}) SELECT {} FROM {pcte} RETURNING *", e.sql.table, names.join(", "), values.join(", "))
            }
        };
        script.ctes.push(format!("{name} AS ({sql})"));
        script.outputs.push((name.clone(), slot));
        script.add_refs(slot, &input.refs);
        for (fid, v) in input.nested {
            self.nested_create(script, entity, fid, &name, v, sel)?;
        }
        Ok(())
    }

    /// `children: [...]` in creation input, or `children: {create: [...]}` in update input.
    fn nested_create(
        &mut self,
        script: &mut Script,
        parent: EntityId,
        field: u32,
        pcte: &str,
        value: &Val,
        sel: &Selected<'_>,
    ) -> Result<(), GqlError> {
        let (target, inverse) = self.collection(parent, field)?;
        let rows: Vec<&Val> = match value {
            Val::List(items, _) => items.iter().collect(),
            other => vec![other],
        };
        if rows.is_empty() {
            return Ok(());
        }
        // Nested rows obey their own type's create rule (Exograph skips it).
        self.require(&self.ir.entity(target).access.create, target)?;
        let slot = script.slot(target, true);
        let skip = self.back_references(target, parent, inverse);
        for row in rows {
            let input = self.row_columns(target, row, true, &skip, sel)?;
            self.insert_row(script, target, input, Some((pcte, inverse)), slot, sel)?;
        }
        Ok(())
    }

    /// `children: {create, update, delete}` in update input, applied to the children of the
    /// rows in `pcte`.
    fn nested_update(
        &mut self,
        script: &mut Script,
        parent: EntityId,
        field: u32,
        pcte: &str,
        value: &Val,
        sel: &Selected<'_>,
    ) -> Result<(), GqlError> {
        let ir = self.ir;
        let (target, inverse) = self.collection(parent, field)?;
        let te = ir.entity(target);
        if let Some(create) = value.get("create").filter(|v| !v.is_null()) {
            self.nested_create(script, parent, field, pcte, create, sel)?;
        }
        let updates = items(value.get("update"));
        if !updates.is_empty() {
            self.require(&te.access.update, target)?;
        }
        for item in updates {
            let a = self.alias(te);
            let cond = self.child_target(target, inverse, pcte, &a, &te.access.update, item)?;
            let mut skip = te.pk.clone();
            skip.extend(self.back_references(target, parent, inverse));
            let input = self.row_columns(target, item, false, &skip, sel)?;
            let name = self.cte_name(target);
            let table = ir.table(te.table);
            let changes = !input.cols.is_empty();
            let sql = if input.cols.is_empty() {
                format!("SELECT {a}.* FROM {} AS {a} WHERE {cond}", te.sql.table)
            } else {
                let sets: Vec<String> =
                    input.cols.iter().map(|(c, v)| format!("{} = {v}", exo_ir::quote_ident(&table.columns[*c as usize].name))).collect();
                format!("UPDATE {} AS {a} SET {} WHERE {cond} RETURNING {a}.*", te.sql.table, sets.join(", "))
            };
            script.ctes.push(format!("{name} AS ({sql})"));
            if changes {
                let slot = script.slot(target, false);
                script.outputs.push((name.clone(), slot));
                script.add_refs(slot, &input.refs);
            }
            for (fid, v) in input.nested {
                self.nested_update(script, target, fid, &name, v, sel)?;
            }
        }
        let deletes = items(value.get("delete"));
        if !deletes.is_empty() {
            self.require(&te.access.delete, target)?;
        }
        for item in deletes {
            let a = self.alias(te);
            let cond = self.child_target(target, inverse, pcte, &a, &te.access.delete, item)?;
            let name = self.cte_name(target);
            script.ctes.push(format!("{name} AS (DELETE FROM {} AS {a} WHERE {cond} RETURNING 1)", te.sql.table));
        }
        Ok(())
    }

    /// The child row an element of a nested `update`/`delete` names: a child of a row in
    /// `pcte`, with the given key, allowed by `rule`.
    fn child_target(
        &mut self,
        target: EntityId,
        inverse: u32,
        pcte: &str,
        a: &str,
        rule: &AccessExpr,
        item: &Val,
    ) -> Result<String, GqlError> {
        let ir = self.ir;
        let te = ir.entity(target);
        let mut conds = vec![self.parent_link(target, inverse, pcte, a)];
        for &f in &te.pk {
            let field = &te.fields[f as usize];
            match item.get(&field.name) {
                Some(v) => conds.push(self.key_condition(te, field, a, v)?),
                // The parent supplies its own side of a key made of relations.
                None if f == inverse => {}
                None => return Err(bad_request(format!("Missing required primary key field '{}' for nested operation.", field.name))),
            }
        }
        match self.access(rule, target, a) {
            Cond::True => {}
            Cond::False => return Err(GqlError::new("Not authorized")),
            Cond::Sql(s) => conds.push(s),
        }
        Ok(conds.join(" AND "))
    }

    /// `EXISTS (SELECT 1 FROM pcte WHERE pcte.k = a.fk ...)`: the row belongs to a parent in `pcte`.
    fn parent_link(&self, target: EntityId, inverse: u32, pcte: &str, a: &str) -> String {
        let te = self.ir.entity(target);
        let FieldKind::ManyToOne { target: parent, columns, target_columns, .. } = &te.fields[inverse as usize].kind else {
            return "FALSE".into();
        };
        let eqs = self.column_equalities((pcte, self.ir.entity(*parent).table, target_columns), (a, te.table, columns));
        format!("EXISTS (SELECT 1 FROM {pcte} WHERE {eqs})")
    }

    /// `l.x1 = r.y1 AND ...` for the paired columns of two aliased tables.
    fn column_equalities(&self, l: (&str, exo_ir::TableId, &[u32]), r: (&str, exo_ir::TableId, &[u32])) -> String {
        let (lt, rt) = (self.ir.table(l.1), self.ir.table(r.1));
        let eqs: Vec<String> = l
            .2
            .iter()
            .zip(r.2)
            .map(|(x, y)| {
                format!(
                    "{}.{} = {}.{}",
                    l.0,
                    exo_ir::quote_ident(&lt.columns[*x as usize].name),
                    r.0,
                    exo_ir::quote_ident(&rt.columns[*y as usize].name)
                )
            })
            .collect();
        eqs.join(" AND ")
    }

    /// The target and back-reference of a one-to-many field.
    fn collection(&self, entity: EntityId, field: u32) -> Result<(EntityId, u32), GqlError> {
        match &self.ir.entity(entity).fields[field as usize].kind {
            FieldKind::OneToMany { target, inverse, .. } => Ok((*target, *inverse)),
            _ => Err(bad_request("not a collection")),
        }
    }

    /// Fields of `child` that nested input omits: every reference to `parent` (the schema
    /// leaves them all out), the back-reference first.
    fn back_references(&self, child: EntityId, parent: EntityId, inverse: u32) -> Vec<u32> {
        let mut out = vec![inverse];
        for (i, f) in self.ir.entity(child).fields.iter().enumerate() {
            if matches!(f.kind, FieldKind::ManyToOne { target, .. } if target == parent) && i as u32 != inverse {
                out.push(i as u32);
            }
        }
        out
    }

    /// `WITH <ctes> SELECT '<slot>', <keys as text>... FROM <cte> UNION ALL ...`.
    fn script_sql(&self, script: &Script) -> String {
        let width = script.slots.iter().map(|s| self.ir.table(self.ir.entity(s.entity).table).primary_key.len()).max().unwrap_or(1);
        let selects: Vec<String> = script
            .outputs
            .iter()
            .map(|(cte, slot)| {
                let table = self.ir.table(self.ir.entity(script.slots[*slot].entity).table);
                let mut cols = vec![format!("'{slot}'::text")];
                for c in &table.primary_key {
                    cols.push(format!("{cte}.{}::text", exo_ir::quote_ident(&table.columns[*c as usize].name)));
                }
                while cols.len() < width + 1 {
                    cols.push("NULL::text".into());
                }
                format!("SELECT {} FROM {cte}", cols.join(", "))
            })
            .collect();
        format!("WITH {} {}", script.ctes.join(", "), selects.join(" UNION ALL "))
    }

    /// After the writes: each slot's rows must satisfy their create or update rule, and every
    /// reference the input named must be readable by the caller.
    fn slot_checks(&mut self, script: &Script, steps: &mut Vec<Step>) -> Result<(), GqlError> {
        for (i, slot) in script.slots.iter().enumerate() {
            if i != 0 && !script.outputs.iter().any(|(_, s)| *s == i) {
                continue;
            }
            let e = self.ir.entity(slot.entity);
            let a = self.alias(e);
            let mut cond = if !slot.check {
                Cond::True
            } else if slot.create {
                self.access(&e.access.create, slot.entity, &a)
            } else {
                self.access(&e.access.update, slot.entity, &a)
            };
            for &r in &slot.refs {
                let c = self.reference_visible(slot.entity, r, &a);
                cond = cond.and(c);
            }
            let rule = match cond {
                Cond::True => {
                    self.params.clear();
                    continue;
                }
                Cond::False => return Err(GqlError::new("Not authorized")),
                Cond::Sql(s) => s,
            };
            let (before, after) = self.keys_filter(e, &a);
            let sql = format!("SELECT COUNT(*)::text FROM {} AS {a} WHERE {before}{{keys}}{after} AND NOT COALESCE({rule}, FALSE)", e.sql.table);
            let key_columns = self.ir.table(e.table).primary_key.len();
            steps.push(Step::CheckByKeys { sql, params: std::mem::take(&mut self.params), key_columns, slot: i });
        }
        Ok(())
    }

    /// `a.fk IS NULL OR EXISTS (the referenced row, readable by the caller)`.
    fn reference_visible(&mut self, entity: EntityId, field: u32, a: &str) -> Cond {
        let ir = self.ir;
        let e = ir.entity(entity);
        let FieldKind::ManyToOne { target, columns, target_columns, .. } = &e.fields[field as usize].kind else {
            return Cond::True;
        };
        let t = ir.entity(*target);
        let b = self.alias(t);
        let rule = self.access(&t.access.query, *target, &b);
        let table = ir.table(e.table);
        let null = format!("{a}.{} IS NULL", exo_ir::quote_ident(&table.columns[columns[0] as usize].name));
        match rule {
            Cond::True => Cond::True,
            Cond::False => Cond::Sql(null),
            Cond::Sql(s) => {
                let link = self.column_equalities((&b, t.table, target_columns), (a, e.table, columns));
                Cond::Sql(format!("({null} OR EXISTS (SELECT 1 FROM {} AS {b} WHERE {link} AND {s}))", t.sql.table))
            }
        }
    }

    fn key_columns_text(&self, e: &Entity) -> Vec<String> {
        let table = self.ir.table(e.table);
        table.primary_key.iter().map(|c| format!("{}::text", exo_ir::quote_ident(&table.columns[*c as usize].name))).collect()
    }

    /// The `WHERE` fragment matching collected keys, split around the `{keys}` placeholder for
    /// the executor: `(pk columns) IN (keys)`, with the `{keys}` text arrays cast back to the column types:
    /// comparing `pk::text` instead kept the primary-key index from serving the lookup, so every
    /// mutation's read-back scanned the table.
    fn keys_filter(&self, e: &Entity, a: &str) -> (String, String) {
        let table = self.ir.table(e.table);
        let cols: Vec<String> =
            table.primary_key.iter().map(|c| format!("{a}.{}", exo_ir::quote_ident(&table.columns[*c as usize].name))).collect();
        let casts: Vec<String> = table
            .primary_key
            .iter()
            .enumerate()
            .map(|(i, c)| format!("k{i}::{}", cast_type(&table.columns[*c as usize].ty)))
            .collect();
        let names: Vec<String> = (0..cols.len()).map(|i| format!("k{i}")).collect();
        (
            format!("({}) IN (SELECT {} FROM unnest(", cols.join(", "), casts.join(", ")),
            format!(") AS keys({}))", names.join(", ")),
        )
    }

    /// `input_order`: a list comes back in the order the keys were collected (a batch create
    /// returns its rows in the order of `data`); otherwise by primary key.
    fn select_by_keys(&mut self, entity: EntityId, many: bool, input_order: bool, sel: &Selected<'_>) -> Result<Step, GqlError> {
        let e = self.ir.entity(entity);
        let a = self.alias(e);
        let obj = self.object(entity, &a, &sel.selection)?;
        let (before, after) = self.keys_filter(e, &a);
        let order: Vec<String> = e
            .pk
            .iter()
            .filter_map(|f| match &e.fields[*f as usize].kind {
                FieldKind::Column { sql, .. } => Some(format!("{a}.{}", sql.name)),
                _ => None,
            })
            .collect();
        let order = if order.is_empty() { String::new() } else { format!(" ORDER BY {}", order.join(", ")) };
        // The written rows are returned only as far as the caller may read them (a row the
        // query rule hides comes back as null, or is left out of a list).
        let read = match self.access(&e.access.query, entity, &a) {
            Cond::True => String::new(),
            Cond::Sql(rule) => format!(" AND {rule}"),
            _ => " AND FALSE".into(),
        };
        let sql = if many && input_order {
            let table = self.ir.table(e.table);
            let names: Vec<String> = (0..table.primary_key.len()).map(|i| format!("k{i}")).collect();
            let on: Vec<String> = table
                .primary_key
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let col = &table.columns[*c as usize];
                    format!("{a}.{} = \"keys$\".k{i}::{}", exo_ir::quote_ident(&col.name), cast_type(&col.ty))
                })
                .collect();
            format!(
                "SELECT COALESCE(json_agg({obj} ORDER BY {a}.\"ord$\"), '[]'::json)::text FROM (SELECT {a}.*, \"keys$\".ord AS \"ord$\" FROM {} AS {a} \
                 JOIN unnest({{keys}}) WITH ORDINALITY AS \"keys$\"({}, ord) ON {} WHERE TRUE{read}) AS {a}",
                e.sql.table,
                names.join(", "),
                on.join(" AND ")
            )
        } else if many {
            format!(
                "SELECT COALESCE(json_agg({obj}), '[]'::json)::text FROM (SELECT {a}.* FROM {} AS {a} WHERE {before}{{keys}}{after}{read}{order}) AS {a}",
                e.sql.table
            )
        } else {
            format!("SELECT {obj}::text FROM {} AS {a} WHERE {before}{{keys}}{after}{read} LIMIT 1", e.sql.table)
        };
        Ok(Step::JsonByKeys {
            sql,
            params: std::mem::take(&mut self.params),
            key_columns: self.ir.table(e.table).primary_key.len(),
        })
    }

    /// The rows an update or delete touches: the rule for the operation, and either the
    /// `where` filter (`many`) or the primary-key arguments.
    fn targeted_rows(&mut self, entity: EntityId, a: &str, rule: &AccessExpr, many: bool, sel: &Selected<'_>) -> Result<Cond, GqlError> {
        let e = self.ir.entity(entity);
        let mut cond = self.access(rule, entity, a);
        if matches!(cond, Cond::False) {
            return Err(GqlError::new("Not authorized"));
        }
        if many {
            if let Some(w) = sel.arg("where") {
                self.filter_pos = sel.pos;
                let p = self.predicate(entity, a, w)?;
                cond = cond.and(p);
            }
        } else {
            for &f in &e.pk {
                let field = &e.fields[f as usize];
                let v = sel.arg(&field.name).ok_or_else(|| bad_request(format!("missing argument `{}`", field.name)))?;
                let c = self.key_condition(e, field, a, v)?;
                cond = cond.and(Cond::Sql(c));
            }
        }
        Ok(cond)
    }

    fn update(&mut self, entity: EntityId, many: bool, sel: &Selected<'_>) -> Result<RootPlan, GqlError> {
        let e = self.ir.entity(entity);
        let a = self.alias(e);
        let cond = self.targeted_rows(entity, &a, &e.access.update, many, sel)?;
        let data = sel.arg("data").ok_or_else(|| bad_request("missing `data`"))?;
        let input = self.row_columns(entity, data, false, &[], sel)?;
        let table = self.ir.table(e.table);
        let sets: Vec<String> =
            input.cols.iter().map(|(c, v)| format!("{} = {v}", exo_ir::quote_ident(&table.columns[*c as usize].name))).collect();
        // The updated rows must still satisfy the update rule.
        let mut script = Script::new(entity, !input.cols.is_empty());
        script.slots[0].create = false;
        script.add_refs(0, &input.refs);
        let mut steps = vec![];
        if input.nested.is_empty() {
            let keys: Vec<String> =
                table.primary_key.iter().map(|c| format!("{a}.{}::text", exo_ir::quote_ident(&table.columns[*c as usize].name))).collect();
            let sql = if sets.is_empty() {
                format!("SELECT {} FROM {} AS {a} WHERE {}", keys.join(", "), e.sql.table, cond.to_sql())
            } else {
                format!("UPDATE {} AS {a} SET {} WHERE {} RETURNING {}", e.sql.table, sets.join(", "), cond.to_sql(), keys.join(", "))
            };
            steps.push(Step::CollectKeys(self.take_stmt(sql)));
        } else {
            let name = self.cte_name(entity);
            let sql = if sets.is_empty() {
                format!("SELECT {a}.* FROM {} AS {a} WHERE {}", e.sql.table, cond.to_sql())
            } else {
                format!("UPDATE {} AS {a} SET {} WHERE {} RETURNING {a}.*", e.sql.table, sets.join(", "), cond.to_sql())
            };
            script.ctes.push(format!("{name} AS ({sql})"));
            script.outputs.push((name.clone(), 0));
            for (fid, v) in input.nested {
                self.nested_update(&mut script, entity, fid, &name, v, sel)?;
            }
            let sql = self.script_sql(&script);
            steps.push(Step::CollectSlots(self.take_stmt(sql)));
        }
        self.slot_checks(&script, &mut steps)?;
        steps.push(self.select_by_keys(entity, many, false, sel)?);
        Ok(RootPlan::Sql { steps, no_row: if many { NoRow::EmptyList } else { NoRow::Null } })
    }

    fn delete(&mut self, entity: EntityId, many: bool, sel: &Selected<'_>) -> Result<RootPlan, GqlError> {
        let e = self.ir.entity(entity);
        let a = self.alias(e);
        let cond = self.targeted_rows(entity, &a, &e.access.delete, many, sel)?;
        // Build the JSON before deleting (relations still visible), then delete the same rows.
        let b = self.alias(e);
        let obj = self.object(entity, &b, &sel.selection)?;
        // Deleted rows are returned only as far as the caller may read them.
        let read = match self.access(&e.access.query, entity, &b) {
            Cond::True => String::new(),
            Cond::Sql(rule) => format!(" AND {rule}"),
            _ => " AND FALSE".into(),
        };
        let table = self.ir.table(e.table);
        let pk_match: Vec<String> = table
            .primary_key
            .iter()
            .map(|c| {
                let n = exo_ir::quote_ident(&table.columns[*c as usize].name);
                format!("{a}.{n} = {b}.{n}")
            })
            .collect();
        let order: Vec<String> = table
            .primary_key
            .iter()
            .map(|c| format!("{b}.{}", exo_ir::quote_ident(&table.columns[*c as usize].name)))
            .collect();
        let sql = if many {
            format!(
                "WITH {b} AS (SELECT {a}.* FROM {} AS {a} WHERE {}), \"deleted$\" AS (DELETE FROM {} AS {a} USING {b} WHERE {} RETURNING 1) \
                 SELECT COALESCE(json_agg({obj} ORDER BY {}), '[]'::json)::text FROM {b} WHERE (SELECT COUNT(*) FROM \"deleted$\") >= 0{read}",
                e.sql.table,
                cond.to_sql(),
                e.sql.table,
                pk_match.join(" AND "),
                order.join(", ")
            )
        } else {
            format!(
                "WITH {b} AS (SELECT {a}.* FROM {} AS {a} WHERE {} LIMIT 1), \"deleted$\" AS (DELETE FROM {} AS {a} USING {b} WHERE {} RETURNING 1) \
                 SELECT {obj}::text FROM {b} WHERE (SELECT COUNT(*) FROM \"deleted$\") >= 0{read}",
                e.sql.table,
                cond.to_sql(),
                e.sql.table,
                pk_match.join(" AND ")
            )
        };
        Ok(RootPlan::Sql { steps: vec![Step::Json(self.take_stmt(sql))], no_row: if many { NoRow::EmptyList } else { NoRow::Null } })
    }
}

/// A mutation's data-modifying statement under construction: CTEs that write rows, each
/// reporting the keys it touched under a slot (one per entity and rule) so the steps after
/// it can check and select those rows. Slot 0 is the root field's entity.
struct Script {
    ctes: Vec<String>,
    /// `(cte name, slot)`: the CTEs whose rows are reported.
    outputs: Vec<(String, usize)>,
    slots: Vec<Slot>,
}

struct Slot {
    entity: EntityId,
    /// Created rows (checked with the create rule) or updated rows (the update rule).
    create: bool,
    /// Whether the rule is checked at all (an update that sets no column changes nothing).
    check: bool,
    /// Many-to-one fields whose references the input named.
    refs: Vec<u32>,
}

impl Script {
    fn new(root: EntityId, check: bool) -> Script {
        Script { ctes: vec![], outputs: vec![], slots: vec![Slot { entity: root, create: true, check, refs: vec![] }] }
    }

    fn slot(&mut self, entity: EntityId, create: bool) -> usize {
        if let Some(i) = self.slots.iter().skip(1).position(|s| s.entity == entity && s.create == create) {
            return i + 1;
        }
        self.slots.push(Slot { entity, create, check: true, refs: vec![] });
        self.slots.len() - 1
    }

    fn add_refs(&mut self, slot: usize, refs: &[u32]) {
        for r in refs {
            if !self.slots[slot].refs.contains(r) {
                self.slots[slot].refs.push(*r);
            }
        }
    }
}

/// The elements of an optional input list (a single value counts as a list of one).
fn items(v: Option<&Val>) -> Vec<&Val> {
    match v {
        Some(Val::List(items, _)) => items.iter().collect(),
        Some(v) if !v.is_null() => vec![v],
        _ => vec![],
    }
}

/// What one input row sets: column assignments (`(column, SQL value)`), the collections it
/// nests, and the many-to-one fields it names explicitly.
struct RowInput<'v> {
    cols: Vec<(u32, String)>,
    nested: Vec<(u32, &'v Val)>,
    refs: Vec<u32>,
}

trait FieldExt {
    fn kind_value_type(&self) -> Option<&ValueType>;
}

impl FieldExt for Field {
    fn kind_value_type(&self) -> Option<&ValueType> {
        match &self.kind {
            FieldKind::Column { ty, .. } => Some(ty),
            _ => None,
        }
    }
}

/// Checks a value taken from the variables against its field's constraints (`@maxLength`,
/// `@range`, integer width, single precision) before any SQL runs, as the planner did when the
/// plan was made.
pub fn check_value(check: &ValueCheck, value: &Json) -> Result<(), GqlError> {
    let pos = crate::graphql::Pos { line: check.line, column: check.column };
    let v = match value {
        Json::String(s) => Val::Str(s.clone(), Origin::Literal),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Val::Int(i, Origin::Literal),
            None => Val::Float(n.as_f64().unwrap_or(0.0), Origin::Literal),
        },
        _ => return Ok(()),
    };
    check_constraints(&check.field, &check.validation, &v, pos)
}

fn check_constraints(name: &str, val: &exo_ir::Validation, v: &Val, pos: crate::graphql::Pos) -> Result<(), GqlError> {
    match v {
        Val::Str(s, _) => {
            if let Some(max) = val.max_length {
                if s.chars().count() > max as usize {
                    return Err(GqlError::at(
                        format!("Invalid value for '{}': maximum length = {max}, provided length = {}", name, s.chars().count()),
                        pos,
                    ));
                }
            }
        }
        Val::Int(i, _) => {
            let x = *i as f64;
            if let Some(max) = val.max {
                if x > max {
                    return Err(GqlError::at(format!("Invalid value for '{}': max = {max}, provided value = {i}", name), pos));
                }
            }
            if let Some(min) = val.min {
                if x < min {
                    return Err(GqlError::at(format!("Invalid value for '{}': min = {min}, provided value = {i}", name), pos));
                }
            }
            if val.single_precision && !fits_single_precision(*i as f64) {
                return Err(single_precision_error(name, pos));
            }
            if val.int_bits == Some(16) && (*i < i16::MIN as i64 || *i > i16::MAX as i64) {
                return Err(GqlError::at(
                    format!("Unable to convert input to the expected type: trying to convert the '{}' field to the '16-bit integer' type", name),
                    pos,
                ));
            }
        }
        Val::Float(x, _) => {
            if val.single_precision && !fits_single_precision(*x) {
                return Err(single_precision_error(name, pos));
            }
            if let Some(max) = val.max {
                if *x > max {
                    return Err(GqlError::at(format!("Invalid value for '{}': max = {max}, provided value = {x}", name), pos));
                }
            }
            if let Some(min) = val.min {
                if *x < min {
                    return Err(GqlError::at(format!("Invalid value for '{}': min = {min}, provided value = {x}", name), pos));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether Postgres accepts `x` as a `real`: it refuses values that round to infinity and
/// non-zero values that round to zero.
fn fits_single_precision(x: f64) -> bool {
    let single = x as f32;
    single.is_finite() && (single != 0.0 || x == 0.0)
}

fn single_precision_error(name: &str, pos: crate::graphql::Pos) -> GqlError {
    GqlError::at(
        format!("Unable to convert input to the expected type: trying to convert the '{name}' field to the 'single-precision float' type"),
        pos,
    )
}

fn agg_sql(op: exo_ir::graphql::AggOp, col: &str, scalar: Option<ScalarType>) -> String {
    use exo_ir::graphql::AggOp::*;
    let text = matches!(scalar, Some(ScalarType::Decimal));
    match op {
        Count => format!("COUNT({col})"),
        Sum if text => format!("SUM({col})::text"),
        Avg if text => format!("AVG({col})::text"),
        Min if text => format!("MIN({col})::text"),
        Max if text => format!("MAX({col})::text"),
        Sum => format!("SUM({col})"),
        Avg => format!("AVG({col})::float8"),
        Min => format!("MIN({col})"),
        Max => format!("MAX({col})"),
    }
}

fn param_cast_for(s: ScalarType) -> &'static str {
    match s {
        ScalarType::Int => "::int8",
        ScalarType::Float => "::float8",
        ScalarType::Decimal => "::numeric",
        ScalarType::String => "::text",
        ScalarType::Boolean => "::boolean",
        ScalarType::LocalDate => "::date",
        ScalarType::LocalTime => "::time",
        ScalarType::LocalDateTime => "::timestamp",
        ScalarType::Instant => "::timestamptz",
        ScalarType::Json => "::jsonb",
        ScalarType::Blob => "::bytea",
        ScalarType::Uuid => "::uuid",
        ScalarType::Enum(_) => "",
    }
}

fn flip(sym: &str) -> &str {
    match sym {
        "<" => ">",
        ">" => "<",
        "<=" => ">=",
        ">=" => "<=",
        s => s,
    }
}

fn flip_op(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Lte => CmpOp::Gte,
        CmpOp::Gte => CmpOp::Lte,
        o => o,
    }
}

fn cmp_sym(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Neq => "<>",
        CmpOp::Lt => "<",
        CmpOp::Lte => "<=",
        CmpOp::Gt => ">",
        CmpOp::Gte => ">=",
        CmpOp::In => "=",
    }
}

fn bool_cond(b: bool) -> Cond {
    if b {
        Cond::True
    } else {
        Cond::False
    }
}

pub(crate) fn literal_json(l: &Literal) -> Json {
    match l {
        Literal::Null => Json::Null,
        Literal::Bool(b) => Json::Bool(*b),
        Literal::Int(i) => Json::from(*i),
        Literal::Float(f) => serde_json::Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
        Literal::String(s) => Json::String(s.clone()),
    }
}

fn json_param_text(v: &Json) -> Option<String> {
    match v {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// Evaluates a comparison between two known values (null compares equal only to null).
fn eval_cmp(op: CmpOp, l: &Json, r: &Json) -> bool {
    use std::cmp::Ordering;
    let ord = |l: &Json, r: &Json| -> Option<Ordering> {
        match (l, r) {
            (Json::Number(a), Json::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
            (Json::String(a), Json::String(b)) => Some(a.cmp(b)),
            (Json::Bool(a), Json::Bool(b)) => Some(a.cmp(b)),
            _ => None,
        }
    };
    let eq = |l: &Json, r: &Json| match (l, r) {
        (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
        // A claim may carry an id as a string where the model compares with a number.
        (Json::Number(a), Json::String(b)) | (Json::String(b), Json::Number(a)) => a.to_string() == *b,
        _ => l == r,
    };
    match op {
        CmpOp::Eq => eq(l, r),
        CmpOp::Neq => !eq(l, r),
        CmpOp::Lt => ord(l, r) == Some(Ordering::Less),
        CmpOp::Lte => matches!(ord(l, r), Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => ord(l, r) == Some(Ordering::Greater),
        CmpOp::Gte => matches!(ord(l, r), Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::In => match r {
            Json::Array(items) => items.iter().any(|i| eq(l, i)),
            _ => false,
        },
    }
}

/// The type to cast a column's text form back to (serial types are their integer types).
fn cast_type(ty: &exo_ir::ColumnType) -> String {
    match ty {
        exo_ir::ColumnType::Serial { bits: 16 } => "SMALLINT".into(),
        exo_ir::ColumnType::Serial { bits: 64 } => "BIGINT".into(),
        exo_ir::ColumnType::Serial { .. } => "INT".into(),
        other => other.sql(),
    }
}

/// Appends a SQL string literal (single quotes doubled). Used only for names from the model
/// and response keys from the validated document, never for argument values.
fn sql_string(out: &mut String, s: &str) {
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
}

/// `json_build_object` takes at most 100 arguments: larger objects are concatenated.
fn build_object(pairs: &[String]) -> String {
    if pairs.len() <= 50 {
        return format!("json_build_object({})", pairs.join(", "));
    }
    let parts: Vec<String> = pairs.chunks(50).map(|c| format!("jsonb_build_object({})", c.join(", "))).collect();
    format!("({})::json", parts.join(" || "))
}
