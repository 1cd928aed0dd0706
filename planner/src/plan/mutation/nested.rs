//! Nested input: one data-modifying statement with a CTE per written row (children inserted
//! from their parent's CTE, nested updates and deletes restricted to the parent's children),
//! reporting the keys it wrote under slots.

use exo_ir::graphql::ArgRole;
use exo_ir::{AccessExpr, EntityId, FieldKind};

use crate::error::GqlError;
use crate::plan::access::Cond;
use crate::plan::field_access::FieldUse;
use crate::plan::{bad_request, Planner};
use crate::sql::{self, Body, Cast, Cte, Delete, Expr, Ident, Insert, InsertSource, Query, Select};
use crate::validate::Selected;
use crate::value::Val;

use super::{items, returning_star, RowInput, Script};

impl<'a, 'd> Planner<'a, 'd> {
    /// `parent`: the CTE of the parent rows and this entity's field pointing back to them;
    /// the row is inserted once per parent row, its foreign key taken from the parent.
    /// `children_prechecked`: whether the rows nested in it were checked before the write.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn insert_row(
        &mut self,
        script: &mut Script<'a>,
        entity: EntityId,
        mut input: RowInput<'a, '_>,
        parent: Option<(Ident<'a>, u32)>,
        slot: usize,
        children_prechecked: bool,
        sel: &'a Selected<'_>,
    ) -> Result<(), GqlError> {
        let ir = self.ir;
        let e = ir.entity(entity);
        if let Some((pcte, back)) = parent {
            self.take_parent_key(entity, back, pcte, &mut input.cols)?;
        }
        let name = self.cte_name(entity);
        let columns: Vec<Ident<'a>> =
            input.cols.iter().map(|(c, _)| Ident::Name(self.column_name(e.table, *c))).collect();
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
        let insert = Insert { table: self.table_name(e.table), columns, source, returning: returning_star() };
        script.ctes.push(Cte { name, query: Query { with: vec![], body: Body::Insert(Box::new(insert)) } });
        script.outputs.push((name, slot));
        for (fid, v) in input.nested {
            self.nested_create(script, entity, fid, name, v, children_prechecked, children_prechecked, sel)?;
        }
        Ok(())
    }

    /// The foreign key of a child row (its field `back`) taken from its parent's row in
    /// `pcte`, in place of any value the input gave it.
    pub(super) fn take_parent_key(
        &self,
        entity: EntityId,
        back: u32,
        pcte: Ident<'a>,
        cols: &mut Vec<(u32, Expr<'a>)>,
    ) -> Result<(), GqlError> {
        let ir = self.ir;
        let FieldKind::ManyToOne { target, columns, target_columns, .. } =
            &ir.entity(entity).fields[back as usize].kind
        else {
            return Err(bad_request("a nested collection must point back to its parent"));
        };
        let ptable = ir.entity(*target).table;
        for (c, tc) in columns.iter().zip(target_columns) {
            cols.retain(|(x, _)| x != c);
            cols.push((*c, self.column(pcte, ptable, *tc)));
        }
        cols.sort_by_key(|(c, _)| *c);
        Ok(())
    }

    /// `children: [...]` in creation input, or `children: {create: [...]}` in update input.
    /// `prechecked`: the rows' create rule was checked before the write ([`super::precheck`]):
    /// rows nested in creation input, and rows nested in update input under the rows it
    /// targets; otherwise (rows under a row that update input creates, whose parents are many
    /// rows not yet written) it is checked after the write. `deeper`: the same for the rows
    /// nested in these.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn nested_create(
        &mut self,
        script: &mut Script<'a>,
        parent: EntityId,
        field: u32,
        pcte: Ident<'a>,
        value: &Val,
        prechecked: bool,
        deeper: bool,
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
        let slot = script.slot(target, true, !prechecked);
        let skip = self.back_references(target, parent, inverse);
        for row in rows {
            // A field rule the context refuses fails now; one over the row joins the slot's
            // check.
            let mark = self.aliases;
            let probe = self.alias(self.ir.entity(target));
            self.input_rule(target, probe, row, FieldUse::Create)?;
            self.aliases = mark;
            let ruled = self.ruled_input_fields(target, row);
            script.add_fields(slot, &ruled);
            let input = self.row_columns(target, row, true, &skip, sel)?;
            self.insert_row(script, target, input, Some((pcte, inverse)), slot, deeper, sel)?;
        }
        Ok(())
    }

    /// `children: {create, update, delete}` in update input, applied to the children of the
    /// rows in `pcte`.
    pub(super) fn nested_update(
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
            self.nested_create(script, parent, field, pcte, create, true, false, sel)?;
        }
        let updates = items(value.get(ArgRole::Update.name()));
        if !updates.is_empty() {
            self.require(&te.access.update, target)?;
        }
        for item in updates {
            let a = self.alias(te);
            let cond = self.child_target(target, inverse, pcte, a, &te.access.update, item)?;
            // A child whose field the caller may not write is left alone.
            let fields = self.input_rule(target, a, item, FieldUse::Update)?;
            let cond = Cond::Sql(cond).and(fields).into_expr();
            let mut skip = te.pk.clone();
            skip.extend(self.back_references(target, parent, inverse));
            let input = self.row_columns(target, item, false, &skip, sel)?;
            let name = self.cte_name(target);
            let changes = !input.cols.is_empty();
            let query = self.update_or_select(te, a, input.cols, cond, vec![sql::item(Expr::AllColumns(a))]);
            script.ctes.push(Cte { name, query });
            if changes {
                // Checked before the write, with the rest of the update.
                let slot = script.slot(target, false, false);
                script.outputs.push((name, slot));
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
            script.ctes.push(Cte { name, query: Query { with: vec![], body: Body::Delete(Box::new(delete)) } });
        }
        Ok(())
    }

    /// The child row an element of a nested `update`/`delete` names: a child of a row in
    /// `pcte`, with the given key, allowed by `rule`.
    pub(super) fn child_target(
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
        let mut cond = self.access(rule, target, a);
        if matches!(cond, Cond::False) {
            return Err(GqlError::new("Not authorized"));
        }
        // A child the caller may not read is not touched (it behaves as absent).
        if te.access.query != *rule {
            let read = self.read_access(&te.access.query, target, a);
            cond = self.and_new(cond, read);
        }
        if let Cond::Sql(s) = cond {
            conds.push(s);
        } else if matches!(cond, Cond::False) {
            conds.push(Expr::Bool(false));
        }
        Ok(sql::and(conds))
    }

    /// `EXISTS (SELECT 1 FROM pcte WHERE pcte.k = a.fk ...)`: the row belongs to a parent in `pcte`.
    pub(super) fn parent_link(&self, target: EntityId, inverse: u32, pcte: Ident<'a>, a: Ident<'a>) -> Expr<'a> {
        let te = self.ir.entity(target);
        let FieldKind::ManyToOne { target: parent, columns, target_columns, .. } = &te.fields[inverse as usize].kind
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
    pub(super) fn collection(&self, entity: EntityId, field: u32) -> Result<(EntityId, u32), GqlError> {
        match &self.ir.entity(entity).fields[field as usize].kind {
            FieldKind::OneToMany { target, inverse, .. } => Ok((*target, *inverse)),
            _ => Err(bad_request("not a collection")),
        }
    }

    /// Fields of `child` that nested input omits: every reference to `parent` (the schema
    /// leaves them all out), the back-reference first.
    pub(super) fn back_references(&self, child: EntityId, parent: EntityId, inverse: u32) -> Vec<u32> {
        let mut out = vec![inverse];
        for (i, f) in self.ir.entity(child).fields.iter().enumerate() {
            if matches!(f.kind, FieldKind::ManyToOne { target, .. } if target == parent) && i as u32 != inverse {
                out.push(i as u32);
            }
        }
        out
    }

    /// `WITH <ctes> SELECT '<slot>', <keys as text>... FROM <cte> UNION ALL ...`.
    pub(super) fn script_query(
        &self,
        (ctes, outputs, slots): (Vec<Cte<'a>>, Vec<(Ident<'a>, usize)>, Vec<EntityId>),
    ) -> Query<'a> {
        let width = slots.iter().map(|e| self.ir.table(self.ir.entity(*e).table).primary_key.len()).max().unwrap_or(1);
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
        Query { with: ctes, body: Body::UnionAll(selects) }
    }
}

/// Takes the script's statement parts, leaving its slots for the checks that follow.
pub(super) fn script_take<'a>(script: &mut Script<'a>) -> (Vec<Cte<'a>>, Vec<(Ident<'a>, usize)>, Vec<EntityId>) {
    let outputs = script.outputs.clone();
    (std::mem::take(&mut script.ctes), outputs, script.slots.iter().map(|s| s.entity).collect())
}
