//! The planner on a small model: each concern's SQL (selection, filters, access, mutations,
//! checks) for a few operations, and the two layouts agreeing but for whitespace.

use serde_json::{json, Value as Json};

use super::*;
use crate::graphql::{self, ParseLimits};
use crate::validate::{self, Limits};

const MODEL: &str = r#"
context Auth {
  @jwt("sub") id: Int?
  @jwt("role") role: String?
}

@postgres
module Db {
  @access(
    query = self.owner.id == Auth.id || Auth.role == "admin",
    create = Auth.role == "admin",
    update = self.owner.id == Auth.id,
    delete = false
  )
  type Note {
    @pk id: Int = autoIncrement()
    @maxLength(10) title: String
    tags: Array<String>
    owner: Owner
  }

  @access(true)
  type Owner {
    @pk id: Int = autoIncrement()
    name: String
    notes: Set<Note>?
  }
}
"#;

fn system(layout: Layout) -> System {
    let compiled = exo_compiler::compile_str("model.exo", MODEL);
    let ir = compiled.ir.unwrap_or_else(|| panic!("the test model compiles: {:?}", compiled.diagnostics));
    let mut system = System::new(ir);
    system.sql_layout = layout;
    system
}

/// `(sub, role)` claims as the context values.
fn ctx(id: Option<i64>, role: Option<&str>) -> RequestContext {
    RequestContext::from_values(vec![vec![id.map(Json::from), role.map(Json::from)]])
}

fn plan_in(system: &System, query: &str, variables: Json, ctx: &RequestContext) -> Result<(Plan, Vec<CtxDep>), String> {
    let doc = graphql::parse(query, &ParseLimits::default()).map_err(|e| e.message)?;
    let Json::Object(vars) = variables else { panic!("variables are an object") };
    let op = validate::validate(system, &doc, None, &vars, Limits::default()).map_err(|e| format!("{e:?}"))?;
    let (plan, deps) = plan_with_deps(system, &op, ctx);
    plan.map(|p| (p, deps)).map_err(|e| e.message)
}

/// Every statement of the plan, compact.
fn statements(query: &str, variables: Json, ctx: &RequestContext) -> Result<Vec<Stmt>, String> {
    let (plan, _) = plan_in(&system(Layout::Compact), query, variables, ctx)?;
    Ok(plan
        .fields
        .into_iter()
        .flat_map(|f| match f.plan {
            RootPlan::Sql { steps, .. } => steps,
            _ => vec![],
        })
        .map(|s| match s {
            Step::Json(s) | Step::CollectKeys(s) | Step::CollectSlots(s) | Step::Check(s) => s,
        })
        .collect())
}

fn sql(query: &str, ctx: &RequestContext) -> Vec<String> {
    statements(query, json!({}), ctx).unwrap_or_else(|e| panic!("{query}: {e}")).into_iter().map(|s| s.sql).collect()
}

fn admin() -> RequestContext {
    ctx(Some(1), Some("admin"))
}

// ---------------------------------------------------------------------------------------------
// Selection
// ---------------------------------------------------------------------------------------------

#[test]
fn a_lookup_shapes_json_with_a_subquery_per_relation() {
    let stmts = sql("{ owner(id: 1) { name notes { title } } }", &admin());
    assert_eq!(
        stmts,
        [
            r#"SELECT json_build_object('name', "owners$1"."name", 'notes', (SELECT CASE WHEN COUNT(*) >= $1::int8 THEN to_json(('exo-list-cap:notes:' || COUNT(*))::int4) ELSE COALESCE(json_agg(json_build_object('title', "notes$2"."title")), '[]'::json) END FROM (SELECT "notes$2".* FROM "notes" AS "notes$2" WHERE "owners$1"."id" = "notes$2"."owner_id" LIMIT $1::int8) AS "notes$2"))::text FROM "owners" AS "owners$1" WHERE "owners$1"."id" = $2::int4"#
        ]
    );
}

#[test]
fn a_list_takes_limit_and_offset_as_parameters() {
    let stmts = statements("{ owners(limit: 2, offset: 4) { id } }", json!({}), &admin()).unwrap();
    assert_eq!(
        stmts[0].sql,
        r#"SELECT COALESCE(json_agg(json_build_object('id', "owners$1"."id")), '[]'::json)::text FROM (SELECT "owners$1".* FROM "owners" AS "owners$1" LIMIT $1::int8 OFFSET $2::int8) AS "owners$1""#
    );
    // An explicit `limit` is checked against the list cap when it is bound; no cap otherwise.
    assert_eq!(
        stmts[0].params,
        [ParamSource::Limit(Box::new(ParamSource::Const(Some("2".into())))), ParamSource::Const(Some("4".into()))]
    );
    assert_eq!(
        plan_in(&system(Layout::Compact), "{ owners(limit: -1) { id } }", json!({}), &admin()).unwrap_err(),
        "Invalid value for 'limit': must not be negative"
    );
}

#[test]
fn lists_without_limit_are_capped_by_a_parameter_and_aggregates_are_not() {
    // One cap parameter per statement, shared by every list in it (the root and the nested
    // one); the SQL does not depend on the cap's value, so cached and precompiled plans follow
    // the server's setting.
    let stmts = statements("{ owners { id notes { id } } }", json!({}), &admin()).unwrap();
    assert_eq!(stmts[0].params, [ParamSource::ListCap]);
    assert_eq!(stmts[0].sql.matches("LIMIT $1::int8").count(), 2, "{}", stmts[0].sql);
    assert!(stmts[0].sql.contains("'exo-list-cap:owners:'") && stmts[0].sql.contains("'exo-list-cap:notes:'"));
    // An explicit limit on the root leaves only the nested list capped.
    let stmts = statements("query($n: Int) { owners(limit: $n) { notes { id } } }", json!({"n": 5}), &admin()).unwrap();
    assert_eq!(
        stmts[0].params,
        [ParamSource::ListCap, ParamSource::Limit(Box::new(ParamSource::Var { var: "n".into(), path: vec![] }))]
    );
    assert!(!stmts[0].sql.contains("exo-list-cap:owners"), "{}", stmts[0].sql);
    // Aggregates count every row.
    let stmts = statements("{ notesAgg { id { count } } }", json!({}), &admin()).unwrap();
    assert!(stmts[0].params.is_empty() && !stmts[0].sql.contains("LIMIT"), "{}", stmts[0].sql);
}

// ---------------------------------------------------------------------------------------------
// Filters and ordering
// ---------------------------------------------------------------------------------------------

#[test]
fn filters_nest_logical_operators_and_relations() {
    let stmts = statements(
        r#"query($t: String) { notes(where: {or: [{title: {startsWith: $t}}, {not: {tags: {eq: "x"}}}], owner: {name: {eq: "ann"}}}, orderBy: {owner: {name: DESC}}) { id } }"#,
        json!({"t": "a"}),
        &admin(),
    )
    .unwrap();
    assert_eq!(
        stmts[0].sql,
        r#"SELECT CASE WHEN COUNT(*) >= $1::int8 THEN to_json(('exo-list-cap:notes:' || COUNT(*))::int4) ELSE COALESCE(json_agg(json_build_object('id', "notes$1"."id")), '[]'::json) END::text FROM (SELECT "notes$1".* FROM "notes" AS "notes$1" WHERE EXISTS (SELECT 1 FROM "owners" AS "owners$2" WHERE "owners$2"."id" = "notes$1"."owner_id" AND "owners$2"."name" = $2::text) AND ("notes$1"."title" LIKE $3::text || '%' OR NOT $4::text = ANY("notes$1"."tags")) ORDER BY (SELECT "owners$3"."name" FROM "owners" AS "owners$3" WHERE "owners$3"."id" = "notes$1"."owner_id") DESC LIMIT $1::int8) AS "notes$1""#
    );
    // The variable stays a variable: the plan re-binds it for the next request.
    assert_eq!(stmts[0].params[2], ParamSource::Var { var: "t".into(), path: vec![] });
    // An empty `and` is refused by validation, before planning.
    let e = plan_in(&system(Layout::Compact), "{ notes(where: {and: []}) { id } }", json!({}), &admin()).unwrap_err();
    assert!(e.contains("Invalid field 'where': Logical operation predicate does not have any arguments"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Access
// ---------------------------------------------------------------------------------------------

#[test]
fn access_rules_are_decided_by_the_context_where_they_can_be() {
    let query = "{ notes { id } }";
    // The admin branch decides: no predicate, and the plan records the role it relied on.
    let (plan, deps) = plan_in(&system(Layout::Compact), query, json!({}), &admin()).unwrap();
    let RootPlan::Sql { steps, .. } = &plan.fields[0].plan else { panic!() };
    let Step::Json(stmt) = &steps[0] else { panic!() };
    assert!(!stmt.sql.contains("WHERE"), "{}", stmt.sql);
    assert_eq!(stmt.params, [ParamSource::ListCap], "a decided rule binds nothing");
    assert!(deps.contains(&CtxDep::Value { context: 0, field: 1, value: json!("admin") }));

    // A plain user: the rule depends on the row, with the user's id as a parameter.
    let user = sql(query, &ctx(Some(7), Some("user")));
    assert!(user[0].contains(r#"WHERE "notes$1"."owner_id" = $2::int4"#), "{}", user[0]);

    // No token: the comparison of a column with the missing id is unknown (`NULL`), so the
    // rule still depends on rows and filters them all out (an empty list, as in Exograph);
    // nothing of the missing value is bound.
    let anonymous = statements(query, json!({}), &ctx(None, None)).unwrap();
    assert!(anonymous[0].sql.contains("WHERE NULL::boolean"), "{}", anonymous[0].sql);
    assert_eq!(anonymous[0].params, [ParamSource::ListCap]);
    // Under `!` it stays unknown (false), never `owner_id IS NULL`.
}

#[test]
fn a_refused_mutation_fails_before_any_sql() {
    // `delete = false`: no such mutation at all.
    let e =
        plan_in(&system(Layout::Compact), r#"mutation { deleteNote(id: 1) { id } }"#, json!({}), &admin()).unwrap_err();
    assert!(e.contains("Field 'deleteNote' is not valid for type 'Mutation'"), "{e}");
    // The update rule compares with the caller's id, which an anonymous caller lacks: a
    // mutation rule treats the missing value as false and refuses before any write.
    let e = plan_in(
        &system(Layout::Compact),
        r#"mutation { updateNote(id: 1, data: {title: "t"}) { id } }"#,
        json!({}),
        &ctx(None, None),
    )
    .unwrap_err();
    assert_eq!(e, "Not authorized");
    let e = plan_in(
        &system(Layout::Compact),
        r#"mutation { createNote(data: {title: "t", tags: [], owner: {id: 1}}) { id } }"#,
        json!({}),
        &ctx(Some(1), None),
    )
    .unwrap_err();
    assert_eq!(e, "Not authorized");
}

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

#[test]
fn a_nested_create_is_one_statement_then_checks_then_a_read_back_by_keys() {
    let stmts = statements(
        r#"mutation { createOwner(data: {name: "o", notes: [{title: "t", tags: ["a"]}]}) { id } }"#,
        json!({}),
        &ctx(Some(1), Some("admin")),
    )
    .unwrap();
    assert_eq!(stmts.len(), 2, "{stmts:#?}");
    assert_eq!(
        stmts[0].sql,
        r#"WITH "owners$w2" AS (INSERT INTO "owners" ("name") VALUES ($1::text) RETURNING *), "notes$w4" AS (INSERT INTO "notes" ("title", "tags", "owner_id") SELECT $2::text, ARRAY(SELECT x::text FROM jsonb_array_elements_text($3::jsonb) AS t(x)), "owners$w2"."id" FROM "owners$w2" RETURNING *) SELECT '0'::text, "owners$w2"."id"::text FROM "owners$w2" UNION ALL SELECT '1'::text, "notes$w4"."id"::text FROM "notes$w4""#
    );
    // The read-back takes slot 0's keys as a parameter node, cast back to the key's type.
    assert_eq!(
        stmts[1].sql,
        r#"SELECT json_build_object('id', "owners$7"."id")::text FROM "owners" AS "owners$7" WHERE ("owners$7"."id") IN (SELECT k0::int4 FROM unnest($1::text[]) AS keys(k0)) LIMIT 1"#
    );
    assert_eq!(stmts[1].params, [ParamSource::Keys { slot: 0, column: 0 }]);
}

#[test]
fn an_update_checks_its_rule_before_the_write_on_the_targeted_rows_with_their_new_values() {
    let stmts =
        statements(r#"mutation { updateNote(id: 3, data: {title: "new"}) { title } }"#, json!({}), &ctx(Some(7), None))
            .unwrap();
    assert_eq!(stmts.len(), 3, "{stmts:#?}");
    // First the check: the rows the update targets (by the rule on the row as it is), with
    // the new values laid over them, must meet the rule; it reads the database before the
    // write.
    assert_eq!(
        stmts[0].sql,
        r#"SELECT COUNT(*)::text FROM (SELECT 1 FROM (SELECT "notes$1"."id" AS "id", $1::text AS "title", "notes$1"."tags" AS "tags", "notes$1"."owner_id" AS "owner_id" FROM "notes" AS "notes$1" WHERE "notes$1"."owner_id" = $2::int4 AND "notes$1"."id" = $3::int4) AS "notes$2" WHERE NOT COALESCE("notes$2"."owner_id" = $2::int4, FALSE)) AS checked"#
    );
    assert_eq!(
        stmts[0].params,
        [
            ParamSource::Const(Some("new".into())),
            ParamSource::Context { context: 0, field: 0 },
            ParamSource::Const(Some("3".into())),
        ]
    );
    // Then the write, restricted the same way; no check after it.
    assert_eq!(
        stmts[1].sql,
        r#"UPDATE "notes" AS "notes$3" SET "title" = $1::text WHERE "notes$3"."owner_id" = $2::int4 AND "notes$3"."id" = $3::int4 RETURNING "notes$3"."id"::text"#
    );
    assert!(stmts[2].sql.starts_with("SELECT json_build_object"), "{}", stmts[2].sql);
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

#[test]
fn value_constraints_are_checked_now_and_recorded_for_variables() {
    let s = system(Layout::Compact);
    let long = r#"mutation { updateNote(id: 1, data: {title: "far too long"}) { id } }"#;
    let e = plan_in(&s, long, json!({}), &ctx(Some(7), None)).unwrap_err();
    assert_eq!(e, "Invalid value for 'title': maximum length = 10, provided length = 12");
    let by_var = r#"mutation($t: String!) { updateNote(id: 1, data: {title: $t}) { id } }"#;
    let (plan, _) = plan_in(&s, by_var, json!({"t": "short"}), &ctx(Some(7), None)).unwrap();
    assert_eq!(plan.checks.len(), 1);
    assert_eq!(plan.checks[0].var.as_ref(), "t");
    assert!(check_value(&plan.checks[0], &json!("short")).is_ok());
    assert!(check_value(&plan.checks[0], &json!("far too long")).is_err());
}

// ---------------------------------------------------------------------------------------------
// Layouts
// ---------------------------------------------------------------------------------------------

#[test]
fn pretty_plans_are_compact_plans_with_line_breaks() {
    let queries = [
        "{ owner(id: 1) { name notes { title } } }",
        r#"{ notes(where: {or: [{title: {eq: "a"}}, {owner: {name: {eq: "b"}}}]}, orderBy: {owner: {name: DESC}}) { id owner { name } } }"#,
        r#"mutation { createOwner(data: {name: "o", notes: [{title: "t", tags: ["a"]}]}) { id notes { id } } }"#,
        r#"mutation { updateOwner(id: 1, data: {name: "n", notes: {create: [{title: "x", tags: []}], update: [{id: 2, title: "y"}]}}) { id } }"#,
        r#"mutation { deleteOwners(where: {name: {eq: "z"}}) { id } }"#,
    ];
    let (compact, pretty) = (system(Layout::Compact), system(Layout::Pretty));
    for q in queries {
        let stmts = |s: &System| -> Vec<Stmt> {
            let (plan, _) = plan_in(s, q, json!({}), &admin()).unwrap_or_else(|e| panic!("{q}: {e}"));
            plan.fields
                .into_iter()
                .flat_map(|f| match f.plan {
                    RootPlan::Sql { steps, .. } => steps,
                    _ => vec![],
                })
                .map(|s| match s {
                    Step::Json(s) | Step::CollectKeys(s) | Step::CollectSlots(s) | Step::Check(s) => s,
                })
                .collect()
        };
        let (c, p) = (stmts(&compact), stmts(&pretty));
        assert_eq!(c.len(), p.len());
        for (c, p) in c.iter().zip(&p) {
            assert_eq!(c.params, p.params);
            assert_eq!(collapse(&p.sql), c.sql, "{q}");
        }
    }
}

/// The compact text from the pretty one (see `sql::tests`).
fn collapse(pretty: &str) -> String {
    let mut out = String::new();
    let mut lines = pretty.split('\n');
    out.push_str(lines.next().unwrap_or(""));
    for line in lines {
        let line = line.trim_start();
        if !(out.ends_with('(') || line.starts_with(')')) {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Field rules and prechecks
// ---------------------------------------------------------------------------------------------

const FIELD_MODEL: &str = r#"
context Auth {
  @jwt("sub") id: Int?
  @jwt("role") role: String?
}

@postgres
module Db {
  @access(query = true, create = self.owner == Auth.id || Auth.role == "admin", update = true)
  type Item {
    @pk id: Int = autoIncrement()
    owner: Int
    @access(Auth.role == "admin") cost: Int = 0
    @access(self.owner == Auth.id) secret: String?
    status: String = "new"
  }
}
"#;

fn field_plan(query: &str, ctx: &RequestContext) -> Result<Vec<String>, String> {
    let compiled = exo_compiler::compile_str("model.exo", FIELD_MODEL);
    let ir = compiled.ir.unwrap_or_else(|| panic!("the test model compiles: {:?}", compiled.diagnostics));
    let system = System::new(ir);
    let (plan, _) = plan_in(&system, query, json!({}), ctx)?;
    Ok(plan
        .fields
        .into_iter()
        .flat_map(|f| match f.plan {
            RootPlan::Sql { steps, .. } => steps,
            _ => vec![],
        })
        .map(|s| match s {
            Step::Json(s) | Step::CollectKeys(s) | Step::CollectSlots(s) | Step::Check(s) => s.sql,
        })
        .collect())
}

#[test]
fn a_field_rule_the_context_refuses_refuses_every_use_of_the_field() {
    let user = ctx(Some(7), None);
    for q in [
        "{ items { cost } }",
        "{ items(where: {cost: {gt: 1}}) { id } }",
        "{ items(where: {not: {or: [{id: {eq: 1}}, {cost: {eq: 1}}]}}) { id } }",
        "{ items(orderBy: {cost: ASC}) { id } }",
        "{ itemsAgg { cost { sum } } }",
        "mutation { createItem(data: {owner: 7, cost: 3}) { id } }",
        "mutation { updateItem(id: 1, data: {cost: 3}) { id } }",
        "mutation { updateItems(where: {id: {gt: 0}}, data: {cost: 3}) { id } }",
    ] {
        assert_eq!(field_plan(q, &user), Err("Not authorized".into()), "{q}");
    }
    for q in [
        "{ items { cost } }",
        "{ items(orderBy: {cost: ASC}) { id } }",
        "mutation { updateItem(id: 1, data: {cost: 3}) { id } }",
    ] {
        assert!(field_plan(q, &admin()).is_ok(), "{q}");
    }
}

#[test]
fn a_row_dependent_field_rule_filters_rows_outside_not_and_refuses_ordering() {
    let user = ctx(Some(7), None);
    let stmts = field_plan(r#"{ items(where: {not: {secret: {eq: "x"}}}) { id } }"#, &user).unwrap();
    // The rule is ANDed beside the negated filter, not under it.
    assert!(
        stmts[0].contains(r#"WHERE NOT "items$1"."secret" = $2::text AND "items$1"."owner" = $3::int4"#),
        "{}",
        stmts[0]
    );
    let stmts = field_plan("{ item(id: 1) { secret } }", &user).unwrap();
    assert!(stmts[0].contains(r#"AND "items$1"."owner" = $2::int4"#), "{}", stmts[0]);
    assert_eq!(field_plan("{ items(orderBy: {secret: ASC}) { id } }", &user), Err("Not authorized".into()));
    // An update of the field leaves alone the rows whose field the caller may not write.
    let stmts = field_plan(r#"mutation { updateItem(id: 1, data: {secret: "s"}) { id } }"#, &user).unwrap();
    assert!(
        stmts[0].starts_with("UPDATE")
            && stmts[0].contains(r#"WHERE "items$1"."id" = $2::int4 AND "items$1"."owner" = $3::int4"#),
        "{stmts:#?}"
    );
}

#[test]
fn a_create_is_checked_before_the_insert_on_the_row_it_would_write() {
    let stmts =
        field_plan(r#"mutation { createItem(data: {owner: 7, secret: "s"}) { id } }"#, &ctx(Some(7), None)).unwrap();
    // The check comes first; unset columns carry the model's defaults (`cost` 0, `status`
    // "new"), the generated key is null.
    assert_eq!(
        stmts[0],
        r#"SELECT COUNT(*)::text FROM (SELECT 1 FROM (SELECT NULL::int4 AS "id", $1::int4 AS "owner", $2::int4 AS "cost", $3::text AS "secret", $4::text AS "status") AS "items$2" WHERE NOT COALESCE("items$2"."owner" = $5::int4 AND "items$2"."owner" = $5::int4, FALSE)) AS checked"#
    );
    assert!(stmts[1].starts_with("INSERT"), "{}", stmts[1]);
    assert_eq!(stmts.len(), 3, "{stmts:#?}");
}

const NESTED_MODEL: &str = r#"
context Auth {
  @jwt("sub") id: Int?
}

@postgres
module Db {
  @access(query = true, create = true, update = Auth.id != null, delete = true)
  type Folder {
    @pk id: Int = autoIncrement()
    name: String
    owner: Int
    docs: Set<Doc>?
  }

  @access(
    query = true,
    create = self.folder.owner == Auth.id,
    update = self.folder.owner == Auth.id && self.status == "draft",
    delete = self.folder.owner == Auth.id
  )
  type Doc {
    @pk id: Int = autoIncrement()
    title: String
    status: String = "draft"
    folder: Folder
  }
}
"#;

fn nested_plan(query: &str, ctx: &RequestContext) -> Result<Vec<Stmt>, String> {
    let compiled = exo_compiler::compile_str("model.exo", NESTED_MODEL);
    let ir = compiled.ir.unwrap_or_else(|| panic!("the test model compiles: {:?}", compiled.diagnostics));
    let system = System::new(ir);
    let (plan, _) = plan_in(&system, query, json!({}), ctx)?;
    Ok(plan
        .fields
        .into_iter()
        .flat_map(|f| match f.plan {
            RootPlan::Sql { steps, .. } => steps,
            _ => vec![],
        })
        .map(|s| match s {
            Step::Json(s) | Step::CollectKeys(s) | Step::CollectSlots(s) | Step::Check(s) => s,
        })
        .collect())
}

#[test]
fn a_nested_create_under_an_existing_parent_is_checked_before_the_write_with_the_parent_as_it_is() {
    let stmts = nested_plan(
        r#"mutation { updateFolder(id: 1, data: {docs: {create: [{title: "t"}]}}) { id } }"#,
        &ctx(Some(7), None),
    )
    .unwrap();
    // The check: the targeted folders (by the update rule and the key) as a CTE, and the
    // document as it would be inserted under each of them, its foreign key the folder's key;
    // the rule's path to the folder's owner reads the folder table before the write.
    assert_eq!(
        stmts[0].sql,
        r#"WITH "folders$3" AS (SELECT "folders$2".* FROM "folders" AS "folders$2" WHERE "folders$2"."id" = $1::int4) SELECT COUNT(*)::text FROM (SELECT 1 FROM (SELECT NULL::int4 AS "id", $2::text AS "title", $3::text AS "status", "folders$3"."id" AS "folder_id" FROM "folders$3") AS "docs$4" WHERE NOT COALESCE((SELECT "folders$5"."owner" FROM "folders" AS "folders$5" WHERE "folders$5"."id" = "docs$4"."folder_id") = $4::int4, FALSE)) AS checked"#
    );
    assert_eq!(
        stmts[0].params,
        [
            ParamSource::Const(Some("1".into())),
            ParamSource::Const(Some("t".into())),
            ParamSource::Const(Some("draft".into())),
            ParamSource::Context { context: 0, field: 0 },
        ]
    );
    // Then the write; no rule check after it (the document names no reference to check).
    assert!(stmts[1].sql.starts_with("WITH"), "{}", stmts[1].sql);
    assert!(stmts[1].sql.contains(r#"INSERT INTO "docs""#), "{}", stmts[1].sql);
    assert_eq!(stmts.len(), 3, "{stmts:#?}");
    assert!(stmts[2].sql.starts_with("SELECT json_build_object"), "{}", stmts[2].sql);
    // The context alone refuses: no SQL at all.
    assert_eq!(
        nested_plan(
            r#"mutation { updateFolder(id: 1, data: {docs: {create: [{title: "t"}]}}) { id } }"#,
            &ctx(None, None)
        )
        .map(|_| ()),
        Err("Not authorized".into())
    );
}

#[test]
fn a_nested_update_is_checked_before_the_write_on_the_children_with_their_new_values() {
    let stmts = nested_plan(
        r#"mutation { updateFolders(where: {name: {eq: "f"}}, data: {docs: {update: [{id: 2, status: "final"}], delete: [{id: 3}]}}) { id } }"#,
        &ctx(Some(7), None),
    )
    .unwrap();
    // The children a nested update targets (of a targeted folder, with the key, passing the
    // update rule as they are) become a CTE; the new values laid over them must pass it too.
    // The nested delete adds no check: its rule filters the rows it deletes.
    let check = &stmts[0].sql;
    assert!(
        check.starts_with(r#"WITH "folders$3" AS (SELECT "folders$2".* FROM "folders" AS "folders$2" WHERE "folders$2"."name" = $1::text), "docs$6" AS (SELECT "docs$4".* FROM "docs" AS "docs$4" WHERE EXISTS (SELECT 1 FROM "folders$3" WHERE "folders$3"."id" = "docs$4"."folder_id") AND "docs$4"."id" = $2::int4 AND (SELECT "folders$5"."owner" FROM "folders" AS "folders$5" WHERE "folders$5"."id" = "docs$4"."folder_id") = $3::int4 AND "docs$4"."status" = $4::text) "#),
        "{check}"
    );
    assert!(
        check.contains(r#"SELECT 1 FROM (SELECT "docs$6"."id" AS "id", "docs$6"."title" AS "title", $5::text AS "status", "docs$6"."folder_id" AS "folder_id" FROM "docs$6") AS "docs$7" WHERE NOT COALESCE((SELECT "folders$8"."owner" FROM "folders" AS "folders$8" WHERE "folders$8"."id" = "docs$7"."folder_id") = $3::int4 AND "#),
        "{check}"
    );
    assert!(check.ends_with(r#""docs$7"."status" = $4::text, FALSE)) AS checked"#), "{check}");
    assert_eq!(stmts.len(), 3, "{stmts:#?}");
    assert!(
        stmts[1].sql.contains(r#"UPDATE "docs""#) && stmts[1].sql.contains(r#"DELETE FROM "docs""#),
        "{}",
        stmts[1].sql
    );
    // A nested delete alone has nothing to check before the write.
    let stmts = nested_plan(
        r#"mutation { updateFolder(id: 1, data: {docs: {delete: [{id: 3}]}}) { id } }"#,
        &ctx(Some(7), None),
    )
    .unwrap();
    assert!(!stmts[0].sql.contains("COUNT(*)"), "{stmts:#?}");
    assert_eq!(stmts.len(), 2, "{stmts:#?}");
}

#[test]
fn a_nested_create_under_a_new_parent_is_checked_before_the_write_against_the_parent_as_it_would_be() {
    let stmts = nested_plan(
        r#"mutation { createFolder(data: {name: "f", owner: 7, docs: [{title: "t"}]}) { id } }"#,
        &ctx(Some(7), None),
    )
    .unwrap();
    // The new folder as it would be written is a one-row CTE (its generated key null); the
    // document's path to its folder's owner reads that row, not the table.
    assert_eq!(
        stmts[0].sql,
        r#"WITH "folders$2" AS (SELECT NULL::int4 AS "id", $1::text AS "name", $2::int4 AS "owner") SELECT COUNT(*)::text FROM (SELECT 1 FROM (SELECT NULL::int4 AS "id", $3::text AS "title", $4::text AS "status", "folders$2"."id" AS "folder_id" FROM "folders$2") AS "docs$3" WHERE NOT COALESCE((SELECT "folders$2"."owner" FROM "folders$2") = $5::int4, FALSE)) AS checked"#
    );
    // Then the write and the read-back; no rule check after the write.
    assert_eq!(stmts.len(), 3, "{stmts:#?}");
    assert!(stmts[1].sql.contains(r#"INSERT INTO "docs""#), "{}", stmts[1].sql);
    assert!(stmts[2].sql.starts_with("SELECT json_build_object"), "{}", stmts[2].sql);
}
