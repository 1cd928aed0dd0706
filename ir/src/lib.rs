//! The exo intermediate representation: everything the runtime needs, as plain data.
//!
//! The compiler lowers a typechecked model into an [`Ir`]; the runtime (native or Worker)
//! decodes it once and never sees source text, spans or the compiler's crates. The file on
//! disk is an [`envelope`] around a bincode body.
//!
//! Three views of the same model live side by side:
//! - [`Database`]: the physical schema (tables, columns, keys, enums, sequences) that
//!   `exo schema` turns into DDL and compares with a live database;
//! - [`Entity`]: the logical types the GraphQL API is about, pointing into the database view,
//!   with their access rules ([`access`]) and precompiled SQL pieces;
//! - [`graphql::Schema`]: the GraphQL type system the API exposes, used for validation and
//!   introspection, with a [`graphql::Resolver`] on every field saying how it is answered.
//!
//! Indices (`EntityId`, `FieldId`, `TableId`, ...) are positions in the owning `Vec`.

pub mod access;
pub mod envelope;
pub mod graphql;
pub mod plan;
pub mod sql_text;

use serde::{Deserialize, Serialize};

pub use access::{AccessExpr, AccessOperand, CmpOp, EntityAccess, PathStep};
pub use envelope::{decode, encode, DecodeError, FORMAT_VERSION, MAGIC};
pub use plan::TrustedDocument;
pub use sql_text::{quote_ident, quote_literal};

pub type EntityId = u32;
pub type FieldId = u32;
pub type TableId = u32;
pub type ColumnId = u32;
pub type EnumId = u32;
pub type ContextId = u32;
pub type JsonTypeId = u32;

/// The whole compiled model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Ir {
    /// Schema-level description from `//!` / `/*! */` comments.
    pub description: Option<String>,
    pub contexts: Vec<Context>,
    pub enums: Vec<EnumType>,
    pub json_types: Vec<JsonType>,
    pub entities: Vec<Entity>,
    pub database: Database,
    pub graphql: graphql::Schema,
    /// Operations compiled ahead of time from `trusted-documents/` (empty: every document is trusted).
    pub trusted_documents: Vec<TrustedDocument>,
    /// What `/mcp` offers: the default tool set, or one per profile of `exo.toml`.
    pub mcp_profiles: Vec<McpProfile>,
}

/// One set of MCP tools (`execute_query`, and `introspect` in separate mode), resolved against
/// the GraphQL schema at build time so the runtime only checks membership.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpProfile {
    /// `None` for the default set (every query, no mutation: `execute_query`); else the
    /// profile's name (`execute_query_<name>`).
    pub name: Option<String>,
    /// The root query fields the tools may run, sorted.
    pub queries: Vec<String>,
    /// The root mutation fields the tools may run, sorted.
    pub mutations: Vec<String>,
    /// The entity types those fields are about, sorted (named in `separate` mode's description).
    pub models: Vec<String>,
    /// The schema restricted to those root fields, as SDL with the model's doc comments.
    pub sdl: String,
}

impl Ir {
    pub fn entity(&self, id: EntityId) -> &Entity {
        &self.entities[id as usize]
    }
    pub fn entity_by_name(&self, name: &str) -> Option<(EntityId, &Entity)> {
        self.entities.iter().enumerate().find(|(_, e)| e.name == name).map(|(i, e)| (i as EntityId, e))
    }
    pub fn table(&self, id: TableId) -> &Table {
        &self.database.tables[id as usize]
    }
    pub fn field(&self, entity: EntityId, field: FieldId) -> &Field {
        &self.entities[entity as usize].fields[field as usize]
    }
}

/// A literal value written in the model (defaults, access-rule operands).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
}

// ---------------------------------------------------------------------------------------------
// Contexts
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub name: String,
    pub fields: Vec<ContextField>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextField {
    pub name: String,
    pub ty: ScalarType,
    /// `Array<T>` / `Set<T>` of a scalar.
    pub is_list: bool,
    pub optional: bool,
    pub source: ContextSource,
    pub default: Option<Literal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContextSource {
    /// Claim path, already split on `.` (defaults to the field name).
    Jwt(Vec<String>),
    Header(String),
    Cookie(String),
    Env(String),
    ClientIp,
    /// `@query("name")`: in Exograph, answered by a Deno or Wasm module query. The typechecker
    /// refuses it (exo has no such modules), so a built IR never holds it.
    Query(String),
}

// ---------------------------------------------------------------------------------------------
// Scalars, enums, JSON types
// ---------------------------------------------------------------------------------------------

/// The primitive (and enum) types a field or context value can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScalarType {
    Int,
    Float,
    Decimal,
    String,
    Boolean,
    LocalDate,
    LocalTime,
    LocalDateTime,
    Instant,
    Json,
    Blob,
    Uuid,
    Enum(EnumId),
}

impl ScalarType {
    /// The GraphQL name of a primitive type (enums are named by the enum).
    pub fn graphql_name(self) -> &'static str {
        match self {
            ScalarType::Int => "Int",
            ScalarType::Float => "Float",
            ScalarType::Decimal => "Decimal",
            ScalarType::String => "String",
            ScalarType::Boolean => "Boolean",
            ScalarType::LocalDate => "LocalDate",
            ScalarType::LocalTime => "LocalTime",
            ScalarType::LocalDateTime => "LocalDateTime",
            ScalarType::Instant => "Instant",
            ScalarType::Json => "Json",
            ScalarType::Blob => "Blob",
            ScalarType::Uuid => "Uuid",
            ScalarType::Enum(_) => "<enum>",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnumType {
    pub name: String,
    pub doc: Option<String>,
    pub variants: Vec<String>,
    /// Postgres schema and type name (`snake_case(name)`).
    pub pg_schema: String,
    pub pg_name: String,
}

/// A `@json` type: stored as one JSONB column, exchanged as a JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonType {
    pub name: String,
    pub doc: Option<String>,
    pub fields: Vec<JsonTypeField>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonTypeField {
    pub name: String,
    pub ty: ValueType,
    pub optional: bool,
}

/// The shape of a non-relation value: a scalar, a `@json` type, or arrays of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueType {
    Scalar(ScalarType),
    JsonObject(JsonTypeId),
    Array(Box<ValueType>),
}

impl ValueType {
    /// The innermost element type and the number of `Array<>` around it.
    pub fn element(&self) -> (&ValueType, u32) {
        let mut t = self;
        let mut depth = 0;
        while let ValueType::Array(inner) = t {
            t = inner;
            depth += 1;
        }
        (t, depth)
    }
    pub fn scalar(&self) -> Option<ScalarType> {
        match self.element().0 {
            ValueType::Scalar(s) => Some(*s),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Entities (logical model)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    pub name: String,
    pub plural: String,
    pub doc: Option<String>,
    pub table: TableId,
    pub fields: Vec<Field>,
    /// Primary-key fields, in declaration order (scalars or many-to-one relations).
    pub pk: Vec<FieldId>,
    /// Unique constraints that produce `tByName` lookups.
    pub unique_lookups: Vec<UniqueLookup>,
    pub access: EntityAccess,
    /// Precompiled SQL pieces for this entity.
    pub sql: EntitySql,
}

impl Entity {
    pub fn field_by_name(&self, name: &str) -> Option<(FieldId, &Field)> {
        self.fields.iter().enumerate().find(|(_, f)| f.name == name).map(|(i, f)| (i as FieldId, f))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UniqueLookup {
    /// The constraint name in UpperCamel case, as used in `userByEmail`.
    pub name: String,
    pub fields: Vec<FieldId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub doc: Option<String>,
    pub kind: FieldKind,
    /// Declared with `?` (nullable column, optional relation).
    pub optional: bool,
    pub default: Option<FieldDefault>,
    /// Excluded from creation and update inputs (`@readonly`, `@update`, or an autoIncrement pk).
    pub readonly: bool,
    /// `@update`: re-set by the database on every update.
    pub update_sync: bool,
    /// Field-level `@access`, if any.
    pub access: Option<EntityAccess>,
    /// Constraints checked on input before any SQL runs.
    pub validation: Validation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FieldKind {
    /// A value stored in one column.
    Column { ty: ValueType, column: ColumnId, sql: ColumnSql },
    /// This row holds the foreign key (`venue: Venue`).
    ManyToOne {
        target: EntityId,
        /// Local FK columns, one per target pk column, in the target's pk column order.
        columns: Vec<ColumnId>,
        /// The target's column each FK column refers to.
        target_columns: Vec<ColumnId>,
        /// The matching collection (or one-to-one) field on the target, if declared.
        inverse: Option<FieldId>,
        one_to_one: bool,
    },
    /// The other side holds the foreign key (`concerts: Set<Concert>`, or `membership: Membership?`).
    OneToMany {
        target: EntityId,
        /// The `ManyToOne` field in the target that points back here.
        inverse: FieldId,
        /// `membership: Membership?`: at most one row, exposed as an object not a list.
        one_to_one: bool,
    },
}

impl FieldKind {
    pub fn is_relation(&self) -> bool {
        !matches!(self, FieldKind::Column { .. })
    }
}

/// How to read a column into the response JSON and how to bind a value to it. The column's
/// name is the table's ([`FieldKind::Column::column`]); the planner quotes it when printing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSql {
    /// How the column's value is written into response JSON.
    pub json: JsonOut,
    /// How a text bind parameter becomes a value of the column's type.
    pub param: ParamIn,
}

/// How a column's value is written into response JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JsonOut {
    /// The value as Postgres converts it to JSON.
    Plain,
    /// `col::text` (Decimal: a JSON number would lose digits).
    Text,
    /// `col::text[]` (arrays of Decimal).
    TextArray,
    /// Base64 without line breaks (Blob).
    Base64,
}

/// How a text bind parameter becomes a value of a column's type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamIn {
    /// `$n::<cast>`.
    Cast(Cast),
    /// `decode($n, 'base64')` (Blob).
    Base64,
}

impl ParamIn {
    /// For an array column, how one element is bound (`$n::int4` for `int4[]`).
    pub fn element(&self) -> Option<ParamIn> {
        match self {
            ParamIn::Cast(Cast::Array(inner)) => Some(ParamIn::Cast((**inner).clone())),
            _ => None,
        }
    }
}

/// A Postgres type that a text parameter or a value is cast to (`$1::int4`), as data: the
/// planner's printer writes it, so no SQL template travels in the IR.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cast {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Text,
    Boolean,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Json,
    Jsonb,
    Bytea,
    Uuid,
    /// An enum type, always schema-qualified (a cast must not depend on `search_path`).
    Enum {
        schema: String,
        name: String,
    },
    Array(Box<Cast>),
    /// `@dbtype("...")` without its modifiers, verbatim: an explicit cast to `VARCHAR(100)`
    /// would silently cut a longer value, where assigning the unbounded value to the column
    /// makes Postgres refuse it ("value too long").
    Raw(String),
}

impl Cast {
    /// The cast for values of a column type (serial types are their integer types).
    pub fn of_column(ty: &ColumnType) -> Cast {
        match ty {
            ColumnType::SmallInt | ColumnType::Serial { bits: 16 } => Cast::Int2,
            ColumnType::BigInt | ColumnType::Serial { bits: 64 } => Cast::Int8,
            ColumnType::Int | ColumnType::Serial { .. } => Cast::Int4,
            ColumnType::Real => Cast::Float4,
            ColumnType::Double => Cast::Float8,
            ColumnType::Numeric { .. } => Cast::Numeric,
            ColumnType::Text | ColumnType::Varchar(_) => Cast::Text,
            ColumnType::Boolean => Cast::Boolean,
            ColumnType::Date => Cast::Date,
            ColumnType::Time => Cast::Time,
            ColumnType::Timestamp { .. } => Cast::Timestamp,
            ColumnType::Timestamptz { .. } => Cast::Timestamptz,
            ColumnType::Jsonb => Cast::Jsonb,
            ColumnType::Bytea => Cast::Bytea,
            ColumnType::Uuid => Cast::Uuid,
            ColumnType::Enum { schema, name } => Cast::Enum { schema: schema.clone(), name: name.clone() },
            ColumnType::Array(inner) => Cast::Array(Box::new(Cast::of_column(inner))),
            ColumnType::Raw(s) => {
                let bare = without_modifiers(s);
                match bare.strip_suffix("[]") {
                    Some(elem) => Cast::Array(Box::new(Cast::Raw(elem.trim_end().to_string()))),
                    None => Cast::Raw(bare),
                }
            }
        }
    }

    /// The cast for a scalar type of the model (enums need the IR to be named).
    pub fn of_scalar(s: ScalarType) -> Option<Cast> {
        Some(match s {
            ScalarType::Int => Cast::Int8,
            ScalarType::Float => Cast::Float8,
            ScalarType::Decimal => Cast::Numeric,
            ScalarType::String => Cast::Text,
            ScalarType::Boolean => Cast::Boolean,
            ScalarType::LocalDate => Cast::Date,
            ScalarType::LocalTime => Cast::Time,
            ScalarType::LocalDateTime => Cast::Timestamp,
            ScalarType::Instant => Cast::Timestamptz,
            ScalarType::Json => Cast::Jsonb,
            ScalarType::Blob => Cast::Bytea,
            ScalarType::Uuid => Cast::Uuid,
            ScalarType::Enum(_) => return None,
        })
    }
}

/// The type name as written after `::` (`int4`, `"public"."priority"`, `text[]`).
impl std::fmt::Display for Cast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Cast::Int2 => "int2",
            Cast::Int4 => "int4",
            Cast::Int8 => "int8",
            Cast::Float4 => "float4",
            Cast::Float8 => "float8",
            Cast::Numeric => "numeric",
            Cast::Text => "text",
            Cast::Boolean => "boolean",
            Cast::Date => "date",
            Cast::Time => "time",
            Cast::Timestamp => "timestamp",
            Cast::Timestamptz => "timestamptz",
            Cast::Json => "json",
            Cast::Jsonb => "jsonb",
            Cast::Bytea => "bytea",
            Cast::Uuid => "uuid",
            Cast::Enum { schema, name } => return write!(f, "{}.{}", quote_ident(schema), quote_ident(name)),
            Cast::Array(inner) => return write!(f, "{inner}[]"),
            Cast::Raw(s) => s,
        };
        f.write_str(name)
    }
}

/// `VARCHAR(100)` -> `VARCHAR`, `NUMERIC(6, 2)[]` -> `NUMERIC[]`.
fn without_modifiers(ty: &str) -> String {
    let mut out = String::with_capacity(ty.len());
    let mut depth = 0usize;
    for c in ty.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FieldDefault {
    AutoIncrement {
        sequence: Option<String>,
    },
    Now,
    GenerateUuid,
    UuidV4,
    UuidV7,
    Literal(Literal),
    EnumVariant(String),
    /// `user: User = AuthContext.id` or `owner: String = AuthContext.name`.
    Context {
        context: ContextId,
        field: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Validation {
    pub max_length: Option<u32>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// 16, 32 or 64 for Int columns.
    pub int_bits: Option<u8>,
    /// A Float stored as `real`: values must fit single precision (not overflow to infinity,
    /// not underflow to zero), in inputs and in filters.
    pub single_precision: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EntitySql {
    /// Qualified, quoted table name: `"todos"` or `"commerce"."orders"`.
    pub table: String,
    /// Base alias stem for this table in generated SQL, e.g. `todos`.
    pub alias: String,
}

// ---------------------------------------------------------------------------------------------
// Database (physical model)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Database {
    pub tables: Vec<Table>,
    pub enums: Vec<PgEnum>,
    /// Named sequences from `autoIncrement("name")` (SERIAL columns own theirs).
    pub sequences: Vec<Sequence>,
    /// Extensions the schema needs, e.g. `uuid-ossp` for `uuidGenerateV4()`.
    pub extensions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgEnum {
    pub schema: String,
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequence {
    pub schema: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub schema: String,
    pub name: String,
    /// `false` for `@table(managed=false)` / `@postgres(managed=false)`: never created or migrated.
    pub managed: bool,
    pub columns: Vec<Column>,
    pub primary_key: Vec<ColumnId>,
    pub unique_constraints: Vec<UniqueConstraint>,
    pub indexes: Vec<Index>,
    pub foreign_keys: Vec<ForeignKey>,
}

impl Table {
    pub fn column_by_name(&self, name: &str) -> Option<(ColumnId, &Column)> {
        self.columns.iter().enumerate().find(|(_, c)| c.name == name).map(|(i, c)| (i as ColumnId, c))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
    pub nullable: bool,
    pub default: Option<ColumnDefault>,
    /// `@update`: SQL expression the trigger assigns on every update (e.g. `now()`).
    pub update_value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnType {
    SmallInt,
    Int,
    BigInt,
    /// `SMALLSERIAL` / `SERIAL` / `BIGSERIAL` (bits 16/32/64).
    Serial {
        bits: u8,
    },
    Real,
    Double,
    Numeric {
        precision: Option<u32>,
        scale: Option<u32>,
    },
    Text,
    Varchar(u32),
    Boolean,
    Date,
    Time,
    Timestamp {
        precision: Option<u32>,
    },
    Timestamptz {
        precision: Option<u32>,
    },
    Jsonb,
    Bytea,
    Uuid,
    Enum {
        schema: String,
        name: String,
    },
    Array(Box<ColumnType>),
    /// `@dbtype("...")`, verbatim.
    Raw(String),
}

impl ColumnType {
    /// The type as written in DDL.
    pub fn sql(&self) -> String {
        match self {
            ColumnType::SmallInt => "SMALLINT".into(),
            ColumnType::Int => "INT".into(),
            ColumnType::BigInt => "BIGINT".into(),
            ColumnType::Serial { bits: 16 } => "SMALLSERIAL".into(),
            ColumnType::Serial { bits: 64 } => "BIGSERIAL".into(),
            ColumnType::Serial { .. } => "SERIAL".into(),
            ColumnType::Real => "REAL".into(),
            ColumnType::Double => "DOUBLE PRECISION".into(),
            ColumnType::Numeric { precision: None, .. } => "NUMERIC".into(),
            ColumnType::Numeric { precision: Some(p), scale: None } => format!("NUMERIC({p})"),
            ColumnType::Numeric { precision: Some(p), scale: Some(s) } => format!("NUMERIC({p}, {s})"),
            ColumnType::Text => "TEXT".into(),
            ColumnType::Varchar(n) => format!("VARCHAR({n})"),
            ColumnType::Boolean => "BOOLEAN".into(),
            ColumnType::Date => "DATE".into(),
            ColumnType::Time => "TIME".into(),
            ColumnType::Timestamp { precision: None } => "TIMESTAMP".into(),
            ColumnType::Timestamp { precision: Some(p) } => format!("TIMESTAMP({p})"),
            ColumnType::Timestamptz { precision: None } => "TIMESTAMPTZ".into(),
            ColumnType::Timestamptz { precision: Some(p) } => format!("TIMESTAMPTZ({p})"),
            ColumnType::Jsonb => "JSONB".into(),
            ColumnType::Bytea => "BYTEA".into(),
            ColumnType::Uuid => "UUID".into(),
            ColumnType::Enum { schema, name } => format!("{}.{}", quote_ident(schema), quote_ident(name)),
            ColumnType::Array(inner) => format!("{}[]", inner.sql()),
            ColumnType::Raw(s) => s.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnDefault {
    /// Owned by a SERIAL column type; nothing to write.
    Serial,
    /// `nextval('schema.seq')` of a named sequence in [`Database::sequences`].
    Sequence { schema: String, name: String },
    /// A SQL expression: `now()`, `gen_random_uuid()`, `'abc'`, `10.00`, `'MEDIUM'::"public"."priority"`.
    Expr(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueConstraint {
    pub name: String,
    pub columns: Vec<ColumnId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    pub columns: Vec<ColumnId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<ColumnId>,
    pub ref_table: TableId,
    pub ref_columns: Vec<ColumnId>,
}

/// `"table"` for the public schema, `"schema"."table"` otherwise.
pub fn qualified_name(schema: &str, name: &str) -> String {
    if schema == "public" {
        quote_ident(name)
    } else {
        format!("{}.{}", quote_ident(schema), quote_ident(name))
    }
}
