//! Mutations: a short script per root field. The root rows' create or update rule is checked
//! first, before anything is written ([`precheck`]), with the rows nested in them. A plain
//! create or update is then one statement that returns the written keys; nested input makes
//! one data-modifying statement (a CTE per written row) reporting keys under slots. Checks
//! then apply the create rule of rows nested under rows that update input creates, and a
//! select reads the result back, as far as the caller may read it. Later steps take the keys of earlier ones as parameters ([`ParamSource::Keys`]).
//!
//! [`nested`] builds the data-modifying statement of nested input; [`readback`] the checks
//! and the read-back that follow the writes.

mod nested;
mod precheck;
mod readback;

use exo_ir::graphql::ArgRole;
use exo_ir::{AccessExpr, Entity, EntityId, Field, FieldDefault, FieldKind, ParamIn, ValueType};

use crate::error::GqlError;
use crate::plan::access::Cond;
use crate::plan::select::json_list;
use crate::plan::{bad_request, param_in, param_in_owned, NoRow, ParamSource, Planner, RootPlan, Step};
use crate::sql::{self, Body, Cast, Cte, Delete, Expr, Ident, Insert, InsertSource, Query, Select, Update};
use crate::validate::Selected;
use crate::value::Val;
use nested::script_take;

/// A mutation's data-modifying statement under construction: CTEs that write rows, each
/// reporting the keys it touched under a slot (one per entity and rule) so the steps after
/// it can check and select those rows. Slot 0 is the root field's entity.
struct Script<'a> {
    ctes: Vec<Cte<'a>>,
    /// `(cte name, slot)`: the CTEs whose rows are reported.
    outputs: Vec<(Ident<'a>, usize)>,
    slots: Vec<Slot>,
}

struct Slot {
    entity: EntityId,
    /// Created rows (checked with the create rule) or updated rows (the update rule).
    create: bool,
    /// Whether the rule (with the rules of `fields`) is checked after the write; false for
    /// rows checked before it ([`precheck`]: all but rows under a row update input creates).
    check: bool,
    /// Fields with a field-level rule that some input row of the slot names (their create or
    /// update rule joins the slot's check).
    fields: Vec<u32>,
}

impl Script<'_> {
    fn new(root: EntityId, create: bool, check: bool) -> Self {
        Script { ctes: vec![], outputs: vec![], slots: vec![Slot { entity: root, create, check, fields: vec![] }] }
    }

    /// The slot of rows of `entity` created (or updated), whose rule is checked after the
    /// write when `check` (otherwise it was checked before).
    fn slot(&mut self, entity: EntityId, create: bool, check: bool) -> usize {
        if let Some(i) =
            self.slots.iter().skip(1).position(|s| s.entity == entity && s.create == create && s.check == check)
        {
            return i + 1;
        }
        self.slots.push(Slot { entity, create, check, fields: vec![] });
        self.slots.len() - 1
    }

    fn add_fields(&mut self, slot: usize, fields: &[u32]) {
        for f in fields {
            if !self.slots[slot].fields.contains(f) {
                self.slots[slot].fields.push(*f);
            }
        }
    }
}

/// What one input row sets: column assignments and the collections it nests.
struct RowInput<'a, 'v> {
    cols: Vec<(u32, Expr<'a>)>,
    nested: Vec<(u32, &'v Val)>,
}

/// The elements of an optional input list (a single value counts as a list of one).
impl<'a, 'd> Planner<'a, 'd> {
    /// The values of reference input `v` (`{id: 2}`) for `target_columns` of `target`, one
    /// bound parameter each, cast as the target's key columns are.
    fn reference_key(&mut self, target: EntityId, target_columns: &[u32], v: &Val) -> Result<Vec<Expr<'a>>, GqlError> {
        let t = self.ir.entity(target);
        let mut keys = Vec::with_capacity(target_columns.len());
        for tc in target_columns {
            let key = t.fields.iter().find(|f| matches!(&f.kind, FieldKind::Column { column, .. } if column == tc));
            let Some(Field { name, kind: FieldKind::Column { sql, .. }, .. }) = key else {
                return Err(bad_request("unsupported nested key"));
            };
            let inner = v.get(name).ok_or_else(|| bad_request(format!("missing key field `{name}`")))?;
            let p = self.val_param(inner);
            keys.push(param_in(&sql.param, p));
        }
        Ok(keys)
    }
}

fn items(v: Option<&Val>) -> Vec<&Val> {
    match v {
        Some(Val::List(items, _)) => items.iter().collect(),
        Some(v) if !v.is_null() => vec![v],
        _ => vec![],
    }
}

/// Refusal of nested input for a type without a primary key (a child row refers to its
/// parent by key).
const KEYLESS_NESTED: &str = "nested input is not supported for a type without a primary key; give the type a `@pk`";

/// `ARRAY(SELECT <elem cast of x> FROM jsonb_array_elements_text(json::jsonb) AS t(x))`: a
/// JSON array (text) as a Postgres array. An element that is itself an array
/// (`Array<Array<T>>`) is unpacked the same way, one level deeper: `ARRAY()` over arrays makes
/// a multidimensional array.
fn array_from_json(elem: ParamIn, json: Expr<'_>, depth: usize) -> Expr<'_> {
    const NAMES: [(&str, &str); 4] = [("t", "x"), ("t1", "x1"), ("t2", "x2"), ("t3", "x3")];
    let (t, x) = NAMES[depth.min(NAMES.len() - 1)];
    let x = Ident::Plain(x);
    let value = Expr::Column { table: None, column: x };
    let element = match elem.element() {
        Some(inner) if depth + 1 < NAMES.len() => array_from_json(inner, value, depth + 1),
        _ => param_in_owned(elem, value),
    };
    let call = sql::func("jsonb_array_elements_text", vec![sql::cast(json, Cast::Jsonb)]);
    let from = sql::From::Function { call, ordinality: false, alias: Ident::Plain(t), columns: vec![x] };
    Expr::Array(Box::new(Query::select(Select::new(vec![element], from))))
}

fn returning_star<'a>() -> Vec<sql::SelectItem<'a>> {
    vec![sql::item(Expr::Star)]
}

impl<'a, 'd> Planner<'a, 'd> {
    pub(super) fn create(&mut self, entity: EntityId, many: bool, sel: &'a Selected<'_>) -> Result<RootPlan, GqlError> {
        let e = self.ir.entity(entity);
        let data = sel.role(ArgRole::Data).ok_or_else(|| bad_request("missing `data`"))?;
        let rows: Vec<&Val> = match data {
            Val::List(items, _) => items.iter().collect(),
            other => vec![other],
        };
        if rows.is_empty() {
            return Ok(RootPlan::Const("[]".into()));
        }
        self.require(&e.access.create, entity)?;
        // The check reads the input values again with its own parameters; the value
        // constraints it records are the ones the write records below.
        let before = self.checks.len();
        let precheck = self.create_precheck(entity, &rows, sel)?;
        self.checks.truncate(before);
        // The rows the input refers to must be readable, checked before the write.
        let refcheck = self.reference_precheck(entity, &rows, true)?;
        let mut inputs = Vec::with_capacity(rows.len());
        for row in &rows {
            inputs.push(self.row_columns(entity, row, true, &[], sel)?);
        }
        // The root rows' rule, and the nested rows', were checked before the write.
        let mut script = Script::new(entity, true, false);
        let mut steps: Vec<Step> = precheck.into_iter().chain(refcheck).collect();
        if inputs.iter().all(|r| r.nested.is_empty()) {
            // The common shape: one multi-row INSERT returning the new keys.
            let mut cols: Vec<u32> = inputs.iter().flat_map(|r| r.cols.iter().map(|(c, _)| *c)).collect();
            cols.sort_unstable();
            cols.dedup();
            let source = if cols.is_empty() {
                // Every value comes from defaults.
                if rows.len() > 1 {
                    return Err(bad_request("creating several rows with only default values is not supported"));
                }
                InsertSource::DefaultValues
            } else {
                let tuples = inputs
                    .into_iter()
                    .map(|mut input| {
                        cols.iter()
                            .map(|c| match input.cols.iter().position(|(x, _)| x == c) {
                                Some(i) => input.cols.swap_remove(i).1,
                                None => Expr::Default,
                            })
                            .collect()
                    })
                    .collect();
                InsertSource::Values(tuples)
            };
            let keyless = self.ir.table(e.table).primary_key.is_empty();
            let insert = Insert {
                table: self.table_name(e.table),
                columns: cols.iter().map(|c| Ident::Name(self.column_name(e.table, *c))).collect(),
                source,
                returning: if keyless { returning_star() } else { self.key_texts(e, None) },
            };
            if keyless {
                self.keyless_checks(entity, true, true)?;
                let write = Query { with: vec![], body: Body::Insert(Box::new(insert)) };
                let no_row = if many { NoRow::EmptyList } else { NoRow::NotAuthorized };
                return self.written_rows_json(steps, entity, write, many, no_row, sel);
            }
            let q = Query { with: vec![], body: Body::Insert(Box::new(insert)) };
            steps.push(Step::CollectKeys(self.statement(&q)));
        } else {
            // Nested children: one data-modifying statement, a CTE per inserted row, each child
            // row inserted from its parent's CTE.
            if self.ir.table(e.table).primary_key.is_empty() {
                return Err(bad_request(KEYLESS_NESTED));
            }
            for input in inputs {
                self.insert_row(&mut script, entity, input, None, 0, true, sel)?;
            }
            let q = self.script_query(script_take(&mut script));
            steps.push(Step::CollectSlots(self.statement(&q)));
        }
        self.slot_checks(&script, &mut steps)?;
        steps.push(self.select_by_keys(entity, many, sel)?);
        // `createT` returns `T!`: a created row the caller may not read is an error, not null.
        Ok(RootPlan::Sql { steps, no_row: if many { NoRow::EmptyList } else { NoRow::NotAuthorized } })
    }

    /// `cond AND extra`, leaving out `extra` when it is the same condition as `cond` (a query
    /// rule that, for this context, reduces to the operation's rule).
    fn and_new(&self, cond: Cond<'a>, extra: Cond<'a>) -> Cond<'a> {
        match (&cond, &extra) {
            (Cond::Sql(c), Cond::Sql(x)) if self.params.same_expr(c, x) => cond,
            _ => cond.and(extra),
        }
    }

    /// Fails with "Not authorized" when `rule` is false whatever the rows hold; otherwise the
    /// rule is enforced in SQL later.
    fn require(&mut self, rule: &'a AccessExpr, entity: EntityId) -> Result<(), GqlError> {
        let a = self.alias(self.ir.entity(entity));
        if matches!(self.access(rule, entity, a), Cond::False) {
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
    ) -> Result<RowInput<'a, 'v>, GqlError> {
        let e = self.ir.entity(entity);
        let given = row.as_object().unwrap_or(&[]);
        let mut out = RowInput { cols: vec![], nested: vec![] };
        for (fid, f) in e.fields.iter().enumerate() {
            let fid = fid as u32;
            if skip.contains(&fid) {
                continue;
            }
            let v = given.iter().find(|(k, _)| *k == f.name).map(|(_, v)| v);
            match &f.kind {
                FieldKind::Column { sql, column, ty } => {
                    let value = match v {
                        Some(v) => {
                            self.check_value_now_and_later(&f.name, &f.validation, v, sel.data_pos)?;
                            if v.is_null() {
                                Expr::Null
                            } else {
                                let p = self.val_param(v);
                                match (ty, sql.param.element()) {
                                    // Arrays travel as JSON text: unpack the elements and cast them.
                                    (ValueType::Array(_), Some(elem)) => array_from_json(elem, p, 0),
                                    _ => param_in(&sql.param, p),
                                }
                            }
                        }
                        None if creating => match &f.default {
                            Some(FieldDefault::Context { context, field }) => {
                                let p = self.param(ParamSource::Context { context: *context, field: *field });
                                param_in(&sql.param, p)
                            }
                            _ => continue,
                        },
                        None => continue,
                    };
                    out.cols.push((*column, value));
                }
                FieldKind::ManyToOne { target, columns, target_columns, .. } => {
                    let t = self.ir.entity(*target);
                    // The target's key field owning column `tc`.
                    let key_field = |tc: u32| {
                        t.fields.iter().find(|f| matches!(&f.kind, FieldKind::Column { column, .. } if *column == tc))
                    };
                    match v {
                        Some(v) if v.is_null() => {
                            for c in columns {
                                out.cols.push((*c, Expr::Null));
                            }
                        }
                        Some(v) => {
                            let keys = self.reference_key(*target, target_columns, v)?;
                            out.cols.extend(columns.iter().copied().zip(keys));
                        }
                        None if creating => {
                            if let Some(FieldDefault::Context { context, field }) = &f.default {
                                let p = self.param(ParamSource::Context { context: *context, field: *field });
                                let value = match key_field(target_columns[0]).map(|f| &f.kind) {
                                    Some(FieldKind::Column { sql, .. }) => param_in(&sql.param, p),
                                    _ => p,
                                };
                                out.cols.push((columns[0], value));
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

    /// `UPDATE t AS a SET ... WHERE filter RETURNING returning`, or, when nothing is set,
    /// `SELECT returning FROM t AS a WHERE filter`.
    fn update_or_select(
        &self,
        e: &'a Entity,
        a: Ident<'a>,
        cols: Vec<(u32, Expr<'a>)>,
        filter: Expr<'a>,
        returning: Vec<sql::SelectItem<'a>>,
    ) -> Query<'a> {
        let table = self.table_name(e.table);
        if cols.is_empty() {
            let select = Select {
                items: returning,
                from: Some(sql::table(table, a)),
                filter: Some(filter),
                ..Select::default()
            };
            return Query::select(select);
        }
        let set = cols.into_iter().map(|(c, v)| (Ident::Name(self.column_name(e.table, c)), v)).collect();
        Query { with: vec![], body: Body::Update(Box::new(Update { table, alias: a, set, filter, returning })) }
    }

    /// `pk::text, ...` of the entity's table (qualified by `alias` when given).
    fn key_texts(&self, e: &'a Entity, alias: Option<Ident<'a>>) -> Vec<sql::SelectItem<'a>> {
        let table = self.ir.table(e.table);
        table
            .primary_key
            .iter()
            .map(|c| {
                let column = Ident::Name(self.column_name(e.table, *c));
                sql::item(sql::cast(Expr::Column { table: alias, column }, Cast::Text))
            })
            .collect()
    }

    /// The rows an update or delete touches: the rule for the operation, the query rule (a
    /// row the caller may not read is not touched), and either the `where` filter (`many`) or
    /// the primary-key arguments.
    fn targeted_rows(
        &mut self,
        entity: EntityId,
        a: Ident<'a>,
        rule: &'a AccessExpr,
        many: bool,
        sel: &'a Selected<'_>,
    ) -> Result<Cond<'a>, GqlError> {
        let e = self.ir.entity(entity);
        let mut cond = self.access(rule, entity, a);
        if matches!(cond, Cond::False) {
            return Err(GqlError::new("Not authorized"));
        }
        // Only rows the caller may read are targeted: a row the query rule hides behaves as
        // absent, so neither the `where` filter (or the key) nor a refusal of the matched
        // rows can tell anything about it.
        if e.access.query != *rule {
            let read = self.read_access(&e.access.query, entity, a);
            cond = self.and_new(cond, read);
        }
        if many {
            if let Some(w) = sel.role(ArgRole::Where) {
                self.filter_pos = sel.pos;
                let p = self.guarded_predicate(entity, a, w)?;
                cond = cond.and(p);
            }
        } else {
            for &f in &e.pk {
                let field = &e.fields[f as usize];
                let v =
                    sel.arg(&field.name).ok_or_else(|| bad_request(format!("missing argument `{}`", field.name)))?;
                let c = self.key_condition(entity, field, a, v)?;
                cond = cond.and(Cond::Sql(c));
            }
        }
        Ok(cond)
    }

    pub(super) fn update(&mut self, entity: EntityId, many: bool, sel: &'a Selected<'_>) -> Result<RootPlan, GqlError> {
        let e = self.ir.entity(entity);
        let data = sel.role(ArgRole::Data).ok_or_else(|| bad_request("missing `data`"))?;
        // The targeted rows with their new values must satisfy the update rule, checked
        // before the write (its value constraints are recorded again below).
        let before = self.checks.len();
        let precheck = self.update_precheck(entity, many, data, sel)?;
        self.checks.truncate(before);
        let refcheck = self.reference_precheck(entity, &[data], false)?;
        let a = self.alias(e);
        let cond = self.update_targets(entity, a, many, data, sel)?;
        let input = self.row_columns(entity, data, false, &[], sel)?;
        let mut script = Script::new(entity, false, false);
        if self.ir.table(e.table).primary_key.is_empty() {
            if !input.nested.is_empty() {
                return Err(bad_request(KEYLESS_NESTED));
            }
            // A row-dependent update rule is checked before the write on the targeted rows'
            // keys; a type without a key has none to carry between the two statements.
            if precheck.is_some() {
                return Err(bad_request(
                    "this type has no primary key, so its row-dependent update rule cannot be checked before the write; give it a key or an update rule the context decides",
                ));
            }
            let check = !input.cols.is_empty();
            self.keyless_checks(entity, false, check)?;
            let write = self.update_or_select(e, a, input.cols, cond.into_expr(), vec![sql::item(Expr::AllColumns(a))]);
            let no_row = if many { NoRow::EmptyList } else { NoRow::Null };
            return self.written_rows_json(refcheck.into_iter().collect(), entity, write, many, no_row, sel);
        }
        let mut steps: Vec<Step> = precheck.into_iter().chain(refcheck).collect();
        if input.nested.is_empty() {
            let q = self.update_or_select(e, a, input.cols, cond.into_expr(), self.key_texts(e, Some(a)));
            steps.push(Step::CollectKeys(self.statement(&q)));
        } else {
            let name = self.cte_name(entity);
            let query = self.update_or_select(e, a, input.cols, cond.into_expr(), vec![sql::item(Expr::AllColumns(a))]);
            script.ctes.push(Cte { name, query });
            script.outputs.push((name, 0));
            for (fid, v) in input.nested {
                self.nested_update(&mut script, entity, fid, name, v, sel)?;
            }
            let q = self.script_query(script_take(&mut script));
            steps.push(Step::CollectSlots(self.statement(&q)));
        }
        self.slot_checks(&script, &mut steps)?;
        steps.push(self.select_by_keys(entity, many, sel)?);
        Ok(RootPlan::Sql { steps, no_row: if many { NoRow::EmptyList } else { NoRow::Null } })
    }

    /// For a type without a primary key (a view): the written rows cannot be found again by
    /// key, so the statement that writes them returns them (`RETURNING`) and the JSON is built
    /// from those rows, in the statement's order, as far as the caller may read them. `steps`
    /// run before it (checks).
    fn written_rows_json(
        &mut self,
        mut steps: Vec<Step>,
        entity: EntityId,
        write: Query<'a>,
        many: bool,
        no_row: NoRow,
        sel: &'a Selected<'_>,
    ) -> Result<RootPlan, GqlError> {
        let e = self.ir.entity(entity);
        let b = self.alias(e);
        let obj = self.object(entity, b, &sel.selection)?;
        // As for a type with a key: a row the query rule, or the read rule of a selected
        // field, hides is left out (null for a single row).
        let read = self.read_access(&e.access.query, entity, b);
        let read = read.and(self.selection_rule(entity, b, &sel.selection)?).into_expr();
        let value = if many { json_list(obj, vec![]) } else { obj };
        let mut select = Select::new(vec![sql::cast(value, Cast::Text)], sql::From::Named(b)).filter(read);
        if !many {
            select.limit = Some(Expr::Int(1));
        }
        let q = Query { with: vec![Cte { name: b, query: write }], body: Body::Select(Box::new(select)) };
        steps.push(Step::Json(self.statement(&q)));
        Ok(RootPlan::Sql { steps, no_row })
    }

    /// The checks after a write of a type without a primary key, which has no keys to check
    /// rows by: they must be decided by the context (the create or update rule when `check`;
    /// the references the input names were checked before the write).
    fn keyless_checks(&mut self, entity: EntityId, create: bool, check: bool) -> Result<(), GqlError> {
        let e = self.ir.entity(entity);
        let a = self.alias(e);
        let cond = match (check, create) {
            (false, _) => Cond::True,
            (true, true) => self.access(&e.access.create, entity, a),
            (true, false) => self.access(&e.access.update, entity, a),
        };
        match cond {
            Cond::True => Ok(()),
            Cond::False => Err(GqlError::new("Not authorized")),
            Cond::Sql(_) => Err(bad_request(format!(
                "`{}` has no primary key, so the written rows cannot be checked against a rule that depends on them; give the type a `@pk`",
                e.name
            ))),
        }
    }

    pub(super) fn delete(&mut self, entity: EntityId, many: bool, sel: &'a Selected<'_>) -> Result<RootPlan, GqlError> {
        let e = self.ir.entity(entity);
        let table = self.ir.table(e.table);
        let a = self.alias(e);
        let cond = self.targeted_rows(entity, a, &e.access.delete, many, sel)?;
        if table.primary_key.is_empty() {
            let delete = Delete {
                table: self.table_name(e.table),
                alias: a,
                using: vec![],
                filter: cond.into_expr(),
                returning: vec![sql::item(Expr::AllColumns(a))],
            };
            let write = Query { with: vec![], body: Body::Delete(Box::new(delete)) };
            let no_row = if many { NoRow::EmptyList } else { NoRow::Null };
            return self.written_rows_json(vec![], entity, write, many, no_row, sel);
        }
        // Build the JSON before deleting (relations still visible), then delete the same rows.
        let b = self.alias(e);
        let obj = self.object(entity, b, &sel.selection)?;
        // Deleted rows are returned only as far as the caller may read them.
        let read = self.read_access(&e.access.query, entity, b);
        let read = read.and(self.selection_rule(entity, b, &sel.selection)?).into_expr();
        let pk_match = sql::and(
            table
                .primary_key
                .iter()
                .map(|c| sql::eq(self.column(a, e.table, *c), self.column(b, e.table, *c)))
                .collect(),
        );
        let mut targets =
            Select::new(vec![Expr::AllColumns(a)], sql::table(self.table_name(e.table), a)).filter(cond.into_expr());
        if !many {
            targets.limit = Some(Expr::Int(1));
        }
        let deleted = Ident::Name("deleted$");
        let delete = Delete {
            table: self.table_name(e.table),
            alias: a,
            using: vec![sql::From::Named(b)],
            filter: pk_match,
            returning: vec![sql::item(Expr::Int(1))],
        };
        // Referring to the DELETE's CTE makes Postgres run it.
        let count = sql::subquery(Query::select(Select::new(
            vec![sql::func("COUNT", vec![Expr::Star])],
            sql::From::Named(deleted),
        )));
        let filter = sql::and(vec![sql::bin(sql::BinOp::Gte, count, Expr::Int(0)), read]);
        // A list comes in the statement's order (the order the rows were selected for
        // deletion), not sorted afterwards.
        let value = if many { json_list(obj, vec![]) } else { obj };
        let q = Query {
            with: vec![
                Cte { name: b, query: Query::select(targets) },
                Cte { name: deleted, query: Query { with: vec![], body: Body::Delete(Box::new(delete)) } },
            ],
            body: Body::Select(Box::new(
                Select::new(vec![sql::cast(value, Cast::Text)], sql::From::Named(b)).filter(filter),
            )),
        };
        Ok(RootPlan::Sql {
            steps: vec![Step::Json(self.statement(&q))],
            no_row: if many { NoRow::EmptyList } else { NoRow::Null },
        })
    }
}
