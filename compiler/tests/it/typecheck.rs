//! Typecheck and lowering: every good model compiles, its IR dump is snapshotted and
//! round-trips through the envelope; inline models pin down specific rules.

use std::path::Path;

use exo_compiler::diag::render;
use exo_compiler::{compile_project, compile_str, dump::dump, Compiled};
use exo_ir::{
    AccessExpr, AccessOperand, Cast, CmpOp, ColumnDefault, ColumnType, FieldDefault, FieldKind, Ir, JsonOut, Literal,
    ParamIn, PathStep,
};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema-examples");

fn ok(c: Compiled) -> Ir {
    let rendered = render(&c.diagnostics, &c.sources, 100, false);
    assert!(!c.has_errors(), "unexpected errors:\n{rendered}");
    c.ir.expect("no errors but no IR")
}

fn compile(src: &str) -> Ir {
    ok(compile_str("test.exo", src))
}

/// Compiles a model expected to fail; returns the error codes in order.
fn codes(src: &str) -> Vec<&'static str> {
    let c = compile_str("test.exo", src);
    assert!(c.ir.is_none(), "expected errors");
    c.diagnostics.iter().map(|d| d.code).collect()
}

fn rendered_errors(src: &str) -> String {
    let c = compile_str("test.exo", src);
    render(&c.diagnostics, &c.sources, 100, false)
}

fn field<'a>(ir: &'a Ir, entity: &str, field: &str) -> &'a exo_ir::Field {
    let (_, e) = ir.entity_by_name(entity).unwrap_or_else(|| panic!("no entity {entity}"));
    e.field_by_name(field).unwrap_or_else(|| panic!("no field {entity}.{field}")).1
}

fn column<'a>(ir: &'a Ir, entity: &str, name: &str) -> &'a exo_ir::Column {
    let (_, e) = ir.entity_by_name(entity).unwrap();
    ir.table(e.table).column_by_name(name).unwrap_or_else(|| panic!("no column {name}")).1
}

fn column_names(ir: &Ir, entity: &str) -> Vec<String> {
    let (_, e) = ir.entity_by_name(entity).unwrap();
    ir.table(e.table).columns.iter().map(|c| c.name.clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------------

#[test]
fn ok_examples_compile_snapshot_and_round_trip() {
    let dir = Path::new(EXAMPLES).join("ok");
    let mut names: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert!(!names.is_empty());
    for name in names {
        let entry = dir.join(&name).join("src/index.exo");
        if !entry.exists() {
            continue;
        }
        let ir = ok(compile_project(&entry));
        assert_eq!(ir.entities.len(), ir.database.tables.len(), "{name}: entity i must be table i");
        let bytes = exo_ir::encode(&ir);
        assert_eq!(exo_ir::decode(&bytes).expect("decodes"), ir, "{name}: IR round trip");
        insta::with_settings!({
            snapshot_path => "../../../snapshots/ir",
            prepend_module_to_snapshot => false,
            input_file => &entry,
        }, {
            insta::assert_snapshot!(name.as_str(), dump(&ir));
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Naming
// ---------------------------------------------------------------------------------------------

#[test]
fn plural_table_and_column_names() {
    let ir = compile(
        r#"
        @postgres
        module M {
          @access(true) type ConcertArtist { @pk id: Int = autoIncrement()  firstName: String }
          @access(true) type Category { @pk id: Int = autoIncrement() }
          @access(true) type Person { @pk id: Int = autoIncrement() }
          @access(true) @plural("Staff") type StaffMember { @pk id: Int = autoIncrement() }
          @access(true) @table("legacy_things") type Thing { @pk id: Int = autoIncrement()  @column("label_text") label: String }
          @access(true) @table(name = "t", schema = "other", managed = false) type Other { @pk id: Int }
        }
        "#,
    );
    let names: Vec<(&str, &str, &str)> =
        ir.entities.iter().map(|e| (e.name.as_str(), e.plural.as_str(), ir.table(e.table).name.as_str())).collect();
    assert_eq!(
        names,
        vec![
            ("ConcertArtist", "ConcertArtists", "concert_artists"),
            ("Category", "Categories", "categories"),
            ("Person", "People", "people"),
            ("StaffMember", "Staff", "staff"),
            ("Thing", "Things", "legacy_things"),
            ("Other", "Others", "t"),
        ]
    );
    assert_eq!(column_names(&ir, "ConcertArtist"), ["id", "first_name"]);
    assert_eq!(column_names(&ir, "Thing"), ["id", "label_text"]);
    let other = ir.table(ir.entity_by_name("Other").unwrap().1.table);
    assert_eq!((other.schema.as_str(), other.managed), ("other", false));
    assert_eq!(ir.entity_by_name("Other").unwrap().1.sql.table, r#""other"."t""#);
    assert_eq!(ir.entity_by_name("Thing").unwrap().1.sql.table, r#""legacy_things""#);
}

#[test]
fn module_schema_applies_to_tables_and_enums() {
    let ir = compile(
        r#"
        @postgres(schema = "shop")
        module Shop {
          enum OrderStatus { NEW SHIPPED }
          @access(true) type Order { @pk id: Int = autoIncrement()  status: OrderStatus = NEW }
        }
        "#,
    );
    assert_eq!(ir.database.tables[0].schema, "shop");
    assert_eq!(ir.entities[0].sql.table, r#""shop"."orders""#);
    assert_eq!(ir.enums[0].pg_schema, "shop");
    assert_eq!(ir.enums[0].pg_name, "order_status");
    assert_eq!(ir.database.enums[0].name, "order_status");
    let status = column(&ir, "Order", "status");
    assert_eq!(status.ty, ColumnType::Enum { schema: "shop".into(), name: "order_status".into() });
    assert_eq!(status.default, Some(ColumnDefault::Expr(r#"'NEW'::"shop"."order_status""#.into())));
    let FieldKind::Column { sql, .. } = &field(&ir, "Order", "status").kind else { panic!() };
    assert_eq!(sql.param, ParamIn::Cast(Cast::Enum { schema: "shop".into(), name: "order_status".into() }));
    assert_eq!(
        Cast::Enum { schema: "shop".into(), name: "order_status".into() }.to_string(),
        r#""shop"."order_status""#
    );
}

// ---------------------------------------------------------------------------------------------
// Column types and SQL pieces
// ---------------------------------------------------------------------------------------------

/// An explicit `@bits*` next to `@range` sizes the column; the range only checks values (as
/// Exograph's `customizing-types.md` allows). Without one, the range picks the size.
#[test]
fn explicit_bits_with_range_keep_their_size() {
    let ir = compile(
        r#"
        @postgres
        module M {
          @access(true)
          type T {
            @pk id: Int = autoIncrement()
            @bits64 @range(min = 0, max = 100) a: Int
            @bits16 @range(min = 0, max = 200) b: Int
            @range(min = 0, max = 200) c: Int
          }
        }
        "#,
    );
    let types: Vec<String> =
        ir.database.tables[0].columns.iter().map(|c| format!("{} {}", c.name, c.ty.sql())).collect();
    assert_eq!(types, ["id SERIAL", "a BIGINT", "b SMALLINT", "c SMALLINT"]);
}

#[test]
fn column_types_from_hints() {
    let ir = compile(
        r#"
        @postgres
        module M {
          @access(true)
          type T {
            @pk id: Int = autoIncrement()
            a: Int
            @bits16 b: Int
            @bits64 c: Int
            @range(min = 0, max = 100) d: Int
            @range(min = 0, max = 3000000000) e: Int
            f: Float
            @doublePrecision g: Float
            h: Decimal
            @precision(10) @scale(2) i: Decimal
            j: String
            @maxLength(20) k: String
            l: Boolean
            m: LocalDate
            n: LocalTime
            o: LocalDateTime
            p: Instant
            q: Json
            r: Blob
            s: Uuid
            t: Array<String>
            u: Array<Array<Int>>
            @dbtype("CITEXT") v: String
            w: Array<Decimal>?
          }
        }
        "#,
    );
    let t = &ir.database.tables[0];
    let types: Vec<String> = t.columns.iter().map(|c| format!("{} {}", c.name, c.ty.sql())).collect();
    assert_eq!(
        types,
        [
            "id SERIAL",
            "a INT",
            "b SMALLINT",
            "c BIGINT",
            "d SMALLINT",
            "e BIGINT",
            "f REAL",
            "g DOUBLE PRECISION",
            "h NUMERIC",
            "i NUMERIC(10, 2)",
            "j TEXT",
            "k VARCHAR(20)",
            "l BOOLEAN",
            "m DATE",
            "n TIME",
            "o TIMESTAMP",
            "p TIMESTAMPTZ",
            "q JSONB",
            "r BYTEA",
            "s UUID",
            "t TEXT[]",
            "u INT[][]",
            "v CITEXT",
            "w NUMERIC[]",
        ]
    );
    assert!(t.columns.iter().all(|c| c.nullable == (c.name == "w")));
    // (json reading, parameter binding), the binding shown as the cast it prints.
    let sql = |f: &str| match &field(&ir, "T", f).kind {
        FieldKind::Column { sql, .. } => (
            sql.json,
            match &sql.param {
                ParamIn::Cast(c) => c.to_string(),
                ParamIn::Base64 => "base64".to_string(),
            },
        ),
        _ => panic!(),
    };
    assert_eq!(sql("id"), (JsonOut::Plain, "int4".into()));
    assert_eq!(sql("b").1, "int2");
    assert_eq!(sql("c"), (JsonOut::Plain, "int8".into()));
    assert_eq!(sql("f").1, "float4");
    assert_eq!(sql("g").1, "float8");
    assert_eq!(sql("h"), (JsonOut::Text, "numeric".into()));
    assert_eq!(sql("k").1, "text");
    assert_eq!(sql("p").1, "timestamptz");
    assert_eq!(sql("q").1, "jsonb");
    assert_eq!(sql("r"), (JsonOut::Base64, "base64".into()));
    assert_eq!(sql("s").1, "uuid");
    assert_eq!(sql("t").1, "text[]");
    assert_eq!(sql("u").1, "int4[][]");
    assert_eq!(sql("v").1, "CITEXT");
    assert_eq!(sql("w"), (JsonOut::TextArray, "numeric[]".into()));
    assert_eq!(field(&ir, "T", "d").validation.min, Some(0.0));
    assert_eq!(field(&ir, "T", "d").validation.int_bits, Some(16));
    assert_eq!(field(&ir, "T", "k").validation.max_length, Some(20));
    assert_eq!(field(&ir, "T", "a").validation.int_bits, Some(32));
}

#[test]
fn defaults_and_sequences() {
    let ir = compile(
        r#"
        context AuthContext { @jwt("sub") id: Int  @jwt name: String }
        @postgres
        module M {
          enum Priority { LOW MEDIUM HIGH }
          @access(true)
          type T {
            @pk id: Uuid = generate_uuid()
            v4: Uuid = uuidGenerateV4()
            v7: Uuid = uuidGenerateV7()
            seq: Int = autoIncrement("shared_seq")
            seq2: Int = autoIncrement("other.shared_seq")
            @bits64 big: Int = autoIncrement()
            level: String = "INFO"
            quote: String = "it's"
            count: Int = 0
            neg: Int = -5
            ratio: Float = 10.5
            price: Decimal = "10.00"
            price2: Decimal = 3.25
            flag: Boolean = true
            day: LocalDate = "2024-01-01"
            today: LocalDate = now()
            at: LocalTime = now()
            stamp: LocalDateTime = now()
            created: Instant = now()
            @update modified: Instant = now()
            @readonly code: String = "X"
            meta: Json = "{}"
            eventId: Uuid = "550e8400-e29b-41d4-a716-446655440000"
            priority: Priority = MEDIUM
            owner: String = AuthContext.name
            note: String? = null
          }
          @access(true)
          type U { @pk id: Int = autoIncrement("shared_seq") }
        }
        "#,
    );
    let col = |n: &str| column(&ir, "T", n).default.clone();
    let expr = |s: &str| Some(ColumnDefault::Expr(s.into()));
    assert_eq!(col("id"), expr("gen_random_uuid()"));
    assert_eq!(col("v4"), expr("uuid_generate_v4()"));
    assert_eq!(col("v7"), expr("uuidv7()"));
    assert_eq!(col("seq"), Some(ColumnDefault::Sequence { schema: "public".into(), name: "shared_seq".into() }));
    assert_eq!(col("seq2"), Some(ColumnDefault::Sequence { schema: "other".into(), name: "shared_seq".into() }));
    assert_eq!(column(&ir, "T", "seq").ty, ColumnType::Int);
    assert_eq!(column(&ir, "T", "big").ty, ColumnType::Serial { bits: 64 });
    assert_eq!(col("big"), Some(ColumnDefault::Serial));
    assert_eq!(col("level"), expr("'INFO'"));
    assert_eq!(col("quote"), expr("'it''s'"));
    assert_eq!(col("count"), expr("0"));
    assert_eq!(col("neg"), expr("-5"));
    assert_eq!(col("ratio"), expr("10.5"));
    assert_eq!(col("price"), expr("'10.00'::numeric"));
    assert_eq!(col("price2"), expr("'3.25'::numeric"));
    assert_eq!(col("flag"), expr("true"));
    assert_eq!(col("day"), expr("'2024-01-01'::date"));
    assert_eq!(col("today"), expr("CURRENT_DATE"));
    assert_eq!(col("at"), expr("CURRENT_TIME"));
    assert_eq!(col("created"), expr("now()"));
    assert_eq!(col("meta"), expr("'{}'::jsonb"));
    assert_eq!(column(&ir, "T", "event_id").default, expr("'550e8400-e29b-41d4-a716-446655440000'::uuid"));
    assert_eq!(col("priority"), expr(r#"'MEDIUM'::"public"."priority""#));
    assert_eq!(col("owner"), None);
    assert_eq!(col("note"), None);
    assert_eq!(column(&ir, "T", "modified").update_value.as_deref(), Some("now()"));
    assert!(field(&ir, "T", "modified").readonly && field(&ir, "T", "modified").update_sync);
    assert!(field(&ir, "T", "code").readonly);
    assert!(!field(&ir, "T", "seq").readonly);
    assert_eq!(field(&ir, "T", "owner").default, Some(FieldDefault::Context { context: 0, field: 1 }));
    assert_eq!(field(&ir, "T", "priority").default, Some(FieldDefault::EnumVariant("MEDIUM".into())));
    assert_eq!(field(&ir, "T", "count").default, Some(FieldDefault::Literal(Literal::Int(0))));
    assert_eq!(field(&ir, "T", "price").default, Some(FieldDefault::Literal(Literal::String("10.00".into()))));
    // Shared sequences are listed once.
    let seqs: Vec<(String, String)> =
        ir.database.sequences.iter().map(|s| (s.schema.clone(), s.name.clone())).collect();
    assert_eq!(seqs, [("public".to_string(), "shared_seq".to_string()), ("other".into(), "shared_seq".into())]);
    assert_eq!(ir.database.extensions, ["uuid-ossp"]);
    assert!(field(&ir, "U", "id").readonly, "autoIncrement pk is readonly");
}

// ---------------------------------------------------------------------------------------------
// Relations
// ---------------------------------------------------------------------------------------------

#[test]
fn many_to_one_and_one_to_many_pair() {
    let ir = compile(
        r#"
        @postgres
        module M {
          @access(true) type Venue { @pk id: Int = autoIncrement()  concerts: Set<Concert>? }
          @access(true) type Concert { @pk id: Int = autoIncrement()  venue: Venue  @manyToOne @column("alt") altVenue: Venue? }
        }
        "#,
    );
    let venue = ir.entity_by_name("Venue").unwrap().0;
    let concert = ir.entity_by_name("Concert").unwrap().0;
    match &field(&ir, "Concert", "venue").kind {
        FieldKind::ManyToOne { target, columns, target_columns, inverse, one_to_one } => {
            assert_eq!((*target, inverse.is_some(), *one_to_one), (venue, true, false));
            assert_eq!(columns.len(), 1);
            assert_eq!(target_columns, &vec![0]);
        }
        k => panic!("{k:?}"),
    }
    assert!(
        matches!(field(&ir, "Venue", "concerts").kind, FieldKind::OneToMany { target, inverse: 1, one_to_one: false } if target == concert)
    );
    assert_eq!(column_names(&ir, "Concert"), ["id", "venue_id", "alt"]);
    assert_eq!(column(&ir, "Concert", "venue_id").ty, ColumnType::Int);
    assert!(column(&ir, "Concert", "alt").nullable);
    let fks: Vec<&str> = ir.database.tables[concert as usize].foreign_keys.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(fks, ["concerts_venue_id_fkey", "concerts_alt_fkey"]);
}

#[test]
fn relation_annotation_disambiguates() {
    let ir = compile(
        r#"
        @postgres
        module M {
          @access(true) type User {
            @pk id: Int = autoIncrement()
            @relation("author") written: Set<Post>?
            @relation("editor") edited: Set<Post>?
          }
          @access(true) type Post { @pk id: Int = autoIncrement()  author: User  editor: User? }
        }
        "#,
    );
    assert!(matches!(field(&ir, "User", "written").kind, FieldKind::OneToMany { inverse: 1, .. }));
    assert!(matches!(field(&ir, "User", "edited").kind, FieldKind::OneToMany { inverse: 2, .. }));
    assert!(matches!(field(&ir, "Post", "editor").kind, FieldKind::ManyToOne { inverse: Some(2), .. }));
}

#[test]
fn ambiguous_relation_needs_relation_annotation() {
    let src = r#"
        @postgres
        module M {
          @access(true) type User { @pk id: Int = autoIncrement()  posts: Set<Post>? }
          @access(true) type Post { @pk id: Int = autoIncrement()  author: User  editor: User }
        }
    "#;
    assert_eq!(codes(src), ["exo::ambiguous_relation"]);
    assert!(rendered_errors(src).contains("@relation(\"author\")"));
}

#[test]
fn one_to_one_required_side_holds_fk() {
    let ir = compile(
        r#"
        @postgres
        module M {
          @access(true) type User { @pk id: Int = autoIncrement()  membership: Membership? }
          @access(true) type Membership { @pk id: Int = autoIncrement()  user: User }
        }
        "#,
    );
    assert!(matches!(field(&ir, "User", "membership").kind, FieldKind::OneToMany { inverse: 1, one_to_one: true, .. }));
    assert!(matches!(
        field(&ir, "Membership", "user").kind,
        FieldKind::ManyToOne { inverse: Some(1), one_to_one: true, .. }
    ));
    assert_eq!(column_names(&ir, "User"), ["id"]);
    assert_eq!(column_names(&ir, "Membership"), ["id", "user_id"]);
    let t = &ir.database.tables[1];
    assert_eq!(t.unique_constraints.len(), 1, "a one-to-one foreign key is unique");
    assert_eq!(t.unique_constraints[0].name, "memberships_user_id_key");
    assert!(ir.entities[1].unique_lookups.is_empty());
}

#[test]
fn one_to_one_errors_and_relation_pairing() {
    let both_optional = r#"
        @postgres
        module M {
          @access(true) type User { @pk id: Int = autoIncrement()  profile: Profile? }
          @access(true) type Profile { @pk id: Int = autoIncrement()  user: User? }
        }
    "#;
    assert_eq!(codes(both_optional), ["exo::ambiguous_one_to_one"]);
    let both_required = both_optional.replace("Profile?", "Profile").replace("User?", "User");
    assert_eq!(codes(&both_required), ["exo::one_to_one_both_required"]);
    // `@relation` on the optional side picks the other side as the foreign-key holder.
    let ir = compile(&both_optional.replace("profile: Profile?", "@relation(\"user\") profile: Profile?"));
    assert!(matches!(field(&ir, "User", "profile").kind, FieldKind::OneToMany { one_to_one: true, .. }));
    assert!(matches!(field(&ir, "Profile", "user").kind, FieldKind::ManyToOne { one_to_one: true, .. }));
    assert!(column(&ir, "Profile", "user_id").nullable);
}

#[test]
fn directional_relations_and_self_reference() {
    let ir = compile(
        r#"
        @postgres
        module M {
          @access(true) type Employee {
            @pk id: Int = autoIncrement()
            manager: Employee?
            reports: Set<Employee>?
            @manyToOne mentor: Employee?
          }
          @access(true) type Badge { @pk id: Int = autoIncrement()  @oneToOne holder: Employee }
        }
        "#,
    );
    assert!(matches!(field(&ir, "Employee", "manager").kind, FieldKind::ManyToOne { target: 0, inverse: Some(2), .. }));
    assert!(matches!(field(&ir, "Employee", "reports").kind, FieldKind::OneToMany { target: 0, inverse: 1, .. }));
    assert!(matches!(
        field(&ir, "Employee", "mentor").kind,
        FieldKind::ManyToOne { inverse: None, one_to_one: false, .. }
    ));
    assert!(matches!(field(&ir, "Badge", "holder").kind, FieldKind::ManyToOne { inverse: None, one_to_one: true, .. }));
    assert_eq!(column_names(&ir, "Employee"), ["id", "manager_id", "mentor_id"]);
}

#[test]
fn composite_keys_and_relation_keys() {
    let ir = compile(
        r#"
        @postgres
        module M {
          @access(true) type Person { @pk firstName: String  @pk lastName: String  cars: Set<Car>? }
          @access(true) type Car { @pk vin: String  @column(mapping = {firstName: "owner_first"}) owner: Person }
          @access(true) type Post { @pk id: Int = autoIncrement()  tags: Set<PostTag>? }
          @access(true) type Tag { @pk id: Int = autoIncrement()  posts: Set<PostTag>? }
          @access(true) type PostTag { @pk post: Post  @pk tag: Tag  notes: Set<Note>? }
          @access(true) type Note { @pk id: Int = autoIncrement()  postTag: PostTag }
        }
        "#,
    );
    assert_eq!(column_names(&ir, "Car"), ["vin", "owner_first", "owner_last_name"]);
    assert_eq!(column_names(&ir, "PostTag"), ["post_id", "tag_id"]);
    let pt = ir.entity_by_name("PostTag").unwrap().1;
    assert_eq!(pt.pk, vec![0, 1]);
    assert_eq!(ir.table(pt.table).primary_key, vec![0, 1]);
    assert_eq!(column_names(&ir, "Note"), ["id", "post_tag_post_id", "post_tag_tag_id"]);
    match &field(&ir, "Note", "postTag").kind {
        FieldKind::ManyToOne { columns, target_columns, .. } => {
            assert_eq!(columns, &vec![1, 2]);
            assert_eq!(target_columns, &vec![0, 1]);
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn shared_columns_between_pk_and_fk() {
    let ir = compile(
        r#"
        @postgres
        module M {
          @access(true) type Tenant { @pk id: String  users: Set<User>? }
          @access(true) type User {
            @pk @column("tenant_id") tenantId: String
            @pk id: Int
            tenant: Tenant
          }
        }
        "#,
    );
    assert_eq!(column_names(&ir, "User"), ["tenant_id", "id"]);
    match &field(&ir, "User", "tenant").kind {
        FieldKind::ManyToOne { columns, .. } => assert_eq!(columns, &vec![0]),
        k => panic!("{k:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Constraints and indexes
// ---------------------------------------------------------------------------------------------

#[test]
fn unique_constraints_and_indexes() {
    let ir = compile(
        r#"
        @postgres
        module M {
          @access(true) type Event { @pk id: Int = autoIncrement()  rsvps: Set<Rsvp>? }
          @access(true) type Rsvp {
            @pk id: Int = autoIncrement()
            @unique email: String
            @unique("eventRsvp", "other") @index("by_event") event: Event
            @unique("eventRsvp") @index("by_event") user: String
            @unique("other") @index code: String
          }
        }
        "#,
    );
    let (_, rsvp) = ir.entity_by_name("Rsvp").unwrap();
    let lookups: Vec<(&str, Vec<u32>)> =
        rsvp.unique_lookups.iter().map(|u| (u.name.as_str(), u.fields.clone())).collect();
    assert_eq!(lookups, [("Email", vec![1]), ("EventRsvp", vec![2, 3]), ("Other", vec![2, 4])]);
    let t = ir.table(rsvp.table);
    let uniques: Vec<(&str, Vec<u32>)> =
        t.unique_constraints.iter().map(|u| (u.name.as_str(), u.columns.clone())).collect();
    assert_eq!(
        uniques,
        [("rsvps_email_key", vec![1]), ("rsvps_event_rsvp_key", vec![2, 3]), ("rsvps_other_key", vec![2, 4])]
    );
    let indexes: Vec<(&str, Vec<u32>)> = t.indexes.iter().map(|i| (i.name.as_str(), i.columns.clone())).collect();
    assert_eq!(indexes, [("by_event", vec![2, 3]), ("rsvps_code_idx", vec![4])]);
}

// ---------------------------------------------------------------------------------------------
// Access rules
// ---------------------------------------------------------------------------------------------

const ACCESS_MODEL: &str = r#"
    context AuthContext { @jwt("sub") id: Int  @jwt roles: Array<String>  @jwt role: String  @jwt isAdmin: Boolean }
    @postgres
    module M {
      @access(query = self.published || AuthContext.isAdmin, mutation = "admin" in AuthContext.roles, delete = false)
      type Post {
        @pk id: Int = autoIncrement()
        published: Boolean
        author: User
        @access(self.author.id == AuthContext.id) secret: String?
      }
      @access(self.posts.some(p => p.published && p.author.id == AuthContext.id) || AuthContext.roles.contains("admin"))
      type User { @pk id: Int = autoIncrement()  posts: Set<Post>? }
      @access(true || AuthContext.role == "x") type Open { @pk id: Int = autoIncrement() }
      type Closed { @pk id: Int = autoIncrement() }
    }
"#;

#[test]
fn access_precedence_and_lowering() {
    let ir = compile(ACCESS_MODEL);
    let (post_id, post) = ir.entity_by_name("Post").unwrap();
    let step = |field| PathStep { entity: post_id, field };
    let published = AccessExpr::Cmp {
        op: CmpOp::Eq,
        lhs: AccessOperand::SelfPath(vec![step(1)]),
        rhs: AccessOperand::Literal(Literal::Bool(true)),
    };
    let admin_flag = AccessExpr::Cmp {
        op: CmpOp::Eq,
        lhs: AccessOperand::Context { context: 0, field: 3 },
        rhs: AccessOperand::Literal(Literal::Bool(true)),
    };
    assert_eq!(post.access.query, AccessExpr::Or(Box::new(published), Box::new(admin_flag)));
    let in_roles = AccessExpr::Cmp {
        op: CmpOp::In,
        lhs: AccessOperand::Literal(Literal::String("admin".into())),
        rhs: AccessOperand::Context { context: 0, field: 1 },
    };
    assert_eq!(post.access.create, in_roles);
    assert_eq!(post.access.update, in_roles);
    assert_eq!(post.access.delete, AccessExpr::Const(false));
    // Field-level rule with a many-to-one path.
    let secret = field(&ir, "Post", "secret").access.as_ref().unwrap();
    let (user_id, _) = ir.entity_by_name("User").unwrap();
    assert_eq!(
        secret.query,
        AccessExpr::Cmp {
            op: CmpOp::Eq,
            lhs: AccessOperand::SelfPath(vec![step(2), PathStep { entity: user_id, field: 0 }]),
            rhs: AccessOperand::Context { context: 0, field: 0 },
        }
    );
    // `.some` and `.contains`.
    let (_, user) = ir.entity_by_name("User").unwrap();
    let AccessExpr::Or(some, contains) = &user.access.query else { panic!("{:?}", user.access.query) };
    let AccessExpr::Some { collection, param, body } = &**some else { panic!() };
    assert_eq!(collection, &AccessOperand::SelfPath(vec![PathStep { entity: user_id, field: 1 }]));
    let AccessExpr::And(lhs, _) = &**body else { panic!() };
    assert_eq!(
        **lhs,
        AccessExpr::Cmp {
            op: CmpOp::Eq,
            lhs: AccessOperand::Param { param: *param, path: vec![step(1)] },
            rhs: AccessOperand::Literal(Literal::Bool(true)),
        }
    );
    assert!(matches!(&**contains, AccessExpr::Cmp { op: CmpOp::In, .. }));
    // Constant folding and the default.
    assert_eq!(ir.entity_by_name("Open").unwrap().1.access, exo_ir::EntityAccess::all(true));
    assert_eq!(ir.entity_by_name("Closed").unwrap().1.access, exo_ir::EntityAccess::all(false));
}

#[test]
fn access_type_errors() {
    let model = |rule: &str| {
        format!(
            r#"
            context AuthContext {{ @jwt("sub") id: Int  @jwt roles: Array<String>  @jwt role: String }}
            @postgres
            module M {{
              enum Level {{ LOW HIGH }}
              @access({rule})
              type Post {{ @pk id: Int = autoIncrement()  title: String  level: Level  author: User  tags: Array<String> }}
              @access(true) type User {{ @pk id: Int = autoIncrement()  posts: Set<Post>? }}
            }}
            "#
        )
    };
    assert_eq!(codes(&model("self.title == 5")), ["exo::type_mismatch"]);
    assert_eq!(codes(&model("self.title")), ["exo::not_boolean"]);
    assert_eq!(codes(&model("self.nope == 1")), ["exo::unknown_field"]);
    assert_eq!(codes(&model("self.author.some(a => a.id == 1)")), ["exo::invalid_method"]);
    assert_eq!(codes(&model("self.id in AuthContext.role")), ["exo::in_needs_list"]);
    assert_eq!(codes(&model("AuthContext.nope == 1")), ["exo::unknown_context_field"]);
    assert_eq!(codes(&model("Session.role == \"x\"")), ["exo::unknown_name"]);
    assert_eq!(codes(&model("self.level == \"MEDIUM\"")), ["exo::unknown_variant"]);
    assert_eq!(codes(&model("self.author == AuthContext.id")), ["exo::type_mismatch"]);
    assert_eq!(codes(&model("self.title < true")), ["exo::type_mismatch"]);
    // Valid ones.
    compile(&model("self.level == \"HIGH\" && \"x\" in self.tags && self.author.id == AuthContext.id"));
    compile(&model("self.author != null && AuthContext.id != null"));
}

// ---------------------------------------------------------------------------------------------
// Contexts, fragments, json types, docs
// ---------------------------------------------------------------------------------------------

#[test]
fn contexts_sources_and_defaults() {
    let ir = compile(
        r#"
        context AuthContext {
          @jwt("user.role") role: String = "user"
          @jwt id: Int?
          @header("X-Captcha") captcha: String
          @cookie("session_id") session: String
          @env("__DEV") dev: String
          @clientIp ip: String
          @jwt roles: Set<String>
        }
        @postgres module M { @access(true) type T { @pk id: Int = autoIncrement() } }
        "#,
    );
    use exo_ir::ContextSource::*;
    let c = &ir.contexts[0];
    let sources: Vec<_> = c.fields.iter().map(|f| f.source.clone()).collect();
    assert_eq!(
        sources,
        [
            Jwt(vec!["user".into(), "role".into()]),
            Jwt(vec!["id".into()]),
            Header("X-Captcha".into()),
            Cookie("session_id".into()),
            Env("__DEV".into()),
            ClientIp,
            Jwt(vec!["roles".into()]),
        ]
    );
    assert_eq!(c.fields[0].default, Some(Literal::String("user".into())));
    assert!(c.fields[1].optional);
    assert!(c.fields[6].is_list);
}

/// `@query` needs a Deno or Wasm module query to fill it; exo has none, so the field would be
/// empty on every request. The build refuses it instead of running rules with null.
#[test]
fn query_context_sources_are_refused() {
    let src = r#"
        context AuthContext {
          @jwt("sub") id: Int
          @query("shouldTrack") track: Boolean
        }
        @postgres module M { @access(AuthContext.track) type T { @pk id: Int = autoIncrement() } }
    "#;
    assert_eq!(codes(src), ["exo::unsupported_context_source"]);
    let c = compile_str("test.exo", src);
    let d = &c.diagnostics[0];
    assert_eq!(
        d.message,
        "context field `AuthContext.track` uses `@query(\"shouldTrack\")`, which exo does not support"
    );
    assert!(d.help.as_deref().is_some_and(|h| h.contains("`@jwt`")), "{:?}", d.help);
    // The primary label points at the annotation.
    let span = d.primary_span().expect("a primary label");
    assert_eq!(&src[span.start as usize..span.end as usize], "@query(\"shouldTrack\")");
}

#[test]
fn fragments_json_types_and_docs() {
    let ir = compile(
        r#"
        //! Line one.
        //! Line two.
        @postgres
        module M {
          fragment Timestamps { @readonly createdAt: Instant = now()  @update updatedAt: Instant = now() }
          /// Notes stored as JSON.
          @json type Meta { notes: String  tags: Array<String>  inner: Inner? }
          @json type Inner { n: Int }
          /// A thing.
          @access(true)
          type Thing {
            @pk id: Int = autoIncrement()
            ...Timestamps
            /// The payload.
            meta: Meta
          }
        }
        "#,
    );
    assert_eq!(ir.description.as_deref(), Some("Line one.\nLine two."));
    let thing = ir.entity_by_name("Thing").unwrap().1;
    let names: Vec<&str> = thing.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["id", "createdAt", "updatedAt", "meta"], "fragment fields are spliced where spread");
    assert_eq!(thing.doc.as_deref().map(str::trim), Some("A thing."));
    assert_eq!(field(&ir, "Thing", "meta").doc.as_deref().map(str::trim), Some("The payload."));
    assert_eq!(ir.json_types.len(), 2);
    assert_eq!(ir.json_types[0].fields.len(), 3);
    assert_eq!(column(&ir, "Thing", "meta").ty, ColumnType::Jsonb);
}

#[test]
fn multi_file_projects_resolve_across_files() {
    let dir = std::env::temp_dir().join(format!("exo-typecheck-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("models")).unwrap();
    std::fs::write(dir.join("index.exo"), "import \"models/venue\"\ncontext AuthContext { @jwt(\"sub\") id: Int }\n")
        .unwrap();
    std::fs::write(
        dir.join("models/venue.exo"),
        "@postgres module Venues { @access(AuthContext.id != null) type Venue { @pk id: Int = autoIncrement()  concerts: Set<Shows.Concert>? } }\n\
         @postgres module Shows { @access(true) type Concert { @pk id: Int = autoIncrement()  venue: Venues.Venue } }\n",
    )
    .unwrap();
    let ir = ok(compile_project(&dir.join("index.exo")));
    assert_eq!(ir.entities.len(), 2);
    std::fs::remove_dir_all(&dir).ok();
}

// ---------------------------------------------------------------------------------------------
// Accumulation and performance
// ---------------------------------------------------------------------------------------------

#[test]
fn three_distinct_errors_are_all_reported() {
    let src = r#"
        @postgres
        module M {
          @access(true)
          type Concert {
            @pk id: Int = autoIncrement()
            headliner: Artst
            @maxLength(5) seats: Int
            price: Decimal = now()
          }
        }
    "#;
    assert_eq!(codes(src), ["exo::unknown_type", "exo::hint_not_supported", "exo::invalid_default"]);
}

fn generated_model(n: usize) -> String {
    let mut s =
        String::from("context AuthContext { @jwt(\"sub\") id: Int  @jwt role: String }\n@postgres\nmodule Big {\n");
    s.push_str("  enum Status { ACTIVE INACTIVE }\n");
    for i in 0..n {
        let next = (i + 1) % n;
        s.push_str(&format!(
            "  @access(query = self.owner == AuthContext.id || AuthContext.role == \"admin\", mutation = AuthContext.role == \"admin\")\n  type Entity{i} {{\n    @pk id: Int = autoIncrement()\n    @unique name: String\n    @maxLength(40) title: String?\n    status: Status = ACTIVE\n    owner: Int = AuthContext.id\n    price: Decimal = \"1.00\"\n    createdAt: Instant = now()\n    parent: Entity{next}?\n    children: Set<Entity{prev}>?\n  }}\n",
            prev = (i + n - 1) % n
        ));
    }
    s.push_str("}\n");
    s
}

#[test]
fn a_200_type_model_compiles() {
    // Speed is measured by the `compile/generated-200` criterion bench, not here.
    let src = generated_model(200);
    let ir = compile(&src);
    assert_eq!(ir.entities.len(), 200);
    assert!(compile_str("big.exo", &src).ir.is_some());
}

#[test]
fn nested_fragments_splice_in_place() {
    let ir = compile(
        r#"
        @postgres
        module M {
          fragment Inner { z: Int }
          fragment Outer { x: Int  ...Inner  y: Int }
          @access(true) type T { @pk id: Int = autoIncrement()  ...Outer  w: Int }
        }
        "#,
    );
    let names: Vec<&str> = ir.entities[0].fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["id", "x", "z", "y", "w"]);
    // A fragment reached twice (a diamond) gives duplicate fields.
    assert_eq!(
        codes(
            r#"@postgres module M { fragment D { d: Int } fragment B { ...D } fragment C { ...D }
               @access(true) type T { @pk id: Int  ...B  ...C } }"#
        ),
        ["exo::duplicate_field"]
    );
}
