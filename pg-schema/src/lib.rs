//! Turns the physical model ([`exo_ir::Database`]) into PostgreSQL DDL, reads a live database
//! back, compares the two and writes the migration between them.
//!
//! | stage | in | out |
//! |---|---|---|
//! | [`create_statements`] | `&Database` | `Vec<Statement>` creating everything from scratch |
//! | [`introspect`] | live connection + schema scope | [`Snapshot`] |
//! | [`read_catalog`] | live connection + schema scope | [`Catalog`]: the snapshot plus views, checks and generated columns (for `exo schema import`) |
//! | [`Snapshot::from_database`] | `&Database` | the [`Snapshot`] a perfect database would give |
//! | [`diff`] | `&Database`, `&Snapshot` | `Vec<Difference>` (human messages, classified) |
//! | [`migration`] | `&Database`, `&Snapshot`, `allow_destructive` | `Vec<Statement>` |
//! | [`apply`] | connection + statements | the database changed, in one transaction |
//! | [`to_sql_script`] | statements | a script for people and `psql` |
//!
//! Both sides of a comparison are [`Snapshot`]s with types and defaults spelled canonically
//! (the spelling of [`exo_ir::ColumnType::sql`]), so the comparison never guesses how Postgres
//! printed something. Nothing here renders diagnostics for a terminal; the CLI does.

mod apply;
mod catalog;
mod ddl;
mod diff;
mod introspect;
mod snapshot;

use std::fmt;

pub use apply::apply;
pub use catalog::{
    read_catalog, user_schemas, Catalog, CheckSnapshot, CommentSnapshot, GeneratedColumn, ViewKind, ViewSnapshot,
};
pub use ddl::create_statements;
pub use diff::{diff, migration, Difference};
pub use introspect::introspect;
pub use snapshot::{
    canonical_type, normalize_default, ColumnSnapshot, EnumSnapshot, ForeignKeySnapshot, IndexSnapshot, KeySnapshot,
    SequenceSnapshot, Snapshot, TableSnapshot, TriggerSnapshot,
};

/// What a [`Statement`] does, so callers (and [`apply`]) can treat some kinds specially.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatementKind {
    CreateExtension,
    CreateSchema,
    CreateEnum,
    /// `ALTER TYPE ... ADD VALUE`: the new value is unusable until its transaction commits.
    AddEnumValue,
    /// One step of recreating an enum to remove values (rename, create, convert columns, drop).
    RecreateEnum,
    DropEnum,
    CreateSequence,
    DropSequence,
    CreateTable,
    DropTable,
    AddColumn,
    AlterColumn,
    DropColumn,
    AddConstraint,
    DropConstraint,
    RenameConstraint,
    CreateIndex,
    DropIndex,
    RenameIndex,
    AddForeignKey,
    DropForeignKey,
    CreateFunction,
    DropFunction,
    CreateTrigger,
    DropTrigger,
}

/// One SQL statement, without its terminating `;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub kind: StatementKind,
    /// Loses data or removes something the model does not know about (drops, narrowing type
    /// changes, enum value removal).
    pub destructive: bool,
    /// Destructive and not allowed by the caller: shown commented out, never executed.
    pub withheld: bool,
}

impl Statement {
    pub(crate) fn new(kind: StatementKind, sql: impl Into<String>) -> Statement {
        Statement { sql: sql.into(), kind, destructive: false, withheld: false }
    }

    pub(crate) fn new_destructive(kind: StatementKind, sql: impl Into<String>) -> Statement {
        Statement { sql: sql.into(), kind, destructive: true, withheld: false }
    }

    /// The statement as it appears in a script: terminated by `;`, and every line behind `-- `
    /// when it is withheld.
    pub fn to_script_text(&self) -> String {
        let text = format!("{};", self.sql);
        if self.withheld {
            text.lines().map(|l| format!("-- {l}")).collect::<Vec<_>>().join("\n")
        } else {
            text
        }
    }
}

/// Renders statements as one script: each ends with `;`, a blank line separates them, withheld
/// ones are commented out line by line so people see what was held back.
pub fn to_sql_script(statements: &[Statement]) -> String {
    let mut out = String::new();
    for (i, s) in statements.iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        out.push_str(&s.to_script_text());
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// The schemas a model uses (managed tables, enums, sequences), sorted: the default scope of
/// [`introspect`].
pub fn model_schemas(db: &exo_ir::Database) -> Vec<String> {
    let mut schemas: Vec<String> = db
        .tables
        .iter()
        .filter(|t| t.managed)
        .map(|t| t.schema.clone())
        .chain(db.enums.iter().map(|e| e.schema.clone()))
        .chain(db.sequences.iter().map(|s| s.schema.clone()))
        .collect();
    schemas.sort();
    schemas.dedup();
    schemas
}

/// A database error, with the statement or query that caused it.
#[derive(Debug)]
pub struct Error {
    context: String,
    source: tokio_postgres::Error,
}

impl Error {
    pub(crate) fn new(context: impl Into<String>, source: tokio_postgres::Error) -> Error {
        Error { context: context.into(), source }
    }

    /// The statement that failed, or a description of the introspection query.
    pub fn context(&self) -> &str {
        &self.context
    }

    pub fn postgres_error(&self) -> &tokio_postgres::Error {
        &self.source
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source.as_db_error() {
            Some(db) => write!(f, "{} (while running: {})", db.message(), self.context),
            None => write!(f, "{} (while running: {})", self.source, self.context),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// `"a", "b"` for a list of column names.
pub(crate) fn column_list(cols: &[String]) -> String {
    cols.iter().map(|c| exo_ir::quote_ident(c)).collect::<Vec<_>>().join(", ")
}
