//! SQL text for each kind of schema object, and [`create_statements`], which builds a whole
//! database from the model. Migrations reuse the same builders so both spell things alike.

use std::collections::{BTreeSet, HashMap};

use exo_ir::{qualified_name, quote_ident, quote_literal, Database};
use petgraph::algo::condensation;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;

use crate::snapshot::{
    ColumnSnapshot, EnumSnapshot, ForeignKeySnapshot, KeySnapshot, Snapshot, TableSnapshot, TriggerSnapshot,
};
use crate::{column_list, Statement, StatementKind as K};

/// Every statement that creates the model's schema in an empty database, in this order:
/// extensions, schemas, enums, named sequences, tables (referenced tables first), foreign keys,
/// indexes, then `@update` trigger functions and triggers. Unmanaged tables and foreign keys to
/// them are left out. The order depends only on the model, never on hashing.
pub fn create_statements(db: &Database) -> Vec<Statement> {
    let snap = Snapshot::from_database(db);
    let mut out = Vec::new();
    out.extend(snap.extensions.iter().map(|e| create_extension(e)));
    out.extend(snap.schemas.iter().map(|s| create_schema(s)));
    out.extend(snap.enums.iter().map(create_enum));
    out.extend(snap.sequences.iter().map(|s| create_sequence(&s.schema, &s.name)));
    let tables: Vec<&TableSnapshot> = snap.tables.iter().collect();
    let order = dependency_order(&tables);
    out.extend(order.iter().map(|&i| create_table(tables[i])));
    for &i in &order {
        out.extend(tables[i].foreign_keys.iter().map(|fk| add_foreign_key(tables[i], fk)));
    }
    for &i in &order {
        out.extend(tables[i].indexes.iter().map(|ix| Statement::new(K::CreateIndex, ix.definition.clone())));
    }
    for &i in &order {
        for trigger in &tables[i].triggers {
            out.push(create_function(trigger));
            out.push(create_trigger(tables[i], trigger));
        }
    }
    out
}

/// Positions of `tables` ordered so that a referenced table comes before the tables referring
/// to it. Tables in a reference cycle (or self-referencing) come together, by name; otherwise
/// ties are broken by `(schema, name)`, so the order is independent of the input order.
pub(crate) fn dependency_order(tables: &[&TableSnapshot]) -> Vec<usize> {
    let mut by_name: Vec<usize> = (0..tables.len()).collect();
    by_name.sort_by_key(|&i| (&tables[i].schema, &tables[i].name));

    let mut graph: DiGraph<usize, ()> = DiGraph::new();
    let mut node_of: HashMap<(&str, &str), NodeIndex> = HashMap::new();
    for &i in &by_name {
        let node = graph.add_node(i);
        node_of.insert((tables[i].schema.as_str(), tables[i].name.as_str()), node);
    }
    for &i in &by_name {
        let from = node_of[&(tables[i].schema.as_str(), tables[i].name.as_str())];
        for fk in &tables[i].foreign_keys {
            if let Some(&to) = node_of.get(&(fk.ref_schema.as_str(), fk.ref_table.as_str())) {
                if to != from {
                    // Edge: referenced table -> referencing table.
                    graph.update_edge(to, from, ());
                }
            }
        }
    }

    // Collapse cycles into single nodes, then take ready nodes smallest-name first (Kahn).
    let dag = condensation(graph, true);
    let position: HashMap<usize, usize> = by_name.iter().enumerate().map(|(rank, &i)| (i, rank)).collect();
    let rank = |members: &Vec<usize>| members.iter().map(|i| position[i]).min().unwrap_or(usize::MAX);
    let mut indegree: HashMap<NodeIndex, usize> =
        dag.node_indices().map(|n| (n, dag.neighbors_directed(n, Direction::Incoming).count())).collect();
    let mut ready: BTreeSet<(usize, NodeIndex)> =
        dag.node_indices().filter(|n| indegree[n] == 0).map(|n| (rank(&dag[n]), n)).collect();
    let mut order = Vec::with_capacity(tables.len());
    while let Some(entry) = ready.pop_first() {
        let node = entry.1;
        let mut members = dag[node].clone();
        members.sort_by_key(|&i| (&tables[i].schema, &tables[i].name));
        order.extend(members);
        for next in dag.neighbors_directed(node, Direction::Outgoing) {
            let d = indegree.get_mut(&next).expect("every node has an indegree");
            *d -= 1;
            if *d == 0 {
                ready.insert((rank(&dag[next]), next));
            }
        }
    }
    order
}

pub(crate) fn create_extension(name: &str) -> Statement {
    Statement::new(K::CreateExtension, format!("CREATE EXTENSION IF NOT EXISTS {}", quote_ident(name)))
}

pub(crate) fn create_schema(name: &str) -> Statement {
    Statement::new(K::CreateSchema, format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(name)))
}

/// `"schema"."name"`, always qualified (as [`exo_ir::ColumnType::sql`] writes enum types).
pub(crate) fn full_name(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

pub(crate) fn create_enum(e: &EnumSnapshot) -> Statement {
    let values = e.values.iter().map(|v| quote_literal(v)).collect::<Vec<_>>().join(", ");
    Statement::new(K::CreateEnum, format!("CREATE TYPE {} AS ENUM ({values})", full_name(&e.schema, &e.name)))
}

pub(crate) fn create_sequence(schema: &str, name: &str) -> Statement {
    Statement::new(K::CreateSequence, format!("CREATE SEQUENCE IF NOT EXISTS {}", qualified_name(schema, name)))
}

/// `"name" TYPE [NOT NULL] [DEFAULT expr]`.
pub(crate) fn column_definition(c: &ColumnSnapshot) -> String {
    let mut def = format!("{} {}", quote_ident(&c.name), c.ddl_type());
    // SERIAL implies NOT NULL.
    if !c.nullable && !c.serial {
        def.push_str(" NOT NULL");
    }
    if let Some(d) = &c.default {
        def.push_str(" DEFAULT ");
        def.push_str(d);
    }
    def
}

/// `CREATE TABLE` with columns, primary key and unique constraints; foreign keys, indexes and
/// triggers are separate statements.
pub(crate) fn create_table(t: &TableSnapshot) -> Statement {
    let mut parts: Vec<String> = t.columns.iter().map(column_definition).collect();
    if let Some(pk) = &t.primary_key {
        parts.push(format!("PRIMARY KEY ({})", column_list(&pk.columns)));
    }
    parts.extend(t.unique_constraints.iter().map(unique_clause));
    let body = parts.iter().map(|p| format!("    {p}")).collect::<Vec<_>>().join(",\n");
    Statement::new(K::CreateTable, format!("CREATE TABLE {} (\n{body}\n)", t.qualified_name()))
}

fn unique_clause(u: &KeySnapshot) -> String {
    format!("CONSTRAINT {} UNIQUE ({})", quote_ident(&u.name), column_list(&u.columns))
}

pub(crate) fn add_unique(t: &TableSnapshot, u: &KeySnapshot) -> Statement {
    Statement::new(K::AddConstraint, format!("ALTER TABLE {} ADD {}", t.qualified_name(), unique_clause(u)))
}

pub(crate) fn add_primary_key(t: &TableSnapshot, pk: &KeySnapshot) -> Statement {
    Statement::new(
        K::AddConstraint,
        format!("ALTER TABLE {} ADD PRIMARY KEY ({})", t.qualified_name(), column_list(&pk.columns)),
    )
}

pub(crate) fn drop_constraint_sql(t: &TableSnapshot, name: &str) -> String {
    format!("ALTER TABLE {} DROP CONSTRAINT {}", t.qualified_name(), quote_ident(name))
}

pub(crate) fn add_foreign_key(t: &TableSnapshot, fk: &ForeignKeySnapshot) -> Statement {
    Statement::new(
        K::AddForeignKey,
        format!(
            "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})",
            t.qualified_name(),
            quote_ident(&fk.name),
            column_list(&fk.columns),
            qualified_name(&fk.ref_schema, &fk.ref_table),
            column_list(&fk.ref_columns),
        ),
    )
}

pub(crate) fn create_index_sql(schema: &str, table: &str, name: &str, columns: &[String]) -> String {
    format!("CREATE INDEX {} ON {} ({})", quote_ident(name), qualified_name(schema, table), column_list(columns))
}

pub(crate) fn drop_index_sql(schema: &str, name: &str) -> String {
    format!("DROP INDEX {}", qualified_name(schema, name))
}

/// `CREATE OR REPLACE FUNCTION` for an `@update` trigger, dollar-quoted with a tag the body
/// does not contain.
pub(crate) fn create_function(tr: &TriggerSnapshot) -> Statement {
    let mut tag = String::from("$$");
    let mut n = 0;
    while tr.function_body.contains(&tag) {
        n += 1;
        tag = format!("$exo{n}$");
    }
    Statement::new(
        K::CreateFunction,
        format!(
            "CREATE OR REPLACE FUNCTION {}() RETURNS TRIGGER AS {tag}{}{tag} LANGUAGE plpgsql",
            qualified_name(&tr.function_schema, &tr.function_name),
            tr.function_body,
        ),
    )
}

pub(crate) fn create_trigger(t: &TableSnapshot, tr: &TriggerSnapshot) -> Statement {
    Statement::new(
        K::CreateTrigger,
        format!(
            "CREATE TRIGGER {} BEFORE UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}()",
            quote_ident(&tr.name),
            t.qualified_name(),
            qualified_name(&tr.function_schema, &tr.function_name),
        ),
    )
}

pub(crate) fn drop_trigger_sql(t: &TableSnapshot, tr: &TriggerSnapshot) -> String {
    format!("DROP TRIGGER {} ON {}", quote_ident(&tr.name), t.qualified_name())
}

pub(crate) fn drop_function_sql(tr: &TriggerSnapshot) -> String {
    format!("DROP FUNCTION {}()", qualified_name(&tr.function_schema, &tr.function_name))
}
