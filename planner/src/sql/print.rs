//! Prints the SQL tree: identifiers quoted, parentheses only where precedence needs them.
//!
//! Two layouts: [`Layout::Compact`] (one line; what is sent to Postgres) and
//! [`Layout::Pretty`] (a clause per line, subqueries indented; for snapshots and people).
//! They differ only in whitespace. Parameters get their `$n` here, in the order they first
//! appear in the text.

use std::fmt::Write as _;

use super::ast::*;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    #[default]
    Compact,
    Pretty,
}

pub(crate) struct Printer {
    out: String,
    pretty: bool,
    depth: usize,
    /// The statement builder whose parameters these are.
    builder: u32,
    /// `$n` of each allocated parameter (by [`ParamId`]); 0 until the text uses it.
    numbers: Vec<u32>,
    /// The parameters in `$n` order.
    used: Vec<u32>,
}

// Binding strength, PostgreSQL's order (higher binds tighter).
const OR: u8 = 1;
const AND: u8 = 2;
const NOT: u8 = 3;
const IS: u8 = 4;
const CMP: u8 = 5;
const LIKE: u8 = 6;
const OTHER_OP: u8 = 7;
const CAST: u8 = 10;
const ATOM: u8 = 11;

fn op_prec(op: BinOp) -> u8 {
    match op {
        BinOp::Eq | BinOp::Neq | BinOp::Lt | BinOp::Lte | BinOp::Gt | BinOp::Gte => CMP,
        BinOp::Like | BinOp::ILike => LIKE,
        BinOp::Concat
        | BinOp::Contains
        | BinOp::ContainedBy
        | BinOp::HasKey
        | BinOp::HasAllKeys
        | BinOp::HasAnyKey
        | BinOp::JsonPathText => OTHER_OP,
    }
}

fn prec(e: &Expr<'_>) -> u8 {
    match e {
        Expr::Or(_) => OR,
        Expr::And(_) => AND,
        Expr::Not(_) => NOT,
        Expr::IsNull { .. } => IS,
        Expr::Quantified { .. } => CMP,
        Expr::InSubquery { .. } => LIKE,
        Expr::Binary { op, .. } => op_prec(*op),
        Expr::Cast(..) => CAST,
        // `-1::int` would cast `1`.
        Expr::Int(i) if *i < 0 => CAST - 1,
        _ => ATOM,
    }
}

impl Printer {
    /// A printer for a statement of builder `builder`, which allocated `params` parameters.
    pub(crate) fn new(layout: Layout, builder: u32, params: usize) -> Printer {
        Printer {
            out: String::with_capacity(256),
            pretty: layout == Layout::Pretty,
            depth: 0,
            builder,
            numbers: vec![0; params],
            used: vec![],
        }
    }

    /// The text, and the parameters it uses (their allocation indices) in `$n` order.
    pub(crate) fn finish(self) -> (String, Vec<u32>) {
        (self.out, self.used)
    }

    /// `$n` for a parameter: numbered on first use. A parameter of another builder prints as
    /// `$0`, which Postgres refuses, rather than binding a wrong value.
    fn param(&mut self, id: ParamId) -> u32 {
        debug_assert_eq!(id.builder, self.builder, "a parameter of another statement");
        if id.builder != self.builder {
            return 0;
        }
        let Some(n) = self.numbers.get_mut(id.index as usize) else {
            return 0;
        };
        if *n == 0 {
            self.used.push(id.index);
            *n = self.used.len() as u32;
        }
        *n
    }

    /// Whether to lay out on several lines. Never in the Worker, which sends SQL and snapshots
    /// nothing: there the pretty layout's code is left out of the wasm.
    fn pretty(&self) -> bool {
        !cfg!(target_arch = "wasm32") && self.pretty
    }

    /// Starts a clause: on the same line (compact) or on a new line at the current depth.
    fn clause(&mut self, keyword: &str) {
        if self.pretty() {
            self.newline();
        } else {
            self.out.push(' ');
        }
        self.out.push_str(keyword);
    }

    fn newline(&mut self) {
        self.out.push('\n');
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    /// `(query)`, the query indented on its own lines in the pretty layout.
    fn block(&mut self, q: &Query<'_>) {
        self.out.push('(');
        if self.pretty() {
            self.depth += 1;
            self.newline();
            self.query(q);
            self.depth -= 1;
            self.newline();
        } else {
            self.query(q);
        }
        self.out.push(')');
    }

    fn ident(&mut self, i: &Ident<'_>) {
        match i {
            Ident::Name(n) => exo_ir::sql_text::write_ident(&mut self.out, n),
            Ident::Alias { stem, written, n } => {
                self.out.push('"');
                for c in stem.chars() {
                    if c == '"' {
                        self.out.push('"');
                    }
                    self.out.push(c);
                }
                let _ = write!(self.out, "${}{n}\"", if *written { "w" } else { "" });
            }
            Ident::Plain(p) => self.out.push_str(p),
        }
    }

    fn table(&mut self, t: &TableName<'_>) {
        if let Some(s) = t.schema {
            exo_ir::sql_text::write_ident(&mut self.out, s);
            self.out.push('.');
        }
        exo_ir::sql_text::write_ident(&mut self.out, t.name);
    }

    pub(crate) fn query(&mut self, q: &Query<'_>) {
        if !q.with.is_empty() {
            self.out.push_str("WITH ");
            for (i, cte) in q.with.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                    if self.pretty() {
                        self.newline();
                    } else {
                        self.out.push(' ');
                    }
                }
                self.ident(&cte.name);
                self.out.push_str(" AS ");
                self.block(&cte.query);
            }
            if self.pretty() {
                self.newline();
            } else {
                self.out.push(' ');
            }
        }
        match &q.body {
            Body::Select(s) => self.select(s),
            Body::UnionAll(selects) => {
                for (i, s) in selects.iter().enumerate() {
                    if i > 0 {
                        self.clause("UNION ALL");
                        if self.pretty() {
                            self.newline();
                        } else {
                            self.out.push(' ');
                        }
                    }
                    self.select(s);
                }
            }
            Body::Insert(i) => self.insert(i),
            Body::Update(u) => self.update(u),
            Body::Delete(d) => self.delete(d),
        }
    }

    fn items(&mut self, items: &[SelectItem<'_>]) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.expr(&item.expr);
            if let Some(a) = &item.alias {
                self.out.push_str(" AS ");
                self.ident(a);
            }
        }
    }

    fn select(&mut self, s: &Select<'_>) {
        self.out.push_str("SELECT ");
        self.items(&s.items);
        if let Some(from) = &s.from {
            self.clause("FROM ");
            self.from(from);
        }
        for j in &s.joins {
            self.clause("JOIN ");
            self.from(&j.item);
            self.out.push_str(" ON ");
            self.expr(&j.on);
        }
        if let Some(w) = &s.filter {
            self.clause("WHERE ");
            self.expr(w);
        }
        if !s.order_by.is_empty() {
            self.clause("ORDER BY ");
            self.orders(&s.order_by);
        }
        if let Some(l) = &s.limit {
            self.clause("LIMIT ");
            self.expr(l);
        }
        if let Some(o) = &s.offset {
            self.clause("OFFSET ");
            self.expr(o);
        }
    }

    fn orders(&mut self, orders: &[Order<'_>]) {
        for (i, o) in orders.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.expr(&o.expr);
            match o.dir {
                Some(Dir::Asc) => self.out.push_str(" ASC"),
                Some(Dir::Desc) => self.out.push_str(" DESC"),
                None => {}
            }
        }
    }

    fn from(&mut self, f: &From<'_>) {
        match f {
            From::Table { table, alias } => {
                self.table(table);
                if let Some(a) = alias {
                    self.out.push_str(" AS ");
                    self.ident(a);
                }
            }
            From::Named(n) => self.ident(n),
            From::Subquery { query, alias } => {
                self.block(query);
                self.out.push_str(" AS ");
                self.ident(alias);
            }
            From::Function { call, ordinality, alias, columns } => {
                self.expr(call);
                if *ordinality {
                    self.out.push_str(" WITH ORDINALITY");
                }
                self.out.push_str(" AS ");
                self.ident(alias);
                if !columns.is_empty() {
                    self.out.push('(');
                    for (i, c) in columns.iter().enumerate() {
                        if i > 0 {
                            self.out.push_str(", ");
                        }
                        self.ident(c);
                    }
                    self.out.push(')');
                }
            }
        }
    }

    fn returning(&mut self, items: &[SelectItem<'_>]) {
        if !items.is_empty() {
            self.clause("RETURNING ");
            self.items(items);
        }
    }

    fn insert(&mut self, i: &Insert<'_>) {
        self.out.push_str("INSERT INTO ");
        self.table(&i.table);
        if !i.columns.is_empty() {
            self.out.push_str(" (");
            for (n, c) in i.columns.iter().enumerate() {
                if n > 0 {
                    self.out.push_str(", ");
                }
                self.ident(c);
            }
            self.out.push(')');
        }
        match &i.source {
            InsertSource::DefaultValues => self.clause("DEFAULT VALUES"),
            InsertSource::Values(rows) => {
                self.clause("VALUES ");
                for (n, row) in rows.iter().enumerate() {
                    if n > 0 {
                        self.out.push_str(", ");
                    }
                    self.out.push('(');
                    self.list(row);
                    self.out.push(')');
                }
            }
            InsertSource::Query(q) => {
                if self.pretty() {
                    self.newline();
                } else {
                    self.out.push(' ');
                }
                self.query(q);
            }
        }
        self.returning(&i.returning);
    }

    fn update(&mut self, u: &Update<'_>) {
        self.out.push_str("UPDATE ");
        self.table(&u.table);
        self.out.push_str(" AS ");
        self.ident(&u.alias);
        self.clause("SET ");
        for (n, (c, v)) in u.set.iter().enumerate() {
            if n > 0 {
                self.out.push_str(", ");
            }
            self.ident(c);
            self.out.push_str(" = ");
            self.expr(v);
        }
        self.clause("WHERE ");
        self.expr(&u.filter);
        self.returning(&u.returning);
    }

    fn delete(&mut self, d: &Delete<'_>) {
        self.out.push_str("DELETE FROM ");
        self.table(&d.table);
        self.out.push_str(" AS ");
        self.ident(&d.alias);
        if !d.using.is_empty() {
            self.clause("USING ");
            for (n, f) in d.using.iter().enumerate() {
                if n > 0 {
                    self.out.push_str(", ");
                }
                self.from(f);
            }
        }
        self.clause("WHERE ");
        self.expr(&d.filter);
        self.returning(&d.returning);
    }

    fn list(&mut self, items: &[Expr<'_>]) {
        for (i, e) in items.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.expr(e);
        }
    }

    /// Prints `e`, in parentheses when it binds less tightly than `min` requires.
    fn operand(&mut self, e: &Expr<'_>, min: u8) {
        if prec(e) < min {
            self.out.push('(');
            self.expr(e);
            self.out.push(')');
        } else {
            self.expr(e);
        }
    }

    pub(crate) fn expr(&mut self, e: &Expr<'_>) {
        match e {
            Expr::Column { table, column } => {
                if let Some(t) = table {
                    self.ident(t);
                    self.out.push('.');
                }
                self.ident(column);
            }
            Expr::AllColumns(t) => {
                self.ident(t);
                self.out.push_str(".*");
            }
            Expr::Star => self.out.push('*'),
            Expr::Param(id) => {
                let n = self.param(*id);
                let _ = write!(self.out, "${n}");
            }
            Expr::Str(s) => exo_ir::sql_text::write_literal(&mut self.out, s),
            Expr::Int(i) => {
                let _ = write!(self.out, "{i}");
            }
            Expr::Bool(b) => self.out.push_str(if *b { "TRUE" } else { "FALSE" }),
            Expr::Null => self.out.push_str("NULL"),
            Expr::Default => self.out.push_str("DEFAULT"),
            Expr::Cast(inner, ty) => {
                self.operand(inner, CAST);
                let _ = write!(self.out, "::{ty}");
            }
            Expr::Func { name, args, order_by } => {
                self.out.push_str(name);
                self.out.push('(');
                self.list(args);
                if !order_by.is_empty() {
                    self.out.push_str(" ORDER BY ");
                    self.orders(order_by);
                }
                self.out.push(')');
            }
            Expr::Binary { op, left, right } => {
                let p = op_prec(*op);
                // Comparisons and LIKE do not associate; the other operators associate left.
                let left_min = if p == OTHER_OP { p } else { p + 1 };
                self.operand(left, left_min);
                self.out.push(' ');
                self.out.push_str(op.symbol());
                self.out.push(' ');
                self.operand(right, p + 1);
            }
            Expr::And(terms) => self.junction(terms, " AND ", AND),
            Expr::Or(terms) => self.junction(terms, " OR ", OR),
            Expr::Not(inner) => {
                self.out.push_str("NOT ");
                self.operand(inner, NOT);
            }
            Expr::IsNull { expr, negated } => {
                self.operand(expr, IS + 1);
                self.out.push_str(if *negated { " IS NOT NULL" } else { " IS NULL" });
            }
            Expr::Exists(q) => {
                self.out.push_str("EXISTS ");
                self.block(q);
            }
            Expr::Subquery(q) => self.block(q),
            Expr::Array(q) => {
                self.out.push_str("ARRAY");
                self.block(q);
            }
            Expr::InSubquery { expr, query } => {
                self.operand(expr, LIKE + 1);
                self.out.push_str(" IN ");
                self.block(query);
            }
            Expr::Quantified { left, op, all, right } => {
                self.operand(left, CMP + 1);
                let _ = write!(self.out, " {} {}(", op.symbol(), if *all { "ALL" } else { "ANY" });
                self.expr(right);
                self.out.push(')');
            }
            Expr::Tuple(items) => {
                self.out.push('(');
                self.list(items);
                self.out.push(')');
            }
            Expr::Case { whens, otherwise } => {
                self.out.push_str("CASE");
                for (c, v) in whens {
                    self.out.push_str(" WHEN ");
                    self.expr(c);
                    self.out.push_str(" THEN ");
                    self.expr(v);
                }
                if let Some(e) = otherwise {
                    self.out.push_str(" ELSE ");
                    self.expr(e);
                }
                self.out.push_str(" END");
            }
        }
    }

    fn junction(&mut self, terms: &[Expr<'_>], sep: &str, p: u8) {
        for (i, t) in terms.iter().enumerate() {
            if i > 0 {
                self.out.push_str(sep);
            }
            self.operand(t, p);
        }
    }
}
