//! Access rules, partially evaluated with the request's context: what the context decides is
//! decided here ([`Cond::True`], [`Cond::False`]); what depends on rows becomes a condition
//! ([`Cond::Sql`]) with context values as parameters. Every assumption about the context is
//! recorded ([`CtxDep`]) so a cached plan is reused only where it holds.

use exo_ir::{AccessExpr, AccessOperand, CmpOp, ColumnId, EntityId, FieldKind, Literal, ParamIn, PathStep};
use serde_json::Value as Json;

use super::{param_in, CtxDep, Planner};
use crate::plan::ParamSource;
use crate::sql::{self, BinOp, Cast, Expr, Ident, Query, Select};

/// Outcome of partially evaluating a rule (or building a filter).
#[derive(Debug)]
pub(crate) enum Cond<'a> {
    True,
    False,
    Sql(Expr<'a>),
}

impl<'a> Cond<'a> {
    pub(crate) fn and(self, other: Cond<'a>) -> Cond<'a> {
        match (self, other) {
            (Cond::False, _) | (_, Cond::False) => Cond::False,
            (Cond::True, c) | (c, Cond::True) => c,
            (Cond::Sql(a), Cond::Sql(b)) => Cond::Sql(sql::and(vec![a, b])),
        }
    }

    pub(crate) fn or(self, other: Cond<'a>) -> Cond<'a> {
        match (self, other) {
            (Cond::True, _) | (_, Cond::True) => Cond::True,
            (Cond::False, c) | (c, Cond::False) => c,
            (Cond::Sql(a), Cond::Sql(b)) => Cond::Sql(sql::or(vec![a, b])),
        }
    }

    pub(crate) fn not(self) -> Cond<'a> {
        match self {
            Cond::True => Cond::False,
            Cond::False => Cond::True,
            Cond::Sql(a) => Cond::Sql(sql::not(a)),
        }
    }

    pub(crate) fn into_expr(self) -> Expr<'a> {
        match self {
            Cond::True => Expr::Bool(true),
            Cond::False => Expr::Bool(false),
            Cond::Sql(e) => e,
        }
    }
}

fn bool_cond<'a>(b: bool) -> Cond<'a> {
    if b {
        Cond::True
    } else {
        Cond::False
    }
}

/// An access-rule operand after partial evaluation.
enum Operand<'a> {
    Value(Json),
    /// A column of a row (or a scalar subquery reaching one), with how a value is bound to it.
    Column {
        expr: Expr<'a>,
        param: &'a ParamIn,
    },
    /// A context value left as a parameter.
    CtxParam {
        context: u32,
        field: u32,
        value: Json,
    },
    /// A column of a row being checked before its write whose value is not known yet
    /// ([`Planner::unknown`]).
    Unknown,
}

impl<'a, 'd> Planner<'a, 'd> {
    /// Partially evaluates a read (`query`) rule: there a comparison of a column with a
    /// context value the request lacks is unknown, which filters rows out (an empty list,
    /// `null`, a zero count) instead of refusing the request, as in Exograph. Mutation rules
    /// keep treating it as false (refused before any write).
    pub(super) fn read_access(&mut self, expr: &'a AccessExpr, entity: EntityId, a: Ident<'a>) -> Cond<'a> {
        let before = self.reading;
        self.reading = true;
        let c = self.access(expr, entity, a);
        self.reading = before;
        c
    }

    /// Partially evaluates an access rule for the row at alias `a` of `entity`.
    pub(super) fn access(&mut self, expr: &'a AccessExpr, entity: EntityId, a: Ident<'a>) -> Cond<'a> {
        match expr {
            AccessExpr::Const(b) => bool_cond(*b),
            AccessExpr::Not(e) => {
                // A comparison with a missing context value is unknown rather than false: it
                // stays false under `!` too (as SQL's NULL would), so `!(self.owner ==
                // AuthContext.id)` does not admit anonymous callers. When the inner rule is
                // decided false and a missing value took part, the negation is false as well
                // (this errs on the side of refusing, e.g. for `!(unknown && false)`).
                // A rule made only of comparisons left out as unknown (a check of input
                // before the write) stays met under `!` too, as in Exograph.
                let before = self.missing_context;
                self.missing_context = false;
                let (leaves, ignored) = (self.leaves, self.ignored);
                let inner = self.access(e, entity, a);
                let unknown = self.missing_context;
                self.missing_context |= before;
                let all_ignored = self.ignored > ignored && self.ignored - ignored == self.leaves - leaves;
                if unknown && matches!(inner, Cond::False) {
                    Cond::False
                } else if all_ignored && matches!(inner, Cond::True) {
                    Cond::True
                } else {
                    inner.not()
                }
            }
            AccessExpr::And(l, r) => self.junction(l, r, entity, a, true),
            AccessExpr::Or(l, r) => self.junction(l, r, entity, a, false),
            AccessExpr::Cmp { op, lhs, rhs } => {
                self.leaves += 1;
                let l = self.operand(lhs, entity, a);
                let r = self.operand(rhs, entity, a);
                match (l, r) {
                    (Some(l), Some(r)) => self.compare(*op, l, r),
                    _ => Cond::False,
                }
            }
            AccessExpr::Some { collection, param, body } => {
                self.leaves += 1;
                self.some(collection, *param, body, entity, a).unwrap_or(Cond::False)
            }
        }
    }

    /// `l && r` (`and`) or `l || r`, short-circuiting on the deciding constant. (Parameters
    /// a decided branch allocated appear in no statement: statements list only the
    /// parameters their tree uses.)
    fn junction(
        &mut self,
        l: &'a AccessExpr,
        r: &'a AccessExpr,
        entity: EntityId,
        a: Ident<'a>,
        and: bool,
    ) -> Cond<'a> {
        let l = self.access(l, entity, a);
        let decided = if and { matches!(l, Cond::False) } else { matches!(l, Cond::True) };
        if decided {
            return l;
        }
        let r = self.access(r, entity, a);
        if and {
            l.and(r)
        } else {
            l.or(r)
        }
    }

    /// `<collection>.some(p => body)`: `EXISTS` over the related rows (many-to-one steps
    /// before the final one-to-many become enclosing `EXISTS`).
    fn some(
        &mut self,
        collection: &'a AccessOperand,
        param: u32,
        body: &'a AccessExpr,
        entity: EntityId,
        a: Ident<'a>,
    ) -> Option<Cond<'a>> {
        let (owner, path, base_alias) = match collection {
            AccessOperand::SelfPath(p) => (entity, p.as_slice(), a),
            AccessOperand::Param { param, path } => {
                let (_, e, al) = self.lambda.iter().find(|(p, _, _)| p == param)?;
                (*e, path.as_slice(), *al)
            }
            _ => return None,
        };
        let (last, prefix) = path.split_last()?;
        if prefix.is_empty() {
            if let Some(i) = self.input_children.iter().position(|c| c.parent == base_alias && c.field == last.field) {
                return self.some_input(i, param, body);
            }
        }
        let mut cur_entity = owner;
        let mut cur_alias = base_alias;
        // `(FROM, join)` of each enclosing `EXISTS`.
        let mut wrappers: Vec<(sql::From<'a>, Option<Expr<'a>>)> = vec![];
        for step in prefix {
            let e = self.ir.entity(step.entity);
            let FieldKind::ManyToOne { target, columns, .. } = &e.fields[step.field as usize].kind else {
                return None;
            };
            if let Some(p) = self.pseudo_related(cur_alias, step.field) {
                // A row not yet written: its one pseudo row stands for it.
                wrappers.push((sql::From::Named(p), None));
                cur_entity = *target;
                cur_alias = p;
                continue;
            }
            if columns.iter().any(|c| self.is_unknown(cur_alias, *c)) {
                self.ignored += 1;
                return Some(Cond::True);
            }
            let t = self.ir.entity(*target);
            let b = self.alias(t);
            let join = self.many_to_one_join(cur_entity, step.field, cur_alias, b);
            wrappers.push((sql::table(self.table_name(t.table), b), Some(join)));
            cur_entity = *target;
            cur_alias = b;
        }
        let e = self.ir.entity(last.entity);
        let FieldKind::OneToMany { target, inverse, .. } = &e.fields[last.field as usize].kind else {
            return None;
        };
        let t = self.ir.entity(*target);
        if let FieldKind::ManyToOne { target_columns, .. } = &t.fields[*inverse as usize].kind {
            if target_columns.iter().any(|c| self.is_unknown(cur_alias, *c)) {
                // The rows of a row whose key is not known yet: left out.
                self.ignored += 1;
                return Some(Cond::True);
            }
        }
        let b = self.alias(t);
        let join = self.many_to_one_join(*target, *inverse, b, cur_alias);
        self.lambda.push((param, *target, b));
        // Inside `.some(...)`, a comparison with a missing context value is decided false
        // even in a read rule, as in Exograph (which refuses such a read outright).
        let reading = std::mem::replace(&mut self.reading, false);
        let inner = self.access(body, *target, b);
        self.reading = reading;
        self.lambda.pop();
        let mut cond = Cond::Sql(join).and(inner);
        let created: Vec<usize> = self.unwritten.iter().filter(|(e, _)| e == target).map(|(_, slot)| *slot).collect();
        for slot in created {
            let fresh = self.keys_filter(t, b, slot).ok()?;
            cond = cond.and(Cond::Sql(sql::not(fresh)));
        }
        let cond = match cond {
            Cond::False => return Some(Cond::False),
            c => c.into_expr(),
        };
        let mut exists = sql::exists(Query::select(
            Select::new(vec![Expr::Int(1)], sql::table(self.table_name(t.table), b)).filter(cond),
        ));
        for (from, join) in wrappers.into_iter().rev() {
            let filter = match join {
                Some(join) => sql::and(vec![join, exists]),
                None => exists,
            };
            exists = sql::exists(Query::select(Select::new(vec![Expr::Int(1)], from).filter(filter)));
        }
        Some(Cond::Sql(exists))
    }

    /// The CTE holding, as it would be written, the row that `field` of the row at `a`
    /// refers to, when that row does not exist before the write (a parent created by the same
    /// mutation, see [`super::mutation`]'s precheck).
    fn pseudo_related(&self, a: Ident<'a>, field: u32) -> Option<Ident<'a>> {
        self.pseudo.iter().find(|(x, f, _)| *x == a && *f == field).map(|(_, _, p)| *p)
    }

    /// `.some(p => body)` over the rows a create's input gives the collection
    /// ([`Planner::input_children`]): true when one of them meets `body`; none is false.
    fn some_input(&mut self, i: usize, param: u32, body: &'a AccessExpr) -> Option<Cond<'a>> {
        let children = self.input_children.swap_remove(i);
        let target = children.target;
        let mut cond = Cond::False;
        for (b, row) in children.rows {
            self.lambda.push((param, target, b));
            let inner = self.access(body, target, b);
            self.lambda.pop();
            let c = match inner {
                Cond::Sql(s) => Cond::Sql(sql::exists(Query::select(
                    Select::new(vec![Expr::Int(1)], sql::From::Subquery { query: Box::new(row), alias: b }).filter(s),
                ))),
                c => c,
            };
            cond = cond.or(c);
        }
        Some(cond)
    }

    /// Whether column `c` of the row at alias `a` is not known before the write.
    pub(super) fn is_unknown(&self, a: Ident<'a>, c: ColumnId) -> bool {
        self.unknown.iter().any(|(x, y)| *x == a && *y == c)
    }

    fn context_value(&self, context: u32, field: u32) -> Json {
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

    fn operand(&mut self, op: &'a AccessOperand, entity: EntityId, a: Ident<'a>) -> Option<Operand<'a>> {
        match op {
            AccessOperand::Literal(l) => Some(Operand::Value(literal_json(l))),
            AccessOperand::Context { context, field } => {
                let value = self.context_value(*context, *field);
                Some(Operand::CtxParam { context: *context, field: *field, value })
            }
            AccessOperand::SelfPath(path) => self.path_operand(entity, a, path),
            AccessOperand::Param { param, path } => {
                let (_, e, al) = *self.lambda.iter().find(|(p, _, _)| p == param)?;
                self.path_operand(e, al, path)
            }
        }
    }

    /// A column reached from `entity` at alias `a` through `path` (many-to-one steps become
    /// scalar subqueries; a step to the target's key reads the foreign key directly).
    fn path_operand(&mut self, entity: EntityId, a: Ident<'a>, path: &'a [PathStep]) -> Option<Operand<'a>> {
        let (first, rest) = path.split_first()?;
        let e = self.ir.entity(entity);
        let f = &e.fields[first.field as usize];
        match &f.kind {
            FieldKind::Column { column, .. } if rest.is_empty() && self.is_unknown(a, *column) => {
                Some(Operand::Unknown)
            }
            FieldKind::Column { sql, column, .. } if rest.is_empty() => {
                Some(Operand::Column { expr: self.column(a, e.table, *column), param: &sql.param })
            }
            FieldKind::ManyToOne { columns, .. } if columns.iter().any(|c| self.is_unknown(a, *c)) => {
                Some(Operand::Unknown)
            }
            FieldKind::ManyToOne { target, columns, target_columns, .. } => {
                let t = self.ir.entity(*target);
                if rest.is_empty() {
                    // `self.user` compared as a whole: compare its key.
                    let c = columns.first()?;
                    let param = t.pk.first().and_then(|pk| match &t.fields[*pk as usize].kind {
                        FieldKind::Column { sql, .. } => Some(&sql.param),
                        _ => None,
                    })?;
                    return Some(Operand::Column { expr: self.column(a, e.table, *c), param });
                }
                let next = &rest[0];
                if rest.len() == 1 {
                    if let FieldKind::Column { column, sql, .. } = &t.fields[next.field as usize].kind {
                        if let Some(i) = target_columns.iter().position(|tc| tc == column) {
                            return Some(Operand::Column {
                                expr: self.column(a, e.table, columns[i]),
                                param: &sql.param,
                            });
                        }
                    }
                }
                if let Some(p) = self.pseudo_related(a, first.field) {
                    // A row not yet written: read its one pseudo row.
                    return match self.path_operand(*target, p, rest)? {
                        Operand::Column { expr, param } => Some(Operand::Column {
                            expr: sql::subquery(Query::select(Select::new(vec![expr], sql::From::Named(p)))),
                            param,
                        }),
                        other => Some(other),
                    };
                }
                let b = self.alias(t);
                let join = self.many_to_one_join(entity, first.field, a, b);
                match self.path_operand(*target, b, rest)? {
                    Operand::Column { expr, param } => Some(Operand::Column {
                        expr: sql::subquery(Query::select(
                            Select::new(vec![expr], sql::table(self.table_name(t.table), b)).filter(join),
                        )),
                        param,
                    }),
                    other => Some(other),
                }
            }
            _ => None,
        }
    }

    fn compare(&mut self, op: CmpOp, l: Operand<'a>, r: Operand<'a>) -> Cond<'a> {
        use Operand::*;
        // A comparison with a context value the request does not carry (no token, no such
        // claim) is false, whatever the operator and the other side, as in Exograph. Without
        // this, `self.editor.id == AuthContext.id` became `editor_id IS NULL` for anonymous
        // callers and let them update every post without an editor. Compared with a column,
        // in a read rule ([`Self::read_access`]), it is SQL's unknown (`NULL::boolean`) rather
        // than a decided false: the rule still depends on rows, so it filters them all out (an
        // empty list, `null`, a zero count), as in Exograph, instead of refusing the request;
        // unknown also stays false under `!`.
        let row_dependent = self.reading && (matches!(l, Column { .. }) || matches!(r, Column { .. }));
        for side in [&l, &r] {
            if let CtxParam { context, field, value } = side {
                if value.is_null() {
                    let (context, field) = (*context, *field);
                    self.record_dep(context, field, None);
                    self.missing_context = true;
                    return if row_dependent { Cond::Sql(sql::cast(Expr::Null, Cast::Boolean)) } else { Cond::False };
                }
            }
        }
        match (l, r) {
            // A value not known before the write: the comparison is left out.
            (Unknown, _) | (_, Unknown) => {
                self.ignored += 1;
                Cond::True
            }
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
            (Column { expr, param }, other) => self.column_cmp(op, expr, param, other, false),
            (other, Column { expr, param }) => self.column_cmp(op, expr, param, other, true),
        }
    }

    /// A comparison of a column with a value, a context parameter or another column.
    /// `flipped`: the column was the right operand.
    fn column_cmp(
        &mut self,
        op: CmpOp,
        col: Expr<'a>,
        param: &'a ParamIn,
        other: Operand<'a>,
        flipped: bool,
    ) -> Cond<'a> {
        let (p, is_null, list) = match other {
            Operand::Value(v) => {
                let p = self.param(ParamSource::Const(json_param_text(&v)));
                (p, v.is_null(), v.is_array())
            }
            Operand::CtxParam { context, field, value } => {
                // Only whether the value is null (or a list) shapes the SQL.
                let dep = CtxDep::List { context, field, is_list: value.is_array() };
                if !self.deps.contains(&dep) {
                    self.deps.push(dep);
                }
                self.record_dep(context, field, None);
                let p = self.param(ParamSource::Context { context, field });
                (p, value.is_null(), value.is_array())
            }
            // Left out by `compare` before it gets here.
            Operand::Unknown => return Cond::True,
            Operand::Column { expr: other_col, .. } => {
                if op == CmpOp::In {
                    return Cond::Sql(Expr::Quantified {
                        left: Box::new(col),
                        op: BinOp::Eq,
                        all: false,
                        right: Box::new(other_col),
                    });
                }
                let op = if flipped { flip(op) } else { op };
                return Cond::Sql(sql::bin(cmp_op(op), col, other_col));
            }
        };
        if is_null {
            return match op {
                CmpOp::Eq => Cond::Sql(sql::is_null(col, false)),
                CmpOp::Neq => Cond::Sql(sql::is_null(col, true)),
                _ => Cond::False,
            };
        }
        if op == CmpOp::In || list {
            if flipped {
                // `value in self.arrayColumn`
                return Cond::Sql(Expr::Quantified {
                    left: Box::new(param_in(param, p)),
                    op: BinOp::Eq,
                    all: false,
                    right: Box::new(col),
                });
            }
            // `self.x in Ctx.list`: compare textually with the list's elements.
            let elements = Select {
                items: vec![sql::item(sql::func("jsonb_array_elements_text", vec![sql::cast(p, Cast::Jsonb)]))],
                ..Select::default()
            };
            return Cond::Sql(Expr::InSubquery {
                expr: Box::new(sql::cast(col, Cast::Text)),
                query: Box::new(Query::select(elements)),
            });
        }
        let op = if flipped { flip(op) } else { op };
        Cond::Sql(sql::bin(cmp_op(op), col, param_in(param, p)))
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Lte => CmpOp::Gte,
        CmpOp::Gte => CmpOp::Lte,
        o => o,
    }
}

fn cmp_op(op: CmpOp) -> BinOp {
    match op {
        CmpOp::Eq | CmpOp::In => BinOp::Eq,
        CmpOp::Neq => BinOp::Neq,
        CmpOp::Lt => BinOp::Lt,
        CmpOp::Lte => BinOp::Lte,
        CmpOp::Gt => BinOp::Gt,
        CmpOp::Gte => BinOp::Gte,
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

pub(super) fn json_param_text(v: &Json) -> Option<String> {
    match v {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// Evaluates a comparison between two known values (null compares equal only to null).
pub(super) fn eval_cmp(op: CmpOp, l: &Json, r: &Json) -> bool {
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
