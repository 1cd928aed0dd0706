//! Filters and ordering: a `TFilter` argument as a condition, `orderBy` as ordering terms.
//! Relation filters use `EXISTS` at every level and AND the related type's read rule in.

use exo_ir::graphql::{FilterOp, LogicalOp};
use exo_ir::{EntityId, Field, FieldKind, ScalarType, ValueType};

use super::access::Cond;
use super::field_access::FieldUse;
use super::{bad_request, param_in, param_in_owned, Planner};
use crate::error::GqlError;
use crate::sql::{self, BinOp, Cast, Dir, Expr, Ident, Order, ParamId, Query, Select, TableName};
use crate::value::Val;

/// A relation step an ordering term goes through: `(SELECT <inner> FROM table AS alias WHERE
/// join AND <read rule>)`, the join being many-to-one field `field` of `entity` at alias `a`,
/// the read rule that of `target` (both rebuilt for each term rather than cloned).
type Via<'a> = (TableName<'a>, Ident<'a>, EntityId, (EntityId, u32, Ident<'a>));

impl<'a, 'd> Planner<'a, 'd> {
    /// A `TFilter` value as a condition over alias `a`.
    pub(super) fn predicate(&mut self, entity: EntityId, a: Ident<'a>, filter: &Val) -> Result<Cond<'a>, GqlError> {
        let Some(fields) = filter.as_object() else {
            return Ok(Cond::True);
        };
        let e = self.ir.entity(entity);
        let mut cond = Cond::True;
        for (k, v) in fields {
            let c = match LogicalOp::from_name(k) {
                Some(op @ (LogicalOp::And | LogicalOp::Or)) => {
                    let items: Vec<&Val> = match v {
                        Val::List(items, _) => items.iter().collect(),
                        Val::Null(_) => continue,
                        other => vec![other],
                    };
                    if items.is_empty() {
                        return Err(bad_request("Logical operation predicate does not have any arguments"));
                    }
                    let is_and = op == LogicalOp::And;
                    let mut acc = if is_and { Cond::True } else { Cond::False };
                    for item in items {
                        let p = self.predicate(entity, a, item)?;
                        acc = if is_and { acc.and(p) } else { acc.or(p) };
                    }
                    acc
                }
                Some(LogicalOp::Not) => {
                    if v.is_null() {
                        continue;
                    }
                    self.predicate(entity, a, v)?.not()
                }
                None => {
                    if v.is_null() {
                        continue;
                    }
                    let Some((fid, f)) = e.field_by_name(k) else {
                        return Err(bad_request(format!("unknown filter field `{k}`")));
                    };
                    self.field_predicate(entity, fid, f, a, v)?
                }
            };
            cond = cond.and(c);
        }
        Ok(cond)
    }

    fn field_predicate(
        &mut self,
        entity: EntityId,
        fid: u32,
        f: &'a Field,
        a: Ident<'a>,
        v: &Val,
    ) -> Result<Cond<'a>, GqlError> {
        let e = self.ir.entity(entity);
        self.guard_filter_field(entity, fid, a)?;
        match &f.kind {
            FieldKind::Column { ty, sql, column } => {
                let col = self.column(a, e.table, *column);
                let Some(ops) = v.as_object() else {
                    // `BlobFilter` and similar scalar filters: equality.
                    let p = self.val_param(v);
                    return Ok(Cond::Sql(sql::eq(col, param_in(&sql.param, p))));
                };
                let is_array = matches!(ty, ValueType::Array(_));
                let mut cond = Cond::True;
                for (op, arg) in ops {
                    let Some(op) = FilterOp::from_name(op) else {
                        return Err(bad_request(format!("unknown filter operator `{op}`")));
                    };
                    if f.validation.single_precision && !is_array {
                        self.check_filter_value(f, arg)?;
                    }
                    let c = self.operator(op, self.column(a, e.table, *column), sql, arg, ty)?;
                    cond = cond.and(c);
                }
                Ok(cond)
            }
            FieldKind::ManyToOne { target, columns, target_columns, .. } => {
                // `{parent: {id: {eq: null}}}` asks for rows without a parent, as in Exograph:
                // the key the reference holds is null. Other entries need a related row.
                let t = self.ir.entity(*target);
                let mut no_parent = false;
                let mut rest = vec![];
                for (k, inner) in v.as_object().unwrap_or(&[]) {
                    let is_key = t.field_by_name(k).is_some_and(|(_, tf)| {
                        matches!(&tf.kind, FieldKind::Column { column, .. } if target_columns.contains(column))
                    });
                    let eq_null = matches!(inner.as_object(), Some([(op, x)]) if op == "eq" && x.is_null());
                    if is_key && eq_null {
                        no_parent = true;
                    } else {
                        rest.push((k.clone(), inner.clone()));
                    }
                }
                if !no_parent {
                    let b = self.alias(t);
                    let join = self.many_to_one_join(entity, fid, a, b);
                    return self.related_exists(*target, b, join, v);
                }
                // No related row the caller may see: a reference to a hidden row reads as
                // none, as the selection shows it (`parent: null`).
                let hidden = self.related_visible(entity, fid, a)?.not();
                let null = Cond::Sql(sql::is_null(self.column(a, e.table, columns[0]), false)).or(hidden);
                if rest.is_empty() {
                    return Ok(null);
                }
                let b = self.alias(t);
                let join = self.many_to_one_join(entity, fid, a, b);
                let exists = self.related_exists(*target, b, join, &Val::Object(rest))?;
                Ok(null.and(exists))
            }
            FieldKind::OneToMany { target, inverse, .. } => {
                let b = self.alias(self.ir.entity(*target));
                let join = self.many_to_one_join(*target, *inverse, b, a);
                self.related_exists(*target, b, join, v)
            }
        }
    }

    /// `EXISTS (SELECT 1 FROM target AS b WHERE join AND <filter> AND <read rule>)`; the
    /// filter carries the read rules of the fields it uses.
    fn related_exists(
        &mut self,
        target: EntityId,
        b: Ident<'a>,
        join: Expr<'a>,
        filter: &Val,
    ) -> Result<Cond<'a>, GqlError> {
        let inner = self.guarded_predicate(target, b, filter)?;
        Ok(self.exists_visible(target, b, join, inner))
    }

    /// `EXISTS (SELECT 1 FROM target AS b WHERE join AND inner AND <read rule>)`.
    fn exists_visible(&mut self, target: EntityId, b: Ident<'a>, join: Expr<'a>, inner: Cond<'a>) -> Cond<'a> {
        let t = self.ir.entity(target);
        let access = self.read_access(&t.access.query, target, b);
        match Cond::Sql(join).and(inner).and(access) {
            Cond::False => Cond::False,
            c => Cond::Sql(sql::exists(Query::select(
                Select::new(vec![Expr::Int(1)], sql::table(self.table_name(t.table), b)).filter(c.into_expr()),
            ))),
        }
    }

    /// Whether the caller may see the row that many-to-one field `fid` of the row at `a`
    /// references, as a filter on its key would find it: the related type's read rule and
    /// the read rules of its key fields, in `EXISTS`. `Cond::True` when neither has a rule
    /// (then any row the reference holds is visible); a caller who may see no such row at
    /// all gets `Cond::False`.
    pub(super) fn related_visible(&mut self, entity: EntityId, fid: u32, a: Ident<'a>) -> Result<Cond<'a>, GqlError> {
        let FieldKind::ManyToOne { target, target_columns, .. } = &self.ir.entity(entity).fields[fid as usize].kind
        else {
            return Ok(Cond::True);
        };
        let t = self.ir.entity(*target);
        let mark = self.aliases;
        let b = self.alias(t);
        let mut keys = Cond::True;
        for (tfid, tf) in t.fields.iter().enumerate() {
            if matches!(&tf.kind, FieldKind::Column { column, .. } if target_columns.contains(column)) {
                keys = keys.and(self.field_rule(*target, tfid as u32, FieldUse::Read, b)?);
            }
        }
        if matches!(keys, Cond::True) && matches!(self.read_access(&t.access.query, *target, b), Cond::True) {
            // Nothing written uses the aliases taken: give them back.
            self.aliases = mark;
            return Ok(Cond::True);
        }
        let join = self.many_to_one_join(entity, fid, a, b);
        Ok(self.exists_visible(*target, b, join, keys))
    }

    /// The read rules a unique lookup's key field `fid` obeys, as a `where` equality on it
    /// would: the field's own rule (refused when the context alone makes it false), and for
    /// a relation key, that the related row is visible ([`Self::related_visible`]).
    pub(super) fn key_rule(&mut self, entity: EntityId, fid: u32, a: Ident<'a>) -> Result<Cond<'a>, GqlError> {
        let rule = self.field_rule(entity, fid, FieldUse::Read, a)?;
        Ok(rule.and(self.related_visible(entity, fid, a)?))
    }

    /// One operator of a scalar filter (`{lt: 3}`) on column `col`.
    fn operator(
        &mut self,
        op: FilterOp,
        col: Expr<'a>,
        sql: &'a exo_ir::ColumnSql,
        arg: &Val,
        ty: &ValueType,
    ) -> Result<Cond<'a>, GqlError> {
        let is_array = matches!(ty, ValueType::Array(_));
        if arg.is_null() {
            return Ok(match op {
                FilterOp::Eq => Cond::Sql(sql::is_null(col, false)),
                FilterOp::Neq => Cond::Sql(sql::is_null(col, true)),
                _ => Cond::True,
            });
        }
        let id = self.val_param_id(arg);
        let p = || Expr::Param(id);
        let typed = if is_array && ty.scalar() != Some(ScalarType::Int) {
            // For array columns, scalar comparisons test the elements: the element's own type
            // (`real[]` -> `$1::real`), so enum elements compare with an enum and
            // single-precision elements with a single-precision value.
            match sql.param.element() {
                Some(elem) => param_in_owned(elem, p()),
                None => match ty.scalar().and_then(Cast::of_scalar) {
                    Some(c) => sql::cast(p(), c),
                    None => p(),
                },
            }
        } else if ty.scalar() == Some(ScalarType::Int) {
            // Compared as int8 whatever the column's width, so `{lt: 99999}` on a smallint is
            // true for every row instead of an out-of-range cast error.
            sql::cast(p(), Cast::Int8)
        } else {
            param_in(&sql.param, p())
        };
        let jsonb = || sql::cast(p(), Cast::Jsonb);
        let keys = || {
            Expr::Array(Box::new(Query::select(Select {
                items: vec![sql::item(sql::func("jsonb_array_elements_text", vec![jsonb()]))],
                ..Select::default()
            })))
        };
        let sym = match op {
            FilterOp::Eq => BinOp::Eq,
            FilterOp::Neq => BinOp::Neq,
            FilterOp::Lt => BinOp::Lt,
            FilterOp::Lte => BinOp::Lte,
            FilterOp::Gt => BinOp::Gt,
            FilterOp::Gte => BinOp::Gte,
            FilterOp::Like | FilterOp::ILike | FilterOp::StartsWith | FilterOp::EndsWith => {
                return Ok(Cond::Sql(pattern_match(op, col, typed, id, is_array)));
            }
            FilterOp::Contains => return Ok(Cond::Sql(sql::bin(BinOp::Contains, col, jsonb()))),
            FilterOp::ContainedBy => return Ok(Cond::Sql(sql::bin(BinOp::ContainedBy, col, jsonb()))),
            // The key is a `Json` value: a JSON string, unquoted here.
            FilterOp::MatchKey => {
                return Ok(Cond::Sql(sql::bin(
                    BinOp::HasKey,
                    col,
                    sql::bin(BinOp::JsonPathText, jsonb(), sql::str_lit("{}")),
                )))
            }
            FilterOp::MatchAllKeys => return Ok(Cond::Sql(sql::bin(BinOp::HasAllKeys, col, keys()))),
            FilterOp::MatchAnyKey => return Ok(Cond::Sql(sql::bin(BinOp::HasAnyKey, col, keys()))),
        };
        if is_array {
            return Ok(Cond::Sql(Expr::Quantified {
                left: Box::new(typed),
                op: sym.flipped(),
                all: op == FilterOp::Neq,
                right: Box::new(col),
            }));
        }
        Ok(Cond::Sql(sql::bin(sym, col, typed)))
    }

    /// `orderBy` as ordering terms.
    pub(super) fn order_by(&mut self, entity: EntityId, a: Ident<'a>, o: &Val) -> Result<Vec<Order<'a>>, GqlError> {
        let items: Vec<&Val> = match o {
            Val::List(items, _) => items.iter().collect(),
            other => vec![other],
        };
        let mut out = vec![];
        for item in items {
            let Some(fields) = item.as_object() else {
                continue;
            };
            for (k, v) in fields {
                if v.is_null() {
                    continue;
                }
                self.order_term(entity, a, k, v, &mut out, &mut vec![])?;
            }
        }
        Ok(out)
    }

    /// One ordering entry. `via` holds the relation steps that lead to `entity`; the column
    /// is read through a scalar subquery per step.
    fn order_term(
        &mut self,
        entity: EntityId,
        a: Ident<'a>,
        k: &str,
        v: &Val,
        out: &mut Vec<Order<'a>>,
        via: &mut Vec<Via<'a>>,
    ) -> Result<(), GqlError> {
        let e = self.ir.entity(entity);
        let Some((fid, f)) = e.field_by_name(k) else {
            return Err(bad_request(format!("unknown ordering field `{k}`")));
        };
        self.check_order_field(entity, fid, a)?;
        match &f.kind {
            FieldKind::Column { column, .. } => {
                // Postgres' default null placement, so a primary-key or other btree index
                // can serve the order.
                let dir = if v.as_str() == Some("DESC") { Dir::Desc } else { Dir::Asc };
                let mut expr = self.column(a, e.table, *column);
                // A related row the caller may not see orders as no related row (null).
                for &(table, alias, target, (entity, field, a)) in via.iter().rev() {
                    let join = self.many_to_one_join(entity, field, a, alias);
                    let mark = self.aliases;
                    let access = self.read_access(&self.ir.entity(target).access.query, target, alias);
                    if matches!(access, Cond::True) {
                        self.aliases = mark;
                    }
                    // Still a subquery when the rule is false (`WHERE false`): Postgres
                    // refuses a bare constant as an ordering term.
                    let cond = Cond::Sql(join).and(access).into_expr();
                    let select = Select::new(vec![expr], sql::table(table, alias)).filter(cond);
                    expr = sql::subquery(Query::select(select));
                }
                out.push(Order { expr, dir: Some(dir) });
            }
            FieldKind::ManyToOne { target, .. } => {
                let t = self.ir.entity(*target);
                let b = self.alias(t);
                via.push((self.table_name(t.table), b, *target, (entity, fid, a)));
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
                            self.order_term(*target, b, k2, v2, out, via)?;
                        }
                    }
                }
                via.pop();
            }
            FieldKind::OneToMany { .. } => {
                return Err(bad_request(format!("cannot order by the collection `{k}`")));
            }
        }
        Ok(())
    }
}

/// `like`, `ilike`, `startsWith`, `endsWith` on column `col` with parameter `p` (`typed`: the
/// parameter cast to the column's type).
fn pattern_match<'a>(op: FilterOp, col: Expr<'a>, typed: Expr<'a>, p: ParamId, is_array: bool) -> Expr<'a> {
    let text = || sql::cast(Expr::Param(p), Cast::Text);
    let like = if op == FilterOp::ILike { BinOp::ILike } else { BinOp::Like };
    let pattern = match op {
        FilterOp::StartsWith => sql::bin(BinOp::Concat, text(), sql::str_lit("%")),
        FilterOp::EndsWith => sql::bin(BinOp::Concat, sql::str_lit("%"), text()),
        _ if is_array => text(),
        // A scalar column compares with the parameter in its own type.
        _ => return sql::bin(like, col, typed),
    };
    if !is_array {
        return sql::bin(like, col, pattern);
    }
    // On an array, some element matches; the element must be the left operand (`elem LIKE
    // pattern`), so `ANY` cannot express it.
    let element = Ident::Name("element");
    let unnest = sql::From::Function {
        call: sql::func("unnest", vec![col]),
        ordinality: false,
        alias: element,
        columns: vec![],
    };
    let select = Select::new(vec![Expr::Int(1)], unnest).filter(sql::bin(
        like,
        Expr::Column { table: None, column: element },
        pattern,
    ));
    sql::exists(Query::select(select))
}
