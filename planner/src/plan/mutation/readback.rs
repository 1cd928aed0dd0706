//! After the writes: checks that the written rows satisfy their rules (and that references
//! named in the input are readable), and the read-back of the root field's rows by the keys
//! the writes reported (bound as parameters).

use exo_ir::{Entity, EntityId};

use crate::error::GqlError;
use crate::plan::access::Cond;
use crate::plan::field_access::FieldUse;
use crate::plan::select::json_list;
use crate::plan::{bad_request, ParamSource, Planner, Step};
use crate::sql::{self, Cast, Expr, Ident, Order, Query, Select};
use crate::validate::Selected;

use super::Script;

/// Names of key columns in `unnest(...) AS keys(k0, k1, ...)`.
const KEY_NAMES: [&str; 8] = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];

impl<'a, 'd> Planner<'a, 'd> {
    /// After the writes: rows created under a row that update input creates must satisfy
    /// their create rule (and the rules of the ruled fields their input named). The rules of
    /// every other written row, and the references the input named, were checked before the
    /// write ([`super::precheck`]).
    pub(super) fn slot_checks(&mut self, script: &Script<'a>, steps: &mut Vec<Step>) -> Result<(), GqlError> {
        for (i, slot) in script.slots.iter().enumerate() {
            if i != 0 && !script.outputs.iter().any(|(_, s)| *s == i) {
                continue;
            }
            let e = self.ir.entity(slot.entity);
            let a = self.alias(e);
            // Collections in the rules are read without the rows this statement created.
            self.unwritten = script
                .slots
                .iter()
                .enumerate()
                .filter(|(j, s)| s.create && (*j == 0 || script.outputs.iter().any(|(_, o)| o == j)))
                .map(|(j, s)| (s.entity, j))
                .collect();
            let mut cond = if !slot.check {
                Cond::True
            } else if slot.create {
                self.access(&e.access.create, slot.entity, a)
            } else {
                self.access(&e.access.update, slot.entity, a)
            };
            self.unwritten.clear();
            let use_ = if slot.create { FieldUse::Create } else { FieldUse::Update };
            for &f in slot.fields.iter().filter(|_| slot.check) {
                let c = self.field_rule(slot.entity, f, use_, a)?;
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
            let q = Query::select(Select::new(vec![count], sql::table(self.table_name(e.table), a)).filter(filter));
            steps.push(Step::Check(self.statement(&q)));
        }
        Ok(())
    }

    /// `unnest($1::text[], ...)`: the keys of `slot`, one text array per key column.
    pub(super) fn unnest_keys(&mut self, e: &Entity, slot: usize) -> Result<Expr<'a>, GqlError> {
        let n = self.ir.table(e.table).primary_key.len();
        if n > KEY_NAMES.len() {
            return Err(bad_request(format!(
                "primary keys of more than {} columns are not supported",
                KEY_NAMES.len()
            )));
        }
        let args = (0..n)
            .map(|c| {
                let p = self.param(ParamSource::Keys { slot: slot as u32, column: c as u32 });
                sql::cast(p, Cast::Array(Box::new(Cast::Text)))
            })
            .collect();
        Ok(sql::func("unnest", args))
    }

    /// `(pk columns) IN (SELECT k0::<type>, ... FROM unnest(<keys of slot>) AS keys(k0, ...))`:
    /// the text keys cast back to the column types, since comparing `pk::text` instead kept
    /// the primary-key index from serving the lookup, and every read-back scanned the table.
    pub(in crate::plan) fn keys_filter(
        &mut self,
        e: &'a Entity,
        a: Ident<'a>,
        slot: usize,
    ) -> Result<Expr<'a>, GqlError> {
        let table = self.ir.table(e.table);
        let call = self.unnest_keys(e, slot)?;
        let cols = table.primary_key.iter().map(|c| self.column(a, e.table, *c)).collect();
        let casts = table
            .primary_key
            .iter()
            .enumerate()
            .map(|(i, c)| {
                sql::cast(
                    Expr::Column { table: None, column: Ident::Plain(KEY_NAMES[i]) },
                    Cast::of_column(&table.columns[*c as usize].ty),
                )
            })
            .collect();
        let names = (0..table.primary_key.len()).map(|i| Ident::Plain(KEY_NAMES[i])).collect();
        let from = sql::From::Function { call, ordinality: false, alias: Ident::Plain("keys"), columns: names };
        Ok(Expr::InSubquery {
            expr: Box::new(Expr::Tuple(cols)),
            query: Box::new(Query::select(Select::new(casts, from))),
        })
    }

    /// Reads back the rows of slot 0. A list comes back in the order the keys were collected:
    /// the statement's order (a batch create returns its rows in the order of `data`, an
    /// update in the order Postgres updated them), never sorted afterwards.
    pub(super) fn select_by_keys(
        &mut self,
        entity: EntityId,
        many: bool,
        sel: &'a Selected<'_>,
    ) -> Result<Step, GqlError> {
        let e = self.ir.entity(entity);
        let table = self.ir.table(e.table);
        let a = self.alias(e);
        let obj = self.object(entity, a, &sel.selection)?;
        // The written rows are returned only as far as the caller may read them (a row the
        // query rule, or the read rule of a selected field, hides comes back as null, or is
        // left out of a list).
        let read = self.read_access(&e.access.query, entity, a);
        let read = read.and(self.selection_rule(entity, a, &sel.selection)?).into_expr();
        let q = if many {
            let call = self.unnest_keys(e, 0)?;
            let keys = Ident::Name("keys$");
            let ord = Ident::Name("ord$");
            let mut names: Vec<Ident<'a>> = (0..table.primary_key.len()).map(|i| Ident::Plain(KEY_NAMES[i])).collect();
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
                    sql::SelectItem { expr: sql::plain_col(keys, "ord"), alias: Some(ord) },
                ],
                from: Some(sql::table(self.table_name(e.table), a)),
                joins: vec![sql::Join {
                    item: sql::From::Function { call, ordinality: true, alias: keys, columns: names },
                    on,
                }],
                ..Select::default()
            }
            .filter(read);
            let order = vec![Order { expr: Expr::Column { table: Some(a), column: ord }, dir: None }];
            Query::select(Select::new(
                vec![sql::cast(json_list(obj, order), Cast::Text)],
                sql::From::Subquery { query: Box::new(Query::select(rows)), alias: a },
            ))
        } else {
            let filter = sql::and(vec![self.keys_filter(e, a, 0)?, read]);
            let rows = Select::new(vec![Expr::AllColumns(a)], sql::table(self.table_name(e.table), a)).filter(filter);
            let mut single = rows;
            single.items = vec![sql::item(sql::cast(obj, Cast::Text))];
            single.limit = Some(Expr::Int(1));
            Query::select(single)
        };
        Ok(Step::Json(self.statement(&q)))
    }
}
