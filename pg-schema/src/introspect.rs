//! Reads a live database's schema from `pg_catalog` into a [`Snapshot`], spelled the way
//! [`Snapshot::from_database`] spells the model so the two compare directly.

use std::collections::HashMap;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use crate::snapshot::{
    canonical_type, nextval, ColumnSnapshot, EnumSnapshot, ForeignKeySnapshot, IndexSnapshot, KeySnapshot,
    SequenceSnapshot, Snapshot, TableSnapshot, TriggerSnapshot,
};
use crate::Error;

/// `tgtype` bits of a `BEFORE UPDATE ... FOR EACH ROW` trigger: ROW (1) | BEFORE (2) | UPDATE (16).
const TRIGGER_BEFORE_UPDATE_ROW: i32 = 1 | 2 | 16;

const EXTENSIONS: &str = "SELECT extname::text FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1";

const SCHEMAS: &str = "SELECT nspname::text FROM pg_namespace WHERE nspname::text = ANY($1) ORDER BY 1";

const ENUMS: &str = "
SELECT n.nspname::text, t.typname::text, array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname::text = ANY($1)
GROUP BY 1, 2
ORDER BY 1, 2";

/// Sequences not owned by a column (`deptype` `a`: SERIAL / OWNED BY, `i`: identity).
const SEQUENCES: &str = "
SELECT n.nspname::text, c.relname::text
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND n.nspname::text = ANY($1)
  AND NOT EXISTS (
    SELECT 1 FROM pg_depend d
    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
      AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
ORDER BY 1, 2";

const TABLES: &str = "
SELECT c.oid, n.nspname::text, c.relname::text
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname::text = ANY($1)
ORDER BY 2, 3";

/// One row per column. The sequence a default draws from is found through `pg_depend` rather
/// than by parsing `nextval('...'::regclass)`, whose text depends on the search path. An
/// identity column (`GENERATED ... AS IDENTITY`) reads as SERIAL: both draw their values from a
/// sequence the column owns, which is all the model can say (`autoIncrement()`). A stored
/// generated column has no default: its expression (also in `pg_attrdef`) is not one, and
/// `ALTER COLUMN ... DROP DEFAULT` would fail on it.
///
/// `{relkinds}` is replaced by the relation kinds to read (tables here; views for imports).
pub(crate) const COLUMNS: &str = "
SELECT a.attrelid, a.attname::text, a.attnotnull,
       format_type(a.atttypid, a.atttypmod),
       CASE WHEN t.typtype = 'e' THEN tn.nspname::text WHEN et.typtype = 'e' THEN etn.nspname::text END,
       CASE WHEN t.typtype = 'e' THEN t.typname::text WHEN et.typtype = 'e' THEN et.typname::text END,
       et.typtype IS NOT NULL,
       pg_get_expr(d.adbin, d.adrelid),
       sn.nspname::text, s.relname::text,
       EXISTS (
         SELECT 1 FROM pg_depend o
         WHERE o.classid = 'pg_class'::regclass AND o.objid = s.oid
           AND o.refclassid = 'pg_class'::regclass AND o.refobjid = a.attrelid
           AND o.refobjsubid = a.attnum AND o.deptype = 'a'),
       a.attidentity <> '',
       a.attgenerated <> ''
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_namespace tn ON tn.oid = t.typnamespace
LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN pg_namespace etn ON etn.oid = et.typnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN LATERAL (
  SELECT dep.refobjid FROM pg_depend dep
  JOIN pg_class sc ON sc.oid = dep.refobjid AND sc.relkind = 'S'
  WHERE dep.classid = 'pg_attrdef'::regclass AND dep.objid = d.oid
    AND dep.refclassid = 'pg_class'::regclass
  LIMIT 1) seqdep ON true
LEFT JOIN pg_class s ON s.oid = seqdep.refobjid
LEFT JOIN pg_namespace sn ON sn.oid = s.relnamespace
WHERE c.relkind IN ({relkinds}) AND NOT c.relispartition AND n.nspname::text = ANY($1)
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum";

const CONSTRAINTS: &str = "
SELECT c.conrelid, c.conname::text, c.contype::text,
       ARRAY(SELECT a.attname::text
             FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord),
       rn.nspname::text, r.relname::text,
       ARRAY(SELECT a.attname::text
             FROM unnest(c.confkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum
             ORDER BY k.ord)
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_class r ON r.oid = c.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE c.contype IN ('p', 'u', 'f') AND n.nspname::text = ANY($1)
ORDER BY c.conrelid, c.conname";

/// Indexes that do not back a primary key, unique or exclusion constraint.
const INDEXES: &str = "
SELECT i.indrelid, ic.relname::text,
       NOT i.indisunique AND am.amname = 'btree' AND i.indpred IS NULL AND i.indexprs IS NULL
         AND i.indnatts = i.indnkeyatts
         AND coalesce((SELECT bool_and(o = 0) FROM unnest(i.indoption::int2[]) o), true),
       ARRAY(SELECT CASE WHEN k.attnum = 0
                         THEN '(' || pg_get_indexdef(i.indexrelid, k.ord::int, true) || ')'
                         ELSE a.attname::text END
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE k.ord <= i.indnkeyatts
             ORDER BY k.ord),
       pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE t.relkind IN ('r', 'p') AND NOT t.relispartition AND n.nspname::text = ANY($1)
  AND NOT EXISTS (
    SELECT 1 FROM pg_constraint c
    WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))
ORDER BY i.indrelid, ic.relname";

const TRIGGERS: &str = "
SELECT tg.tgrelid, tg.tgname::text, pn.nspname::text, p.proname::text, p.prosrc, tg.tgtype::int4
FROM pg_trigger tg
JOIN pg_class t ON t.oid = tg.tgrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_proc p ON p.oid = tg.tgfoid
JOIN pg_namespace pn ON pn.oid = p.pronamespace
WHERE NOT tg.tgisinternal AND n.nspname::text = ANY($1)
ORDER BY tg.tgrelid, tg.tgname";

/// Reads the schema objects in `schemas` (plus the database's extensions). Tables are ordinary
/// and partitioned tables; views, foreign tables and partitions are not read.
///
/// The queries are separate statements: run this inside a `REPEATABLE READ` transaction if
/// the schema may change meanwhile.
pub async fn introspect(client: &Client, schemas: &[String]) -> Result<Snapshot, Error> {
    let scope: Vec<String> = schemas.to_vec();
    let run = |what: &'static str, sql: &'static str, with_scope: bool| {
        let scope = &scope;
        async move {
            let params: Vec<&(dyn ToSql + Sync)> = if with_scope { vec![scope] } else { vec![] };
            client.query(sql, &params).await.map_err(|e| Error::new(format!("introspection of {what}"), e))
        }
    };

    let extensions = run("extensions", EXTENSIONS, false).await?.iter().map(|r| r.get(0)).collect();
    let schemas_found = run("schemas", SCHEMAS, true).await?.iter().map(|r| r.get(0)).collect();
    let enums = run("enums", ENUMS, true)
        .await?
        .iter()
        .map(|r| EnumSnapshot { schema: r.get(0), name: r.get(1), values: r.get(2) })
        .collect();
    let sequences = run("sequences", SEQUENCES, true)
        .await?
        .iter()
        .map(|r| SequenceSnapshot { schema: r.get(0), name: r.get(1) })
        .collect();

    let mut tables: Vec<TableSnapshot> = Vec::new();
    let mut index_of: HashMap<u32, usize> = HashMap::new();
    for r in run("tables", TABLES, true).await? {
        index_of.insert(r.get(0), tables.len());
        tables.push(TableSnapshot {
            schema: r.get(1),
            name: r.get(2),
            columns: vec![],
            primary_key: None,
            unique_constraints: vec![],
            indexes: vec![],
            foreign_keys: vec![],
            triggers: vec![],
        });
    }
    // Rows of the queries below start with the table's oid.
    let slot = |r: &Row| -> Option<usize> { index_of.get(&r.get::<_, u32>(0)).copied() };

    let columns_sql = COLUMNS.replace("{relkinds}", "'r', 'p'");
    let columns = client.query(&columns_sql, &[&scope]).await.map_err(|e| Error::new("introspection of columns", e))?;
    for r in columns {
        if let Some(i) = slot(&r) {
            tables[i].columns.push(column_from_row(&r));
        }
    }
    for r in run("constraints", CONSTRAINTS, true).await? {
        let name: String = r.get(1);
        let kind: String = r.get(2);
        let columns: Vec<String> = r.get(3);
        let Some(i) = slot(&r) else { continue };
        let t = &mut tables[i];
        match kind.as_str() {
            "p" => t.primary_key = Some(KeySnapshot { name, columns }),
            "u" => t.unique_constraints.push(KeySnapshot { name, columns }),
            _ => t.foreign_keys.push(ForeignKeySnapshot {
                name,
                columns,
                ref_schema: r.get(4),
                ref_table: r.get(5),
                ref_columns: r.get(6),
            }),
        }
    }
    for r in run("indexes", INDEXES, true).await? {
        let index = IndexSnapshot { name: r.get(1), plain: r.get(2), columns: r.get(3), definition: r.get(4) };
        if let Some(i) = slot(&r) {
            tables[i].indexes.push(index);
        }
    }
    for r in run("triggers", TRIGGERS, true).await? {
        let tgtype: i32 = r.get(5);
        let trigger = TriggerSnapshot {
            name: r.get(1),
            function_schema: r.get(2),
            function_name: r.get(3),
            function_body: r.get(4),
            before_update_each_row: tgtype == TRIGGER_BEFORE_UPDATE_ROW,
        };
        if let Some(i) = slot(&r) {
            tables[i].triggers.push(trigger);
        }
    }

    Ok(Snapshot { extensions, schemas: schemas_found, enums, sequences, tables })
}

pub(crate) fn column_from_row(r: &Row) -> ColumnSnapshot {
    let name: String = r.get(1);
    let not_null: bool = r.get(2);
    let formatted: String = r.get(3);
    let enum_schema: Option<String> = r.get(4);
    let enum_name: Option<String> = r.get(5);
    let is_array: bool = r.get(6);
    let default: Option<String> = r.get(7);
    let seq_schema: Option<String> = r.get(8);
    let seq_name: Option<String> = r.get(9);
    let seq_owned: bool = r.get(10);
    let identity: bool = r.get(11);
    let generated: bool = r.get(12);

    let ty = match (enum_schema, enum_name) {
        (Some(s), Some(n)) => {
            let base = crate::ddl::full_name(&s, &n);
            if is_array {
                format!("{base}[]")
            } else {
                base
            }
        }
        _ => canonical_type(&formatted),
    };
    let is_integer = matches!(ty.as_str(), "SMALLINT" | "INT" | "BIGINT");
    let (serial, default) = match (seq_schema, seq_name) {
        _ if identity && is_integer => (true, None),
        _ if generated => (false, None),
        (Some(_), Some(_)) if seq_owned && is_integer => (true, None),
        (Some(s), Some(n)) => (false, Some(nextval(&s, &n))),
        _ => (false, default),
    };
    ColumnSnapshot { name, ty, serial, nullable: !not_null, default }
}
