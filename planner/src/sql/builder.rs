//! Building statements: the parameter builder that is the only way a value enters SQL, small
//! constructors for common nodes, and [`Params::statement`], which prints a tree once with the
//! parameters it uses.

use std::borrow::Cow;

use exo_ir::plan::{ParamSource, Stmt};

use super::ast::*;
use super::print::{Layout, Printer};

/// The parameters of one statement. A source is allocated once (asking again returns the same
/// node); the printed statement lists only the parameters its tree uses, so a parameter spent
/// on a decision that needed no SQL (an access rule the context decided) never reaches it.
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
        Expr::Param(self.add_id(src))
    }

    /// The parameter for `src`, to make nodes of as often as needed (`Expr::Param(id)`).
    pub fn add_id(&mut self, src: ParamSource) -> ParamId {
        let index = match self.sources.iter().position(|p| *p == src) {
            Some(i) => i,
            None => {
                self.sources.push(src);
                self.sources.len() - 1
            }
        };
        ParamId { builder: self.builder, index: index as u32 }
    }

    /// Prints `query` as a statement with its parameters, numbered in the order they first
    /// appear in the text.
    pub fn statement(&self, query: &Query<'_>, layout: Layout) -> Stmt {
        let mut p = Printer::new(layout, self.builder, self.sources.len());
        p.query(query);
        let (sql, used) = p.finish();
        Stmt { sql, params: used.into_iter().map(|i| self.sources[i as usize].clone()).collect() }
    }

    /// Whether `a` and `b` print as the same SQL with the same parameters.
    pub fn same_expr(&self, a: &Expr<'_>, b: &Expr<'_>) -> bool {
        let print = |e: &Expr<'_>| {
            let mut p = Printer::new(Layout::Compact, self.builder, self.sources.len());
            p.expr(e);
            p.finish()
        };
        print(a) == print(b)
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
        if !matches!(filter, Expr::Bool(true)) {
            self.filter = Some(filter);
        }
        self
    }
}
