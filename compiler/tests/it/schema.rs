//! The GraphQL API built from an IR (`graphql_schema::build`) and its SDL (`sdl::print_sdl`).
//!
//! The models are built by hand so these tests depend on nothing before lowering.

use exo_compiler::graphql_schema::{build, lower_camel, LIMIT_DOC};
use exo_compiler::sdl::print_sdl;
use exo_ir::graphql::{Field as GqlField, InputValue, Resolver, Schema, Type, TypeKind, TypeRef};
use exo_ir::{
    AccessExpr, Cast, ColumnSql, Entity, EntityAccess, EntityId, EnumType, Field, FieldDefault, FieldKind, Ir, JsonOut,
    JsonType, JsonTypeField, Literal, ParamIn, ScalarType, UniqueLookup, ValueType,
};

// ---------------------------------------------------------------------------------------------
// Model builders
// ---------------------------------------------------------------------------------------------

fn field(name: &str, kind: FieldKind) -> Field {
    Field {
        name: name.to_string(),
        doc: None,
        kind,
        optional: false,
        default: None,
        readonly: false,
        update_sync: false,
        access: None,
        validation: Default::default(),
    }
}

fn column_of(name: &str, ty: ValueType) -> Field {
    let sql = ColumnSql { json: JsonOut::Plain, param: ParamIn::Cast(Cast::Text) };
    field(name, FieldKind::Column { ty, column: 0, sql })
}

fn column(name: &str, ty: ScalarType) -> Field {
    column_of(name, ValueType::Scalar(ty))
}

/// `@pk id: Int = autoIncrement()`.
fn serial_id() -> Field {
    Field {
        default: Some(FieldDefault::AutoIncrement { sequence: None }),
        readonly: true,
        ..column("id", ScalarType::Int)
    }
}

fn many_to_one(name: &str, target: EntityId) -> Field {
    field(
        name,
        FieldKind::ManyToOne { target, columns: vec![0], target_columns: vec![0], inverse: None, one_to_one: false },
    )
}

fn one_to_many(name: &str, target: EntityId, inverse: u32) -> Field {
    Field { optional: true, ..field(name, FieldKind::OneToMany { target, inverse, one_to_one: false }) }
}

fn optional(f: Field) -> Field {
    Field { optional: true, ..f }
}

fn with_default(f: Field, default: FieldDefault) -> Field {
    Field { default: Some(default), ..f }
}

fn documented(f: Field, doc: &str) -> Field {
    Field { doc: Some(doc.to_string()), ..f }
}

fn entity(name: &str, plural: &str, fields: Vec<Field>, pk: Vec<u32>) -> Entity {
    Entity {
        name: name.to_string(),
        plural: plural.to_string(),
        doc: None,
        table: 0,
        fields,
        pk,
        unique_lookups: Vec::new(),
        access: EntityAccess::all(true),
        sql: Default::default(),
    }
}

/// A rule that is neither `true` nor `false`: `AuthContext.role == "admin"`.
fn residue() -> AccessExpr {
    AccessExpr::Cmp {
        op: exo_ir::CmpOp::Eq,
        lhs: exo_ir::AccessOperand::Context { context: 0, field: 0 },
        rhs: exo_ir::AccessOperand::Literal(Literal::String("admin".into())),
    }
}

const USER: EntityId = 0;
const TODO: EntityId = 1;

/// The todo model of `schema-examples/ok/todo`, with a few extra column types.
fn todo_model() -> Ir {
    let mut user = entity(
        "User",
        "Users",
        vec![
            serial_id(),
            column("email", ScalarType::String),
            documented(column("name", ScalarType::String), "Display name."),
            one_to_many("todos", TODO, 4),
        ],
        vec![0],
    );
    user.doc = Some("A person who owns todos.".into());
    user.unique_lookups.push(UniqueLookup { name: "Email".into(), fields: vec![1] });
    user.access = EntityAccess { query: residue(), create: residue(), update: residue(), delete: residue() };
    let mut todo = entity(
        "Todo",
        "Todos",
        vec![
            serial_id(),
            column("title", ScalarType::String),
            with_default(column("completed", ScalarType::Boolean), FieldDefault::Literal(Literal::Bool(false))),
            with_default(column("priority", ScalarType::Enum(0)), FieldDefault::EnumVariant("MEDIUM".into())),
            with_default(many_to_one("user", USER), FieldDefault::Context { context: 0, field: 0 }),
            optional(column("dueAt", ScalarType::Instant)),
            column_of("tags", ValueType::Array(Box::new(ValueType::Scalar(ScalarType::String)))),
            optional(column("estimate", ScalarType::Decimal)),
        ],
        vec![0],
    );
    todo.doc = Some("A single item on a user's list.".into());
    Ir {
        description: Some("Multi-user todo service.\nEvery signed-in user manages their own list.".into()),
        enums: vec![EnumType {
            name: "Priority".into(),
            doc: Some("How urgent a todo is.".into()),
            variants: vec!["LOW".into(), "MEDIUM".into(), "HIGH".into()],
            pg_schema: "public".into(),
            pg_name: "priority".into(),
        }],
        entities: vec![user, todo],
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Lookup helpers
// ---------------------------------------------------------------------------------------------

fn ty<'a>(schema: &'a Schema, name: &str) -> &'a Type {
    schema.type_by_name(name).unwrap_or_else(|| panic!("no type `{name}`"))
}

fn object_fields<'a>(schema: &'a Schema, name: &str) -> &'a [GqlField] {
    match &ty(schema, name).kind {
        TypeKind::Object { fields } => fields,
        other => panic!("`{name}` is not an object: {other:?}"),
    }
}

fn input_fields<'a>(schema: &'a Schema, name: &str) -> &'a [InputValue] {
    match &ty(schema, name).kind {
        TypeKind::InputObject { fields } => fields,
        other => panic!("`{name}` is not an input object: {other:?}"),
    }
}

fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<&str> {
    items.iter().map(name).collect()
}

fn root_names(fields: &[GqlField]) -> Vec<&str> {
    names(fields, |f| &f.name)
}

/// A list field's arguments as printed: one per line, since `limit` has a description.
fn list_args(ty: &str) -> String {
    format!(
        "(\n    where: {ty}Filter\n    orderBy: [{ty}Ordering!]\n\n    \"\"\"\n    {LIMIT_DOC}\n    \"\"\"\n    \
         limit: Int\n    offset: Int\n  )"
    )
}

fn assert_contains(sdl: &str, fragment: &str) {
    assert!(sdl.contains(fragment), "SDL lacks `{fragment}`:\n{sdl}");
}

fn assert_lacks(sdl: &str, fragment: &str) {
    assert!(!sdl.contains(fragment), "SDL unexpectedly has `{fragment}`:\n{sdl}");
}

// ---------------------------------------------------------------------------------------------
// Schema shape
// ---------------------------------------------------------------------------------------------

#[test]
fn todo_root_fields_follow_exograph_names() {
    let schema = build(&todo_model());
    assert_eq!(root_names(&schema.queries), ["todo", "todos", "todosAgg", "user", "userByEmail", "users", "usersAgg"]);
    assert_eq!(
        root_names(&schema.mutations),
        [
            "createTodo",
            "createTodos",
            "createUser",
            "createUsers",
            "deleteTodo",
            "deleteTodos",
            "deleteUser",
            "deleteUsers",
            "updateTodo",
            "updateTodos",
            "updateUser",
            "updateUsers",
        ]
    );
    assert!(schema.mutations.iter().all(|m| m.description.is_some()));
}

#[test]
fn todo_sdl_fragments() {
    let sdl = print_sdl(&build(&todo_model()));
    for fragment in [
        &format!("todos{}: [Todo!]!", list_args("Todo")),
        "todosAgg(where: TodoFilter): TodoAgg!",
        "todo(id: Int!): Todo\n",
        "userByEmail(email: String!): User\n",
        "createTodo(data: TodoCreationInput!): Todo!",
        "createTodos(data: [TodoCreationInput!]!): [Todo!]!",
        "updateTodo(id: Int!, data: TodoUpdateInput!): Todo\n",
        "updateTodos(where: TodoFilter, data: TodoUpdateInput!): [Todo!]!",
        "deleteTodo(id: Int!): Todo\n",
        "deleteTodos(where: TodoFilter): [Todo!]!",
        // Object types: declaration order, relation aggregates last.
        &format!(
            "type User {{\n  id: Int!\n  email: String!\n\n  \"\"\"Display name.\"\"\"\n  name: String!\n  \
             todos{}: [Todo!]\n  todosAgg(where: TodoFilter): TodoAgg\n}}",
            list_args("Todo")
        ),
        "type Todo {\n  id: Int!\n  title: String!\n  completed: Boolean!\n  priority: Priority!\n  user: User!\n  \
         dueAt: Instant\n  tags: [String!]!\n  estimate: Decimal\n}",
        // Inputs.
        "input TodoCreationInput {\n  title: String!\n  completed: Boolean\n  priority: Priority\n  \
         user: UserReferenceInput\n  dueAt: Instant\n  tags: [String!]!\n  estimate: Decimal\n}",
        "input TodoCreationInputFromUser {\n  title: String!\n  completed: Boolean\n  priority: Priority\n  \
         dueAt: Instant\n  tags: [String!]!\n  estimate: Decimal\n}",
        "input TodoUpdateInput {\n  id: Int\n  title: String\n  completed: Boolean\n  priority: Priority\n  \
         user: UserReferenceInput\n  dueAt: Instant\n  tags: [String!]\n  estimate: Decimal\n}",
        "input TodoUpdateInputFromUser {\n  create: [TodoCreationInputFromUser!]\n  \
         update: [TodoUpdateInputFromUserNested!]\n  delete: [TodoReferenceInput!]\n}",
        "input TodoUpdateInputFromUserNested {\n  id: Int!\n  title: String\n  completed: Boolean\n  \
         priority: Priority\n  dueAt: Instant\n  tags: [String!]\n  estimate: Decimal\n}",
        "input UserCreationInput {\n  email: String!\n  name: String!\n  todos: [TodoCreationInputFromUser!]\n}",
        "input UserUpdateInput {\n  id: Int\n  email: String\n  name: String\n  todos: TodoUpdateInputFromUser\n}",
        "input TodoReferenceInput {\n  id: Int!\n}",
        "input UserReferenceInput {\n  id: Int!\n}",
        // Filters, orderings, aggregates; arrays use their element's filter and aggregate.
        "input TodoFilter {\n  id: IntFilter\n  title: StringFilter\n  completed: BooleanFilter\n  \
         priority: PriorityFilter\n  user: UserFilter\n  dueAt: InstantFilter\n  tags: StringFilter\n  \
         estimate: DecimalFilter\n  and: [TodoFilter!]\n  or: [TodoFilter!]\n  not: TodoFilter\n}",
        "input TodoOrdering {\n  id: Ordering\n  title: Ordering\n  completed: Ordering\n  priority: Ordering\n  \
         user: [UserOrdering!]\n  dueAt: Ordering\n  estimate: Ordering\n}",
        "input UserOrdering {\n  id: Ordering\n  email: Ordering\n  name: Ordering\n}",
        "type TodoAgg {\n  id: IntAgg\n  title: StringAgg\n  completed: BooleanAgg\n  priority: PriorityAgg\n  \
         dueAt: InstantAgg\n  tags: StringAgg\n  estimate: DecimalAgg\n}",
        "type IntAgg {\n  min: Int\n  max: Int\n  sum: Int\n  avg: Float\n  count: Int\n}",
        "type DecimalAgg {\n  min: Decimal\n  max: Decimal\n  sum: Decimal\n  avg: Decimal\n  count: Int\n}",
        "type StringAgg {\n  min: String\n  max: String\n  count: Int\n}",
        "type PriorityAgg {\n  count: Int\n}",
        "input PriorityFilter {\n  eq: Priority\n  neq: Priority\n}",
        "input StringFilter {\n  eq: String\n  neq: String\n  lt: String\n  lte: String\n  gt: String\n  \
         gte: String\n  like: String\n  ilike: String\n  startsWith: String\n  endsWith: String\n}",
        "enum Ordering {\n  ASC\n  DESC\n}",
        "\"\"\"How urgent a todo is.\"\"\"\nenum Priority {\n  LOW\n  MEDIUM\n  HIGH\n}",
        "scalar Decimal\n\n",
        "scalar Instant\n\n",
    ] {
        assert_contains(&sdl, fragment);
    }
    // The schema description forces the `schema` block, which comes first.
    assert!(sdl.starts_with(
        "\"\"\"\nMulti-user todo service.\nEvery signed-in user manages their own list.\n\"\"\"\n\
         schema {\n  query: Query\n  mutation: Mutation\n}\n\n"
    ));
    // Only the scalar filters and aggregates in use; no unused nested inputs.
    for absent in ["FloatFilter", "FloatAgg", "JsonFilter", "UuidFilter", "UserUniqueFilter", "UserCreationInputFrom"] {
        assert_lacks(&sdl, absent);
    }
    assert!(!sdl.ends_with('\n'));
}

#[test]
fn types_are_sorted_and_end_with_query_then_mutation() {
    let schema = build(&todo_model());
    let type_names = names(&schema.types, |t| &t.name);
    let mut sorted = type_names.clone();
    sorted.sort();
    assert_eq!(type_names, sorted);
    assert!(!type_names.contains(&"Int") && !type_names.contains(&"String"));
    let sdl = print_sdl(&schema);
    let query_at = sdl.find("\ntype Query {").unwrap();
    let mutation_at = sdl.find("\ntype Mutation {").unwrap();
    assert!(query_at < mutation_at);
    assert!(sdl[..query_at].contains("input UserUpdateInput"));
}

#[test]
fn resolvers_point_back_at_the_model() {
    let schema = build(&todo_model());
    let query = |name: &str| schema.queries.iter().find(|f| f.name == name).unwrap().resolver;
    assert_eq!(query("todo"), Resolver::ByPk { entity: TODO });
    assert_eq!(query("users"), Resolver::Collection { entity: USER });
    assert_eq!(query("usersAgg"), Resolver::Aggregate { entity: USER });
    assert_eq!(query("userByEmail"), Resolver::ByUnique { entity: USER, lookup: 0 });
    let mutation = |name: &str| schema.mutations.iter().find(|f| f.name == name).unwrap().resolver;
    assert_eq!(mutation("createTodos"), Resolver::Create { entity: TODO, many: true });
    assert_eq!(mutation("updateTodo"), Resolver::Update { entity: TODO, many: false });
    assert_eq!(mutation("deleteUsers"), Resolver::Delete { entity: USER, many: true });

    let user = object_fields(&schema, "User");
    assert_eq!(user[3].resolver, Resolver::EntityField { entity: USER, field: 3 });
    assert_eq!(user[4].name, "todosAgg");
    assert_eq!(user[4].resolver, Resolver::RelationAggregate { entity: USER, field: 3 });
    let agg = object_fields(&schema, "TodoAgg");
    assert_eq!(agg[1].resolver, Resolver::AggregateField { entity: TODO, field: 1 });
    let int_agg = object_fields(&schema, "IntAgg");
    assert_eq!(int_agg[3].resolver, Resolver::AggregateOp(exo_ir::graphql::AggOp::Avg));
    assert!(input_fields(&schema, "TodoFilter").iter().all(|f| f.default_value.is_none()));
}

// ---------------------------------------------------------------------------------------------
// Access
// ---------------------------------------------------------------------------------------------

#[test]
fn operations_whose_rule_is_false_disappear() {
    let mut ir = todo_model();
    ir.entities[USER as usize].access.create = AccessExpr::Const(false);
    ir.entities[USER as usize].access.delete = AccessExpr::Const(false);
    ir.entities[TODO as usize].access.query = AccessExpr::Const(false);
    ir.entities[TODO as usize].access.update = AccessExpr::Const(false);
    let schema = build(&ir);
    assert_eq!(root_names(&schema.queries), ["user", "userByEmail", "users", "usersAgg"]);
    assert_eq!(
        root_names(&schema.mutations),
        ["createTodo", "createTodos", "deleteTodo", "deleteTodos", "updateUser", "updateUsers"]
    );
    let sdl = print_sdl(&schema);
    assert_lacks(&sdl, "input UserCreationInput");
    assert_lacks(&sdl, "input TodoUpdateInput {");
    // A nested update of todos can still create and delete them, but not update them.
    assert_contains(
        &sdl,
        "input TodoUpdateInputFromUser {\n  create: [TodoCreationInputFromUser!]\n  delete: [TodoReferenceInput!]\n}",
    );
    assert_lacks(&sdl, "TodoUpdateInputFromUserNested");
    // `Todo` stays: `User.todos` and the mutations still return it.
    assert!(schema.type_by_name("Todo").is_some());
}

#[test]
fn a_type_with_no_operations_and_no_referrer_is_omitted() {
    let mut ir = todo_model();
    ir.entities.push(entity("Secret", "Secrets", vec![serial_id(), column("code", ScalarType::Float)], vec![0]));
    ir.entities[2].access = EntityAccess::all(false);
    let schema = build(&ir);
    let sdl = print_sdl(&schema);
    for absent in ["Secret", "FloatFilter", "FloatAgg"] {
        assert_lacks(&sdl, absent);
    }

    // With nothing allowed at all, only an empty `Query` remains.
    let mut ir = todo_model();
    for e in &mut ir.entities {
        e.access = EntityAccess::all(false);
    }
    ir.description = None;
    let schema = build(&ir);
    assert!(schema.types.is_empty() && schema.mutations.is_empty());
    assert_eq!(print_sdl(&schema), "type Query");
}

#[test]
fn fields_whose_query_rule_is_false_are_hidden() {
    let mut ir = todo_model();
    let title = &mut ir.entities[TODO as usize].fields[1];
    title.access = Some(EntityAccess { query: AccessExpr::Const(false), ..EntityAccess::all(true) });
    let estimate = &mut ir.entities[TODO as usize].fields[7];
    estimate.access = Some(EntityAccess { create: AccessExpr::Const(false), ..EntityAccess::all(true) });
    let schema = build(&ir);
    for ty in ["Todo", "TodoAgg"] {
        assert!(!object_fields(&schema, ty).iter().any(|f| f.name == "title"), "{ty} has title");
    }
    for ty in ["TodoFilter", "TodoOrdering"] {
        assert!(!input_fields(&schema, ty).iter().any(|f| f.name == "title"), "{ty} has title");
    }
    // Readable but not creatable: gone from creation inputs only.
    assert!(object_fields(&schema, "Todo").iter().any(|f| f.name == "estimate"));
    assert!(!input_fields(&schema, "TodoCreationInput").iter().any(|f| f.name == "estimate"));
    assert!(input_fields(&schema, "TodoUpdateInput").iter().any(|f| f.name == "estimate"));
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// `Chat`, `User`, and `ChatParticipation { @pk chat: Chat  @pk user: User  admin: Boolean? }`.
fn participation_model() -> Ir {
    let chat = entity(
        "Chat",
        "Chats",
        vec![serial_id(), column("title", ScalarType::String), one_to_many("participants", 2, 0)],
        vec![0],
    );
    let user = entity("User", "Users", vec![serial_id(), one_to_many("chats", 2, 1)], vec![0]);
    let mut participation = entity(
        "ChatParticipation",
        "ChatParticipations",
        vec![many_to_one("chat", 0), many_to_one("user", 1), optional(column("admin", ScalarType::Boolean))],
        vec![0, 1],
    );
    participation.unique_lookups.push(UniqueLookup { name: "UserAdmin".into(), fields: vec![1, 2] });
    Ir { entities: vec![chat, user, participation], ..Default::default() }
}

#[test]
fn relation_primary_keys_take_unique_filters_and_reference_inputs() {
    let sdl = print_sdl(&build(&participation_model()));
    for fragment in [
        "chatParticipation(chat: ChatUniqueFilter!, user: UserUniqueFilter!): ChatParticipation\n",
        "updateChatParticipation(chat: ChatUniqueFilter!, user: UserUniqueFilter!, \
         data: ChatParticipationUpdateInput!): ChatParticipation\n",
        "deleteChatParticipation(chat: ChatUniqueFilter!, user: UserUniqueFilter!): ChatParticipation\n",
        // A unique lookup keeps optional columns required.
        "chatParticipationByUserAdmin(user: UserUniqueFilter!, admin: Boolean!): ChatParticipation\n",
        "input ChatUniqueFilter {\n  id: Int!\n}",
        "input ChatParticipationReferenceInput {\n  chat: ChatReferenceInput!\n  user: UserReferenceInput!\n}",
        "input ChatParticipationCreationInput {\n  chat: ChatReferenceInput!\n  user: UserReferenceInput!\n  \
         admin: Boolean\n}",
        "input ChatParticipationCreationInputFromChat {\n  user: UserReferenceInput!\n  admin: Boolean\n}",
        // The pk part supplied by the parent is left out; the rest is a reference (not the
        // parent's update input, as in Exograph).
        "input ChatParticipationUpdateInputFromChatNested {\n  user: UserReferenceInput!\n  admin: Boolean\n}",
        "input ChatParticipationUpdateInputFromUserNested {\n  chat: ChatReferenceInput!\n  admin: Boolean\n}",
        "input ChatParticipationUpdateInput {\n  chat: ChatReferenceInput\n  user: UserReferenceInput\n  \
         admin: Boolean\n}",
        // Relations are not aggregated.
        "type ChatParticipationAgg {\n  admin: BooleanAgg\n}",
        "input ChatParticipationOrdering {\n  chat: [ChatOrdering!]\n  user: [UserOrdering!]\n  admin: Ordering\n}",
    ] {
        assert_contains(&sdl, fragment);
    }
}

#[test]
fn a_type_without_primary_key_gets_collection_queries_and_where_mutations() {
    let mut ir = todo_model();
    let view = entity(
        "TodoStat",
        "TodoStats",
        vec![column("title", ScalarType::String), column("n", ScalarType::Int)],
        vec![],
    );
    ir.entities.push(view);
    let schema = build(&ir);
    snapshot("no-primary-key", &print_sdl(&schema));
    let queries: Vec<&str> = root_names(&schema.queries).into_iter().filter(|n| n.starts_with("todoStat")).collect();
    assert_eq!(queries, ["todoStats", "todoStatsAgg"]);
    let mutations: Vec<&str> = root_names(&schema.mutations).into_iter().filter(|n| n.contains("TodoStat")).collect();
    assert_eq!(mutations, ["deleteTodoStats", "updateTodoStats"]);
    assert!(schema.type_by_name("TodoStatCreationInput").is_none());
    assert!(schema.type_by_name("TodoStatReferenceInput").is_none());
}

#[test]
fn self_references_and_one_to_one() {
    // Employee { id, manager: Employee?, reports: Set<Employee>?, badge: Badge? }
    // Badge { id, @oneToOne owner: Employee }
    let employee = entity(
        "Employee",
        "Employees",
        vec![
            serial_id(),
            optional(many_to_one("manager", 0)),
            one_to_many("reports", 0, 1),
            optional(field("badge", FieldKind::OneToMany { target: 1, inverse: 1, one_to_one: true })),
        ],
        vec![0],
    );
    let mut owner = many_to_one("owner", 0);
    if let FieldKind::ManyToOne { one_to_one, .. } = &mut owner.kind {
        *one_to_one = true;
    }
    let badge = entity("Badge", "Badges", vec![serial_id(), owner], vec![0]);
    let sdl = print_sdl(&build(&Ir { entities: vec![employee, badge], ..Default::default() }));
    snapshot("self-reference", &sdl);
    for fragment in [
        &format!(
            "type Employee {{\n  id: Int!\n  manager: Employee\n  reports{}: [Employee!]\n  \
             badge: Badge\n  reportsAgg(where: EmployeeFilter): EmployeeAgg\n}}",
            list_args("Employee")
        ),
        // As in Exograph, a self-referencing collection is not written through nested inputs.
        "input EmployeeCreationInput {\n  manager: EmployeeReferenceInput\n}",
        // A badge created under its owner would have no fields (an invalid empty input type),
        // so nested updates only update or delete badges.
        "input BadgeUpdateInputFromEmployee {\n  update: [BadgeUpdateInputFromEmployeeNested!]\n  \
         delete: [BadgeReferenceInput!]\n}",
        "input BadgeUpdateInputFromEmployeeNested {\n  id: Int!\n}",
        "input EmployeeUpdateInput {\n  id: Int\n  manager: EmployeeReferenceInput\n  badge: BadgeUpdateInputFromEmployee\n}",
        "input EmployeeFilter {\n  id: IntFilter\n  manager: EmployeeFilter\n  reports: EmployeeFilter\n  \
         badge: BadgeFilter\n",
        "input EmployeeOrdering {\n  id: Ordering\n  manager: [EmployeeOrdering!]\n  badge: [BadgeOrdering!]\n}",
    ] {
        assert_contains(&sdl, fragment);
    }
    assert_lacks(&sdl, "EmployeeCreationInputFromEmployee");
    assert_lacks(&sdl, "BadgeCreationInputFromEmployee");
    assert_lacks(&sdl, "badgeAgg");
}

#[test]
fn json_types_blobs_and_uuids() {
    let metadata = JsonType {
        name: "Metadata".into(),
        doc: None,
        fields: vec![
            JsonTypeField { name: "notes".into(), ty: ValueType::Scalar(ScalarType::String), optional: false },
            JsonTypeField { name: "hours".into(), ty: ValueType::Scalar(ScalarType::Int), optional: true },
        ],
    };
    let image = entity(
        "Image",
        "Images",
        vec![
            with_default(column("id", ScalarType::Uuid), FieldDefault::GenerateUuid),
            column("data", ScalarType::Blob),
            column("extra", ScalarType::Json),
            optional(column_of("meta", ValueType::JsonObject(0))),
        ],
        vec![0],
    );
    let sdl = print_sdl(&build(&Ir { json_types: vec![metadata], entities: vec![image], ..Default::default() }));
    snapshot("json-blob-uuid", &sdl);
    for fragment in [
        "scalar Blob\n",
        "scalar BlobFilter\n",
        "scalar Json\n",
        "scalar Uuid\n",
        "input ImageCreationInput {\n  id: Uuid\n  data: Blob!\n  extra: Json!\n  meta: MetadataCreationInput\n}",
        "input ImageUpdateInput {\n  id: Uuid\n  data: Blob\n  extra: Json\n  meta: MetadataUpdateInput\n}",
        "type Metadata {\n  notes: String!\n  hours: Int\n}",
        "input MetadataUpdateInput {\n  notes: String!\n  hours: Int\n}",
        "input ImageFilter {\n  id: UuidFilter\n  data: BlobFilter\n  extra: JsonFilter\n  and:",
        "input ImageOrdering {\n  id: Ordering\n  data: Ordering\n  extra: Ordering\n}",
        "type ImageAgg {\n  id: UuidAgg\n  data: BlobAgg\n  extra: JsonAgg\n}",
        "input JsonFilter {\n  contains: Json\n  containedBy: Json\n  matchKey: Json\n  matchAllKeys: Json\n  \
         matchAnyKey: Json\n}",
        "input UuidFilter {\n  eq: Uuid\n  neq: Uuid\n}",
    ] {
        assert_contains(&sdl, fragment);
    }
}

#[test]
fn query_names_are_lower_camel() {
    assert_eq!(lower_camel("Todo"), "todo");
    assert_eq!(lower_camel("ChatParticipation"), "chatParticipation");
    assert_eq!(lower_camel("People"), "people");
    assert_eq!(lower_camel("HTTPLog"), "httpLog");
}

// ---------------------------------------------------------------------------------------------
// SDL printing (graphql-js `printSchema` rules)
// ---------------------------------------------------------------------------------------------

fn input(name: &str, description: Option<&str>) -> InputValue {
    InputValue {
        name: name.into(),
        description: description.map(str::to_string),
        ty: TypeRef::named("Int"),
        default_value: None,
    }
}

fn query_field(name: &str, description: Option<&str>, args: Vec<InputValue>) -> GqlField {
    GqlField {
        name: name.into(),
        description: description.map(str::to_string),
        args,
        ty: TypeRef::named("Int").non_null(),
        resolver: Resolver::Meta,
    }
}

#[test]
fn descriptions_print_like_graphql_js() {
    let long = "A description long enough to pass the seventy character limit of graphql-js.";
    let schema = Schema {
        description: None,
        types: vec![Type {
            name: "T".into(),
            description: Some("ends with a \"quote\"".into()),
            kind: TypeKind::InputObject {
                fields: vec![input("a", Some("first")), input("b", Some("indented\n  lines")), input("c", None)],
            },
        }],
        queries: vec![
            query_field("plain", None, vec![input("x", None), input("y", None)]),
            query_field("short", Some("Short."), vec![]),
            query_field("long", Some(long), vec![]),
            query_field("described", None, vec![input("x", Some("The x.")), input("y", None), input("z", Some("z"))]),
            query_field("control", Some("tab\there\r\nand"), vec![]),
        ],
        mutations: vec![],
    };
    let expected = r#""""
ends with a "quote"
"""
input T {
  """first"""
  a: Int

  """
  indented
    lines
  """
  b: Int
  c: Int
}

type Query {
  plain(x: Int, y: Int): Int!

  """Short."""
  short: Int!

  """
  A description long enough to pass the seventy character limit of graphql-js.
  """
  long: Int!
  described(
    """The x."""
    x: Int
    y: Int

    """z"""
    z: Int
  ): Int!

  "tab\there\r\nand"
  control: Int!
}"#;
    assert_eq!(print_sdl(&schema), expected);
}

#[test]
fn schema_block_without_mutations() {
    let schema = Schema {
        description: Some("Only queries.".into()),
        types: vec![],
        queries: vec![query_field("one", None, vec![])],
        mutations: vec![],
    };
    assert_eq!(
        print_sdl(&schema),
        "\"\"\"Only queries.\"\"\"\nschema {\n  query: Query\n}\n\ntype Query {\n  one: Int!\n}"
    );
}

// ---------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------

fn snapshot(name: &str, sdl: &str) {
    insta::with_settings!({
        snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/sdl"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, sdl);
    });
}

#[test]
fn snapshot_todo_sdl() {
    snapshot("todo", &print_sdl(&build(&todo_model())));
}

#[test]
fn snapshot_participation_sdl() {
    snapshot("participation", &print_sdl(&build(&participation_model())));
}
