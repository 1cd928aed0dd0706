//! Runs statements against a live database, all or nothing.

use tokio_postgres::Client;

use crate::{Error, Statement, StatementKind};

/// Runs every statement that is not [`Statement::withheld`], in order, inside one transaction,
/// rolling back on the first error.
///
/// Exception: a value added by `ALTER TYPE ... ADD VALUE` cannot be used before its transaction
/// commits, so those statements run first in a transaction of their own. If the main
/// transaction then fails, the added enum values stay (harmless: the model wants them).
///
/// Must not be called inside an open transaction.
pub async fn apply(client: &Client, statements: &[Statement]) -> Result<(), Error> {
    let runnable = statements.iter().filter(|s| !s.withheld);
    let (enum_values, rest): (Vec<&Statement>, Vec<&Statement>) =
        runnable.partition(|s| s.kind == StatementKind::AddEnumValue);
    run_in_transaction(client, &enum_values).await?;
    run_in_transaction(client, &rest).await
}

async fn run_in_transaction(client: &Client, statements: &[&Statement]) -> Result<(), Error> {
    if statements.is_empty() {
        return Ok(());
    }
    client.batch_execute("BEGIN").await.map_err(|e| Error::new("BEGIN", e))?;
    for s in statements {
        // The simple-query protocol: no parameters, and dollar-quoted bodies pass untouched.
        if let Err(e) = client.batch_execute(&s.sql).await {
            // The statement's error is the one worth reporting; a failed rollback adds nothing.
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(Error::new(s.sql.clone(), e));
        }
    }
    client.batch_execute("COMMIT").await.map_err(|e| Error::new("COMMIT", e))
}
