//! Create and update rules checked before the write, as Exograph documents them: a create
//! rule is evaluated on the input rows, an update rule on each targeted row with the new
//! values laid over it. Relation paths in the rules (`self.chat.participants.some(...)`) read
//! the database as it is before the write, so a row can never authorize itself (a membership
//! whose rule asks for a membership). The check is its own statement, run before the write in
//! the same transaction: a refusal writes nothing, and a refused create of an existing key
//! answers "Not authorized" rather than a duplicate-key failure.

use exo_ir::{ColumnId, Entity, EntityId, FieldDefault, FieldKind};

use crate::error::GqlError;
use crate::plan::access::{json_param_text, literal_json, Cond};
use crate::plan::field_access::{not_authorized, FieldUse};
use crate::plan::{param_in, ParamSource, Planner, Step};
use crate::sql::{self, Body, Cast, Expr, Ident, Query, Select};
use crate::validate::Selected;
use crate::value::Val;

/// `NOT COALESCE(rule, false)`: the rule is false or unknown.
fn violated(rule: Expr<'_>) -> Expr<'_> {
    sql::not(sql::func("COALESCE", vec![rule, Expr::Bool(false)]))
}

impl<'a, 'd> Planner<'a, 'd> {
    /// Every column of `e`'s table as it would be written, named as the table names it: the
    /// input's value, else the existing row's (`base`, for an update), else the model's
    /// default (a literal, an enum value, the current time), else a typed `NULL` (a value the
    /// database generates, such as a serial key or a random UUID, is not known before the
    /// write).
    fn pseudo_row(
        &mut self,
        e: &'a Entity,
        mut cols: Vec<(ColumnId, Expr<'a>)>,
        base: Option<Ident<'a>>,
    ) -> Vec<sql::SelectItem<'a>> {
        let table = self.ir.table(e.table);
        let mut items = Vec::with_capacity(table.columns.len());
        for c in 0..table.columns.len() as ColumnId {
            let expr = match cols.iter().position(|(x, _)| *x == c) {
                Some(i) => cols.swap_remove(i).1,
                None => match base {
                    Some(b) => self.column(b, e.table, c),
                    None => self
                        .default_value(e, c)
                        .unwrap_or_else(|| sql::cast(Expr::Null, Cast::of_column(&table.columns[c as usize].ty))),
                },
            };
            items.push(sql::SelectItem { expr, alias: Some(Ident::Name(self.column_name(e.table, c))) });
        }
        items
    }

    /// The value the model's default gives column `c`, when it is known before the write.
    fn default_value(&mut self, e: &'a Entity, c: ColumnId) -> Option<Expr<'a>> {
        let (sql, default) = e.fields.iter().find_map(|f| match &f.kind {
            FieldKind::Column { column, sql, .. } if *column == c => Some((sql, f.default.as_ref()?)),
            _ => None,
        })?;
        let text = match default {
            FieldDefault::Literal(l) => json_param_text(&literal_json(l))?,
            FieldDefault::EnumVariant(v) => v.clone(),
            FieldDefault::Now => {
                let ty = &self.ir.table(e.table).columns[c as usize].ty;
                return Some(sql::cast(sql::func("now", vec![]), Cast::of_column(ty)));
            }
            _ => return None,
        };
        let p = self.param(ParamSource::Const(Some(text)));
        Some(param_in(&sql.param, p))
    }

    /// `SELECT COUNT(*)::text FROM (<branches> UNION ALL ...) AS checked`.
    fn count_violations(&mut self, branches: Vec<Select<'a>>) -> Step {
        let rows = Query { with: vec![], body: Body::UnionAll(branches) };
        let q = Query::select(Select::new(
            vec![sql::cast(sql::func("COUNT", vec![Expr::Star]), Cast::Text)],
            sql::From::Subquery { query: Box::new(rows), alias: Ident::Plain("checked") },
        ));
        Step::Check(self.statement(&q))
    }

    /// The check before `createT`/`createTs`: each input row, as it would be written, must
    /// meet the type's create rule and the create rules of the fields it names. `None` when
    /// the context alone allows every row.
    pub(super) fn create_precheck(
        &mut self,
        entity: EntityId,
        rows: &[&Val],
        sel: &'a Selected<'_>,
    ) -> Result<Option<Step>, GqlError> {
        let e = self.ir.entity(entity);
        let mut branches = vec![];
        for row in rows {
            let mark = self.aliases;
            let a = self.alias(e);
            let rule = self.access(&e.access.create, entity, a);
            let rule = rule.and(self.input_rule(entity, a, row, FieldUse::Create)?);
            let rule = match rule {
                Cond::True => {
                    // No statement uses the alias: give it back, so plans without a check
                    // keep their names.
                    self.aliases = mark;
                    continue;
                }
                Cond::False => return Err(not_authorized()),
                Cond::Sql(s) => s,
            };
            let input = self.row_columns(entity, row, true, &[], sel)?;
            let items = self.pseudo_row(e, input.cols, None);
            let written = Query::select(Select { items, ..Select::default() });
            branches.push(
                Select::new(vec![Expr::Int(1)], sql::From::Subquery { query: Box::new(written), alias: a })
                    .filter(violated(rule)),
            );
        }
        if branches.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.count_violations(branches)))
    }

    /// The check before `updateT`/`updateTs`: every row the update targets (already passing
    /// the update rule as it is) must meet the update rule with the new values laid over it.
    /// `None` when the input sets no column or the context alone allows it.
    pub(super) fn update_precheck(
        &mut self,
        entity: EntityId,
        many: bool,
        data: &Val,
        sel: &'a Selected<'_>,
    ) -> Result<Option<Step>, GqlError> {
        let e = self.ir.entity(entity);
        // Without a check no statement uses these aliases: they are given back, so plans
        // without a check keep their names.
        let mark = self.aliases;
        let b = self.alias(e);
        let target = self.update_targets(entity, b, many, data, sel)?;
        let input = self.row_columns(entity, data, false, &[], sel)?;
        if input.cols.is_empty() {
            self.aliases = mark;
            return Ok(None);
        }
        let a = self.alias(e);
        let rule = match self.access(&e.access.update, entity, a) {
            Cond::True => {
                self.aliases = mark;
                return Ok(None);
            }
            Cond::False => return Err(not_authorized()),
            Cond::Sql(s) => s,
        };
        let items = self.pseudo_row(e, input.cols, Some(b));
        let written = Query::select(Select {
            items,
            from: Some(sql::table(self.table_name(e.table), b)),
            filter: Some(target.into_expr()),
            ..Select::default()
        });
        let branch = Select::new(vec![Expr::Int(1)], sql::From::Subquery { query: Box::new(written), alias: a })
            .filter(violated(rule));
        Ok(Some(self.count_violations(vec![branch])))
    }

    /// The rows an update writes, at alias `a`: the update rule on the row as it is, the keys
    /// or the `where` filter, and the update rules of the fields the input names (a row whose
    /// field the caller may not write is left alone).
    pub(super) fn update_targets(
        &mut self,
        entity: EntityId,
        a: Ident<'a>,
        many: bool,
        data: &Val,
        sel: &'a Selected<'_>,
    ) -> Result<Cond<'a>, GqlError> {
        let e = self.ir.entity(entity);
        let cond = self.targeted_rows(entity, a, &e.access.update, many, sel)?;
        let fields = self.input_rule(entity, a, data, FieldUse::Update)?;
        Ok(cond.and(fields))
    }
}
