//! What `exo schema import` reads from a live database: the [`Snapshot`] that `schema verify`
//! compares (tables, enums, sequences, keys, indexes), plus what only an import needs to see:
//! views and other relations exo does not manage, check constraints, generated columns and the
//! comments (`COMMENT ON`) that become the model's doc comments.

use tokio_postgres::Client;

use crate::introspect::{column_from_row, COLUMNS};
use crate::snapshot::{ColumnSnapshot, Snapshot};
use crate::Error;

/// A live database as an import sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Catalog {
    pub snapshot: Snapshot,
    /// Views, materialized views and foreign tables, sorted by schema and name.
    pub views: Vec<ViewSnapshot>,
    /// Check constraints of the tables in the snapshot, sorted by schema, table and name.
    pub checks: Vec<CheckSnapshot>,
    /// Columns of those tables whose values only the database writes: stored generated
    /// columns (`GENERATED ALWAYS AS (...) STORED`) and `GENERATED ALWAYS` identity columns.
    pub generated: Vec<GeneratedColumn>,
    /// `COMMENT ON TABLE / VIEW / COLUMN` texts of the tables and views read.
    pub comments: Vec<CommentSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentSnapshot {
    pub schema: String,
    /// The table or view.
    pub table: String,
    /// The column, or `None` for the table's own comment.
    pub column: Option<String>,
    pub text: String,
}

/// What kind of relation a [`ViewSnapshot`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    View,
    MaterializedView,
    ForeignTable,
}

impl ViewKind {
    /// `view`, `materialized view`, `foreign table`.
    pub fn describe(self) -> &'static str {
        match self {
            ViewKind::View => "view",
            ViewKind::MaterializedView => "materialized view",
            ViewKind::ForeignTable => "foreign table",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewSnapshot {
    pub schema: String,
    pub name: String,
    pub kind: ViewKind,
    /// Columns in order. Postgres records no NOT NULL for view columns, so all are nullable.
    pub columns: Vec<ColumnSnapshot>,
    /// Whether Postgres can delete rows through it (`pg_relation_is_updatable`: an
    /// automatically updatable view, a rule or `INSTEAD OF` trigger, a writable foreign table).
    pub deletable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSnapshot {
    pub schema: String,
    pub table: String,
    pub name: String,
    /// `pg_get_constraintdef`, e.g. `CHECK ((price > (0)::numeric))`.
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedColumn {
    pub schema: String,
    pub table: String,
    pub column: String,
    /// The generation expression, e.g. `(price * (quantity)::numeric)`; `None` for an identity
    /// column (`GENERATED ALWAYS AS IDENTITY`: a sequence fills it, and rows cannot set it).
    pub expression: Option<String>,
}

/// `pg_relation_is_updatable` is a bit set of the commands Postgres can run on the relation
/// (16: DELETE), counting rules and `INSTEAD OF` triggers.
const VIEWS: &str = "
SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text,
       (pg_relation_is_updatable(c.oid, true) & 16) <> 0
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm', 'f') AND n.nspname::text = ANY($1)
ORDER BY 2, 3";

const CHECKS: &str = "
SELECT n.nspname::text, t.relname::text, c.conname::text, pg_get_constraintdef(c.oid)
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE c.contype = 'c' AND t.relkind IN ('r', 'p') AND NOT t.relispartition
  AND n.nspname::text = ANY($1)
ORDER BY 1, 2, 3";

const GENERATED: &str = "
SELECT n.nspname::text, c.relname::text, a.attname::text,
       CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE (a.attgenerated <> '' OR a.attidentity = 'a') AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname::text = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY 1, 2, a.attnum";

const COMMENTS: &str = "
SELECT n.nspname::text, c.relname::text, a.attname::text, d.description
FROM pg_description d
JOIN pg_class c ON d.classoid = 'pg_class'::regclass AND d.objoid = c.oid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname::text = ANY($1)
  AND (d.objsubid = 0 OR a.attname IS NOT NULL)
ORDER BY 1, 2, d.objsubid";

/// Relations and types that belong to an extension (`CREATE EXTENSION pg_buffercache` puts a
/// view in `public`): the extension owns them, so an import leaves them out.
const EXTENSION_MEMBERS: &str = "
SELECT n.nspname::text, c.relname::text
FROM pg_depend d
JOIN pg_class c ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE d.deptype = 'e' AND n.nspname::text = ANY($1)
UNION
SELECT n.nspname::text, t.typname::text
FROM pg_depend d
JOIN pg_type t ON d.classid = 'pg_type'::regclass AND d.objid = t.oid
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE d.deptype = 'e' AND n.nspname::text = ANY($1)";

/// Schemas that hold the user's objects: everything except Postgres's own (`pg_*`,
/// `information_schema`), sorted. The default scope of an import.
const USER_SCHEMAS: &str = "
SELECT nspname::text FROM pg_namespace
WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'
ORDER BY 1";

/// The user's schemas (see [`USER_SCHEMAS`]).
pub async fn user_schemas(client: &Client) -> Result<Vec<String>, Error> {
    Ok(client
        .query(USER_SCHEMAS, &[])
        .await
        .map_err(|e| Error::new("listing schemas", e))?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Reads everything an import needs from `schemas`, leaving out what extensions own. Run it
/// inside a `REPEATABLE READ` transaction if the schema may change meanwhile.
pub async fn read_catalog(client: &Client, schemas: &[String]) -> Result<Catalog, Error> {
    let mut snapshot = crate::introspect(client, schemas).await?;
    let scope: Vec<String> = schemas.to_vec();
    let query = |what: &'static str, sql: String| {
        let scope = &scope;
        async move { client.query(&sql, &[scope]).await.map_err(|e| Error::new(format!("introspection of {what}"), e)) }
    };

    let members: Vec<(String, String)> =
        query("extension members", EXTENSION_MEMBERS.to_string()).await?.iter().map(|r| (r.get(0), r.get(1))).collect();
    let owned = |schema: &str, name: &str| members.iter().any(|(s, n)| s == schema && n == name);
    snapshot.tables.retain(|t| !owned(&t.schema, &t.name));
    snapshot.enums.retain(|e| !owned(&e.schema, &e.name));
    snapshot.sequences.retain(|s| !owned(&s.schema, &s.name));

    let mut views: Vec<ViewSnapshot> = Vec::new();
    let mut oids: Vec<u32> = Vec::new();
    for r in query("views", VIEWS.to_string()).await? {
        if owned(r.get(1), r.get(2)) {
            continue;
        }
        oids.push(r.get(0));
        let kind: String = r.get(3);
        views.push(ViewSnapshot {
            schema: r.get(1),
            name: r.get(2),
            kind: match kind.as_str() {
                "m" => ViewKind::MaterializedView,
                "f" => ViewKind::ForeignTable,
                _ => ViewKind::View,
            },
            columns: Vec::new(),
            deletable: r.get(4),
        });
    }
    let columns_sql = COLUMNS.replace("{relkinds}", "'v', 'm', 'f'");
    for r in query("view columns", columns_sql).await? {
        let oid: u32 = r.get(0);
        if let Some(i) = oids.iter().position(|o| *o == oid) {
            views[i].columns.push(column_from_row(&r));
        }
    }

    let checks = query("check constraints", CHECKS.to_string())
        .await?
        .iter()
        .map(|r| CheckSnapshot { schema: r.get(0), table: r.get(1), name: r.get(2), definition: r.get(3) })
        .collect();
    let generated = query("generated columns", GENERATED.to_string())
        .await?
        .iter()
        .map(|r| GeneratedColumn { schema: r.get(0), table: r.get(1), column: r.get(2), expression: r.get(3) })
        .collect();

    let comments = query("comments", COMMENTS.to_string())
        .await?
        .iter()
        .map(|r| CommentSnapshot { schema: r.get(0), table: r.get(1), column: r.get(2), text: r.get(3) })
        .collect();

    Ok(Catalog { snapshot, views, checks, generated, comments })
}
