//! Planning: `(system, validated operation, request context) -> Plan`.
//!
//! Every root field becomes SQL that makes Postgres build the field's JSON: one statement per
//! query field, a short script per mutation field. User values never enter SQL text: each one
//! becomes a numbered text parameter with a typed cast taken from the IR's column templates.
//! Parameters remember where their values come from (a literal, a path into a variable, a
//! context field), so a plan can be cached and re-bound for the next request.

use std::fmt::Write as _;
use std::sync::Arc;

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
use crate::value::{Origin, PathSeg, Val};

/// Where a bind parameter's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamSource {
    Const(Option<String>),
    Var { var: Arc<str>, path: Vec<PathSeg> },
    Context { context: u32, field: u32 },
}

/// An assumption a plan makes about a context field.
#[derive(Debug, Clone, PartialEq)]
pub enum CtxDep {
    /// The value was evaluated while planning (compared with a literal or another context).
    Value { context: u32, field: u32, value: Json },
    /// The value is bound as a parameter; only whether it was null shaped the SQL.
    Null { context: u32, field: u32, is_null: bool },
    /// The value is bound as a parameter; whether it was a list shaped the SQL. (Kept apart
    /// from `Value`: a plan made for the real value `[]` must not serve `["admin"]`.)
    IsList { context: u32, field: u32, is_list: bool },
}

/// One SQL statement and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub sql: String,
    pub params: Vec<ParamSource>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Runs a statement whose first row, first column is the field's JSON (`null` when no row).
    Json(Stmt),
    /// Runs a statement returning one row per affected row: the primary-key values as text,
    /// one column each; they feed [`Step::JsonByKeys`].
    CollectKeys(Stmt),
    /// Selects the JSON for the collected keys: `{keys}` in `sql` is replaced at run time by
    /// one `$n::text[]` parameter per key column, holding the collected key values.
    JsonByKeys { sql: String, params: Vec<ParamSource>, key_columns: usize },
    /// Like [`Step::JsonByKeys`], but fails the request with "Not authorized" when the
    /// statement (a `COUNT(*)` of rows violating a rule) returns more than zero.
    CheckByKeys { sql: String, params: Vec<ParamSource>, key_columns: usize },
}

#[derive(Debug, Clone, PartialEq)]
pub enum RootPlan {
    /// A field answered by SQL: the steps run in order; the last JSON is the field's value.
    Sql { steps: Vec<Step>, empty: &'static str },
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
    /// False when a value from the variables was baked into the SQL (a literal list holding
    /// variables): such a plan is used once and not cached.
    pub cacheable: bool,
}

/// Plans a validated operation.
pub fn plan(system: &System, op: &Operation<'_>, ctx: &RequestContext) -> Result<Plan, GqlError> {
    let mut deps = vec![];
    let mut fields = vec![];
    let mut cacheable = true;
    for sel in &op.fields {
        let mut p = Planner { ir: &system.ir, ctx, params: vec![], aliases: 0, deps: &mut deps, lambda: vec![], cacheable: true };
        let plan = p.root(sel)?;
        cacheable &= p.cacheable;
        fields.push(FieldPlan { key: sel.key.clone(), plan });
    }
    let sql_fields = fields.iter().filter(|f| matches!(f.plan, RootPlan::Sql { .. })).count();
    let multi_step = fields.iter().any(|f| matches!(&f.plan, RootPlan::Sql { steps, .. } if steps.len() > 1));
    Ok(Plan {
        kind: op.kind,
        fields,
        context_deps: deps,
        needs_transaction: op.kind == OperationKind::Mutation || sql_fields > 1 || multi_step,
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
            Resolver::ByPk { entity } => {
                let e = ir.entity(entity);
                let a = self.alias(e);
                let mut conds = vec![];
                for &f in &e.pk {
                    let field = &e.fields[f as usize];
                    let v = sel.arg(&field.name).ok_or_else(|| bad_request(format!("missing argument `{}`", field.name)))?;
                    conds.push(self.key_condition(e, field, &a, v)?);
                }
                self.single(entity, &a, conds, sel)
            }
            Resolver::ByUnique { entity, lookup } => {
                let e = ir.entity(entity);
                let a = self.alias(e);
                let mut conds = vec![];
                for &f in &e.unique_lookups[lookup as usize].fields {
                    let field = &e.fields[f as usize];
                    let v = sel.arg(&field.name).ok_or_else(|| bad_request(format!("missing argument `{}`", field.name)))?;
                    conds.push(self.key_condition(e, field, &a, v)?);
                }
                self.single(entity, &a, conds, sel)
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
                Ok(RootPlan::Sql { steps: vec![Step::Json(self.take_stmt(sql))], empty: "[]" })
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
                Ok(RootPlan::Sql { steps: vec![Step::Json(self.take_stmt(sql))], empty: "null" })
            }
            Resolver::Create { entity, many } => self.create(entity, many, sel),
            Resolver::Update { entity, many } => self.update(entity, many, sel),
            Resolver::Delete { entity, many } => self.delete(entity, many, sel),
            _ => Err(bad_request(format!("field `{}` cannot be queried at the root", sel.field.name))),
        }
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
        Ok(RootPlan::Sql { steps: vec![Step::Json(self.take_stmt(sql))], empty: "null" })
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
        let typed = if is_array {
            let elem = ty.scalar().map(param_cast_for).unwrap_or("");
            format!("${n}{elem}")
        } else {
            sql.param(n)
        };
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
            "matchKey" => return Ok(Cond::Sql(format!("{col} ? ${n}::text"))),
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
            AccessExpr::Not(e) => self.access(e, entity, a).not(),
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
                let dep = CtxDep::IsList { context, field, is_list: value.is_array() };
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
        let create_rule = self.access(&e.access.create, entity, "\"new\"");
        if matches!(create_rule, Cond::False) {
            return Err(GqlError::new("Not authorized"));
        }
        self.params.clear();
        let mut steps = vec![];
        let table = self.ir.table(e.table);
        // Columns set by any row, in table order.
        let mut row_values: Vec<Vec<(u32, String)>> = vec![];
        for row in &rows {
            let mut values = vec![];
            self.row_columns(entity, row, &mut values, true, sel)?;
            row_values.push(values);
        }
        let mut cols: Vec<u32> = row_values.iter().flatten().map(|(c, _)| *c).collect();
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
            let tuples: Vec<String> = row_values
                .iter()
                .map(|vals| {
                    let items: Vec<String> = cols
                        .iter()
                        .map(|c| vals.iter().find(|(x, _)| x == c).map(|(_, v)| v.clone()).unwrap_or_else(|| "DEFAULT".into()))
                        .collect();
                    format!("({})", items.join(", "))
                })
                .collect();
            sql.push_str(&tuples.join(", "));
        }
        let keys = self.key_columns_text(e);
        let _ = write!(sql, " RETURNING {}", keys.join(", "));
        steps.push(Step::CollectKeys(self.take_stmt(sql)));
        // Check the create rule against the new rows (the rule may read relations).
        if let Cond::Sql(_) = create_rule {
            let a = self.alias(e);
            let rule = self.access(&e.access.create, entity, &a);
            let (before, after) = self.keys_filter(e, &a);
            let sql = format!("SELECT COUNT(*)::text FROM {} AS {a} WHERE {before}{{keys}}{after} AND NOT COALESCE({}, FALSE)", e.sql.table, rule.to_sql());
            let key_columns = self.ir.table(e.table).primary_key.len();
            steps.push(Step::CheckByKeys { sql, params: std::mem::take(&mut self.params), key_columns });
        }
        steps.push(self.select_by_keys(entity, many, sel)?);
        Ok(RootPlan::Sql { steps, empty: if many { "[]" } else { "null" } })
    }

    /// Column assignments (`(column, sql value)`) for one input row.
    fn row_columns(
        &mut self,
        entity: EntityId,
        row: &Val,
        out: &mut Vec<(u32, String)>,
        creating: bool,
        sel: &Selected<'_>,
    ) -> Result<(), GqlError> {
        let e = self.ir.entity(entity);
        let table = self.ir.table(e.table);
        let given = row.as_object().unwrap_or(&[]);
        for (fid, f) in e.fields.iter().enumerate() {
            let v = given.iter().find(|(k, _)| *k == f.name).map(|(_, v)| v);
            match &f.kind {
                FieldKind::Column { sql, column, .. } => {
                    let value = match v {
                        Some(v) => {
                            validate_value(f, v, sel)?;
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
                    out.push((*column, value));
                }
                FieldKind::ManyToOne { target, columns, target_columns, .. } => {
                    let t = self.ir.entity(*target);
                    match v {
                        Some(v) if v.is_null() => {
                            for c in columns {
                                out.push((*c, "NULL".into()));
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
                                out.push((*c, sql.param(n)));
                            }
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
                                out.push((c, p));
                            }
                        }
                        None => {}
                    }
                }
                FieldKind::OneToMany { .. } => {
                    if v.is_some_and(|v| !v.is_null()) {
                        return Err(GqlError::at(
                            format!("nested mutation of `{}` is not supported yet", f.name),
                            sel.pos,
                        ));
                    }
                }
            }
            let _ = (fid, table);
        }
        Ok(())
    }

    fn key_columns_text(&self, e: &Entity) -> Vec<String> {
        let table = self.ir.table(e.table);
        table.primary_key.iter().map(|c| format!("{}::text", exo_ir::quote_ident(&table.columns[*c as usize].name))).collect()
    }

    /// The `WHERE` fragment matching collected keys: `(a.k1::text, ...) IN (SELECT * FROM unnest(`
    /// + params + `))`, split around the `{keys}` placeholder for the executor.
    /// `(pk columns) IN (keys)`, with the `{keys}` text arrays cast back to the column types:
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

    fn select_by_keys(&mut self, entity: EntityId, many: bool, sel: &Selected<'_>) -> Result<Step, GqlError> {
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
        let sql = if many {
            format!(
                "SELECT COALESCE(json_agg({obj}), '[]'::json)::text FROM (SELECT {a}.* FROM {} AS {a} WHERE {before}{{keys}}{after}{order}) AS {a}",
                e.sql.table
            )
        } else {
            format!("SELECT {obj}::text FROM {} AS {a} WHERE {before}{{keys}}{after} LIMIT 1", e.sql.table)
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
        let mut values = vec![];
        self.row_columns(entity, data, &mut values, false, sel)?;
        let table = self.ir.table(e.table);
        let keys: Vec<String> =
            table.primary_key.iter().map(|c| format!("{a}.{}::text", exo_ir::quote_ident(&table.columns[*c as usize].name))).collect();
        let sql = if values.is_empty() {
            format!("SELECT {} FROM {} AS {a} WHERE {}", keys.join(", "), e.sql.table, cond.to_sql())
        } else {
            let sets: Vec<String> = values
                .iter()
                .map(|(c, v)| format!("{} = {v}", exo_ir::quote_ident(&table.columns[*c as usize].name)))
                .collect();
            format!("UPDATE {} AS {a} SET {} WHERE {} RETURNING {}", e.sql.table, sets.join(", "), cond.to_sql(), keys.join(", "))
        };
        let mut steps = vec![Step::CollectKeys(self.take_stmt(sql))];
        // The updated rows must still satisfy the update rule.
        if !values.is_empty() {
            let b = self.alias(e);
            if let Cond::Sql(rule) = self.access(&e.access.update, entity, &b) {
                let (before, after) = self.keys_filter(e, &b);
                let sql = format!("SELECT COUNT(*)::text FROM {} AS {b} WHERE {before}{{keys}}{after} AND NOT COALESCE({rule}, FALSE)", e.sql.table);
                let key_columns = self.ir.table(e.table).primary_key.len();
                steps.push(Step::CheckByKeys { sql, params: std::mem::take(&mut self.params), key_columns });
            }
        }
        steps.push(self.select_by_keys(entity, many, sel)?);
        Ok(RootPlan::Sql { steps, empty: if many { "[]" } else { "null" } })
    }

    fn delete(&mut self, entity: EntityId, many: bool, sel: &Selected<'_>) -> Result<RootPlan, GqlError> {
        let e = self.ir.entity(entity);
        let a = self.alias(e);
        let cond = self.targeted_rows(entity, &a, &e.access.delete, many, sel)?;
        // Build the JSON before deleting (relations still visible), then delete the same rows.
        let b = self.alias(e);
        let obj = self.object(entity, &b, &sel.selection)?;
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
                 SELECT COALESCE(json_agg({obj} ORDER BY {}), '[]'::json)::text FROM {b} WHERE (SELECT COUNT(*) FROM \"deleted$\") >= 0",
                e.sql.table,
                cond.to_sql(),
                e.sql.table,
                pk_match.join(" AND "),
                order.join(", ")
            )
        } else {
            format!(
                "WITH {b} AS (SELECT {a}.* FROM {} AS {a} WHERE {} LIMIT 1), \"deleted$\" AS (DELETE FROM {} AS {a} USING {b} WHERE {} RETURNING 1) \
                 SELECT {obj}::text FROM {b} WHERE (SELECT COUNT(*) FROM \"deleted$\") >= 0",
                e.sql.table,
                cond.to_sql(),
                e.sql.table,
                pk_match.join(" AND ")
            )
        };
        Ok(RootPlan::Sql { steps: vec![Step::Json(self.take_stmt(sql))], empty: if many { "[]" } else { "null" } })
    }
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

/// Checks `@maxLength` / `@range` / integer width before any SQL runs.
fn validate_value(f: &Field, v: &Val, sel: &Selected<'_>) -> Result<(), GqlError> {
    let val = &f.validation;
    match v {
        Val::Str(s, _) => {
            if let Some(max) = val.max_length {
                if s.chars().count() > max as usize {
                    return Err(GqlError::at(
                        format!("Invalid value for '{}': maximum length = {max}, provided length = {}", f.name, s.chars().count()),
                        sel.pos,
                    ));
                }
            }
        }
        Val::Int(i, _) => {
            let x = *i as f64;
            if let Some(max) = val.max {
                if x > max {
                    return Err(GqlError::at(format!("Invalid value for '{}': max = {max}, provided value = {i}", f.name), sel.pos));
                }
            }
            if let Some(min) = val.min {
                if x < min {
                    return Err(GqlError::at(format!("Invalid value for '{}': min = {min}, provided value = {i}", f.name), sel.pos));
                }
            }
            if val.int_bits == Some(16) && (*i < i16::MIN as i64 || *i > i16::MAX as i64) {
                return Err(GqlError::at(
                    format!("Unable to convert input to the expected type: trying to convert the '{}' field to the '16-bit integer' type", f.name),
                    sel.pos,
                ));
            }
        }
        Val::Float(x, _) => {
            if let Some(max) = val.max {
                if *x > max {
                    return Err(GqlError::at(format!("Invalid value for '{}': max = {max}, provided value = {x}", f.name), sel.pos));
                }
            }
            if let Some(min) = val.min {
                if *x < min {
                    return Err(GqlError::at(format!("Invalid value for '{}': min = {min}, provided value = {x}", f.name), sel.pos));
                }
            }
        }
        _ => {}
    }
    Ok(())
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

fn literal_json(l: &Literal) -> Json {
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
