//! Hand-built physical models (`exo_ir::Database`), standing in for compiled schemas until the
//! compiler lowers them. Each covers one feature of the DDL.

use exo_ir::{
    Column, ColumnDefault, ColumnType, Database, ForeignKey, Index, PgEnum, Sequence, Table, UniqueConstraint,
};

/// A table under construction; columns and keys are named, resolved to ids by [`db`].
pub struct T {
    table: Table,
    pk: Vec<String>,
    uniques: Vec<(String, Vec<String>)>,
    indexes: Vec<(String, Vec<String>)>,
    fks: Vec<PendingFk>,
}

/// A foreign key by names: (name, columns, referenced schema, table, columns).
type PendingFk = (String, Vec<String>, String, String, Vec<String>);

pub fn t(schema: &str, name: &str) -> T {
    T {
        table: Table {
            schema: schema.into(),
            name: name.into(),
            managed: true,
            columns: vec![],
            primary_key: vec![],
            unique_constraints: vec![],
            indexes: vec![],
            foreign_keys: vec![],
        },
        pk: vec![],
        uniques: vec![],
        indexes: vec![],
        fks: vec![],
    }
}

fn names(cols: &[&str]) -> Vec<String> {
    cols.iter().map(|c| c.to_string()).collect()
}

impl T {
    /// A NOT NULL column.
    pub fn col(mut self, name: &str, ty: ColumnType) -> T {
        self.table.columns.push(Column { name: name.into(), ty, nullable: false, default: None, update_value: None });
        self
    }
    /// A nullable column.
    pub fn opt(self, name: &str, ty: ColumnType) -> T {
        let mut t = self.col(name, ty);
        t.last().nullable = true;
        t
    }
    /// `SERIAL` primary key `id`.
    pub fn serial_pk(self) -> T {
        let mut t = self.col("id", ColumnType::Serial { bits: 32 });
        t.last().default = Some(ColumnDefault::Serial);
        t.pk(&["id"])
    }
    /// Default expression of the last column.
    pub fn default(mut self, expr: &str) -> T {
        self.last().default = Some(ColumnDefault::Expr(expr.into()));
        self
    }
    pub fn seq_default(mut self, schema: &str, name: &str) -> T {
        self.last().default = Some(ColumnDefault::Sequence { schema: schema.into(), name: name.into() });
        self
    }
    /// `@update` value of the last column.
    pub fn update(mut self, expr: &str) -> T {
        self.last().update_value = Some(expr.into());
        self
    }
    pub fn pk(mut self, cols: &[&str]) -> T {
        self.pk = names(cols);
        self
    }
    pub fn unique(mut self, name: &str, cols: &[&str]) -> T {
        self.uniques.push((name.into(), names(cols)));
        self
    }
    pub fn index(mut self, name: &str, cols: &[&str]) -> T {
        self.indexes.push((name.into(), names(cols)));
        self
    }
    pub fn fk(mut self, name: &str, cols: &[&str], ref_schema: &str, ref_table: &str, ref_cols: &[&str]) -> T {
        self.fks.push((name.into(), names(cols), ref_schema.into(), ref_table.into(), names(ref_cols)));
        self
    }
    pub fn unmanaged(mut self) -> T {
        self.table.managed = false;
        self
    }
    fn last(&mut self) -> &mut Column {
        self.table.columns.last_mut().expect("a column")
    }
}

/// Resolves names to ids. Panics on a typo: these are fixtures.
pub fn db(tables: Vec<T>) -> Database {
    let col_id = |t: &Table, c: &str| t.column_by_name(c).unwrap_or_else(|| panic!("no column {c} in {}", t.name)).0;
    let mut out: Vec<Table> = tables.iter().map(|t| t.table.clone()).collect();
    for (i, spec) in tables.iter().enumerate() {
        let ids = |cols: &[String]| cols.iter().map(|c| col_id(&out[i], c)).collect::<Vec<_>>();
        let pk = ids(&spec.pk);
        let uniques: Vec<_> =
            spec.uniques.iter().map(|(n, c)| UniqueConstraint { name: n.clone(), columns: ids(c) }).collect();
        let indexes: Vec<_> = spec.indexes.iter().map(|(n, c)| Index { name: n.clone(), columns: ids(c) }).collect();
        let fks: Vec<_> = spec
            .fks
            .iter()
            .map(|(n, c, rs, rt, rc)| {
                let target = out.iter().position(|t| &t.schema == rs && &t.name == rt).expect("fk target");
                ForeignKey {
                    name: n.clone(),
                    columns: ids(c),
                    ref_table: target as u32,
                    ref_columns: rc.iter().map(|c| col_id(&out[target], c)).collect(),
                }
            })
            .collect();
        let t = &mut out[i];
        t.primary_key = pk;
        t.unique_constraints = uniques;
        t.indexes = indexes;
        t.foreign_keys = fks;
    }
    Database { tables: out, enums: vec![], sequences: vec![], extensions: vec![] }
}

pub fn pg_enum(schema: &str, name: &str, values: &[&str]) -> PgEnum {
    PgEnum { schema: schema.into(), name: name.into(), values: names(values) }
}

pub fn enum_ty(schema: &str, name: &str) -> ColumnType {
    ColumnType::Enum { schema: schema.into(), name: name.into() }
}

use ColumnType as C;

fn users() -> T {
    t("public", "users")
        .serial_pk()
        .col("email", C::Varchar(100))
        .col("name", C::Text)
        .unique("unique_user_email", &["email"])
}

/// A todo application: users, todos with an enum, defaults of most kinds, an FK and an index.
pub fn todo() -> Database {
    let mut d = db(vec![
        t("public", "todos")
            .serial_pk()
            .col("title", C::Text)
            .col("completed", C::Boolean)
            .default("false")
            .col("priority", enum_ty("public", "priority"))
            .default("'MEDIUM'::\"public\".\"priority\"")
            .col("created_at", C::Timestamptz { precision: None })
            .default("now()")
            .opt("user_id", C::Int)
            .opt("notes", C::Text)
            .fk("todos_user_id_fk", &["user_id"], "public", "users", &["id"])
            .index("todos_user_id_idx", &["user_id"]),
        users(),
    ]);
    d.enums.push(pg_enum("public", "priority", &["LOW", "MEDIUM", "HIGH"]));
    d
}

/// Every column type the model can produce, with literal defaults as the compiler writes them.
pub fn scalars() -> Database {
    db(vec![t("public", "scalars")
        .serial_pk()
        .col("small", C::SmallInt)
        .default("-1")
        .col("int", C::Int)
        .default("0")
        .col("big", C::BigInt)
        .default("0")
        .col("small_serial", C::Serial { bits: 16 })
        .col("big_serial", C::Serial { bits: 64 })
        .col("real", C::Real)
        .default("10.0")
        .col("double", C::Double)
        .default("2.5")
        .col("decimal", C::Numeric { precision: None, scale: None })
        .default("'10.00'")
        .col("price", C::Numeric { precision: Some(10), scale: Some(2) })
        .default("10.00")
        .col("whole", C::Numeric { precision: Some(8), scale: None })
        .col("text", C::Text)
        .default("'it''s'")
        .col("short", C::Varchar(10))
        .default("'abc'")
        .col("flag", C::Boolean)
        .default("true")
        .col("day", C::Date)
        .default("'2024-01-01'")
        .col("time", C::Time)
        .col("local", C::Timestamp { precision: None })
        .col("local_ms", C::Timestamp { precision: Some(3) })
        .col("instant", C::Timestamptz { precision: Some(3) })
        .default("now()")
        .col("json", C::Jsonb)
        .default("'{}'")
        .col("blob", C::Bytea)
        .col("uuid", C::Uuid)
        .default("gen_random_uuid()")
        .opt("tags", C::Array(Box::new(C::Text)))
        .opt("matrix", C::Array(Box::new(C::Array(Box::new(C::Int)))))
        .opt("raw", C::Raw("character varying(100)".into()))])
}

/// Enums: a default, an array of an enum, an enum in another schema, and quoting.
pub fn enums() -> Database {
    let mut d = db(vec![t("public", "tickets")
        .serial_pk()
        .col("status", enum_ty("public", "ticket_status"))
        .default("'OPEN'::\"public\".\"ticket_status\"")
        .opt("labels", C::Array(Box::new(enum_ty("public", "label"))))
        .opt("region", enum_ty("geo", "region"))]);
    d.enums.push(pg_enum("public", "ticket_status", &["OPEN", "IN_PROGRESS", "CLOSED"]));
    d.enums.push(pg_enum("public", "label", &["bug", "feature", "won't fix"]));
    d.enums.push(pg_enum("geo", "region", &["EU", "US"]));
    d
}

/// A join table whose primary key is two foreign keys, and a composite foreign key to it.
pub fn composite_pk() -> Database {
    db(vec![
        t("public", "concerts").serial_pk().col("title", C::Text),
        t("public", "artists").serial_pk().col("name", C::Text),
        t("public", "performances")
            .col("artist_id", C::Int)
            .col("concert_id", C::Int)
            .col("rank", C::Int)
            .pk(&["artist_id", "concert_id"])
            .fk("performances_artist_fk", &["artist_id"], "public", "artists", &["id"])
            .fk("performances_concert_fk", &["concert_id"], "public", "concerts", &["id"]),
        t("public", "reviews")
            .serial_pk()
            .col("performance_artist_id", C::Int)
            .col("performance_concert_id", C::Int)
            .col("stars", C::SmallInt)
            .fk(
                "reviews_performance_fk",
                &["performance_artist_id", "performance_concert_id"],
                "public",
                "performances",
                &["artist_id", "concert_id"],
            ),
    ])
}

/// Named sequences: one shared by two tables, one in another schema.
pub fn shared_sequence() -> Database {
    let mut d = db(vec![
        t("public", "invoices").col("number", C::Int).seq_default("public", "document_numbers").pk(&["number"]),
        t("public", "credit_notes").col("number", C::Int).seq_default("public", "document_numbers").pk(&["number"]),
        t("billing", "receipts").col("id", C::BigInt).seq_default("billing", "receipt_ids").pk(&["id"]),
    ]);
    d.sequences.push(Sequence { schema: "public".into(), name: "document_numbers".into() });
    d.sequences.push(Sequence { schema: "billing".into(), name: "receipt_ids".into() });
    d
}

/// `uuidGenerateV4()`: needs the `uuid-ossp` extension.
pub fn uuid_ossp() -> Database {
    let mut d = db(vec![t("public", "sessions")
        .col("id", C::Uuid)
        .default("uuid_generate_v4()")
        .col("token", C::Uuid)
        .default("gen_random_uuid()")
        .pk(&["id"])]);
    d.extensions.push("uuid-ossp".into());
    d
}

/// Tables, an enum, keys and indexes in a non-public schema, referenced from public.
pub fn non_public_schema() -> Database {
    let mut d = db(vec![
        t("shop", "customers").serial_pk().col("email", C::Text).unique("customers_email_key", &["email"]),
        t("shop", "orders")
            .serial_pk()
            .col("customer_id", C::Int)
            .col("status", enum_ty("shop", "order_status"))
            .default("'NEW'::\"shop\".\"order_status\"")
            .fk("orders_customer_fk", &["customer_id"], "shop", "customers", &["id"])
            .index("orders_customer_idx", &["customer_id"]),
        t("public", "audit_entries").serial_pk().opt("order_id", C::Int).fk(
            "audit_entries_order_fk",
            &["order_id"],
            "shop",
            "orders",
            &["id"],
        ),
    ]);
    d.enums.push(pg_enum("shop", "order_status", &["NEW", "PAID", "SHIPPED"]));
    d
}

/// `@update` fields: a trigger function assigning two columns on every update, in two schemas.
pub fn update_trigger() -> Database {
    db(vec![
        t("public", "documents")
            .serial_pk()
            .col("body", C::Text)
            .col("updated_at", C::Timestamptz { precision: None })
            .default("now()")
            .update("now()")
            .col("revision_note", C::Text)
            .default("'created'")
            .update("'edited'"),
        t("archive", "documents")
            .serial_pk()
            .col("modified", C::Timestamp { precision: None })
            .default("now()")
            .update("now()"),
    ])
}

/// Unique constraints: single-column, composite, and two sharing a column.
pub fn unique_constraints() -> Database {
    db(vec![t("public", "memberships")
        .serial_pk()
        .col("org", C::Text)
        .col("username", C::Text)
        .col("email", C::Text)
        .opt("badge", C::Int)
        .unique("memberships_org_username_key", &["org", "username"])
        .unique("memberships_org_email_key", &["org", "email"])
        .unique("memberships_badge_key", &["badge"])])
}

/// A multi-column index and a single-column one.
pub fn multi_column_index() -> Database {
    db(vec![t("public", "events")
        .serial_pk()
        .col("tenant", C::Text)
        .col("kind", C::Text)
        .col("at", C::Timestamptz { precision: None })
        .index("events_tenant_kind_at_idx", &["tenant", "kind", "at"])
        .index("events_at_idx", &["at"])])
}

/// A managed table pointing to an unmanaged one (`@table(managed=false)`), which is neither
/// created nor compared.
pub fn unmanaged() -> Database {
    db(vec![
        t("public", "legacy_accounts").col("id", C::Int).col("label", C::Text).pk(&["id"]).unmanaged(),
        t("public", "notes").serial_pk().col("account_id", C::Int).fk(
            "notes_account_fk",
            &["account_id"],
            "public",
            "legacy_accounts",
            &["id"],
        ),
    ])
}

/// Self-reference and a reference cycle: FKs come after all tables, so order is free.
pub fn cycles() -> Database {
    db(vec![
        t("public", "employees")
            .serial_pk()
            .opt("manager_id", C::Int)
            .opt("department_id", C::Int)
            .fk("employees_manager_fk", &["manager_id"], "public", "employees", &["id"])
            .fk("employees_department_fk", &["department_id"], "public", "departments", &["id"]),
        t("public", "departments").serial_pk().opt("head_id", C::Int).fk(
            "departments_head_fk",
            &["head_id"],
            "public",
            "employees",
            &["id"],
        ),
        t("public", "badges").serial_pk().col("employee_id", C::Int).fk(
            "badges_employee_fk",
            &["employee_id"],
            "public",
            "employees",
            &["id"],
        ),
        t("public", "a_settings").serial_pk(),
    ])
}

/// Every hand-built model, by name (the snapshot file name).
pub fn all() -> Vec<(&'static str, Database)> {
    vec![
        ("todo", todo()),
        ("scalars", scalars()),
        ("enums", enums()),
        ("composite_pk", composite_pk()),
        ("shared_sequence", shared_sequence()),
        ("uuid_ossp", uuid_ossp()),
        ("non_public_schema", non_public_schema()),
        ("update_trigger", update_trigger()),
        ("unique_constraints", unique_constraints()),
        ("multi_column_index", multi_column_index()),
        ("unmanaged", unmanaged()),
        ("cycles", cycles()),
    ]
}

/// String defaults that need an escape string (`E'...'`, as `exo_ir::quote_literal` writes
/// them): Postgres prints them back as standard literals, which must compare equal.
pub fn escaped_defaults() -> Database {
    db(vec![t("public", "escaped_defaults")
        .serial_pk()
        .col("backslash", C::Text)
        .default(&exo_ir::quote_literal(r"C:\temp\new"))
        .col("lines", C::Text)
        .default(&exo_ir::quote_literal("one\ntwo\tthree 'quoted'"))
        .col("plain", C::Text)
        .default(&exo_ir::quote_literal("it's"))])
}
