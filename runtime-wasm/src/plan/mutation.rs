//! Mutations: a short script per root field. A plain create or update is one statement that
//! returns the written keys; nested input makes one data-modifying statement (a CTE per
//! written row) reporting keys under slots. Checks then apply each slot's create or update
//! rule, and a select reads the result back, as far as the caller may read it. Later steps
//! take the keys of earlier ones as parameters ([`ParamSource::Keys`]).

use exo_ir::graphql::ArgRole;
use exo_ir::{AccessExpr, Entity, EntityId, FieldDefault, FieldKind, ValueType};

use super::access::Cond;
use super::select::json_list;
use super::{bad_request, param_in, param_in_owned, Planner, RootPlan};
use crate::error::GqlError;
use crate::plan::{NoRow, ParamSource, Step};
use crate::sql::{
    self, Body, Cast, Cte, Delete, Expr, Ident, Insert, InsertSource, Order, Query, Select, Update,
};
use crate::validate::Selected;
use crate::value::Val;

/// Names of key columns in `unnest(...) AS keys(k0, k1, ...)`.
const KEY_NAMES: [&str; 8] = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];

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
    /// Whether the rule is checked at all (an update that sets no column changes nothing).
    check: bool,
    /// Many-to-one fields whose references the input named.
    refs: Vec<u32>,
}

impl Script<'_> {
    fn new(root: EntityId, create: bool, check: bool) -> Self {
        Script {
            ctes: vec![],
            outputs: vec![],
            slots: vec![Slot {
                entity: root,
                create,
                check,
                refs: vec![],
            }],
        }
    }

    fn slot(&mut self, entity: EntityId, create: bool) -> usize {
        if let Some(i) = self
            .slots
            .iter()
            .skip(1)
            .position(|s| s.entity == entity && s.create == create)
        {
            return i + 1;
        }
        self.slots.push(Slot {
            entity,
            create,
            check: true,
            refs: vec![],
        });
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

/// What one input row sets: column assignments, the collections it nests, and the
/// many-to-one fields it names explicitly.
struct RowInput<'a, 'v> {
    cols: Vec<(u32, Expr<'a>)>,
    nested: Vec<(u32, &'v Val)>,
    refs: Vec<u32>,
}

/// The elements of an optional input list (a single value counts as a list of one).
fn items(v: Option<&Val>) -> Vec<&Val> {
    match v {
        Some(Val::List(items, _)) => items.iter().collect(),
        Some(v) if !v.is_null() => vec![v],
        _ => vec![],
    }
}

fn returning_star<'a>() -> Vec<sql::SelectItem<'a>> {
    vec![sql::item(Expr::Star)]
}

impl<'a, 'd> Planner<'a, 'd> {
    pub(super) fn create(
        &mut self,
        entity: EntityId,
        many: bool,
        sel: &'a Selected<'_>,
    ) -> Result<RootPlan, GqlError> {
        let e = self.ir.entity(entity);
        let data = sel
            .role(ArgRole::Data)
            .ok_or_else(|| bad_request("missing `data`"))?;
        let rows: Vec<&Val> = match data {
            Val::List(items, _) => items.iter().collect(),
            other => vec![other],
        };
        if rows.is_empty() {
            return Ok(RootPlan::Const("[]".into()));
        }
        self.require(&e.access.create, entity)?;
        let mut inputs = Vec::with_capacity(rows.len());
        for row in &rows {
            inputs.push(self.row_columns(entity, row, true, &[], sel)?);
        }
        let mut script = Script::new(entity, true, true);
        let mut steps = vec![];
        if inputs.iter().all(|r| r.nested.is_empty()) {
            // The common shape: one multi-row INSERT returning the new keys.
            for input in &inputs {
                script.add_refs(0, &input.refs);
            }
            let mut cols: Vec<u32> = inputs
                .iter()
                .flat_map(|r| r.cols.iter().map(|(c, _)| *c))
                .collect();
            cols.sort_unstable();
            cols.dedup();
            let source = if cols.is_empty() {
                // Every value comes from defaults.
                if rows.len() > 1 {
                    return Err(bad_request(
                        "creating several rows with only default values is not supported",
                    ));
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
            let insert = Insert {
                table: self.table_name(e.table),
                columns: cols
                    .iter()
                    .map(|c| Ident::Name(self.column_name(e.table, *c)))
                    .collect(),
                source,
                returning: self.key_texts(e, None),
            };
            let q = Query {
                with: vec![],
                body: Body::Insert(Box::new(insert)),
            };
            steps.push(Step::CollectKeys(self.statement(&q)));
        } else {
            // Nested children: one data-modifying statement, a CTE per inserted row, each child
            // row inserted from its parent's CTE.
            for input in inputs {
                self.insert_row(&mut script, entity, input, None, 0, sel)?;
            }
            let q = self.script_query(script_take(&mut script));
            steps.push(Step::CollectSlots(self.statement(&q)));
        }
        self.slot_checks(&script, &mut steps)?;
        steps.push(self.select_by_keys(entity, many, true, sel)?);
        // `createT` returns `T!`: a created row the caller may not read is an error, not null.
        Ok(RootPlan::Sql {
            steps,
            no_row: if many {
                NoRow::EmptyList
            } else {
                NoRow::NotAuthorized
            },
        })
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
        let mut out = RowInput {
            cols: vec![],
            nested: vec![],
            refs: vec![],
        };
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
                            self.check_value_now_and_later(&f.name, &f.validation, v, sel.pos)?;
                            if v.is_null() {
                                Expr::Null
                            } else {
                                let p = self.val_param(v);
                                match (ty, sql.param.element()) {
                                    // Arrays travel as JSON text: unpack the elements and cast them.
                                    (ValueType::Array(_), Some(elem)) => {
                                        let x = Ident::Plain("x");
                                        let element = param_in_owned(
                                            elem,
                                            Expr::Column {
                                                table: None,
                                                column: x,
                                            },
                                        );
                                        let call = sql::func(
                                            "jsonb_array_elements_text",
                                            vec![sql::cast(p, Cast::Jsonb)],
                                        );
                                        let from = sql::From::Function {
                                            call,
                                            ordinality: false,
                                            alias: Ident::Plain("t"),
                                            columns: vec![x],
                                        };
                                        Expr::Array(Box::new(Query::select(Select::new(
                                            vec![element],
                                            from,
                                        ))))
                                    }
                                    _ => param_in(&sql.param, p),
                                }
                            }
                        }
                        None if creating => match &f.default {
                            Some(FieldDefault::Context { context, field }) => {
                                let p = self.param(ParamSource::Context {
                                    context: *context,
                                    field: *field,
                                });
                                param_in(&sql.param, p)
                            }
                            _ => continue,
                        },
                        None => continue,
                    };
                    out.cols.push((*column, value));
                }
                FieldKind::ManyToOne {
                    target,
                    columns,
                    target_columns,
                    ..
                } => {
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
                            for (c, tc) in columns.iter().zip(target_columns) {
                                let tfield = key_field(*tc)
                                    .ok_or_else(|| bad_request("unsupported nested key"))?;
                                let FieldKind::Column { sql, .. } = &tfield.kind else {
                                    return Err(bad_request("unsupported nested key"));
                                };
                                let inner = v.get(&tfield.name).ok_or_else(|| {
                                    bad_request(format!("missing key field `{}`", tfield.name))
                                })?;
                                let p = self.val_param(inner);
                                out.cols.push((*c, param_in(&sql.param, p)));
                            }
                            // A reference named by the caller must be one the caller may read.
                            out.refs.push(fid);
                        }
                        None if creating => {
                            if let Some(FieldDefault::Context { context, field }) = &f.default {
                                let p = self.param(ParamSource::Context {
                                    context: *context,
                                    field: *field,
                                });
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

    /// `parent`: the CTE of the parent rows and this entity's field pointing back to them;
    /// the row is inserted once per parent row, its foreign key taken from the parent.
    fn insert_row(
        &mut self,
        script: &mut Script<'a>,
        entity: EntityId,
        mut input: RowInput<'a, '_>,
        parent: Option<(Ident<'a>, u32)>,
        slot: usize,
        sel: &'a Selected<'_>,
    ) -> Result<(), GqlError> {
        let ir = self.ir;
        let e = ir.entity(entity);
        if let Some((pcte, back)) = parent {
            let FieldKind::ManyToOne {
                target,
                columns,
                target_columns,
                ..
            } = &e.fields[back as usize].kind
            else {
                return Err(bad_request(
                    "a nested collection must point back to its parent",
                ));
            };
            let ptable = ir.entity(*target).table;
            for (c, tc) in columns.iter().zip(target_columns) {
                input.cols.retain(|(x, _)| x != c);
                input.cols.push((*c, self.column(pcte, ptable, *tc)));
            }
            input.cols.sort_by_key(|(c, _)| *c);
        }
        let name = self.cte_name(entity);
        let columns: Vec<Ident<'a>> = input
            .cols
            .iter()
            .map(|(c, _)| Ident::Name(self.column_name(e.table, *c)))
            .collect();
        let values: Vec<Expr<'a>> = input.cols.into_iter().map(|(_, v)| v).collect();
        let source = match parent {
            _ if values.is_empty() => InsertSource::DefaultValues,
            None => InsertSource::Values(vec![values]),
            Some((pcte, _)) => InsertSource::Query(Box::new(Query::select(Select {
                items: values.into_iter().map(sql::item).collect(),
                from: Some(sql::From::Named(pcte)),
                ..Select::default()
            }))),
        };
        let insert = Insert {
            table: self.table_name(e.table),
            columns,
            source,
            returning: returning_star(),
        };
        script.ctes.push(Cte {
            name,
            query: Query {
                with: vec![],
                body: Body::Insert(Box::new(insert)),
            },
        });
        script.outputs.push((name, slot));
        script.add_refs(slot, &input.refs);
        for (fid, v) in input.nested {
            self.nested_create(script, entity, fid, name, v, sel)?;
        }
        Ok(())
    }

    /// `children: [...]` in creation input, or `children: {create: [...]}` in update input.
    fn nested_create(
        &mut self,
        script: &mut Script<'a>,
        parent: EntityId,
        field: u32,
        pcte: Ident<'a>,
        value: &Val,
        sel: &'a Selected<'_>,
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
        script: &mut Script<'a>,
        parent: EntityId,
        field: u32,
        pcte: Ident<'a>,
        value: &Val,
        sel: &'a Selected<'_>,
    ) -> Result<(), GqlError> {
        let ir = self.ir;
        let (target, inverse) = self.collection(parent, field)?;
        let te = ir.entity(target);
        if let Some(create) = value.get(ArgRole::Create.name()).filter(|v| !v.is_null()) {
            self.nested_create(script, parent, field, pcte, create, sel)?;
        }
        let updates = items(value.get(ArgRole::Update.name()));
        if !updates.is_empty() {
            self.require(&te.access.update, target)?;
        }
        for item in updates {
            let a = self.alias(te);
            let cond = self.child_target(target, inverse, pcte, a, &te.access.update, item)?;
            let mut skip = te.pk.clone();
            skip.extend(self.back_references(target, parent, inverse));
            let input = self.row_columns(target, item, false, &skip, sel)?;
            let name = self.cte_name(target);
            let changes = !input.cols.is_empty();
            let query = self.update_or_select(
                te,
                a,
                input.cols,
                cond,
                vec![sql::item(Expr::AllColumns(a))],
            );
            script.ctes.push(Cte { name, query });
            if changes {
                let slot = script.slot(target, false);
                script.outputs.push((name, slot));
                script.add_refs(slot, &input.refs);
            }
            for (fid, v) in input.nested {
                self.nested_update(script, target, fid, name, v, sel)?;
            }
        }
        let deletes = items(value.get(ArgRole::Delete.name()));
        if !deletes.is_empty() {
            self.require(&te.access.delete, target)?;
        }
        for item in deletes {
            let a = self.alias(te);
            let filter = self.child_target(target, inverse, pcte, a, &te.access.delete, item)?;
            let name = self.cte_name(target);
            let delete = Delete {
                table: self.table_name(te.table),
                alias: a,
                using: vec![],
                filter,
                returning: vec![sql::item(Expr::Int(1))],
            };
            script.ctes.push(Cte {
                name,
                query: Query {
                    with: vec![],
                    body: Body::Delete(Box::new(delete)),
                },
            });
        }
        Ok(())
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
        let set = cols
            .into_iter()
            .map(|(c, v)| (Ident::Name(self.column_name(e.table, c)), v))
            .collect();
        Query {
            with: vec![],
            body: Body::Update(Box::new(Update {
                table,
                alias: a,
                set,
                filter,
                returning,
            })),
        }
    }

    /// The child row an element of a nested `update`/`delete` names: a child of a row in
    /// `pcte`, with the given key, allowed by `rule`.
    fn child_target(
        &mut self,
        target: EntityId,
        inverse: u32,
        pcte: Ident<'a>,
        a: Ident<'a>,
        rule: &'a AccessExpr,
        item: &Val,
    ) -> Result<Expr<'a>, GqlError> {
        let te = self.ir.entity(target);
        let mut conds = vec![self.parent_link(target, inverse, pcte, a)];
        for &f in &te.pk {
            let field = &te.fields[f as usize];
            match item.get(&field.name) {
                Some(v) => conds.push(self.key_condition(target, field, a, v)?),
                // The parent supplies its own side of a key made of relations.
                None if f == inverse => {}
                None => {
                    return Err(bad_request(format!(
                        "Missing required primary key field '{}' for nested operation.",
                        field.name
                    )))
                }
            }
        }
        match self.access(rule, target, a) {
            Cond::True => {}
            Cond::False => return Err(GqlError::new("Not authorized")),
            Cond::Sql(s) => conds.push(s),
        }
        Ok(sql::and(conds))
    }

    /// `EXISTS (SELECT 1 FROM pcte WHERE pcte.k = a.fk ...)`: the row belongs to a parent in `pcte`.
    fn parent_link(
        &self,
        target: EntityId,
        inverse: u32,
        pcte: Ident<'a>,
        a: Ident<'a>,
    ) -> Expr<'a> {
        let te = self.ir.entity(target);
        let FieldKind::ManyToOne {
            target: parent,
            columns,
            target_columns,
            ..
        } = &te.fields[inverse as usize].kind
        else {
            return Expr::Bool(false);
        };
        let ptable = self.ir.entity(*parent).table;
        let eqs = sql::and(
            target_columns
                .iter()
                .zip(columns)
                .map(|(x, y)| sql::eq(self.column(pcte, ptable, *x), self.column(a, te.table, *y)))
                .collect(),
        );
        sql::exists(Query::select(Select {
            items: vec![sql::item(Expr::Int(1))],
            from: Some(sql::From::Named(pcte)),
            filter: Some(eqs),
            ..Select::default()
        }))
    }

    /// The target and back-reference of a one-to-many field.
    fn collection(&self, entity: EntityId, field: u32) -> Result<(EntityId, u32), GqlError> {
        match &self.ir.entity(entity).fields[field as usize].kind {
            FieldKind::OneToMany {
                target, inverse, ..
            } => Ok((*target, *inverse)),
            _ => Err(bad_request("not a collection")),
        }
    }

    /// Fields of `child` that nested input omits: every reference to `parent` (the schema
    /// leaves them all out), the back-reference first.
    fn back_references(&self, child: EntityId, parent: EntityId, inverse: u32) -> Vec<u32> {
        let mut out = vec![inverse];
        for (i, f) in self.ir.entity(child).fields.iter().enumerate() {
            if matches!(f.kind, FieldKind::ManyToOne { target, .. } if target == parent)
                && i as u32 != inverse
            {
                out.push(i as u32);
            }
        }
        out
    }

    /// `WITH <ctes> SELECT '<slot>', <keys as text>... FROM <cte> UNION ALL ...`.
    fn script_query(
        &self,
        (ctes, outputs, slots): (Vec<Cte<'a>>, Vec<(Ident<'a>, usize)>, Vec<EntityId>),
    ) -> Query<'a> {
        let width = slots
            .iter()
            .map(|e| self.ir.table(self.ir.entity(*e).table).primary_key.len())
            .max()
            .unwrap_or(1);
        let selects = outputs
            .into_iter()
            .map(|(cte, slot)| {
                let table = self.ir.entity(slots[slot]).table;
                let mut items = vec![sql::cast(sql::str_lit(slot.to_string()), Cast::Text)];
                for c in &self.ir.table(table).primary_key {
                    items.push(sql::cast(self.column(cte, table, *c), Cast::Text));
                }
                while items.len() < width + 1 {
                    items.push(sql::cast(Expr::Null, Cast::Text));
                }
                Select::new(items, sql::From::Named(cte))
            })
            .collect();
        Query {
            with: ctes,
            body: Body::UnionAll(selects),
        }
    }

    /// After the writes: each slot's rows must satisfy their create or update rule, and every
    /// reference the input named must be readable by the caller.
    fn slot_checks(&mut self, script: &Script<'a>, steps: &mut Vec<Step>) -> Result<(), GqlError> {
        for (i, slot) in script.slots.iter().enumerate() {
            if i != 0 && !script.outputs.iter().any(|(_, s)| *s == i) {
                continue;
            }
            let e = self.ir.entity(slot.entity);
            let a = self.alias(e);
            let mut cond = if !slot.check {
                Cond::True
            } else if slot.create {
                self.access(&e.access.create, slot.entity, a)
            } else {
                self.access(&e.access.update, slot.entity, a)
            };
            for &r in &slot.refs {
                let c = self.reference_visible(slot.entity, r, a);
                cond = cond.and(c);
            }
            let rule = match cond {
                Cond::True => continue,
                Cond::False => return Err(GqlError::new("Not authorized")),
                Cond::Sql(s) => s,
            };
            // Rows whose rule is false or unknown.
            let violated = sql::not(sql::func("COALESCE", vec![rule, Expr::Bool(false)]));
            let filter = sql::and(vec![self.keys_filter(e, a, i)?, violated]);
            let count = sql::cast(sql::func("COUNT", vec![Expr::Star]), Cast::Text);
            let q = Query::select(
                Select::new(vec![count], sql::table(self.table_name(e.table), a)).filter(filter),
            );
            steps.push(Step::Check(self.statement(&q)));
        }
        Ok(())
    }

    /// `a.fk IS NULL OR EXISTS (the referenced row, readable by the caller)`.
    fn reference_visible(&mut self, entity: EntityId, field: u32, a: Ident<'a>) -> Cond<'a> {
        let e = self.ir.entity(entity);
        let FieldKind::ManyToOne {
            target,
            columns,
            target_columns,
            ..
        } = &e.fields[field as usize].kind
        else {
            return Cond::True;
        };
        let t = self.ir.entity(*target);
        let b = self.alias(t);
        let rule = self.access(&t.access.query, *target, b);
        let null = sql::is_null(self.column(a, e.table, columns[0]), false);
        match rule {
            Cond::True => Cond::True,
            Cond::False => Cond::Sql(null),
            Cond::Sql(s) => {
                let link: Vec<Expr<'a>> = target_columns
                    .iter()
                    .zip(columns)
                    .map(|(x, y)| sql::eq(self.column(b, t.table, *x), self.column(a, e.table, *y)))
                    .collect();
                let mut filter = link;
                filter.push(s);
                let exists = sql::exists(Query::select(
                    Select::new(vec![Expr::Int(1)], sql::table(self.table_name(t.table), b))
                        .filter(sql::and(filter)),
                ));
                Cond::Sql(sql::or(vec![null, exists]))
            }
        }
    }

    /// `pk::text, ...` of the entity's table (qualified by `alias` when given).
    fn key_texts(&self, e: &'a Entity, alias: Option<Ident<'a>>) -> Vec<sql::SelectItem<'a>> {
        let table = self.ir.table(e.table);
        table
            .primary_key
            .iter()
            .map(|c| {
                let column = Ident::Name(self.column_name(e.table, *c));
                sql::item(sql::cast(
                    Expr::Column {
                        table: alias,
                        column,
                    },
                    Cast::Text,
                ))
            })
            .collect()
    }

    /// `unnest($1::text[], ...)`: the keys of `slot`, one text array per key column.
    fn unnest_keys(&mut self, e: &Entity, slot: usize) -> Result<Expr<'a>, GqlError> {
        let n = self.ir.table(e.table).primary_key.len();
        if n > KEY_NAMES.len() {
            return Err(bad_request(format!(
                "primary keys of more than {} columns are not supported",
                KEY_NAMES.len()
            )));
        }
        let args = (0..n)
            .map(|c| {
                let p = self.param(ParamSource::Keys {
                    slot: slot as u32,
                    column: c as u32,
                });
                sql::cast(p, Cast::Array(Box::new(Cast::Text)))
            })
            .collect();
        Ok(sql::func("unnest", args))
    }

    /// `(pk columns) IN (SELECT k0::<type>, ... FROM unnest(<keys of slot>) AS keys(k0, ...))`:
    /// the text keys cast back to the column types, since comparing `pk::text` instead kept
    /// the primary-key index from serving the lookup, and every read-back scanned the table.
    fn keys_filter(
        &mut self,
        e: &'a Entity,
        a: Ident<'a>,
        slot: usize,
    ) -> Result<Expr<'a>, GqlError> {
        let table = self.ir.table(e.table);
        let call = self.unnest_keys(e, slot)?;
        let cols = table
            .primary_key
            .iter()
            .map(|c| self.column(a, e.table, *c))
            .collect();
        let casts = table
            .primary_key
            .iter()
            .enumerate()
            .map(|(i, c)| {
                sql::cast(
                    Expr::Column {
                        table: None,
                        column: Ident::Plain(KEY_NAMES[i]),
                    },
                    Cast::of_column(&table.columns[*c as usize].ty),
                )
            })
            .collect();
        let names = (0..table.primary_key.len())
            .map(|i| Ident::Plain(KEY_NAMES[i]))
            .collect();
        let from = sql::From::Function {
            call,
            ordinality: false,
            alias: Ident::Plain("keys"),
            columns: names,
        };
        Ok(Expr::InSubquery {
            expr: Box::new(Expr::Tuple(cols)),
            query: Box::new(Query::select(Select::new(casts, from))),
        })
    }

    /// Reads back the rows of slot 0. `input_order`: a list comes back in the order the keys
    /// were collected (a batch create returns its rows in the order of `data`); otherwise by
    /// primary key.
    fn select_by_keys(
        &mut self,
        entity: EntityId,
        many: bool,
        input_order: bool,
        sel: &'a Selected<'_>,
    ) -> Result<Step, GqlError> {
        let e = self.ir.entity(entity);
        let table = self.ir.table(e.table);
        let a = self.alias(e);
        let obj = self.object(entity, a, &sel.selection)?;
        // The written rows are returned only as far as the caller may read them (a row the
        // query rule hides comes back as null, or is left out of a list).
        let read = self.access(&e.access.query, entity, a).into_expr();
        let q = if many && input_order {
            let call = self.unnest_keys(e, 0)?;
            let keys = Ident::Name("keys$");
            let ord = Ident::Name("ord$");
            let mut names: Vec<Ident<'a>> = (0..table.primary_key.len())
                .map(|i| Ident::Plain(KEY_NAMES[i]))
                .collect();
            names.push(Ident::Plain("ord"));
            let on = sql::and(
                table
                    .primary_key
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        sql::eq(
                            self.column(a, e.table, *c),
                            sql::cast(
                                sql::plain_col(keys, KEY_NAMES[i]),
                                Cast::of_column(&table.columns[*c as usize].ty),
                            ),
                        )
                    })
                    .collect(),
            );
            let rows = Select {
                items: vec![
                    sql::item(Expr::AllColumns(a)),
                    sql::SelectItem {
                        expr: sql::plain_col(keys, "ord"),
                        alias: Some(ord),
                    },
                ],
                from: Some(sql::table(self.table_name(e.table), a)),
                joins: vec![sql::Join {
                    item: sql::From::Function {
                        call,
                        ordinality: true,
                        alias: keys,
                        columns: names,
                    },
                    on,
                }],
                ..Select::default()
            }
            .filter(read);
            let order = vec![Order {
                expr: Expr::Column {
                    table: Some(a),
                    column: ord,
                },
                dir: None,
            }];
            Query::select(Select::new(
                vec![sql::cast(json_list(obj, order), Cast::Text)],
                sql::From::Subquery {
                    query: Box::new(Query::select(rows)),
                    alias: a,
                },
            ))
        } else {
            let filter = sql::and(vec![self.keys_filter(e, a, 0)?, read]);
            let rows = Select::new(
                vec![Expr::AllColumns(a)],
                sql::table(self.table_name(e.table), a),
            )
            .filter(filter);
            if many {
                let mut rows = rows;
                rows.order_by =
                    e.pk.iter()
                        .filter_map(|f| match &e.fields[*f as usize].kind {
                            FieldKind::Column { column, .. } => Some(Order {
                                expr: self.column(a, e.table, *column),
                                dir: None,
                            }),
                            _ => None,
                        })
                        .collect();
                Query::select(Select::new(
                    vec![sql::cast(json_list(obj, vec![]), Cast::Text)],
                    sql::From::Subquery {
                        query: Box::new(Query::select(rows)),
                        alias: a,
                    },
                ))
            } else {
                let mut single = rows;
                single.items = vec![sql::item(sql::cast(obj, Cast::Text))];
                single.limit = Some(Expr::Int(1));
                Query::select(single)
            }
        };
        Ok(Step::Json(self.statement(&q)))
    }

    /// The rows an update or delete touches: the rule for the operation, and either the
    /// `where` filter (`many`) or the primary-key arguments.
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
        if many {
            if let Some(w) = sel.role(ArgRole::Where) {
                self.filter_pos = sel.pos;
                let p = self.predicate(entity, a, w)?;
                cond = cond.and(p);
            }
        } else {
            for &f in &e.pk {
                let field = &e.fields[f as usize];
                let v = sel
                    .arg(&field.name)
                    .ok_or_else(|| bad_request(format!("missing argument `{}`", field.name)))?;
                let c = self.key_condition(entity, field, a, v)?;
                cond = cond.and(Cond::Sql(c));
            }
        }
        Ok(cond)
    }

    pub(super) fn update(
        &mut self,
        entity: EntityId,
        many: bool,
        sel: &'a Selected<'_>,
    ) -> Result<RootPlan, GqlError> {
        let e = self.ir.entity(entity);
        let a = self.alias(e);
        let cond = self.targeted_rows(entity, a, &e.access.update, many, sel)?;
        let data = sel
            .role(ArgRole::Data)
            .ok_or_else(|| bad_request("missing `data`"))?;
        let input = self.row_columns(entity, data, false, &[], sel)?;
        // The updated rows must still satisfy the update rule.
        let mut script = Script::new(entity, false, !input.cols.is_empty());
        script.add_refs(0, &input.refs);
        let mut steps = vec![];
        if input.nested.is_empty() {
            let q = self.update_or_select(
                e,
                a,
                input.cols,
                cond.into_expr(),
                self.key_texts(e, Some(a)),
            );
            steps.push(Step::CollectKeys(self.statement(&q)));
        } else {
            let name = self.cte_name(entity);
            let query = self.update_or_select(
                e,
                a,
                input.cols,
                cond.into_expr(),
                vec![sql::item(Expr::AllColumns(a))],
            );
            script.ctes.push(Cte { name, query });
            script.outputs.push((name, 0));
            for (fid, v) in input.nested {
                self.nested_update(&mut script, entity, fid, name, v, sel)?;
            }
            let q = self.script_query(script_take(&mut script));
            steps.push(Step::CollectSlots(self.statement(&q)));
        }
        self.slot_checks(&script, &mut steps)?;
        steps.push(self.select_by_keys(entity, many, false, sel)?);
        Ok(RootPlan::Sql {
            steps,
            no_row: if many { NoRow::EmptyList } else { NoRow::Null },
        })
    }

    pub(super) fn delete(
        &mut self,
        entity: EntityId,
        many: bool,
        sel: &'a Selected<'_>,
    ) -> Result<RootPlan, GqlError> {
        let e = self.ir.entity(entity);
        let table = self.ir.table(e.table);
        let a = self.alias(e);
        let cond = self.targeted_rows(entity, a, &e.access.delete, many, sel)?;
        // Build the JSON before deleting (relations still visible), then delete the same rows.
        let b = self.alias(e);
        let obj = self.object(entity, b, &sel.selection)?;
        // Deleted rows are returned only as far as the caller may read them.
        let read = self.access(&e.access.query, entity, b).into_expr();
        let pk_match = sql::and(
            table
                .primary_key
                .iter()
                .map(|c| sql::eq(self.column(a, e.table, *c), self.column(b, e.table, *c)))
                .collect(),
        );
        let mut targets = Select::new(
            vec![Expr::AllColumns(a)],
            sql::table(self.table_name(e.table), a),
        )
        .filter(cond.into_expr());
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
        let value = if many {
            let order = table
                .primary_key
                .iter()
                .map(|c| Order {
                    expr: self.column(b, e.table, *c),
                    dir: None,
                })
                .collect();
            json_list(obj, order)
        } else {
            obj
        };
        let q = Query {
            with: vec![
                Cte {
                    name: b,
                    query: Query::select(targets),
                },
                Cte {
                    name: deleted,
                    query: Query {
                        with: vec![],
                        body: Body::Delete(Box::new(delete)),
                    },
                },
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

/// Takes the script's statement parts, leaving its slots for the checks that follow.
fn script_take<'a>(
    script: &mut Script<'a>,
) -> (Vec<Cte<'a>>, Vec<(Ident<'a>, usize)>, Vec<EntityId>) {
    let outputs = script.outputs.clone();
    (
        std::mem::take(&mut script.ctes),
        outputs,
        script.slots.iter().map(|s| s.entity).collect(),
    )
}
