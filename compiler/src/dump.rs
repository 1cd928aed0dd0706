//! A stable, readable text dump of the IR (everything but the GraphQL schema), for
//! snapshot tests and `exo` debugging. Indices are shown by name wherever possible.

use std::fmt::Write;

use exo_ir::{
    AccessExpr, AccessOperand, CmpOp, ColumnDefault, ContextSource, EntityAccess, FieldDefault, FieldKind, Ir, Literal,
    PathStep, ScalarType, ValueType,
};

pub fn dump(ir: &Ir) -> String {
    let mut d = Dumper { ir, out: String::new() };
    d.all();
    d.out
}

struct Dumper<'a> {
    ir: &'a Ir,
    out: String,
}

impl Dumper<'_> {
    fn line(&mut self, indent: usize, s: impl AsRef<str>) {
        for _ in 0..indent {
            self.out.push_str("  ");
        }
        self.out.push_str(s.as_ref());
        self.out.push('\n');
    }

    fn all(&mut self) {
        let ir = self.ir;
        if let Some(desc) = &ir.description {
            self.line(0, "description:");
            for l in desc.lines() {
                self.line(1, format!("| {l}"));
            }
        }
        for c in &ir.contexts {
            self.line(0, format!("context {}", c.name));
            for f in &c.fields {
                let mut s = format!("{}: {}", f.name, self.scalar(f.ty));
                if f.is_list {
                    s = format!("{}: [{}]", f.name, self.scalar(f.ty));
                }
                if f.optional {
                    s.push('?');
                }
                if let Some(d) = &f.default {
                    let _ = write!(s, " = {}", literal(d));
                }
                let src = match &f.source {
                    ContextSource::Jwt(path) => format!("jwt({})", path.join(".")),
                    ContextSource::Header(h) => format!("header({h})"),
                    ContextSource::Cookie(c) => format!("cookie({c})"),
                    ContextSource::Env(e) => format!("env({e})"),
                    ContextSource::ClientIp => "clientIp".into(),
                    ContextSource::Query(q) => format!("query({q})"),
                };
                self.line(1, format!("{s}  from {src}"));
            }
        }
        for e in &ir.enums {
            self.line(0, format!("enum {} as {}.{}: {}", e.name, e.pg_schema, e.pg_name, e.variants.join(" ")));
            if let Some(doc) = &e.doc {
                self.line(1, format!("doc: {}", one_line(doc)));
            }
        }
        for j in &ir.json_types {
            self.line(0, format!("json {}", j.name));
            if let Some(doc) = &j.doc {
                self.line(1, format!("doc: {}", one_line(doc)));
            }
            for f in &j.fields {
                self.line(1, format!("{}: {}{}", f.name, self.value(&f.ty), if f.optional { "?" } else { "" }));
            }
        }
        for (i, e) in ir.entities.iter().enumerate() {
            self.entity(i);
            let _ = e;
        }
        for t in &ir.database.tables {
            self.table(t);
        }
        for s in &ir.database.sequences {
            self.line(0, format!("sequence {}.{}", s.schema, s.name));
        }
        for x in &ir.database.extensions {
            self.line(0, format!("extension {x}"));
        }
    }

    fn entity(&mut self, i: usize) {
        let ir = self.ir;
        let e = &ir.entities[i];
        let table = &ir.database.tables[e.table as usize];
        self.line(
            0,
            format!("entity {} (plural {}) -> table #{} {} as {}", e.name, e.plural, e.table, e.sql.table, e.sql.alias),
        );
        if let Some(doc) = &e.doc {
            self.line(1, format!("doc: {}", one_line(doc)));
        }
        let pk: Vec<&str> = e.pk.iter().map(|f| e.fields[*f as usize].name.as_str()).collect();
        self.line(1, format!("pk: {}", pk.join(", ")));
        for f in &e.fields {
            let opt = if f.optional { "?" } else { "" };
            let mut s = match &f.kind {
                FieldKind::Column { ty, column, sql } => format!(
                    "{}: {}{opt} column {} json `{}` param `{}`",
                    f.name,
                    self.value(ty),
                    table.columns.get(*column as usize).map_or("?", |c| c.name.as_str()),
                    json_template(sql.json),
                    param_template(&sql.param)
                ),
                FieldKind::ManyToOne { target, columns, target_columns, inverse, one_to_one } => {
                    let t = &ir.entities[*target as usize];
                    let tt = &ir.database.tables[t.table as usize];
                    let cols: Vec<&str> = columns
                        .iter()
                        .filter_map(|c| table.columns.get(*c as usize))
                        .map(|c| c.name.as_str())
                        .collect();
                    let tcols: Vec<&str> = target_columns
                        .iter()
                        .filter_map(|c| tt.columns.get(*c as usize))
                        .map(|c| c.name.as_str())
                        .collect();
                    let inv =
                        inverse.map_or("none".to_string(), |f| format!("{}.{}", t.name, t.fields[f as usize].name));
                    format!(
                        "{}: {}{opt} {} via ({}) -> ({}) inverse {inv}",
                        f.name,
                        t.name,
                        if *one_to_one { "one-to-one (holds fk)" } else { "many-to-one" },
                        cols.join(", "),
                        tcols.join(", ")
                    )
                }
                FieldKind::OneToMany { target, inverse, one_to_one } => {
                    let t = &ir.entities[*target as usize];
                    format!(
                        "{}: {}{opt} {} via {}.{}",
                        f.name,
                        if *one_to_one { t.name.clone() } else { format!("Set<{}>", t.name) },
                        if *one_to_one { "one-to-one (inverse)" } else { "one-to-many" },
                        t.name,
                        t.fields[*inverse as usize].name
                    )
                }
            };
            if let Some(d) = &f.default {
                let _ = write!(s, " default {}", self.default(d));
            }
            if f.readonly {
                s.push_str(" readonly");
            }
            if f.update_sync {
                s.push_str(" update-sync");
            }
            let v = &f.validation;
            if v.max_length.is_some()
                || v.min.is_some()
                || v.max.is_some()
                || v.int_bits.is_some_and(|b| b != 32)
                || v.single_precision
            {
                let mut parts = Vec::new();
                if let Some(m) = v.max_length {
                    parts.push(format!("maxLength={m}"));
                }
                if let Some(m) = v.min {
                    parts.push(format!("min={m}"));
                }
                if let Some(m) = v.max {
                    parts.push(format!("max={m}"));
                }
                if let Some(b) = v.int_bits {
                    parts.push(format!("bits={b}"));
                }
                if v.single_precision {
                    parts.push("single-precision".to_string());
                }
                let _ = write!(s, " validate({})", parts.join(", "));
            }
            self.line(1, s);
            if let Some(doc) = &f.doc {
                self.line(2, format!("doc: {}", one_line(doc)));
            }
            if let Some(a) = &f.access {
                self.access(2, a);
            }
        }
        for u in &e.unique_lookups {
            let fs: Vec<&str> = u.fields.iter().map(|f| e.fields[*f as usize].name.as_str()).collect();
            self.line(1, format!("lookup by {}: {}", u.name, fs.join(", ")));
        }
        self.access(1, &e.access);
    }

    fn access(&mut self, indent: usize, a: &EntityAccess) {
        let all = [&a.query, &a.create, &a.update, &a.delete];
        if all.iter().all(|x| *x == &a.query) {
            let s = self.expr(&a.query);
            self.line(indent, format!("access all: {s}"));
            return;
        }
        for (name, x) in [("query", &a.query), ("create", &a.create), ("update", &a.update), ("delete", &a.delete)] {
            let s = self.expr(x);
            self.line(indent, format!("access {name}: {s}"));
        }
    }

    fn table(&mut self, t: &exo_ir::Table) {
        let name = if t.schema == "public" { t.name.clone() } else { format!("{}.{}", t.schema, t.name) };
        self.line(0, format!("table {name}{}", if t.managed { "" } else { " (unmanaged)" }));
        for c in &t.columns {
            let mut s = format!("{} {}{}", c.name, c.ty.sql(), if c.nullable { "" } else { " NOT NULL" });
            match &c.default {
                Some(ColumnDefault::Serial) | None => {}
                Some(ColumnDefault::Sequence { schema, name }) => {
                    let _ = write!(s, " DEFAULT nextval('{schema}.{name}')");
                }
                Some(ColumnDefault::Expr(x)) => {
                    let _ = write!(s, " DEFAULT {x}");
                }
            }
            if let Some(u) = &c.update_value {
                let _ = write!(s, " ON UPDATE {u}");
            }
            self.line(1, s);
        }
        let cols = |ids: &[u32]| {
            ids.iter()
                .filter_map(|c| t.columns.get(*c as usize))
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        self.line(1, format!("primary key ({})", cols(&t.primary_key)));
        for u in &t.unique_constraints {
            self.line(1, format!("unique {} ({})", u.name, cols(&u.columns)));
        }
        for x in &t.indexes {
            self.line(1, format!("index {} ({})", x.name, cols(&x.columns)));
        }
        for fk in &t.foreign_keys {
            let rt = &self.ir.database.tables[fk.ref_table as usize];
            let rcols: Vec<&str> =
                fk.ref_columns.iter().filter_map(|c| rt.columns.get(*c as usize)).map(|c| c.name.as_str()).collect();
            self.line(
                1,
                format!("foreign key {} ({}) -> {}({})", fk.name, cols(&fk.columns), rt.name, rcols.join(", ")),
            );
        }
    }

    fn scalar(&self, s: ScalarType) -> String {
        match s {
            ScalarType::Enum(id) => self.ir.enums.get(id as usize).map_or("<enum>".into(), |e| e.name.clone()),
            s => s.graphql_name().into(),
        }
    }

    fn value(&self, v: &ValueType) -> String {
        match v {
            ValueType::Scalar(s) => self.scalar(*s),
            ValueType::JsonObject(id) => {
                self.ir.json_types.get(*id as usize).map_or("<json>".into(), |j| j.name.clone())
            }
            ValueType::Array(inner) => format!("[{}]", self.value(inner)),
        }
    }

    fn default(&self, d: &FieldDefault) -> String {
        match d {
            FieldDefault::AutoIncrement { sequence: None } => "autoIncrement()".into(),
            FieldDefault::AutoIncrement { sequence: Some(s) } => format!("autoIncrement(\"{s}\")"),
            FieldDefault::Now => "now()".into(),
            FieldDefault::GenerateUuid => "generate_uuid()".into(),
            FieldDefault::UuidV4 => "uuidGenerateV4()".into(),
            FieldDefault::UuidV7 => "uuidGenerateV7()".into(),
            FieldDefault::Literal(l) => literal(l),
            FieldDefault::EnumVariant(v) => v.clone(),
            FieldDefault::Context { context, field } => self.context_field(*context, *field),
        }
    }

    fn context_field(&self, context: u32, field: u32) -> String {
        let c = &self.ir.contexts[context as usize];
        format!("{}.{}", c.name, c.fields.get(field as usize).map_or("?", |f| f.name.as_str()))
    }

    fn path(&self, steps: &[PathStep]) -> String {
        steps
            .iter()
            .map(|s| {
                let e = &self.ir.entities[s.entity as usize];
                format!(".{}", e.fields.get(s.field as usize).map_or("?", |f| f.name.as_str()))
            })
            .collect()
    }

    fn operand(&self, o: &AccessOperand) -> String {
        match o {
            AccessOperand::Literal(l) => literal(l),
            AccessOperand::Context { context, field } => self.context_field(*context, *field),
            AccessOperand::SelfPath(steps) => format!("self{}", self.path(steps)),
            AccessOperand::Param { param, path } => format!("${param}{}", self.path(path)),
        }
    }

    fn expr(&self, x: &AccessExpr) -> String {
        match x {
            AccessExpr::Const(b) => b.to_string(),
            AccessExpr::Not(inner) => format!("!({})", self.expr(inner)),
            AccessExpr::And(a, b) => format!("({} && {})", self.expr(a), self.expr(b)),
            AccessExpr::Or(a, b) => format!("({} || {})", self.expr(a), self.expr(b)),
            AccessExpr::Cmp { op, lhs, rhs } => {
                let op = match op {
                    CmpOp::Eq => "==",
                    CmpOp::Neq => "!=",
                    CmpOp::Lt => "<",
                    CmpOp::Lte => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::Gte => ">=",
                    CmpOp::In => "in",
                };
                format!("{} {op} {}", self.operand(lhs), self.operand(rhs))
            }
            AccessExpr::Some { collection, param, body } => {
                format!("{}.some(${param} => {})", self.operand(collection), self.expr(body))
            }
        }
    }
}

fn literal(l: &Literal) -> String {
    match l {
        Literal::Null => "null".into(),
        Literal::Bool(b) => b.to_string(),
        Literal::Int(i) => i.to_string(),
        Literal::Float(f) => format!("{f:?}"),
        Literal::String(s) => format!("{s:?}"),
    }
}

fn one_line(s: &str) -> String {
    s.replace('\n', " / ")
}

/// A column's JSON reading as a template (`{}` stands for the column), as the dump shows it.
fn json_template(json: exo_ir::JsonOut) -> &'static str {
    match json {
        exo_ir::JsonOut::Plain => "{}",
        exo_ir::JsonOut::Text => "{}::text",
        exo_ir::JsonOut::TextArray => "{}::text[]",
        exo_ir::JsonOut::Base64 => "translate(encode({}, 'base64'), E'\\n', '')",
    }
}

/// A column's parameter binding as a template (`{}` stands for `$n`), as the dump shows it.
fn param_template(param: &exo_ir::ParamIn) -> String {
    match param {
        exo_ir::ParamIn::Cast(cast) => format!("{{}}::{cast}"),
        exo_ir::ParamIn::Base64 => "decode({}, 'base64')".to_string(),
    }
}
