//! Each model created in an empty database introspects back to no difference.

use exo_pg_schema::{apply, create_statements, diff, introspect, migration, model_schemas};

use crate::{models, TestDb};

async fn roundtrip(name: &str, db: exo_ir::Database) {
    let test = TestDb::new(name).await;
    apply(&test.client, &create_statements(&db)).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    let snapshot = introspect(&test.client, &model_schemas(&db)).await.unwrap();
    let differences = diff(&db, &snapshot);
    assert!(differences.is_empty(), "{name}: {differences:#?}");
    assert!(migration(&db, &snapshot, true).is_empty(), "{name}");
}

macro_rules! roundtrip_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                roundtrip(stringify!($name), models::$name()).await;
            }
        )*
    };
}

roundtrip_tests!(
    todo,
    scalars,
    enums,
    composite_pk,
    shared_sequence,
    uuid_ossp,
    non_public_schema,
    update_trigger,
    unique_constraints,
    multi_column_index,
    cycles,
    escaped_defaults,
);

/// The unmanaged table exists (made by someone else, with its own extras) and is left alone.
#[tokio::test]
async fn unmanaged() {
    let db = models::unmanaged();
    let test = TestDb::new("unmanaged").await;
    test.exec("CREATE TABLE legacy_accounts (id INT PRIMARY KEY, label TEXT, extra TEXT NOT NULL)").await;
    apply(&test.client, &create_statements(&db)).await.unwrap();
    test.exec(
        "ALTER TABLE notes ADD CONSTRAINT notes_account_fk FOREIGN KEY (account_id) REFERENCES legacy_accounts (id)",
    )
    .await;
    let snapshot = introspect(&test.client, &model_schemas(&db)).await.unwrap();
    assert!(snapshot.table("public", "legacy_accounts").is_some());
    assert_eq!(diff(&db, &snapshot), vec![]);
}

/// The shared sequence really feeds both tables.
#[tokio::test]
async fn shared_sequence_numbers_both_tables() {
    let db = models::shared_sequence();
    let test = TestDb::new("shared_seq_use").await;
    apply(&test.client, &create_statements(&db)).await.unwrap();
    test.exec("INSERT INTO invoices DEFAULT VALUES; INSERT INTO credit_notes DEFAULT VALUES; INSERT INTO invoices DEFAULT VALUES").await;
    assert_eq!(test.scalar("SELECT max(number)::int8 FROM invoices").await, 3);
    assert_eq!(test.scalar("SELECT max(number)::int8 FROM credit_notes").await, 2);
}

/// The `@update` trigger sets its columns on update.
#[tokio::test]
async fn update_trigger_fires() {
    let db = models::update_trigger();
    let test = TestDb::new("update_fires").await;
    apply(&test.client, &create_statements(&db)).await.unwrap();
    test.exec("INSERT INTO documents (body, updated_at) VALUES ('a', '2000-01-01')").await;
    test.exec("UPDATE documents SET body = 'b'").await;
    assert_eq!(
        test.scalar("SELECT count(*) FROM documents WHERE updated_at > '2001-01-01' AND revision_note = 'edited'")
            .await,
        1
    );
    test.exec("INSERT INTO archive.documents (modified) VALUES ('2000-01-01'); UPDATE archive.documents SET modified = modified").await;
    assert_eq!(test.scalar("SELECT count(*) FROM archive.documents WHERE modified > '2001-01-01'").await, 1);
}
