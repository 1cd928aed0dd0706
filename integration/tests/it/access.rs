//! A property test of access rules: for random claims and random filters over a seeded blog,
//! the posts (and comments) a query returns are exactly those the model's rules allow and the
//! filter selects, computed here in Rust from the whole tables read as the superuser.
//!
//! Rules under test (schema-examples/ok/blog):
//! - Post query: `self.published || self.author.id == AuthContext.id || "admin" in AuthContext.roles`
//! - Comment query: `self.post.published || "admin" in AuthContext.roles`, also ANDed into
//!   relation filters that go through `comments`.
//!
//! The generator is a seeded splitmix64, so a failure names its seed and case and replays.

use exo_runtime::Db;
use serde_json::{json, Value as Json};

use crate::common::{engine as engine_for, *};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const USERS: i64 = 6;
const POSTS: i64 = 40;
const COMMENTS: i64 = 70;
const TITLES: [&str; 5] = ["Alpha", "Beta", "alpha two", "Gamma ray", "Delta"];

#[derive(Debug)]
struct Post {
    id: i64,
    title: String,
    published: bool,
    author: i64,
    editor: Option<i64>,
}

#[derive(Debug)]
struct Comment {
    id: i64,
    post: i64,
    author: i64,
}

#[derive(Debug, Clone)]
struct Claims {
    sub: Option<i64>,
    roles: Option<Vec<&'static str>>,
}

impl Claims {
    fn admin(&self) -> bool {
        self.roles.as_ref().is_some_and(|r| r.contains(&"admin"))
    }
    fn json(&self) -> Option<Json> {
        if self.sub.is_none() && self.roles.is_none() {
            return None;
        }
        let mut c = json!({});
        if let Some(s) = self.sub {
            c["sub"] = json!(s);
        }
        if let Some(r) = &self.roles {
            c["roles"] = json!(r);
        }
        Some(c)
    }
}

/// A `PostFilter`, as data that can be printed as GraphQL input JSON and evaluated in Rust.
#[derive(Debug, Clone)]
enum PostFilter {
    IdLt(i64),
    IdGt(i64),
    IdEq(i64),
    Published(bool),
    TitleEq(&'static str),
    TitleStartsWith(&'static str),
    AuthorIdEq(i64),
    EditorIdEq(i64),
    /// Some visible comment on the post is by this user.
    CommentBy(i64),
    And(Vec<PostFilter>),
    Or(Vec<PostFilter>),
    Not(Box<PostFilter>),
}

impl PostFilter {
    fn random(rng: &mut Rng, depth: u32) -> PostFilter {
        let leaf_only = depth >= 2;
        match rng.below(if leaf_only { 9 } else { 12 }) {
            0 => PostFilter::IdLt(rng.below(POSTS as u64 + 2) as i64),
            1 => PostFilter::IdGt(rng.below(POSTS as u64 + 2) as i64),
            2 => PostFilter::IdEq(rng.below(POSTS as u64 + 2) as i64),
            3 => PostFilter::Published(rng.chance(50)),
            4 => PostFilter::TitleEq(TITLES[rng.below(TITLES.len() as u64) as usize]),
            5 => PostFilter::TitleStartsWith(["Al", "al", "G", "Delta", "x"][rng.below(5) as usize]),
            6 => PostFilter::AuthorIdEq(1 + rng.below(USERS as u64 + 1) as i64),
            7 => PostFilter::EditorIdEq(1 + rng.below(USERS as u64 + 1) as i64),
            8 => PostFilter::CommentBy(1 + rng.below(USERS as u64) as i64),
            9 => PostFilter::And((0..1 + rng.below(3)).map(|_| PostFilter::random(rng, depth + 1)).collect()),
            10 => PostFilter::Or((0..1 + rng.below(3)).map(|_| PostFilter::random(rng, depth + 1)).collect()),
            _ => PostFilter::Not(Box::new(PostFilter::random(rng, depth + 1))),
        }
    }

    fn json(&self) -> Json {
        match self {
            PostFilter::IdLt(n) => json!({"id": {"lt": n}}),
            PostFilter::IdGt(n) => json!({"id": {"gt": n}}),
            PostFilter::IdEq(n) => json!({"id": {"eq": n}}),
            PostFilter::Published(b) => json!({"published": {"eq": b}}),
            PostFilter::TitleEq(s) => json!({"title": {"eq": s}}),
            PostFilter::TitleStartsWith(s) => json!({"title": {"startsWith": s}}),
            PostFilter::AuthorIdEq(n) => json!({"author": {"id": {"eq": n}}}),
            PostFilter::EditorIdEq(n) => json!({"editor": {"id": {"eq": n}}}),
            PostFilter::CommentBy(n) => json!({"comments": {"author": {"id": {"eq": n}}}}),
            PostFilter::And(v) => json!({"and": v.iter().map(PostFilter::json).collect::<Vec<_>>()}),
            PostFilter::Or(v) => json!({"or": v.iter().map(PostFilter::json).collect::<Vec<_>>()}),
            PostFilter::Not(f) => json!({"not": f.json()}),
        }
    }

    fn eval(&self, p: &Post, world: &World, claims: &Claims) -> bool {
        match self {
            PostFilter::IdLt(n) => p.id < *n,
            PostFilter::IdGt(n) => p.id > *n,
            PostFilter::IdEq(n) => p.id == *n,
            PostFilter::Published(b) => p.published == *b,
            PostFilter::TitleEq(s) => p.title == *s,
            PostFilter::TitleStartsWith(s) => p.title.starts_with(s),
            PostFilter::AuthorIdEq(n) => p.author == *n,
            PostFilter::EditorIdEq(n) => p.editor == Some(*n),
            PostFilter::CommentBy(n) => {
                world.comments.iter().any(|c| c.post == p.id && c.author == *n && world.comment_visible(c, claims))
            }
            PostFilter::And(v) => v.iter().all(|f| f.eval(p, world, claims)),
            PostFilter::Or(v) => v.iter().any(|f| f.eval(p, world, claims)),
            PostFilter::Not(f) => !f.eval(p, world, claims),
        }
    }
}

struct World {
    posts: Vec<Post>,
    comments: Vec<Comment>,
}

impl World {
    fn post(&self, id: i64) -> &Post {
        self.posts.iter().find(|p| p.id == id).expect("seeded post")
    }
    fn post_visible(&self, p: &Post, claims: &Claims) -> bool {
        p.published || claims.sub == Some(p.author) || claims.admin()
    }
    fn comment_visible(&self, c: &Comment, claims: &Claims) -> bool {
        self.post(c.post).published || claims.admin()
    }
}

fn random_claims(rng: &mut Rng) -> Claims {
    let sub = match rng.below(10) {
        0 | 1 => None,
        2 => Some(99),
        _ => Some(1 + rng.below(USERS as u64) as i64),
    };
    let roles = match rng.below(6) {
        0 => None,
        1 => Some(vec![]),
        2 => Some(vec!["reader"]),
        3 => Some(vec!["admin"]),
        4 => Some(vec!["reader", "admin"]),
        _ => Some(vec!["Admin", "administrator"]),
    };
    Claims { sub, roles }
}

async fn seed(db: &mut PgDb, rng: &mut Rng) {
    let mut sql = String::new();
    for u in 1..=USERS {
        sql.push_str(&format!("INSERT INTO users (username, name) VALUES ('u{u}', 'User {u}');\n"));
    }
    for _ in 1..=POSTS {
        let title = TITLES[rng.below(TITLES.len() as u64) as usize];
        let published = rng.chance(40);
        let author = 1 + rng.below(USERS as u64);
        let editor = if rng.chance(50) { (1 + rng.below(USERS as u64)).to_string() } else { "NULL".into() };
        sql.push_str(&format!(
            "INSERT INTO posts (title, body, published, author_id, editor_id) VALUES ('{title}', 'b', {published}, {author}, {editor});\n"
        ));
    }
    for _ in 1..=COMMENTS {
        let post = 1 + rng.below(POSTS as u64);
        let author = 1 + rng.below(USERS as u64);
        sql.push_str(&format!("INSERT INTO comments (text, post_id, author_id) VALUES ('c', {post}, {author});\n"));
    }
    db.execute(&sql).await.expect("seed");
}

async fn load_world(db: &mut PgDb) -> World {
    let rows = db
        .query("SELECT id::text, title, published::text, author_id::text, editor_id::text FROM posts", &[])
        .await
        .unwrap();
    let int = |v: &Option<String>| v.as_deref().map(|s| s.parse::<i64>().unwrap());
    let posts = rows
        .iter()
        .map(|r| Post {
            id: int(&r[0]).unwrap(),
            title: r[1].clone().unwrap(),
            published: r[2].as_deref() == Some("true"),
            author: int(&r[3]).unwrap(),
            editor: int(&r[4]),
        })
        .collect();
    let rows = db.query("SELECT id::text, post_id::text, author_id::text FROM comments", &[]).await.unwrap();
    let comments = rows
        .iter()
        .map(|r| Comment { id: int(&r[0]).unwrap(), post: int(&r[1]).unwrap(), author: int(&r[2]).unwrap() })
        .collect();
    World { posts, comments }
}

fn ids(response: &Json, field: &str) -> Vec<i64> {
    response["data"][field]
        .as_array()
        .unwrap_or_else(|| panic!("no `{field}` list in {response}"))
        .iter()
        .map(|r| r["id"].as_i64().expect("an id"))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn returned_rows_are_the_rows_the_rules_allow() {
    const SEED: u64 = 0x5EED_0005;
    const CASES: usize = 300;
    let ir = compile_example("blog");
    let (_guard, mut db) = database_for(&ir, "blog_access_prop").await;
    let engine = engine(ir);
    let mut rng = Rng(SEED);
    seed(&mut db, &mut rng).await;
    let world = load_world(&mut db).await;
    assert_eq!(world.posts.len() as i64, POSTS);

    let query = "query($w: PostFilter, $c: CommentFilter) {
        posts(where: $w, orderBy: {id: ASC}) { id }
        postsAgg(where: $w) { id { count } }
        comments(where: $c, orderBy: {id: ASC}) { id }
    }";
    let mut nonempty = 0;
    let mut partial = 0;
    for case in 0..CASES {
        let claims = random_claims(&mut rng);
        let filter = PostFilter::random(&mut rng, 0);
        // Comments filtered through their post, so the post's rule is not applied to the
        // comment itself, only the comment's own rule and the relation filter's read rule.
        let comment_filter = PostFilter::random(&mut rng, 1);
        let variables = json!({"w": filter.json(), "c": {"post": comment_filter.json()}});
        let r = gql(&engine, &mut db, query, variables.clone(), claims.json()).await;
        // The engine above caches plans across cases; a fresh engine plans from scratch.
        let fresh = gql(&engine_for(compile_example("blog")), &mut db, query, variables.clone(), claims.json()).await;
        assert_eq!(
            r, fresh,
            "a cached plan answered differently (case {case}: claims {claims:?}, variables {variables})"
        );

        let expected_posts: Vec<i64> = world
            .posts
            .iter()
            .filter(|p| world.post_visible(p, &claims) && filter.eval(p, &world, &claims))
            .map(|p| p.id)
            .collect();
        let mut expected_comments: Vec<i64> = world
            .comments
            .iter()
            .filter(|c| {
                let p = world.post(c.post);
                world.comment_visible(c, &claims)
                    && world.post_visible(p, &claims)
                    && comment_filter.eval(p, &world, &claims)
            })
            .map(|c| c.id)
            .collect();
        expected_comments.sort_unstable();
        let context = format!("seed {SEED:#x}, case {case}: claims {claims:?}, variables {variables}");
        assert_eq!(ids(&r, "posts"), expected_posts, "posts differ; {context}");
        assert_eq!(r["data"]["postsAgg"]["id"]["count"], json!(expected_posts.len()), "postsAgg differs; {context}");
        assert_eq!(ids(&r, "comments"), expected_comments, "comments differ; {context}");
        if !expected_posts.is_empty() {
            nonempty += 1;
        }
        let visible = world.posts.iter().filter(|p| world.post_visible(p, &claims)).count();
        if expected_posts.len() < visible && !expected_posts.is_empty() {
            partial += 1;
        }
    }
    // The generator must exercise both sides: filters that keep some rows and drop others.
    assert!(nonempty > CASES / 4, "only {nonempty} of {CASES} cases returned rows");
    assert!(partial > CASES / 10, "only {partial} of {CASES} cases filtered partially");
}

/// A plan made for `roles: []` must not be reused for `roles: ["admin"]` (it was: an empty list
/// recorded as an assumption matched every list), nor the other way round.
#[tokio::test(flavor = "current_thread")]
async fn cached_plans_tell_role_lists_apart() {
    let ir = compile_example("blog");
    let (_guard, mut db) = database_for(&ir, "blog_access_roles").await;
    let engine = engine(ir);
    db.execute(
        "INSERT INTO users (username, name) VALUES ('a', 'A');
         INSERT INTO posts (title, body, published, author_id) VALUES ('pub', 'b', true, 1), ('draft', 'b', false, 1);
         INSERT INTO comments (text, post_id, author_id) VALUES ('on pub', 1, 1), ('on draft', 2, 1);",
    )
    .await
    .unwrap();
    let q = "{ posts(where: {comments: {text: {startsWith: \"on\"}}}, orderBy: {id: ASC}) { id } }";
    let reader = Some(json!({"sub": 9, "roles": []}));
    let admin = Some(json!({"sub": 9, "roles": ["admin"]}));
    for _ in 0..2 {
        assert_eq!(gql(&engine, &mut db, q, json!({}), reader.clone()).await, json!({"data": {"posts": [{"id": 1}]}}));
        assert_eq!(
            gql(&engine, &mut db, q, json!({}), admin.clone()).await,
            json!({"data": {"posts": [{"id": 1}, {"id": 2}]}})
        );
    }
}

/// A comparison with a missing context value is unknown, not false: negating it must not
/// admit the caller (`!(self.owner == AuthContext.id)` for an anonymous request).
#[test]
fn negating_a_missing_context_comparison_does_not_admit() {
    let model = r#"
context AuthContext {
  @jwt("sub") id: Int
}
@postgres
module Db {
  @access(!(self.owner == AuthContext.id))
  type Note {
    @pk id: Int = autoIncrement()
    owner: Int
  }
}
"#;
    let compiled = exo_compiler::compile_str("index.exo", model);
    let ir = compiled.ir.expect("the model compiles");
    let engine = engine_for(ir);
    let head = exo_runtime::RequestHead { headers: &[], client_ip: None, now: now() };
    // Anonymous: the comparison is unknown (`NULL`), and so is its negation: no row passes
    // (an empty list, as in Exograph), and nothing is bound for the missing id.
    let anonymous = engine.plan_for("{ notes { id } }", None, &serde_json::Map::new(), &head);
    let plan = anonymous.expect("a read rule depending on rows is planned");
    let sql = format!("{:?}", plan.fields[0].plan);
    assert!(sql.contains("WHERE NOT NULL::boolean"), "{sql}");
    assert!(sql.contains("params: []"), "{sql}");
    // A signed-in caller sees the notes of others.
    let headers = vec![("Authorization".to_string(), format!("Bearer {}", token(json!({"sub": 7}))))];
    let head = exo_runtime::RequestHead { headers: &headers, client_ip: None, now: now() };
    let plan = engine.plan_for("{ notes { id } }", None, &serde_json::Map::new(), &head).expect("planned");
    let sql = format!("{:?}", plan.fields[0].plan);
    assert!(sql.contains("NOT"), "{sql}");
}

// ---------------------------------------------------------------------------------------------
// Field rules and writes, over schema-examples/ok/chat-access:
// - Message query: a member of the message's chat, or an admin; update: the same; create: the
//   author himself, a member of the chat, or an admin.
// - Message.note: read by the author or an admin (row-dependent), written by the author only.
// - Message.flagged: read by moderators and admins, written by admins (context-only).
// - Membership create: the chat's owner or a member (before the write), or an admin.
// - User update: the user himself or an admin; User.salary written by admins only.
// ---------------------------------------------------------------------------------------------

const CHAT_USERS: i64 = 6;
const CHATS: i64 = 5;
const MESSAGES: i64 = 40;
const BODIES: [&str; 3] = ["hi", "hey", "bye"];
const NOTES: [&str; 4] = ["n0", "n1", "m0", "m1"];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Msg {
    id: i64,
    chat: i64,
    author: i64,
    body: String,
    likes: i64,
    note: Option<String>,
    flagged: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Person {
    id: i64,
    email: Option<String>,
    salary: i64,
}

/// The chat database as the Rust model sees it.
#[derive(Debug, Clone, PartialEq)]
struct Chats {
    users: Vec<Person>,
    /// `(id, owner)`
    chats: Vec<(i64, i64)>,
    /// `(chat, user)`, sorted.
    members: Vec<(i64, i64)>,
    messages: Vec<Msg>,
}

#[derive(Debug, Clone)]
struct Caller {
    sub: Option<i64>,
    role: Option<&'static str>,
}

impl Caller {
    fn random(rng: &mut Rng) -> Caller {
        let sub = match rng.below(10) {
            0 | 1 => None,
            2 => Some(99),
            _ => Some(1 + rng.below(CHAT_USERS as u64) as i64),
        };
        let role = [None, Some("admin"), Some("moderator"), Some("user")][rng.below(4) as usize];
        Caller { sub, role }
    }
    fn admin(&self) -> bool {
        self.role == Some("admin")
    }
    fn json(&self) -> Option<Json> {
        let mut c = json!({});
        if let Some(s) = self.sub {
            c["sub"] = json!(s);
        }
        if let Some(r) = self.role {
            c["role"] = json!(r);
        }
        (self.sub.is_some() || self.role.is_some()).then_some(c)
    }
}

impl Chats {
    fn member(&self, user: Option<i64>, chat: i64) -> bool {
        user.is_some_and(|u| self.members.contains(&(chat, u)))
    }
    fn owner(&self, chat: i64) -> i64 {
        self.chats.iter().find(|c| c.0 == chat).expect("a seeded chat").1
    }
    fn message_visible(&self, m: &Msg, c: &Caller) -> bool {
        self.member(c.sub, m.chat) || c.admin()
    }
    fn note_visible(m: &Msg, c: &Caller) -> bool {
        c.sub == Some(m.author) || c.admin()
    }
}

/// A `MessageFilter` as data: printed as GraphQL input JSON and evaluated in Rust.
#[derive(Debug, Clone)]
enum MsgFilter {
    LikesGt(i64),
    BodyEq(&'static str),
    NoteEq(&'static str),
    NoteStartsWith(&'static str),
    Flagged(bool),
    AuthorIdEq(i64),
    And(Vec<MsgFilter>),
    Or(Vec<MsgFilter>),
    Not(Box<MsgFilter>),
}

impl MsgFilter {
    fn random(rng: &mut Rng, depth: u32) -> MsgFilter {
        match rng.below(if depth >= 2 { 6 } else { 9 }) {
            0 => MsgFilter::LikesGt(rng.below(10) as i64),
            1 => MsgFilter::BodyEq(BODIES[rng.below(3) as usize]),
            2 => MsgFilter::NoteEq(NOTES[rng.below(4) as usize]),
            3 => MsgFilter::NoteStartsWith(["n", "m"][rng.below(2) as usize]),
            4 => MsgFilter::Flagged(rng.chance(50)),
            5 => MsgFilter::AuthorIdEq(1 + rng.below(CHAT_USERS as u64) as i64),
            6 => MsgFilter::And((0..1 + rng.below(3)).map(|_| MsgFilter::random(rng, depth + 1)).collect()),
            7 => MsgFilter::Or((0..1 + rng.below(3)).map(|_| MsgFilter::random(rng, depth + 1)).collect()),
            _ => MsgFilter::Not(Box::new(MsgFilter::random(rng, depth + 1))),
        }
    }
    fn json(&self) -> Json {
        match self {
            MsgFilter::LikesGt(n) => json!({"likes": {"gt": n}}),
            MsgFilter::BodyEq(s) => json!({"body": {"eq": s}}),
            MsgFilter::NoteEq(s) => json!({"note": {"eq": s}}),
            MsgFilter::NoteStartsWith(s) => json!({"note": {"startsWith": s}}),
            MsgFilter::Flagged(b) => json!({"flagged": {"eq": b}}),
            MsgFilter::AuthorIdEq(n) => json!({"author": {"id": {"eq": n}}}),
            MsgFilter::And(v) => json!({"and": v.iter().map(MsgFilter::json).collect::<Vec<_>>()}),
            MsgFilter::Or(v) => json!({"or": v.iter().map(MsgFilter::json).collect::<Vec<_>>()}),
            MsgFilter::Not(f) => json!({"not": f.json()}),
        }
    }
    /// The filter's own meaning, without access rules (seeded notes are never null, so
    /// SQL's three-valued logic agrees with Rust's two).
    fn eval(&self, m: &Msg) -> bool {
        match self {
            MsgFilter::LikesGt(n) => m.likes > *n,
            MsgFilter::BodyEq(s) => m.body == *s,
            MsgFilter::NoteEq(s) => m.note.as_deref() == Some(*s),
            MsgFilter::NoteStartsWith(s) => m.note.as_deref().is_some_and(|n| n.starts_with(s)),
            MsgFilter::Flagged(b) => m.flagged == *b,
            MsgFilter::AuthorIdEq(n) => m.author == *n,
            MsgFilter::And(v) => v.iter().all(|f| f.eval(m)),
            MsgFilter::Or(v) => v.iter().any(|f| f.eval(m)),
            MsgFilter::Not(f) => !f.eval(m),
        }
    }
    fn uses(&self, field: &str) -> bool {
        match self {
            MsgFilter::NoteEq(_) | MsgFilter::NoteStartsWith(_) => field == "note",
            MsgFilter::Flagged(_) => field == "flagged",
            MsgFilter::And(v) | MsgFilter::Or(v) => v.iter().any(|f| f.uses(field)),
            MsgFilter::Not(f) => f.uses(field),
            _ => false,
        }
    }
}

async fn seed_chats(db: &mut PgDb, rng: &mut Rng) {
    let mut sql = String::new();
    for u in 1..=CHAT_USERS {
        sql.push_str(&format!(
            "INSERT INTO users (name, email, salary) VALUES ('u{u}', 'u{u}@example.com', {});\n",
            10 * u
        ));
    }
    for _ in 1..=CHATS {
        sql.push_str(&format!(
            "INSERT INTO chats (title, owner_id) VALUES ('c', {});\n",
            1 + rng.below(CHAT_USERS as u64)
        ));
    }
    for c in 1..=CHATS {
        for u in 1..=CHAT_USERS {
            if rng.chance(40) {
                sql.push_str(&format!("INSERT INTO memberships (chat_id, user_id) VALUES ({c}, {u});\n"));
            }
        }
    }
    for _ in 1..=MESSAGES {
        sql.push_str(&format!(
            "INSERT INTO messages (chat_id, author_id, body, likes, note, flagged) VALUES ({}, {}, '{}', {}, '{}', {});\n",
            1 + rng.below(CHATS as u64),
            1 + rng.below(CHAT_USERS as u64),
            BODIES[rng.below(3) as usize],
            rng.below(10),
            NOTES[rng.below(4) as usize],
            rng.chance(30)
        ));
    }
    db.execute(&sql).await.expect("seed");
}

async fn load_chats(db: &mut PgDb) -> Chats {
    let int = |v: &Option<String>| v.as_deref().map(|s| s.parse::<i64>().unwrap()).unwrap();
    let rows = db.query("SELECT id::text, email, salary::text FROM users ORDER BY id", &[]).await.unwrap();
    let users = rows.iter().map(|r| Person { id: int(&r[0]), email: r[1].clone(), salary: int(&r[2]) }).collect();
    let rows = db.query("SELECT id::text, owner_id::text FROM chats ORDER BY id", &[]).await.unwrap();
    let chats = rows.iter().map(|r| (int(&r[0]), int(&r[1]))).collect();
    let rows =
        db.query("SELECT chat_id::text, user_id::text FROM memberships ORDER BY chat_id, user_id", &[]).await.unwrap();
    let members = rows.iter().map(|r| (int(&r[0]), int(&r[1]))).collect();
    let rows = db
        .query("SELECT id::text, chat_id::text, author_id::text, body, likes::text, note, flagged::text FROM messages ORDER BY id", &[])
        .await
        .unwrap();
    // Sorted here (chats, members and messages): `ORDER BY id` names the text output column.
    let mut messages: Vec<Msg> = rows
        .iter()
        .map(|r| Msg {
            id: int(&r[0]),
            chat: int(&r[1]),
            author: int(&r[2]),
            body: r[3].clone().unwrap(),
            likes: int(&r[4]),
            note: r[5].clone(),
            flagged: r[6].as_deref() == Some("true"),
        })
        .collect();
    messages.sort_unstable_by_key(|m| m.id);
    let (mut chats, mut members): (Vec<(i64, i64)>, Vec<(i64, i64)>) = (chats, members);
    chats.sort_unstable();
    members.sort_unstable();
    Chats { users, chats, members, messages }
}

fn refused(r: &Json) -> bool {
    r["errors"][0]["message"] == json!("Not authorized")
}

/// Field rules on reads: for random callers, filters and selections, `messages` and
/// `messagesAgg` answer "Not authorized" exactly when a context-only rule refuses a field
/// they use, and otherwise return exactly the rows the type rule allows, the filter selects
/// and whose row-dependent fields (filtered on or selected) the caller may see.
#[tokio::test(flavor = "current_thread")]
async fn field_rules_on_reads_agree_with_the_model() {
    const SEED: u64 = 0x5EED_0014;
    const CASES: usize = 300;
    let ir = compile_example("chat-access");
    let (_guard, mut db) = database_for(&ir, "chat_fields_prop").await;
    let engine = engine(ir);
    let mut rng = Rng(SEED);
    seed_chats(&mut db, &mut rng).await;
    let world = load_chats(&mut db).await;
    let (mut rows_cases, mut refusals) = (0, 0);
    for case in 0..CASES {
        let caller = Caller::random(&mut rng);
        let filter = MsgFilter::random(&mut rng, 0);
        let select_note = rng.chance(40);
        let select_flagged = rng.chance(25);
        let aggregate = rng.chance(30);
        let uses_note = select_note || filter.uses("note");
        let uses_flagged = select_flagged || filter.uses("flagged");
        let fields =
            format!("id{}{}", if select_note { " note" } else { "" }, if select_flagged { " flagged" } else { "" });
        let query = if aggregate {
            let agg = format!(
                "likes {{ sum }}{}{}",
                if select_note { " note { count }" } else { "" },
                if select_flagged { " flagged { count }" } else { "" }
            );
            format!("query($w: MessageFilter) {{ messagesAgg(where: $w) {{ id {{ count }} {agg} }} }}")
        } else {
            format!("query($w: MessageFilter) {{ messages(where: $w, orderBy: {{id: ASC}}) {{ {fields} }} }}")
        };
        let variables = json!({"w": filter.json()});
        let r = gql(&engine, &mut db, &query, variables.clone(), caller.json()).await;
        let fresh =
            gql(&engine_for(compile_example("chat-access")), &mut db, &query, variables.clone(), caller.json()).await;
        let context = format!("seed {SEED:#x}, case {case}: caller {caller:?}, query {query}, variables {variables}");
        assert_eq!(r, fresh, "a cached plan answered differently; {context}");

        let type_refuses = caller.sub.is_none() && !caller.admin();
        let flag_refuses = uses_flagged && !(caller.admin() || caller.role == Some("moderator"));
        let note_refuses = uses_note && caller.sub.is_none() && !caller.admin();
        if type_refuses || flag_refuses || note_refuses {
            assert!(refused(&r), "expected Not authorized; got {r}; {context}");
            refusals += 1;
            continue;
        }
        let expected: Vec<&Msg> = world
            .messages
            .iter()
            .filter(|m| {
                world.message_visible(m, &caller) && filter.eval(m) && (!uses_note || Chats::note_visible(m, &caller))
            })
            .collect();
        if aggregate {
            let agg = &r["data"]["messagesAgg"];
            assert_eq!(agg["id"]["count"], json!(expected.len()), "count differs; {context}");
            let sum: i64 = expected.iter().map(|m| m.likes).sum();
            let want_sum = if expected.is_empty() { Json::Null } else { json!(sum) };
            assert_eq!(agg["likes"]["sum"], want_sum, "sum differs; {context}");
            if select_note {
                assert_eq!(agg["note"]["count"], json!(expected.len()), "note count differs; {context}");
            }
        } else {
            let want: Vec<Json> = expected
                .iter()
                .map(|m| {
                    let mut o = json!({"id": m.id});
                    if select_note {
                        o["note"] = json!(m.note);
                    }
                    if select_flagged {
                        o["flagged"] = json!(m.flagged);
                    }
                    o
                })
                .collect();
            assert_eq!(r["data"]["messages"], Json::Array(want), "rows differ; {context}");
        }
        if !expected.is_empty() {
            rows_cases += 1;
        }
    }
    assert!(rows_cases > CASES / 5, "only {rows_cases} of {CASES} cases returned rows");
    assert!(refusals > CASES / 10, "only {refusals} of {CASES} cases were refused");
}

/// One random write and what the model says it does.
enum Write {
    CreateMessage {
        chat: i64,
        author: Option<i64>,
        note: Option<&'static str>,
        flagged: Option<bool>,
        likes: i64,
    },
    UpdateMessage {
        id: i64,
        likes: Option<i64>,
        note: Option<&'static str>,
        flagged: Option<bool>,
        chat: Option<i64>,
    },
    CreateMembership {
        chat: i64,
        user: i64,
    },
    UpdateUser {
        id: i64,
        email: Option<String>,
        salary: Option<i64>,
    },
    /// `createChat` with nested members (distinct users) and maybe a nested message.
    CreateChat {
        members: Vec<i64>,
        message: bool,
    },
}

/// What a write must answer.
#[derive(Debug, PartialEq)]
enum Outcome {
    NotAuthorized,
    OperationFailed,
    /// The write targeted no row the caller may write: `null`.
    Null,
    Done,
}

impl Write {
    fn random(rng: &mut Rng, caller: &Caller, world: &Chats) -> Write {
        let chat = 1 + rng.below(CHATS as u64) as i64;
        let user = 1 + rng.below(CHAT_USERS as u64) as i64;
        let maybe = |rng: &mut Rng, p| rng.chance(p);
        match rng.below(4) {
            0 => {
                // Without a caller to default to, the author is named.
                let author = if caller.sub.is_none() || maybe(rng, 25) { Some(user) } else { None };
                let note = maybe(rng, 40).then(|| NOTES[rng.below(4) as usize]);
                let flagged = maybe(rng, 25).then(|| rng.chance(50));
                Write::CreateMessage { chat, author, note, flagged, likes: rng.below(10) as i64 }
            }
            1 => {
                let id = 1 + rng.below(world.messages.len() as u64 + 2) as i64;
                let mut w = (None, None, None, None);
                while w == (None, None, None, None) {
                    w.0 = maybe(rng, 50).then(|| rng.below(10) as i64);
                    w.1 = maybe(rng, 35).then(|| NOTES[rng.below(4) as usize]);
                    w.2 = maybe(rng, 20).then(|| rng.chance(50));
                    w.3 = maybe(rng, 30).then(|| 1 + rng.below(CHATS as u64) as i64);
                }
                Write::UpdateMessage { id, likes: w.0, note: w.1, flagged: w.2, chat: w.3 }
            }
            2 => Write::CreateMembership { chat, user },
            // A new chat needs an owner: the caller.
            3 if caller.sub.is_some() && maybe(rng, 50) => {
                let members = (1..=CHAT_USERS).filter(|_| rng.chance(30)).collect();
                Write::CreateChat { members, message: rng.chance(50) }
            }
            _ => {
                let email = maybe(rng, 60).then(|| format!("x{}@example.com", rng.below(100)));
                let salary = if email.is_none() || maybe(rng, 30) { Some(rng.below(100) as i64) } else { None };
                Write::UpdateUser { id: user, email, salary }
            }
        }
    }

    fn request(&self) -> (&'static str, Json) {
        match self {
            Write::CreateMessage { chat, author, note, flagged, likes } => {
                let mut d = json!({"chat": {"id": chat}, "body": "new", "likes": likes});
                if let Some(a) = author {
                    d["author"] = json!({"id": a});
                }
                if let Some(n) = note {
                    d["note"] = json!(n);
                }
                if let Some(f) = flagged {
                    d["flagged"] = json!(f);
                }
                ("mutation($d: MessageCreationInput!) { w: createMessage(data: $d) { id } }", json!({"d": d}))
            }
            Write::UpdateMessage { id, likes, note, flagged, chat } => {
                let mut d = json!({});
                if let Some(l) = likes {
                    d["likes"] = json!(l);
                }
                if let Some(n) = note {
                    d["note"] = json!(n);
                }
                if let Some(f) = flagged {
                    d["flagged"] = json!(f);
                }
                if let Some(c) = chat {
                    d["chat"] = json!({"id": c});
                }
                (
                    "mutation($id: Int!, $d: MessageUpdateInput!) { w: updateMessage(id: $id, data: $d) { id } }",
                    json!({"id": id, "d": d}),
                )
            }
            Write::CreateMembership { chat, user } => (
                "mutation($d: MembershipCreationInput!) { w: createMembership(data: $d) { user { id } } }",
                json!({"d": {"chat": {"id": chat}, "user": {"id": user}}}),
            ),
            Write::UpdateUser { id, email, salary } => {
                let mut d = json!({});
                if let Some(e) = email {
                    d["email"] = json!(e);
                }
                if let Some(s) = salary {
                    d["salary"] = json!(s);
                }
                (
                    "mutation($id: Int!, $d: UserUpdateInput!) { w: updateUser(id: $id, data: $d) { id } }",
                    json!({"id": id, "d": d}),
                )
            }
            Write::CreateChat { members, message } => {
                let mut d = json!({"title": "t", "members": members.iter().map(|u| json!({"user": {"id": u}})).collect::<Vec<_>>()});
                if *message {
                    d["messages"] = json!([{"body": "nested"}]);
                }
                ("mutation($d: ChatCreationInput!) { w: createChat(data: $d) { id messages { id } } }", json!({"d": d}))
            }
        }
    }

    /// Applies the write to the model as the rules allow; `new_id` is the id the database
    /// gave a created message.
    fn apply(&self, world: &mut Chats, c: &Caller, new_id: Option<i64>, new_message: Option<i64>) -> Outcome {
        let admin = c.admin();
        match self {
            Write::CreateMessage { chat, author, note, flagged, likes } => {
                let author = author.or(c.sub).expect("an author");
                if flagged.is_some() && !admin {
                    return Outcome::NotAuthorized;
                }
                // The note's write rule: the author himself (no admin branch).
                if note.is_some() && c.sub != Some(author) {
                    return Outcome::NotAuthorized;
                }
                if !((c.sub == Some(author) && world.member(c.sub, *chat)) || admin) {
                    return Outcome::NotAuthorized;
                }
                // An admin whose id names no user defaults the author to a missing row.
                if !world.users.iter().any(|u| u.id == author) {
                    return Outcome::OperationFailed;
                }
                world.messages.push(Msg {
                    id: new_id.unwrap_or(-1),
                    chat: *chat,
                    author,
                    body: "new".into(),
                    likes: *likes,
                    note: note.map(String::from),
                    flagged: flagged.unwrap_or(false),
                });
                Outcome::Done
            }
            Write::UpdateMessage { id, likes, note, flagged, chat } => {
                if flagged.is_some() && !admin {
                    return Outcome::NotAuthorized;
                }
                if (note.is_some() && c.sub.is_none()) || (c.sub.is_none() && !admin) {
                    return Outcome::NotAuthorized;
                }
                // The input on its own: a message moved to a chat the caller is not a member
                // of is refused, whichever message it is.
                if chat.is_some_and(|nc| !(world.member(c.sub, nc) || admin)) {
                    return Outcome::NotAuthorized;
                }
                let Some(i) = world.messages.iter().position(|m| m.id == *id) else {
                    return Outcome::Null;
                };
                let m = &world.messages[i];
                // The filter: the rule on the row as it is, and the note's write rule.
                if !(world.member(c.sub, m.chat) || admin) || (note.is_some() && c.sub != Some(m.author)) {
                    return Outcome::Null;
                }
                // The check: the rule on the new values, before the write.
                let new_chat = chat.unwrap_or(m.chat);
                if !(world.member(c.sub, new_chat) || admin) {
                    return Outcome::NotAuthorized;
                }
                let m = &mut world.messages[i];
                m.chat = new_chat;
                if let Some(l) = likes {
                    m.likes = *l;
                }
                if let Some(n) = note {
                    m.note = Some(n.to_string());
                }
                if let Some(f) = flagged {
                    m.flagged = *f;
                }
                Outcome::Done
            }
            Write::CreateMembership { chat, user } => {
                let allowed = c.sub == Some(world.owner(*chat)) || world.member(c.sub, *chat) || admin;
                if !allowed {
                    return Outcome::NotAuthorized;
                }
                if world.members.contains(&(*chat, *user)) {
                    return Outcome::OperationFailed;
                }
                // `createMembership` returns `Membership!`: a membership the caller may not
                // read afterwards (an owner who is no member adding someone else) is refused.
                let readable = c.sub == Some(*user) || world.member(c.sub, *chat) || admin;
                if !readable {
                    return Outcome::NotAuthorized;
                }
                world.members.push((*chat, *user));
                world.members.sort_unstable();
                Outcome::Done
            }
            Write::UpdateUser { id, email, salary } => {
                if salary.is_some() && !admin {
                    return Outcome::NotAuthorized;
                }
                if c.sub.is_none() && !admin {
                    return Outcome::NotAuthorized;
                }
                if !(c.sub == Some(*id) || admin) {
                    return Outcome::Null;
                }
                let u = world.users.iter_mut().find(|u| u.id == *id).expect("a seeded user");
                if let Some(e) = email {
                    u.email = Some(e.clone());
                }
                if let Some(s) = salary {
                    u.salary = *s;
                }
                Outcome::Done
            }
            Write::CreateChat { .. } if c.sub.is_none() => Outcome::NotAuthorized,
            Write::CreateChat { members, message } => {
                let owner = c.sub.expect("an owner");
                if !world.users.iter().any(|u| u.id == owner) {
                    return Outcome::OperationFailed;
                }
                // The nested message's rule asks for a membership of its chat before the write:
                // the new chat has none, the nested members do not count.
                if *message && !admin {
                    return Outcome::NotAuthorized;
                }
                let id = new_id.unwrap_or(-1);
                world.chats.push((id, owner));
                for u in members {
                    world.members.push((id, *u));
                }
                world.members.sort_unstable();
                if *message {
                    let msg = new_message.unwrap_or(-1);
                    world.messages.push(Msg {
                        id: msg,
                        chat: id,
                        author: owner,
                        body: "nested".into(),
                        likes: 0,
                        note: None,
                        flagged: false,
                    });
                }
                Outcome::Done
            }
        }
    }
}

/// Writes: random callers make random creates and updates (naming ruled fields or not, moving
/// messages between chats, adding members, new chats with nested members and messages); after
/// each, every table equals the Rust model's,
/// and the answer is the one the model predicts (a refusal writes nothing).
#[tokio::test(flavor = "current_thread")]
async fn writes_agree_with_the_model() {
    const SEED: u64 = 0x5EED_1014;
    const CASES: usize = 250;
    let ir = compile_example("chat-access");
    let (_guard, mut db) = database_for(&ir, "chat_writes_prop").await;
    let engine = engine(ir);
    let mut rng = Rng(SEED);
    seed_chats(&mut db, &mut rng).await;
    let mut world = load_chats(&mut db).await;
    let mut seen = std::collections::HashMap::new();
    for case in 0..CASES {
        let caller = Caller::random(&mut rng);
        let write = Write::random(&mut rng, &caller, &world);
        let (query, variables) = write.request();
        let r = gql(&engine, &mut db, query, variables.clone(), caller.json()).await;
        let new_id = r["data"]["w"]["id"].as_i64();
        let before = world.clone();
        let new_message = r["data"]["w"]["messages"][0]["id"].as_i64();
        let outcome = write.apply(&mut world, &caller, new_id, new_message);
        let context = format!("seed {SEED:#x}, case {case}: caller {caller:?}, {query} {variables}; got {r}");
        match outcome {
            Outcome::NotAuthorized => assert!(refused(&r), "expected Not authorized; {context}"),
            Outcome::OperationFailed => assert_eq!(r["errors"][0]["message"], json!("Operation failed"), "{context}"),
            Outcome::Null => assert_eq!(r, json!({"data": {"w": null}}), "{context}"),
            Outcome::Done => assert!(r["data"]["w"].is_object(), "expected a row; {context}"),
        }
        if outcome != Outcome::Done {
            assert_eq!(world, before, "the model changed on a refusal; {context}");
        }
        assert_eq!(load_chats(&mut db).await, world, "the tables differ from the model; {context}");
        *seen.entry(format!("{outcome:?}")).or_insert(0) += 1;
    }
    // Every kind of answer must occur often enough to mean something.
    for kind in ["NotAuthorized", "Null", "Done"] {
        let n = seen.get(kind).copied().unwrap_or(0);
        assert!(n > CASES / 20, "only {n} of {CASES} writes ended {kind}: {seen:?}");
    }
}
