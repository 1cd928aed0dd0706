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
            PostFilter::CommentBy(n) => world
                .comments
                .iter()
                .any(|c| c.post == p.id && c.author == *n && world.comment_visible(c, claims)),
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
    let rows = db.query("SELECT id::text, title, published::text, author_id::text, editor_id::text FROM posts", &[]).await.unwrap();
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
        assert_eq!(r, fresh, "a cached plan answered differently (case {case}: claims {claims:?}, variables {variables})");

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
        assert_eq!(gql(&engine, &mut db, q, json!({}), admin.clone()).await, json!({"data": {"posts": [{"id": 1}, {"id": 2}]}}));
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
