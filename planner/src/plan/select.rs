//! Selections: root lookups and lists, and the `json_build_object` trees that make Postgres
//! shape each row's JSON (relations as correlated subqueries, aggregates). The read rules of
//! the selected fields join each row filter ([`super::field_access`]).

use exo_ir::graphql::{AggOp, ArgRole, Resolver};
use exo_ir::{EntityId, Field, FieldKind, ScalarType};

use super::access::Cond;
use super::{bad_request, json_value, param_in, Planner, RootPlan};
use crate::error::GqlError;
use crate::plan::{NoRow, ParamSource, Step};
use crate::sql::{self, Cast, Expr, Ident, Order, ParamId, Query, Select};
use crate::validate::Selected;
use crate::value::Val;

impl<'a, 'd> Planner<'a, 'd> {
    /// `todo(id:)` / `userByEmail(email:)`: the row whose `fields` equal the arguments.
    pub(super) fn lookup(
        &mut self,
        entity: EntityId,
        fields: &[u32],
        sel: &'a Selected<'_>,
    ) -> Result<RootPlan, GqlError> {
        let e = self.ir.entity(entity);
        let a = self.alias(e);
        let mut conds = vec![];
        for &f in fields {
            let field = &e.fields[f as usize];
            let v = sel.arg(&field.name).ok_or_else(|| bad_request(format!("missing argument `{}`", field.name)))?;
            conds.push(self.key_condition(entity, field, a, v)?);
            // The key obeys the read rules a `where` equality on it obeys: a lookup must not
            // find a row by a value (or a related row) the caller may not see.
            match self.key_rule(entity, f, a)? {
                Cond::True => {}
                c => conds.push(c.into_expr()),
            }
        }
        // One row or null.
        match self.read_access(&e.access.query, entity, a) {
            Cond::False => return Err(GqlError::new("Not authorized")),
            Cond::True => {}
            Cond::Sql(s) => conds.push(s),
        }
        if let Cond::Sql(s) = self.selection_rule(entity, a, &sel.selection)? {
            conds.push(s);
        }
        let obj = self.object(entity, a, &sel.selection)?;
        let q = Query::select(
            Select::new(vec![sql::cast(obj, Cast::Text)], sql::table(self.table_name(e.table), a))
                .filter(sql::and(conds)),
        );
        Ok(RootPlan::Sql { steps: vec![Step::Json(self.statement(&q))], no_row: NoRow::Null })
    }

    /// `todos(where, orderBy, limit, offset)`: the JSON list of the rows.
    pub(super) fn collection_root(&mut self, entity: EntityId, sel: &'a Selected<'_>) -> Result<RootPlan, GqlError> {
        let e = self.ir.entity(entity);
        let a = self.alias(e);
        let Some((rows, cap)) = self.list_rows(entity, a, None, sel)? else {
            return Err(GqlError::new("Not authorized"));
        };
        let obj = self.object(entity, a, &sel.selection)?;
        let q = Query::select(Select::new(
            vec![sql::cast(capped_list(obj, cap, &sel.key), Cast::Text)],
            sql::From::Subquery { query: Box::new(rows), alias: a },
        ));
        Ok(RootPlan::Sql { steps: vec![Step::Json(self.statement(&q))], no_row: NoRow::EmptyList })
    }

    /// `todosAgg(where)`.
    pub(super) fn aggregate_root(&mut self, entity: EntityId, sel: &'a Selected<'_>) -> Result<RootPlan, GqlError> {
        let e = self.ir.entity(entity);
        let a = self.alias(e);
        let Some(rows) = self.filtered_rows(entity, a, None, sel)? else {
            return Err(GqlError::new("Not authorized"));
        };
        let obj = self.aggregate_object(entity, a, &sel.selection)?;
        let q = Query::select(Select::new(
            vec![sql::cast(obj, Cast::Text)],
            sql::From::Subquery { query: Box::new(rows), alias: a },
        ));
        Ok(RootPlan::Sql { steps: vec![Step::Json(self.statement(&q))], no_row: NoRow::Null })
    }

    /// `alias.col = $n` for a key field (a scalar, or a relation given as `{pk: value}`).
    pub(super) fn key_condition(
        &mut self,
        entity: EntityId,
        field: &'a Field,
        a: Ident<'a>,
        v: &Val,
    ) -> Result<Expr<'a>, GqlError> {
        let e = self.ir.entity(entity);
        match &field.kind {
            FieldKind::Column { sql, column, .. } => {
                // An `Int` argument is 64-bit: one too wide for the key's column is a
                // conversion error, not a failed cast in Postgres.
                if field.validation.int_bits.is_some() {
                    let width = exo_ir::Validation { int_bits: field.validation.int_bits, ..Default::default() };
                    self.check_value_now_and_later(&field.name, &width, v, self.filter_pos)?;
                }
                let p = self.val_param(v);
                Ok(sql::eq(self.column(a, e.table, *column), param_in(&sql.param, p)))
            }
            FieldKind::ManyToOne { target, columns, target_columns, .. } => {
                let t = self.ir.entity(*target);
                let mut parts = vec![];
                for (c, tc) in columns.iter().zip(target_columns) {
                    // The target's key field owning this column.
                    let tfield = t
                        .fields
                        .iter()
                        .find(|f| matches!(&f.kind, FieldKind::Column { column, .. } if column == tc))
                        .ok_or_else(|| {
                            bad_request("composite relation keys nested more than one level are not supported")
                        })?;
                    let inner = v
                        .get(&tfield.name)
                        .ok_or_else(|| bad_request(format!("missing key field `{}`", tfield.name)))?;
                    let p = self.val_param(inner);
                    let value = match &tfield.kind {
                        FieldKind::Column { sql, .. } => param_in(&sql.param, p),
                        _ => p,
                    };
                    parts.push(sql::eq(self.column(a, e.table, *c), value));
                }
                Ok(sql::and(parts))
            }
            FieldKind::OneToMany { .. } => Err(bad_request("a collection cannot be a key")),
        }
    }

    /// The rows of a list field ([`Self::filtered_rows`]), capped: without an explicit
    /// `limit`, at most the cap plus one (`LIMIT $n`, [`ParamSource::ListCap`]), with that
    /// parameter for [`capped_list`] to tell a list over the cap; an explicit `limit` is
    /// checked against the cap when it is bound ([`ParamSource::Limit`]).
    pub(super) fn list_rows(
        &mut self,
        entity: EntityId,
        a: Ident<'a>,
        join: Option<Expr<'a>>,
        sel: &'a Selected<'_>,
    ) -> Result<Option<(Query<'a>, Option<ParamId>)>, GqlError> {
        let explicit = sel.role(ArgRole::Limit).is_some_and(|v| !v.is_null());
        let cap = (!explicit).then(|| self.params.add_id(ParamSource::ListCap));
        Ok(self.rows(entity, a, join, sel, cap)?.map(|q| (q, cap)))
    }

    /// `SELECT a.* FROM table AS a WHERE <relation> AND <where> AND <access> ORDER BY .. LIMIT ..
    /// OFFSET ..`, or `None` when access is denied outright.
    pub(super) fn filtered_rows(
        &mut self,
        entity: EntityId,
        a: Ident<'a>,
        join: Option<Expr<'a>>,
        sel: &'a Selected<'_>,
    ) -> Result<Option<Query<'a>>, GqlError> {
        self.rows(entity, a, join, sel, None)
    }

    fn rows(
        &mut self,
        entity: EntityId,
        a: Ident<'a>,
        join: Option<Expr<'a>>,
        sel: &'a Selected<'_>,
        cap: Option<ParamId>,
    ) -> Result<Option<Query<'a>>, GqlError> {
        let e = self.ir.entity(entity);
        let mut cond = match join {
            Some(j) => Cond::Sql(j),
            None => Cond::True,
        };
        if let Some(w) = sel.role(ArgRole::Where) {
            self.filter_pos = sel.pos;
            let p = self.guarded_predicate(entity, a, w)?;
            cond = cond.and(p);
        }
        let access = self.read_access(&e.access.query, entity, a);
        if matches!(access, Cond::False) {
            return Ok(None);
        }
        cond = cond.and(access);
        // The rows (or the aggregate's rows) pass the read rules of the fields selected.
        let fields = self.selection_rule(entity, a, &sel.selection)?;
        cond = cond.and(fields);
        let mut select =
            Select::new(vec![Expr::AllColumns(a)], sql::table(self.table_name(e.table), a)).filter(cond.into_expr());
        select.order_by = match sel.role(ArgRole::OrderBy) {
            Some(o) if !o.is_null() => self.order_by(entity, a, o)?,
            _ => vec![],
        };
        // No `orderBy`, no order: rows come in Postgres's order, as in Exograph (an implicit
        // sort by key would cost a sort on every unordered read).
        if let Some(l) = sel.role(ArgRole::Limit).filter(|v| !v.is_null()) {
            if l.as_i64().is_some_and(|x| x < 0) {
                return Err(GqlError::at("Invalid value for 'limit': must not be negative", sel.pos));
            }
            let src = match self.val_param_source(l) {
                src @ ParamSource::Const(None) => src,
                src => ParamSource::Limit(Box::new(src)),
            };
            select.limit = Some(sql::cast(self.param(src), Cast::Int8));
        } else if let Some(cap) = cap {
            select.limit = Some(sql::cast(Expr::Param(cap), Cast::Int8));
        }
        if let Some(o) = sel.role(ArgRole::Offset).filter(|v| !v.is_null()) {
            if o.as_i64().is_some_and(|x| x < 0) {
                return Err(GqlError::at("Invalid value for 'offset': must not be negative", sel.pos));
            }
            select.offset = Some(sql::cast(self.val_param(o), Cast::Int8));
        }
        Ok(Some(Query::select(select)))
    }

    /// `json_build_object(...)` for the selection of an entity row bound to alias `a`.
    pub(super) fn object(
        &mut self,
        entity: EntityId,
        a: Ident<'a>,
        selection: &'a [Selected<'_>],
    ) -> Result<Expr<'a>, GqlError> {
        let e = self.ir.entity(entity);
        let mut pairs = Vec::with_capacity(selection.len() * 2);
        for s in selection {
            let value = match s.field.resolver {
                Resolver::Meta => sql::str_lit(e.name.as_str()),
                Resolver::EntityField { field, .. } => self.field_value(entity, field, a, s)?,
                Resolver::RelationAggregate { field, .. } => {
                    let FieldKind::OneToMany { target, inverse, .. } = &e.fields[field as usize].kind else {
                        return Err(bad_request("aggregate over a non-collection"));
                    };
                    let b = self.alias(self.ir.entity(*target));
                    let join = self.many_to_one_join(*target, *inverse, b, a);
                    // A read rule false from the context alone refuses the whole request, as
                    // at the root (Exograph does the same for nested selections).
                    match self.filtered_rows(*target, b, Some(join), s)? {
                        None => return Err(GqlError::new("Not authorized")),
                        Some(rows) => {
                            let obj = self.aggregate_object(*target, b, &s.selection)?;
                            sql::subquery(Query::select(Select::new(
                                vec![obj],
                                sql::From::Subquery { query: Box::new(rows), alias: b },
                            )))
                        }
                    }
                }
                _ => return Err(bad_request(format!("unexpected field `{}`", s.field.name))),
            };
            pairs.push(sql::str_lit(s.key.as_str()));
            pairs.push(value);
        }
        Ok(build_object(pairs))
    }

    /// The JSON value of one field of row `a`.
    fn field_value(
        &mut self,
        entity: EntityId,
        field_id: u32,
        a: Ident<'a>,
        s: &'a Selected<'_>,
    ) -> Result<Expr<'a>, GqlError> {
        let e = self.ir.entity(entity);
        let f = &e.fields[field_id as usize];
        let value = match &f.kind {
            FieldKind::Column { sql, column, .. } => json_value(sql, self.column(a, e.table, *column)),
            FieldKind::ManyToOne { target, .. } => {
                let t = self.ir.entity(*target);
                let b = self.alias(t);
                let join = self.many_to_one_join(entity, field_id, a, b);
                self.related_object(*target, b, join, s, false)?
            }
            FieldKind::OneToMany { target, inverse, one_to_one } => {
                let t = self.ir.entity(*target);
                let b = self.alias(t);
                let join = self.many_to_one_join(*target, *inverse, b, a);
                if *one_to_one {
                    self.related_object(*target, b, join, s, true)?
                } else {
                    match self.list_rows(*target, b, Some(join), s)? {
                        None => return Err(GqlError::new("Not authorized")),
                        Some((rows, cap)) => {
                            let obj = self.object(*target, b, &s.selection)?;
                            sql::subquery(Query::select(Select::new(
                                vec![capped_list(obj, cap, &s.key)],
                                sql::From::Subquery { query: Box::new(rows), alias: b },
                            )))
                        }
                    }
                }
            }
        };
        // Field-level access is enforced on the row filter by whoever selects the row
        // (`selection_rule`), so the value is never read for a row the rule hides.
        Ok(value)
    }

    /// `(SELECT json_build_object(...) FROM target AS b WHERE join AND <read rule>)`: the one
    /// related row, or `NULL` when the rule filters it out; "Not authorized" when the rule is
    /// false from the context alone.
    fn related_object(
        &mut self,
        target: EntityId,
        b: Ident<'a>,
        join: Expr<'a>,
        s: &'a Selected<'_>,
        limit_one: bool,
    ) -> Result<Expr<'a>, GqlError> {
        let t = self.ir.entity(target);
        let access = self.read_access(&t.access.query, target, b);
        if matches!(access, Cond::False) {
            return Err(GqlError::new("Not authorized"));
        }
        let fields = self.selection_rule(target, b, &s.selection)?;
        let obj = self.object(target, b, &s.selection)?;
        let mut select = Select::new(vec![obj], sql::table(self.table_name(t.table), b))
            .filter(Cond::Sql(join).and(access).and(fields).into_expr());
        if limit_one {
            select.limit = Some(Expr::Int(1));
        }
        Ok(sql::subquery(Query::select(select)))
    }

    /// For many-to-one field `field` of `entity` at alias `a`, the condition matching the
    /// referenced row at alias `b` (`b.pk = a.fk`). Seen from the other side, it joins a
    /// one-to-many relation's rows `a` to their parent `b`.
    pub(super) fn many_to_one_join(&self, entity: EntityId, field: u32, a: Ident<'a>, b: Ident<'a>) -> Expr<'a> {
        let e = self.ir.entity(entity);
        let FieldKind::ManyToOne { target, columns, target_columns, .. } = &e.fields[field as usize].kind else {
            return Expr::Bool(false);
        };
        let ttable = self.ir.entity(*target).table;
        sql::and(
            columns
                .iter()
                .zip(target_columns)
                .map(|(c, tc)| sql::eq(self.column(b, ttable, *tc), self.column(a, e.table, *c)))
                .collect(),
        )
    }

    /// `json_build_object` of a `TAgg` selection over rows at alias `a`.
    pub(super) fn aggregate_object(
        &mut self,
        entity: EntityId,
        a: Ident<'a>,
        selection: &'a [Selected<'_>],
    ) -> Result<Expr<'a>, GqlError> {
        let e = self.ir.entity(entity);
        let mut pairs = vec![];
        for s in selection {
            let value = match s.field.resolver {
                Resolver::Meta => sql::str_lit(s.parent),
                Resolver::AggregateField { field, .. } => {
                    let FieldKind::Column { ty, column, .. } = &e.fields[field as usize].kind else {
                        return Err(bad_request("aggregate of a relation"));
                    };
                    let mut ops = vec![];
                    for op in &s.selection {
                        let v = match op.field.resolver {
                            Resolver::AggregateOp(o) => agg_sql(o, self.column(a, e.table, *column), ty.scalar()),
                            Resolver::Meta => sql::str_lit(op.parent),
                            _ => return Err(bad_request("unexpected aggregate field")),
                        };
                        ops.push(sql::str_lit(op.key.as_str()));
                        ops.push(v);
                    }
                    build_object(ops)
                }
                _ => return Err(bad_request("unexpected aggregate field")),
            };
            pairs.push(sql::str_lit(s.key.as_str()));
            pairs.push(value);
        }
        Ok(build_object(pairs))
    }
}

/// `COALESCE(json_agg(obj [ORDER BY ...]), '[]'::json)`: a JSON list, empty for no rows.
pub(super) fn json_list<'a>(obj: Expr<'a>, order_by: Vec<Order<'a>>) -> Expr<'a> {
    sql::func(
        "COALESCE",
        vec![Expr::Func { name: "json_agg", args: vec![obj], order_by }, sql::cast(sql::str_lit("[]"), Cast::Json)],
    )
}

/// A list of at most the cap's rows: [`json_list`], or, when the rows (fetched up to the cap
/// plus one) reach `$cap`, an error naming the field. Plain SQL cannot raise an error, so the
/// failing branch casts a text that names the field and carries the count to `int4`; it
/// depends on `COUNT(*)`, so Postgres never evaluates it while planning, only for a list over
/// the cap. The engine recognises the error by its text (`exo-list-cap:`) and answers with
/// the cap's own message (`exo_runtime::engine::list_cap_message`).
fn capped_list<'a>(obj: Expr<'a>, cap: Option<ParamId>, key: &str) -> Expr<'a> {
    let list = json_list(obj, vec![]);
    let Some(cap) = cap else {
        return list;
    };
    let count = || sql::func("COUNT", vec![Expr::Star]);
    let marker = sql::bin(sql::BinOp::Concat, sql::str_lit(format!("{LIST_CAP_MARKER}{key}:")), count());
    Expr::Case {
        whens: vec![(
            sql::bin(sql::BinOp::Gte, count(), sql::cast(Expr::Param(cap), Cast::Int8)),
            sql::func("to_json", vec![sql::cast(marker, Cast::Int4)]),
        )],
        otherwise: Some(Box::new(list)),
    }
}

/// Starts the text of the error a list over the cap raises in Postgres.
pub const LIST_CAP_MARKER: &str = "exo-list-cap:";

fn agg_sql(op: AggOp, col: Expr<'_>, scalar: Option<ScalarType>) -> Expr<'_> {
    // Decimal aggregates are JSON numbers, as in Exograph (Decimal values stay strings). They
    // stay `numeric`, so every digit reaches the JSON text; `trim_scale` (PostgreSQL 13+) drops
    // the trailing zeros of the scale (`43.00` -> `43`, an average's `21.5000000000000000` ->
    // `21.5`).
    let decimal = matches!(scalar, Some(ScalarType::Decimal));
    let call = |name| sql::func(name, vec![col]);
    match op {
        AggOp::Count => call("COUNT"),
        AggOp::Sum | AggOp::Avg | AggOp::Min | AggOp::Max if decimal => {
            let name = match op {
                AggOp::Sum => "SUM",
                AggOp::Avg => "AVG",
                AggOp::Min => "MIN",
                _ => "MAX",
            };
            sql::func("trim_scale", vec![call(name)])
        }
        AggOp::Sum => call("SUM"),
        AggOp::Avg => sql::cast(call("AVG"), Cast::Float8),
        AggOp::Min => call("MIN"),
        AggOp::Max => call("MAX"),
    }
}

/// `json_build_object(k1, v1, ...)`. It takes at most 100 arguments: larger objects are
/// concatenated as `jsonb` and cast back.
fn build_object(args: Vec<Expr<'_>>) -> Expr<'_> {
    if args.len() <= 100 {
        return sql::func("json_build_object", args);
    }
    let mut parts = Vec::new();
    let mut rest = args.into_iter().peekable();
    while rest.peek().is_some() {
        parts.push(sql::func("jsonb_build_object", rest.by_ref().take(100).collect()));
    }
    let joined = parts.into_iter().reduce(|l, r| sql::bin(sql::BinOp::Concat, l, r)).unwrap_or(Expr::Null);
    sql::cast(joined, Cast::Json)
}
