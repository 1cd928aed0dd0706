//! The comparable form of a schema: what [`crate::introspect`] reads and what
//! [`Snapshot::from_database`] says a database built from the model should contain.
//!
//! Types are spelled as [`exo_ir::ColumnType::sql`] spells them ([`canonical_type`]); a SERIAL
//! column is its integer type plus `serial: true` (the owned sequence and its `nextval` default
//! are implied); a named-sequence default is `nextval('"schema"."name"')`. Other defaults keep
//! the text they were written or printed with and are compared through [`normalize_default`].

use exo_ir::{ColumnDefault, ColumnType, Database};

/// Postgres truncates identifiers to this many bytes.
const MAX_IDENT_BYTES: usize = 63;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Installed extensions (database-wide, `plpgsql` left out), sorted.
    pub extensions: Vec<String>,
    /// The schemas in scope that exist, sorted.
    pub schemas: Vec<String>,
    pub enums: Vec<EnumSnapshot>,
    /// Sequences not owned by a column (SERIAL and identity sequences are part of their column).
    pub sequences: Vec<SequenceSnapshot>,
    pub tables: Vec<TableSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumSnapshot {
    pub schema: String,
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSnapshot {
    pub schema: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSnapshot {
    pub schema: String,
    pub name: String,
    pub columns: Vec<ColumnSnapshot>,
    pub primary_key: Option<KeySnapshot>,
    /// Sorted by name.
    pub unique_constraints: Vec<KeySnapshot>,
    /// Indexes that do not back a constraint, sorted by name.
    pub indexes: Vec<IndexSnapshot>,
    /// Sorted by name.
    pub foreign_keys: Vec<ForeignKeySnapshot>,
    /// Sorted by name.
    pub triggers: Vec<TriggerSnapshot>,
}

impl TableSnapshot {
    pub fn column(&self, name: &str) -> Option<&ColumnSnapshot> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// `"todos"` in the public schema, `"shop"."orders"` elsewhere.
    pub fn qualified_name(&self) -> String {
        exo_ir::qualified_name(&self.schema, &self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSnapshot {
    pub name: String,
    /// Canonical type; for a SERIAL column, the underlying integer type.
    pub ty: String,
    /// SERIAL: the default is `nextval` of a sequence owned by this column.
    pub serial: bool,
    pub nullable: bool,
    /// Default expression (absent for SERIAL columns).
    pub default: Option<String>,
}

impl ColumnSnapshot {
    /// The type as people write it: `SERIAL` rather than `INT` plus an owned sequence.
    pub fn display_type(&self) -> String {
        if !self.serial {
            return self.ty.clone();
        }
        match self.ty.as_str() {
            "SMALLINT" => "SMALLSERIAL".into(),
            "BIGINT" => "BIGSERIAL".into(),
            "INT" => "SERIAL".into(),
            other => format!("{other} (serial)"),
        }
    }

    /// The type to write in `CREATE TABLE` / `ADD COLUMN`.
    pub fn ddl_type(&self) -> String {
        self.display_type()
    }
}

/// A primary key or unique constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySnapshot {
    pub name: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSnapshot {
    pub name: String,
    /// Key columns in order; an expression column is `(expression)`.
    pub columns: Vec<String>,
    /// A non-unique btree index over plain columns without a predicate: what the model creates.
    pub plain: bool,
    /// `pg_get_indexdef` for introspected indexes, the generated statement for expected ones.
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKeySnapshot {
    pub name: String,
    pub columns: Vec<String>,
    pub ref_schema: String,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

impl ForeignKeySnapshot {
    /// Equal apart from the name.
    pub fn same_shape(&self, other: &ForeignKeySnapshot) -> bool {
        self.columns == other.columns
            && self.ref_schema == other.ref_schema
            && self.ref_table == other.ref_table
            && self.ref_columns == other.ref_columns
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerSnapshot {
    pub name: String,
    pub function_schema: String,
    pub function_name: String,
    /// The function's source between the dollar quotes.
    pub function_body: String,
    /// Fires `BEFORE UPDATE ... FOR EACH ROW` (the only shape the model creates).
    pub before_update_each_row: bool,
}

impl Snapshot {
    /// What introspecting a database created from `db` gives, given its schemas are in scope.
    /// Unmanaged tables, and foreign keys pointing to them, are left out.
    pub fn from_database(db: &Database) -> Snapshot {
        let mut extensions = db.extensions.clone();
        extensions.sort();
        extensions.dedup();
        let mut schemas = crate::model_schemas(db);
        schemas.retain(|s| s != "public");

        let mut enums: Vec<EnumSnapshot> = db
            .enums
            .iter()
            .map(|e| EnumSnapshot { schema: e.schema.clone(), name: e.name.clone(), values: e.values.clone() })
            .collect();
        enums.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));

        let mut sequences: Vec<SequenceSnapshot> =
            db.sequences.iter().map(|s| SequenceSnapshot { schema: s.schema.clone(), name: s.name.clone() }).collect();
        sequences.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        sequences.dedup();

        let tables = db.tables.iter().filter(|t| t.managed).map(|t| table_snapshot(db, t)).collect();
        Snapshot { extensions, schemas, enums, sequences, tables }
    }

    pub fn table(&self, schema: &str, name: &str) -> Option<&TableSnapshot> {
        self.tables.iter().find(|t| t.schema == schema && t.name == name)
    }
}

fn table_snapshot(db: &Database, t: &exo_ir::Table) -> TableSnapshot {
    let col_name = |id: &u32| t.columns[*id as usize].name.clone();
    let pk_cols: Vec<String> = t.primary_key.iter().map(col_name).collect();
    let columns = t
        .columns
        .iter()
        .map(|c| {
            let (ty, serial) = match &c.ty {
                ColumnType::Serial { bits: 16 } => ("SMALLINT".to_string(), true),
                ColumnType::Serial { bits: 64 } => ("BIGINT".to_string(), true),
                ColumnType::Serial { .. } => ("INT".to_string(), true),
                other => (canonical_type(&other.sql()), false),
            };
            let default = match &c.default {
                None | Some(ColumnDefault::Serial) => None,
                Some(ColumnDefault::Sequence { schema, name }) => Some(nextval(schema, name)),
                Some(ColumnDefault::Expr(e)) => Some(e.clone()),
            };
            // Postgres makes SERIAL and primary-key columns NOT NULL whatever the DDL says.
            let nullable = c.nullable && !serial && !pk_cols.contains(&c.name);
            ColumnSnapshot { name: c.name.clone(), ty, serial, nullable, default }
        })
        .collect();

    let primary_key = (!t.primary_key.is_empty())
        .then(|| KeySnapshot { name: pg_ident(&format!("{}_pkey", t.name)), columns: pk_cols });
    let mut unique_constraints: Vec<KeySnapshot> = t
        .unique_constraints
        .iter()
        .map(|u| KeySnapshot { name: pg_ident(&u.name), columns: u.columns.iter().map(col_name).collect() })
        .collect();
    unique_constraints.sort_by(|a, b| a.name.cmp(&b.name));

    let mut indexes: Vec<IndexSnapshot> = t
        .indexes
        .iter()
        .map(|i| {
            let columns: Vec<String> = i.columns.iter().map(col_name).collect();
            let name = pg_ident(&i.name);
            let definition = crate::ddl::create_index_sql(&t.schema, &t.name, &name, &columns);
            IndexSnapshot { name, columns, plain: true, definition }
        })
        .collect();
    indexes.sort_by(|a, b| a.name.cmp(&b.name));

    let mut foreign_keys: Vec<ForeignKeySnapshot> = t
        .foreign_keys
        .iter()
        .filter_map(|fk| {
            let target = db.tables.get(fk.ref_table as usize)?;
            if !target.managed {
                return None;
            }
            Some(ForeignKeySnapshot {
                name: pg_ident(&fk.name),
                columns: fk.columns.iter().map(col_name).collect(),
                ref_schema: target.schema.clone(),
                ref_table: target.name.clone(),
                ref_columns: fk.ref_columns.iter().map(|c| target.columns[*c as usize].name.clone()).collect(),
            })
        })
        .collect();
    foreign_keys.sort_by(|a, b| a.name.cmp(&b.name));

    let updates: Vec<(String, String)> =
        t.columns.iter().filter_map(|c| c.update_value.as_ref().map(|v| (c.name.clone(), v.clone()))).collect();
    let triggers = if updates.is_empty() {
        vec![]
    } else {
        vec![TriggerSnapshot {
            name: pg_ident(&format!("exograph_on_update_{}", t.name)),
            function_schema: t.schema.clone(),
            function_name: pg_ident(&format!("exograph_update_{}", t.name)),
            function_body: update_function_body(&updates),
            before_update_each_row: true,
        }]
    };

    TableSnapshot {
        schema: t.schema.clone(),
        name: t.name.clone(),
        columns,
        primary_key,
        unique_constraints,
        indexes,
        foreign_keys,
        triggers,
    }
}

/// The plpgsql body of an `@update` trigger function (the text between the dollar quotes).
pub(crate) fn update_function_body(updates: &[(String, String)]) -> String {
    let mut body = String::from("\nBEGIN\n");
    for (col, value) in updates {
        body.push_str(&format!("    NEW.{} = {};\n", exo_ir::quote_ident(col), value));
    }
    body.push_str("    RETURN NEW;\nEND;\n");
    body
}

/// The default expression of a column fed by a named sequence.
pub(crate) fn nextval(schema: &str, name: &str) -> String {
    let regclass = format!("{}.{}", exo_ir::quote_ident(schema), exo_ir::quote_ident(name));
    format!("nextval({})", exo_ir::quote_literal(&regclass))
}

/// An identifier as Postgres stores it: at most 63 bytes.
pub(crate) fn pg_ident(name: &str) -> String {
    if name.len() <= MAX_IDENT_BYTES {
        return name.to_string();
    }
    let mut end = MAX_IDENT_BYTES;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

/// Spells a type the way [`exo_ir::ColumnType::sql`] does, whichever of Postgres' names was
/// used: `integer` and `int4` become `INT`, `character varying(100)` becomes `VARCHAR(100)`,
/// `timestamp(3) with time zone` becomes `TIMESTAMPTZ(3)`, `numeric(10,0)` becomes
/// `NUMERIC(10)`, `INT[][]` becomes `INT[]`. Quoted (user-defined) names are kept; unknown
/// names are upper-cased.
pub fn canonical_type(text: &str) -> String {
    let mut s = text.trim();
    let mut dims = 0;
    loop {
        let t = s.trim_end();
        if let Some(rest) = t.strip_suffix(']') {
            if let Some(open) = rest.rfind('[') {
                s = &rest[..open];
                dims += 1;
                continue;
            }
        }
        break;
    }
    let s = s.trim();
    let base = if s.starts_with('"') {
        s.to_string()
    } else {
        let lower = s.to_ascii_lowercase();
        let (name, args) = match (lower.find('('), lower.find(')')) {
            (Some(open), Some(close)) if close > open => {
                let name = format!("{} {}", &lower[..open], &lower[close + 1..]);
                let args: Vec<String> = lower[open + 1..close].split(',').map(|a| a.trim().to_string()).collect();
                (name, args)
            }
            _ => (lower.clone(), vec![]),
        };
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        let with_args = |n: &str| {
            if args.is_empty() {
                n.to_string()
            } else {
                format!("{n}({})", args.join(", "))
            }
        };
        match name.as_str() {
            "smallint" | "int2" => "SMALLINT".into(),
            "integer" | "int" | "int4" => "INT".into(),
            "bigint" | "int8" => "BIGINT".into(),
            "smallserial" | "serial2" => "SMALLSERIAL".into(),
            "serial" | "serial4" => "SERIAL".into(),
            "bigserial" | "serial8" => "BIGSERIAL".into(),
            "real" | "float4" => "REAL".into(),
            "double precision" | "float8" => "DOUBLE PRECISION".into(),
            "numeric" | "decimal" => match args.as_slice() {
                [p, s] if s == "0" => format!("NUMERIC({p})"),
                _ => with_args("NUMERIC"),
            },
            "text" => "TEXT".into(),
            "character varying" | "varchar" => with_args("VARCHAR"),
            "character" | "char" | "bpchar" => with_args("CHAR"),
            "boolean" | "bool" => "BOOLEAN".into(),
            "date" => "DATE".into(),
            "time" | "time without time zone" => with_args("TIME"),
            "timetz" | "time with time zone" => with_args("TIMETZ"),
            "timestamp" | "timestamp without time zone" => with_args("TIMESTAMP"),
            "timestamptz" | "timestamp with time zone" => with_args("TIMESTAMPTZ"),
            "jsonb" => "JSONB".into(),
            "json" => "JSON".into(),
            "bytea" => "BYTEA".into(),
            "uuid" => "UUID".into(),
            other => with_args(&other.to_ascii_uppercase()),
        }
    };
    // Postgres does not record array dimensions: `INT[][]` is `INT[]`.
    if dims > 0 {
        format!("{base}[]")
    } else {
        base
    }
}

/// The comparable form of a default expression. Postgres prints defaults its own way
/// (`'abc'::text`, `'-1'::integer`, `'MEDIUM'::priority`, `'10'::real`), so this drops casts
/// after a literal, unquotes numbers, trims insignificant zeros, lower-cases everything outside
/// quotes and collapses white space. Two defaults are the same when their normalized forms are.
pub fn normalize_default(expr: &str) -> String {
    let mut s = expr.trim();
    while s.starts_with('(') && s.ends_with(')') && parens_wrap_all(s) {
        s = s[1..s.len() - 1].trim();
    }
    // The model writes an escape string (`E'a\\b'`) where Postgres prints `'a\b'`.
    let plain;
    if let Some(p) = plain_literal(s) {
        plain = p;
        s = &plain;
    }
    let literal = if s.starts_with('\'') {
        quoted_literal_end(s).and_then(|end| only_casts(&s[end..]).then(|| s[..end].to_string()))
    } else {
        let end = s.find("::").unwrap_or(s.len());
        (is_number(&s[..end]) && only_casts(&s[end..])).then(|| s[..end].to_string())
    };
    if let Some(lit) = literal {
        let inner = lit.strip_prefix('\'').and_then(|l| l.strip_suffix('\'')).unwrap_or(&lit);
        if is_number(inner) {
            return canonical_number(inner);
        }
        // Postgres prints timestamps with a space where ISO 8601 (and the model) has a `T`.
        let b = inner.as_bytes();
        if b.len() > 11 && b[10] == b'T' && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit) {
            return format!("'{} {}'", &inner[..10], &inner[11..]);
        }
        return lit;
    }
    let lowered = lower_outside_quotes(s);
    // Postgres keeps the SQL-standard spelling; both read the transaction's start time.
    match lowered.as_str() {
        "current_timestamp" | "transaction_timestamp()" => "now()".into(),
        _ => lowered,
    }
}

fn parens_wrap_all(s: &str) -> bool {
    let mut depth = 0;
    let mut in_quote = false;
    for (i, c) in s.char_indices() {
        match c {
            '\'' => in_quote = !in_quote,
            '(' if !in_quote => depth += 1,
            ')' if !in_quote => {
                depth -= 1;
                if depth == 0 && i != s.len() - 1 {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

/// `E'...'` (as `exo_ir::quote_literal` writes it) with its escapes decoded into a standard
/// literal, followed by the rest of `s`; `None` when `s` does not start with an escape string
/// or an escape is not one the writer produces.
fn plain_literal(s: &str) -> Option<String> {
    let body = s.strip_prefix("E'").or_else(|| s.strip_prefix("e'"))?;
    let mut out = String::from("'");
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                '\\' => out.push('\\'),
                '\'' => out.push_str("''"),
                'x' => {
                    let hex: String = (0..2).filter_map(|_| chars.next().map(|(_, c)| c)).collect();
                    out.push(char::from(u8::from_str_radix(&hex, 16).ok()?));
                }
                'u' => {
                    let hex: String = (0..4).filter_map(|_| chars.next().map(|(_, c)| c)).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                _ => return None,
            },
            '\'' if body[i + 1..].starts_with('\'') => {
                chars.next();
                out.push_str("''");
            }
            '\'' => {
                out.push('\'');
                out.push_str(&body[i + 1..]);
                return Some(out);
            }
            c => out.push(c),
        }
    }
    None
}

/// Byte index just past the closing quote of the literal `s` starts with.
fn quoted_literal_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// `rest` is nothing but `::type` casts.
fn only_casts(rest: &str) -> bool {
    let rest = rest.trim();
    rest.is_empty()
        || (rest.starts_with("::") && rest.chars().all(|c| c.is_alphanumeric() || "_\". ()[],:".contains(c)))
}

fn is_number(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
        && s.chars().filter(|c| *c == '.').count() <= 1
        && s.chars().any(|c| c.is_ascii_digit())
}

fn canonical_number(s: &str) -> String {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac.trim_end_matches('0');
    let mut out = String::new();
    if neg && (int != "0" || !frac.is_empty()) {
        out.push('-');
    }
    out.push_str(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

fn lower_outside_quotes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_quote = false;
    let mut last_space = false;
    for c in s.chars() {
        if c == '\'' {
            in_quote = !in_quote;
        }
        if in_quote || c == '\'' {
            out.push(c);
            last_space = false;
        } else if c.is_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.extend(c.to_lowercase());
            last_space = false;
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_types() {
        let cases = [
            ("integer", "INT"),
            ("int4", "INT"),
            ("character varying(100)", "VARCHAR(100)"),
            ("VARCHAR(100)", "VARCHAR(100)"),
            ("timestamp with time zone", "TIMESTAMPTZ"),
            ("timestamp(3) with time zone", "TIMESTAMPTZ(3)"),
            ("timestamp without time zone", "TIMESTAMP"),
            ("time without time zone", "TIME"),
            ("numeric(10,2)", "NUMERIC(10, 2)"),
            ("NUMERIC(10, 2)", "NUMERIC(10, 2)"),
            ("numeric(10,0)", "NUMERIC(10)"),
            ("double precision", "DOUBLE PRECISION"),
            ("integer[]", "INT[]"),
            ("text[][]", "TEXT[]"),
            ("\"public\".\"priority\"[]", "\"public\".\"priority\"[]"),
            ("vector(1536)", "VECTOR(1536)"),
            ("jsonb", "JSONB"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical_type(input), want, "{input}");
        }
    }

    #[test]
    fn normalized_defaults() {
        let same = [
            ("'abc'", "'abc'::text"),
            ("'abc'", "'abc'::character varying"),
            ("-1", "'-1'::integer"),
            ("0", "'0'::bigint"),
            ("10.0", "'10'::real"),
            ("10.00", "10.00"),
            ("'MEDIUM'::\"public\".\"priority\"", "'MEDIUM'::priority"),
            ("'{}'", "'{}'::jsonb"),
            ("now()", "now()"),
            ("NOW()", "now()"),
            ("CURRENT_TIMESTAMP", "now()"),
            ("true", "true"),
            ("'2024-01-01'", "'2024-01-01'::date"),
            ("'it''s'", "'it''s'::text"),
        ];
        for (a, b) in same {
            assert_eq!(normalize_default(a), normalize_default(b), "{a} vs {b}");
        }
        assert_ne!(normalize_default("'abc'"), normalize_default("'ABC'::text"));
        // An escape string as the model writes it, as Postgres prints it back.
        for text in ["a\\b", "tab\there", "it's\n", "\u{1}"] {
            let written = exo_ir::quote_literal(text);
            let printed = format!("'{}'::text", text.replace('\'', "''"));
            assert_eq!(normalize_default(&written), normalize_default(&printed), "{written} vs {printed}");
        }
        assert_ne!(normalize_default("1"), normalize_default("10"));
    }
}
