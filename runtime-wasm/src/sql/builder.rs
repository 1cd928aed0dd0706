//! Building statements: the parameter pool that is the only way a value enters SQL, small
//! constructors for common nodes, and [`Params::statement`], which numbers the parameters a
//! tree uses and prints it once.

use std::borrow::Cow;

use exo_ir::plan::{ParamSource, Stmt};

use super::ast::*;
use super::print::{Layout, Printer};

/// The parameters of one statement. A source is allocated once (asking again returns the same
/// node); the printed statement lists only the parameters its tree uses, numbered in
/// allocation order, so a parameter spent on a decision that needed no SQL (an access rule
/// the context decided) never reaches it.
#[derive(Debug, Default)]
pub struct Params {
    /// Which builder this is: a node from another builder prints as `$0`, which Postgres
    /// refuses, instead of binding a wrong value.
    builder: u32,
    sources: Vec<ParamSource>,
}

impl Params {
    pub fn new(builder: u32) -> Params {
        Params { builder, sources: vec![] }
    }

    /// The parameter node for `src`.
    pub fn add(&mut self, src: ParamSource) -> Expr<'static> {
        let index = match self.sources.iter().position(|p| *p == src) {
            Some(i) => i,
            None => {
                self.sources.push(src);
                self.sources.len() - 1
            }
        };
        Expr::Param(ParamId { builder: self.builder, index: index as u32 })
    }

    /// Prints `query` as a statement with its parameters: `$1` is the first parameter the tree
    /// uses in allocation order (the keys of earlier steps last), and so on.
    pub fn statement(&self, query: &Query<'_>, layout: Layout) -> Stmt {
        let mut used = vec![false; self.sources.len()];
        let builder = self.builder;
        walk_query(query, &mut |id| {
            debug_assert_eq!(id.builder, builder, "a parameter of another statement");
            if let Some(u) = used.get_mut(id.index as usize).filter(|_| id.builder == builder) {
                *u = true;
            }
        });
        let mut numbers = vec![0u32; self.sources.len()];
        let mut params = Vec::new();
        let is_keys = |s: &ParamSource| matches!(s, ParamSource::Keys { .. });
        for keys_pass in [false, true] {
            for (i, src) in self.sources.iter().enumerate() {
                if used[i] && is_keys(src) == keys_pass {
                    params.push(src.clone());
                    numbers[i] = params.len() as u32;
                }
            }
        }
        let mut p = Printer::new(layout, builder, &numbers);
        p.query(query);
        Stmt { sql: p.finish(), params }
    }
}

fn walk_query(q: &Query<'_>, f: &mut dyn FnMut(ParamId)) {
    for cte in &q.with {
        walk_query(&cte.query, f);
    }
    match &q.body {
        Body::Select(s) => walk_select(s, f),
        Body::UnionAll(selects) => selects.iter().for_each(|s| walk_select(s, f)),
        Body::Insert(i) => {
            match &i.source {
                InsertSource::DefaultValues => {}
                InsertSource::Values(rows) => rows.iter().flatten().for_each(|e| walk_expr(e, f)),
                InsertSource::Query(q) => walk_query(q, f),
            }
            i.returning.iter().for_each(|it| walk_expr(&it.expr, f));
        }
        Body::Update(u) => {
            u.set.iter().for_each(|(_, e)| walk_expr(e, f));
            walk_expr(&u.filter, f);
            u.returning.iter().for_each(|it| walk_expr(&it.expr, f));
        }
        Body::Delete(d) => {
            d.using.iter().for_each(|u| walk_from(u, f));
            walk_expr(&d.filter, f);
            d.returning.iter().for_each(|it| walk_expr(&it.expr, f));
        }
    }
}

fn walk_select(s: &Select<'_>, f: &mut dyn FnMut(ParamId)) {
    s.items.iter().for_each(|it| walk_expr(&it.expr, f));
    if let Some(from) = &s.from {
        walk_from(from, f);
    }
    for j in &s.joins {
        walk_from(&j.item, f);
        walk_expr(&j.on, f);
    }
    for e in s.filter.iter().chain(&s.limit).chain(&s.offset) {
        walk_expr(e, f);
    }
    s.order_by.iter().for_each(|o| walk_expr(&o.expr, f));
}

fn walk_from(from: &From<'_>, f: &mut dyn FnMut(ParamId)) {
    match from {
        From::Table { .. } | From::Named(_) => {}
        From::Subquery { query, .. } => walk_query(query, f),
        From::Function { call, .. } => walk_expr(call, f),
    }
}

fn walk_expr(e: &Expr<'_>, f: &mut dyn FnMut(ParamId)) {
    match e {
        Expr::Param(id) => f(*id),
        Expr::Column { .. }
        | Expr::AllColumns(_)
        | Expr::Star
        | Expr::Str(_)
        | Expr::Int(_)
        | Expr::Bool(_)
        | Expr::Null
        | Expr::Default => {}
        Expr::Cast(inner, _) | Expr::Not(inner) | Expr::IsNull { expr: inner, .. } => walk_expr(inner, f),
        Expr::Func { args, order_by, .. } => {
            args.iter().for_each(|a| walk_expr(a, f));
            order_by.iter().for_each(|o| walk_expr(&o.expr, f));
        }
        Expr::Binary { left, right, .. } | Expr::Quantified { left, right, .. } => {
            walk_expr(left, f);
            walk_expr(right, f);
        }
        Expr::And(items) | Expr::Or(items) | Expr::Tuple(items) => items.iter().for_each(|i| walk_expr(i, f)),
        Expr::Exists(q) | Expr::Subquery(q) | Expr::Array(q) => walk_query(q, f),
        Expr::InSubquery { expr, query } => {
            walk_expr(expr, f);
            walk_query(query, f);
        }
        Expr::Case { whens, otherwise } => {
            for (c, v) in whens {
                walk_expr(c, f);
                walk_expr(v, f);
            }
            if let Some(o) = otherwise {
                walk_expr(o, f);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------

/// `table.column`
pub fn col<'a>(table: Ident<'a>, column: &'a str) -> Expr<'a> {
    Expr::Column { table: Some(table), column: Ident::Name(column) }
}

/// `table.column` with a planner-fixed bare column name (`"keys$".k0`).
pub fn plain_col<'a>(table: Ident<'a>, column: &'static str) -> Expr<'a> {
    Expr::Column { table: Some(table), column: Ident::Plain(column) }
}

pub fn str_lit<'a>(s: impl Into<Cow<'a, str>>) -> Expr<'a> {
    Expr::Str(s.into())
}

pub fn cast<'a>(e: Expr<'a>, ty: Cast) -> Expr<'a> {
    Expr::Cast(Box::new(e), Cow::Owned(ty))
}

pub fn cast_ref<'a>(e: Expr<'a>, ty: &'a Cast) -> Expr<'a> {
    Expr::Cast(Box::new(e), Cow::Borrowed(ty))
}

pub fn func<'a>(name: &'static str, args: Vec<Expr<'a>>) -> Expr<'a> {
    Expr::Func { name, args, order_by: vec![] }
}

pub fn bin<'a>(op: BinOp, left: Expr<'a>, right: Expr<'a>) -> Expr<'a> {
    Expr::Binary { op, left: Box::new(left), right: Box::new(right) }
}

pub fn eq<'a>(left: Expr<'a>, right: Expr<'a>) -> Expr<'a> {
    bin(BinOp::Eq, left, right)
}

pub fn is_null(e: Expr<'_>, negated: bool) -> Expr<'_> {
    Expr::IsNull { expr: Box::new(e), negated }
}

pub fn exists(q: Query<'_>) -> Expr<'_> {
    Expr::Exists(Box::new(q))
}

pub fn subquery(q: Query<'_>) -> Expr<'_> {
    Expr::Subquery(Box::new(q))
}

/// The conjunction of `terms` (nested conjunctions flattened, `TRUE` terms left out); `TRUE`
/// when nothing is left.
pub fn and(terms: Vec<Expr<'_>>) -> Expr<'_> {
    junction(terms, true)
}

/// The disjunction of `terms` (nested disjunctions flattened, `FALSE` terms left out);
/// `FALSE` when nothing is left.
pub fn or(terms: Vec<Expr<'_>>) -> Expr<'_> {
    junction(terms, false)
}

fn junction(terms: Vec<Expr<'_>>, is_and: bool) -> Expr<'_> {
    let mut flat = Vec::with_capacity(terms.len());
    for t in terms {
        match t {
            Expr::And(inner) if is_and => flat.extend(inner),
            Expr::Or(inner) if !is_and => flat.extend(inner),
            // `TRUE` in a conjunction (`FALSE` in a disjunction) changes nothing.
            Expr::Bool(b) if b == is_and => {}
            t => flat.push(t),
        }
    }
    match flat.len() {
        0 => Expr::Bool(is_and),
        1 => flat.pop().unwrap_or(Expr::Bool(is_and)),
        _ if is_and => Expr::And(flat),
        _ => Expr::Or(flat),
    }
}

pub fn not(e: Expr<'_>) -> Expr<'_> {
    Expr::Not(Box::new(e))
}

pub fn item(expr: Expr<'_>) -> SelectItem<'_> {
    SelectItem { expr, alias: None }
}

pub fn table<'a>(table: TableName<'a>, alias: Ident<'a>) -> From<'a> {
    From::Table { table, alias: Some(alias) }
}

impl<'a> Query<'a> {
    pub fn select(s: Select<'a>) -> Query<'a> {
        Query { with: vec![], body: Body::Select(Box::new(s)) }
    }
}

impl<'a> Select<'a> {
    /// `SELECT items FROM from`
    pub fn new(items: Vec<Expr<'a>>, from: From<'a>) -> Select<'a> {
        Select { items: items.into_iter().map(item).collect(), from: Some(from), ..Select::default() }
    }

    /// Adds `WHERE filter` (`TRUE` filters are left out).
    pub fn filter(mut self, filter: Expr<'a>) -> Select<'a> {
        if filter != Expr::Bool(true) {
            self.filter = Some(filter);
        }
        self
    }
}
