//! v1 -> v2 migrations against a real database: the diff names each change, the migration
//! resolves it, destructive statements wait for the flag, and a second migration is empty.

use exo_ir::{Column, ColumnDefault, ColumnType as C, Database, ForeignKey, Index, Sequence, Table, UniqueConstraint};
use exo_pg_schema::{
    apply, create_statements, diff, introspect, migration, model_schemas, to_sql_script, Difference, Snapshot,
};

use crate::models::{self, db, pg_enum, t};
use crate::{assert_parses, TestDb};

fn table<'a>(db: &'a mut Database, name: &str) -> &'a mut Table {
    db.tables.iter_mut().find(|t| t.name == name).unwrap_or_else(|| panic!("no table {name}"))
}

fn column<'a>(db: &'a mut Database, table_name: &str, name: &str) -> &'a mut Column {
    table(db, table_name).columns.iter_mut().find(|c| c.name == name).unwrap_or_else(|| panic!("no column {name}"))
}

fn ids(t: &Table, cols: &[&str]) -> Vec<u32> {
    cols.iter().map(|c| t.column_by_name(c).unwrap().0).collect()
}

fn new_column(name: &str, ty: C, nullable: bool, default: Option<&str>) -> Column {
    Column {
        name: name.into(),
        ty,
        nullable,
        default: default.map(|d| ColumnDefault::Expr(d.into())),
        update_value: None,
    }
}

async fn snapshot(test: &TestDb, model: &Database) -> Snapshot {
    introspect(&test.client, &model_schemas(model)).await.expect("introspect")
}

fn messages(d: &[Difference]) -> Vec<String> {
    d.iter().map(|d| d.message.clone()).collect()
}

/// Creates `v1`, runs `data`, then checks the v1 -> v2 diff is `expected` and that migrating
/// resolves it: first without destructive statements (only the destructive differences remain,
/// and a second migration holds only withheld statements), then with them (nothing remains).
/// The withheld-form migration script is snapshotted as `migrate_<name>`.
async fn migrate_pair(name: &str, v1: &Database, v2: &Database, data: &str, expected: &[&str]) -> TestDb {
    let test = TestDb::new(name).await;
    apply(&test.client, &create_statements(v1)).await.unwrap();
    test.exec(data).await;

    let before = snapshot(&test, v2).await;
    let differences = diff(v2, &before);
    assert_eq!(messages(&differences), expected, "{name}: {differences:#?}");
    let plan = migration(v2, &before, false);
    assert_parses(&plan);
    assert_eq!(
        plan.iter().any(|s| s.destructive),
        differences.iter().any(|d| d.destructive),
        "{name}: destructive statements iff destructive differences"
    );
    assert!(plan.iter().all(|s| s.withheld == s.destructive));
    insta::with_settings!({snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/ddl"), prepend_module_to_snapshot => false, description => expected.join("\n")}, {
        insta::assert_snapshot!(format!("migrate_{name}"), to_sql_script(&plan));
    });
    apply(&test.client, &plan).await.unwrap_or_else(|e| panic!("{name}: {e}"));

    let middle = snapshot(&test, v2).await;
    let destructive: Vec<Difference> = differences.iter().filter(|d| d.destructive).cloned().collect();
    assert_eq!(diff(v2, &middle), destructive, "{name}: only destructive differences remain");
    let again = migration(v2, &middle, false);
    assert!(again.iter().all(|s| s.withheld), "{name}: {again:#?}");

    if !destructive.is_empty() {
        let plan = migration(v2, &middle, true);
        assert!(plan.iter().all(|s| !s.withheld));
        assert_parses(&plan);
        apply(&test.client, &plan).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let after = snapshot(&test, v2).await;
    assert_eq!(diff(v2, &after), vec![], "{name}");
    assert_eq!(migration(v2, &after, true), vec![], "{name}: a second migration is empty");
    test
}

const TODO_DATA: &str = "
INSERT INTO users (email, name) VALUES ('a@x', 'Ann'), ('b@x', 'Bob');
INSERT INTO todos (title, user_id, notes, priority) VALUES ('short', 1, 'n1', 'LOW'), ('tiny', 2, 'n2', 'MEDIUM');";

#[tokio::test]
async fn add_table() {
    let v1 = models::todo();
    let mut v2 = models::todo();
    let tags = db(vec![
        t("public", "todos").serial_pk(),
        t("public", "tags")
            .serial_pk()
            .col("todo_id", C::Int)
            .col("label", C::Text)
            .unique("tags_todo_label_key", &["todo_id", "label"])
            .index("tags_label_idx", &["label"])
            .fk("tags_todo_fk", &["todo_id"], "public", "todos", &["id"]),
    ]);
    let mut tags_table = tags.tables[1].clone();
    tags_table.foreign_keys[0].ref_table = v2.tables.iter().position(|t| t.name == "todos").unwrap() as u32;
    v2.tables.push(tags_table);
    migrate_pair("add_table", &v1, &v2, TODO_DATA, &["missing table \"tags\""]).await;
}

#[tokio::test]
async fn drop_table() {
    let v2 = models::todo();
    let mut v1 = models::todo();
    v1.tables.push(t("public", "legacy").serial_pk().col("label", C::Text).into_table());
    let legacy = (v1.tables.len() - 1) as u32;
    let todos = table(&mut v1, "todos");
    todos.columns.push(new_column("legacy_id", C::Int, true, None));
    let fk = ForeignKey {
        name: "todos_legacy_fk".into(),
        columns: ids(todos, &["legacy_id"]),
        ref_table: legacy,
        ref_columns: vec![0],
    };
    todos.foreign_keys.push(fk);
    let data = format!("{TODO_DATA} INSERT INTO legacy (label) VALUES ('old'); UPDATE todos SET legacy_id = 1;");
    let test = migrate_pair(
        "drop_table",
        &v1,
        &v2,
        &data,
        &[
            "extra column \"todos\".\"legacy_id\"",
            "table \"todos\": extra foreign key \"todos_legacy_fk\" (\"legacy_id\") referencing \"legacy\" (\"id\")",
            "extra table \"legacy\"",
        ],
    )
    .await;
    assert_eq!(test.scalar("SELECT count(*) FROM todos").await, 2);
}

#[tokio::test]
async fn add_column() {
    let v1 = models::todo();
    let mut v2 = models::todo();
    let todos = table(&mut v2, "todos");
    todos.columns.push(new_column("due", C::Date, true, None));
    todos.columns.push(new_column("archived", C::Boolean, false, Some("false")));
    todos.columns.push(new_column("position", C::Serial { bits: 64 }, false, None));
    let test = migrate_pair(
        "add_column",
        &v1,
        &v2,
        TODO_DATA,
        &[
            "missing column \"todos\".\"due\"",
            "missing column \"todos\".\"archived\"",
            "missing column \"todos\".\"position\"",
        ],
    )
    .await;
    assert_eq!(test.scalar("SELECT count(*) FROM todos WHERE NOT archived AND position > 0").await, 2);
}

#[tokio::test]
async fn drop_column() {
    let v2 = models::todo();
    let mut v1 = models::todo();
    table(&mut v1, "todos").columns.push(new_column("legacy_code", C::Text, false, Some("'x'")));
    table(&mut v1, "users").columns.push(new_column("nickname", C::Text, false, None));
    let data = TODO_DATA
        .replace("(email, name)", "(email, name, nickname)")
        .replace("'Ann')", "'Ann', 'a')")
        .replace("'Bob')", "'Bob', 'b')");
    migrate_pair(
        "drop_column",
        &v1,
        &v2,
        &data,
        &["extra column \"users\".\"nickname\"", "extra column \"todos\".\"legacy_code\""],
    )
    .await;
    // Classification: a NOT NULL column without default breaks the application's inserts.
    let test = TestDb::new("drop_column_class").await;
    apply(&test.client, &create_statements(&v1)).await.unwrap();
    let d = diff(&v2, &snapshot(&test, &v2).await);
    assert_eq!(d.iter().map(|d| (d.incompatible, d.destructive)).collect::<Vec<_>>(), [(true, true), (false, true)]);
}

#[tokio::test]
async fn change_type() {
    let mut v1 = models::todo();
    table(&mut v1, "todos").columns.push(new_column("estimate", C::SmallInt, true, Some("1")));
    let mut v2 = v1.clone();
    column(&mut v2, "todos", "title").ty = C::Varchar(10);
    column(&mut v2, "todos", "estimate").ty = C::Int;
    column(&mut v2, "users", "email").ty = C::Text;
    let test = migrate_pair(
        "change_type",
        &v1,
        &v2,
        TODO_DATA,
        &[
            "table \"users\": column \"email\": expected type TEXT, found VARCHAR(100)",
            "table \"todos\": column \"title\": expected type VARCHAR(10), found TEXT",
            "table \"todos\": column \"estimate\": expected type INT, found SMALLINT",
        ],
    )
    .await;
    assert_eq!(test.scalar("SELECT count(*) FROM todos WHERE title IN ('short', 'tiny') AND estimate = 1").await, 2);
}

#[tokio::test]
async fn nullability() {
    let v1 = models::todo();
    let mut v2 = models::todo();
    column(&mut v2, "todos", "notes").nullable = false;
    column(&mut v2, "todos", "title").nullable = true;
    migrate_pair(
        "nullability",
        &v1,
        &v2,
        TODO_DATA,
        &[
            "table \"todos\": column \"title\": expected nullable, found NOT NULL",
            "table \"todos\": column \"notes\": expected NOT NULL, found nullable",
        ],
    )
    .await;
}

#[tokio::test]
async fn default_change() {
    let v1 = models::todo();
    let mut v2 = models::todo();
    column(&mut v2, "todos", "completed").default = Some(ColumnDefault::Expr("true".into()));
    column(&mut v2, "todos", "created_at").default = None;
    column(&mut v2, "todos", "notes").default = Some(ColumnDefault::Expr("'none'".into()));
    let test = migrate_pair(
        "default_change",
        &v1,
        &v2,
        TODO_DATA,
        &[
            "table \"todos\": column \"completed\": expected default true, found default false",
            "table \"todos\": column \"created_at\": expected no default, found default now()",
            "table \"todos\": column \"notes\": expected default 'none', found no default",
        ],
    )
    .await;
    test.exec("INSERT INTO todos (title, created_at) VALUES ('new', now())").await;
    assert_eq!(test.scalar("SELECT count(*) FROM todos WHERE completed AND notes = 'none'").await, 1);
}

#[tokio::test]
async fn add_unique() {
    let v1 = models::todo();
    let mut v2 = models::todo();
    let users = table(&mut v2, "users");
    let name = UniqueConstraint { name: "users_name_key".into(), columns: ids(users, &["name"]) };
    users.unique_constraints.push(name);
    let todos = table(&mut v2, "todos");
    let pair = UniqueConstraint { name: "todos_user_title_key".into(), columns: ids(todos, &["user_id", "title"]) };
    todos.unique_constraints.push(pair);
    migrate_pair(
        "add_unique",
        &v1,
        &v2,
        TODO_DATA,
        &[
            "table \"users\": missing unique constraint \"users_name_key\" (\"name\")",
            "table \"todos\": missing unique constraint \"todos_user_title_key\" (\"user_id\", \"title\")",
        ],
    )
    .await;
}

#[tokio::test]
async fn add_index() {
    let v1 = models::todo();
    let mut v2 = models::todo();
    let todos = table(&mut v2, "todos");
    let index =
        Index { name: "todos_user_status_idx".into(), columns: ids(todos, &["user_id", "completed", "created_at"]) };
    todos.indexes.push(index);
    // A changed index is dropped and recreated; an index nobody models is destructive to drop.
    todos.indexes[0].columns = ids(todos, &["user_id", "title"]);
    migrate_pair(
        "add_index",
        &v1,
        &v2,
        &format!("{TODO_DATA} CREATE INDEX handmade_idx ON users (name);"),
        &[
            "table \"users\": extra index \"handmade_idx\" (CREATE INDEX handmade_idx ON public.users USING btree (name))",
            "table \"todos\": index \"todos_user_id_idx\": expected CREATE INDEX \"todos_user_id_idx\" ON \"todos\" (\"user_id\", \"title\"), found CREATE INDEX todos_user_id_idx ON public.todos USING btree (user_id)",
            "table \"todos\": missing index \"todos_user_status_idx\" (\"user_id\", \"completed\", \"created_at\")",
        ],
    )
    .await;
}

#[tokio::test]
async fn add_enum_value() {
    let v1 = models::todo();
    let mut v2 = models::todo();
    v2.enums[0] = pg_enum("public", "priority", &["LOW", "MEDIUM", "URGENT", "HIGH"]);
    // The new value is used in the same migration: apply commits the enum change first.
    column(&mut v2, "todos", "priority").default =
        Some(ColumnDefault::Expr("'URGENT'::\"public\".\"priority\"".into()));
    let test = migrate_pair(
        "add_enum_value",
        &v1,
        &v2,
        TODO_DATA,
        &[
            "enum \"public\".\"priority\": missing value \"URGENT\"",
            "table \"todos\": column \"priority\": expected default 'URGENT'::\"public\".\"priority\", found default 'MEDIUM'::priority",
        ],
    )
    .await;
    test.exec("INSERT INTO todos (title) VALUES ('new')").await;
    assert_eq!(test.scalar("SELECT count(*) FROM todos WHERE priority = 'URGENT'").await, 1);
}

#[tokio::test]
async fn remove_enum_value() {
    let v1 = models::todo();
    let mut v2 = models::todo();
    v2.enums[0] = pg_enum("public", "priority", &["LOW", "MEDIUM", "CRITICAL"]);
    let test = migrate_pair(
        "remove_enum_value",
        &v1,
        &v2,
        TODO_DATA,
        &[
            "enum \"public\".\"priority\": missing value \"CRITICAL\"",
            "enum \"public\".\"priority\": extra value \"HIGH\"",
        ],
    )
    .await;
    assert_eq!(test.scalar("SELECT count(*) FROM todos WHERE priority IN ('LOW', 'MEDIUM')").await, 2);
    test.exec("INSERT INTO todos (title, priority) VALUES ('new', 'CRITICAL')").await;
}

#[tokio::test]
async fn add_foreign_key() {
    let mut v1 = models::todo();
    table(&mut v1, "todos").foreign_keys.clear();
    let v2 = models::todo();
    migrate_pair(
        "add_foreign_key",
        &v1,
        &v2,
        TODO_DATA,
        &["table \"todos\": missing foreign key \"todos_user_id_fk\" (\"user_id\") referencing \"users\" (\"id\")"],
    )
    .await;
}

#[tokio::test]
async fn add_and_change_update_trigger() {
    let mut v1 = models::todo();
    table(&mut v1, "todos").columns.push(new_column("updated_at", C::Timestamptz { precision: None }, true, None));
    let mut v2 = v1.clone();
    column(&mut v2, "todos", "updated_at").update_value = Some("now()".into());
    let test = migrate_pair(
        "add_update_trigger",
        &v1,
        &v2,
        TODO_DATA,
        &["table \"todos\": missing trigger \"exograph_on_update_todos\""],
    )
    .await;
    drop(test);

    let mut v3 = v2.clone();
    column(&mut v3, "todos", "updated_at").update_value = Some("clock_timestamp()".into());
    migrate_pair(
        "change_update_trigger",
        &v2,
        &v3,
        TODO_DATA,
        &["table \"todos\": trigger \"exograph_on_update_todos\": function \"exograph_update_todos\": expected body `BEGIN NEW.\"updated_at\" = clock_timestamp(); RETURN NEW; END;`, found `BEGIN NEW.\"updated_at\" = now(); RETURN NEW; END;`"],
    )
    .await;
    migrate_pair(
        "remove_update_trigger",
        &v2,
        &v1,
        TODO_DATA,
        &["table \"todos\": extra trigger \"exograph_on_update_todos\""],
    )
    .await;
}

#[tokio::test]
async fn serial_to_named_sequence() {
    let v1 = models::todo();
    let mut v2 = models::todo();
    let id = column(&mut v2, "todos", "id");
    id.ty = C::Int;
    id.default = Some(ColumnDefault::Sequence { schema: "public".into(), name: "todo_ids".into() });
    v2.sequences.push(Sequence { schema: "public".into(), name: "todo_ids".into() });
    migrate_pair(
        "serial_to_named_sequence",
        &v1,
        &v2,
        TODO_DATA,
        &[
            "missing sequence \"public\".\"todo_ids\"",
            "table \"todos\": column \"id\": expected type INT, found SERIAL",
        ],
    )
    .await;
}

#[tokio::test]
async fn renames() {
    let v1 = models::composite_pk();
    let mut v2 = models::composite_pk();
    let artists = table(&mut v2, "artists");
    let u = UniqueConstraint { name: "artists_name_key".into(), columns: ids(artists, &["name"]) };
    artists.unique_constraints.push(u);
    table(&mut v2, "reviews").foreign_keys[0].name = "reviews_performance_fkey".into();
    let data = "ALTER TABLE artists ADD CONSTRAINT artist_name_unique UNIQUE (name);";
    migrate_pair(
        "renames",
        &v1,
        &v2,
        data,
        &[
            "table \"artists\": unique constraint \"artist_name_unique\" (\"name\") should be named \"artists_name_key\"",
            "table \"reviews\": foreign key \"reviews_performance_fk\" (\"performance_artist_id\", \"performance_concert_id\") referencing \"performances\" (\"artist_id\", \"concert_id\") should be named \"reviews_performance_fkey\"",
        ],
    )
    .await;
}

#[tokio::test]
async fn statements_can_be_applied_as_a_script() {
    // The script form (what `exo schema migrate` prints) runs in psql-like batch mode.
    let v1 = models::todo();
    let mut v2 = models::non_public_schema();
    v2.tables.extend(models::todo().tables.into_iter().map(|mut t| {
        for fk in &mut t.foreign_keys {
            fk.ref_table += 3;
        }
        t
    }));
    v2.enums.extend(models::todo().enums);
    let test = TestDb::new("script").await;
    test.exec(&to_sql_script(&create_statements(&v1))).await;
    let plan = migration(&v2, &snapshot(&test, &v2).await, false);
    test.exec(&to_sql_script(&plan)).await;
    assert_eq!(diff(&v2, &snapshot(&test, &v2).await), vec![]);
}

impl models::T {
    fn into_table(self) -> Table {
        db(vec![self]).tables.remove(0)
    }
}

#[tokio::test]
async fn text_to_enum() {
    let mut v1 = models::todo();
    table(&mut v1, "todos").columns.push(new_column("status", C::Text, false, Some("'open'")));
    let mut v2 = models::todo();
    v2.enums.push(pg_enum("public", "todo_status", &["open", "done"]));
    let status = new_column(
        "status",
        models::enum_ty("public", "todo_status"),
        false,
        Some("'open'::\"public\".\"todo_status\""),
    );
    table(&mut v2, "todos").columns.push(status);
    let test = migrate_pair(
        "text_to_enum",
        &v1,
        &v2,
        TODO_DATA,
        &[
            "missing enum \"public\".\"todo_status\"",
            "table \"todos\": column \"status\": expected type \"public\".\"todo_status\", found TEXT",
        ],
    )
    .await;
    test.exec("INSERT INTO todos (title) VALUES ('new')").await;
    assert_eq!(test.scalar("SELECT count(*) FROM todos WHERE status = 'open'").await, 3);
}

#[tokio::test]
async fn remove_enum_value_used_by_arrays_and_other_schemas() {
    let v1 = models::enums();
    let mut v2 = models::enums();
    v2.enums[1] = pg_enum("public", "label", &["bug", "feature"]);
    v2.enums[2] = pg_enum("geo", "region", &["EU"]);
    let data = "INSERT INTO tickets (labels, region) VALUES ('{bug,feature}', 'EU'), (NULL, NULL);";
    let test = migrate_pair(
        "remove_enum_value_array",
        &v1,
        &v2,
        data,
        &["enum \"geo\".\"region\": extra value \"US\"", "enum \"public\".\"label\": extra value \"won't fix\""],
    )
    .await;
    assert_eq!(test.scalar("SELECT count(*) FROM tickets WHERE labels = '{bug,feature}' AND region = 'EU'").await, 1);
}
