// Drives exo's `/mcp` endpoint with the official MCP TypeScript SDK client over Streamable
// HTTP, and compares every tool answer with what `/graphql` answers the same caller.
//
//   node mcp-test.mjs <base-url> <jwt-secret> <scenario>
//
// The server must serve the todo example (schema-examples/ok/todo) on a fresh database, with
// `EXO_JWT_SECRET=<jwt-secret>` and mutations allowed. Scenarios:
//   default   no exo.toml: one `execute_query` tool, queries only
//   profiles  the exo.toml written by the Rust test: `reader` (hides User) and `writer`
//             (may create todos)
//   separate  EXO_MCP_MODE=separate with the same exo.toml as `profiles`: the schema moves
//             out of the descriptions into `introspect_<profile>` tools
//   transcript  prints a client session (list + call) for humans; asserts nothing
// Exits 0 when every check passed; otherwise prints the failed check and exits 1.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [base, secret, scenario] = process.argv.slice(2);
if (!base || !secret || !scenario) {
  console.error("usage: node mcp-test.mjs <base-url> <jwt-secret> <default|profiles|separate|transcript>");
  process.exit(2);
}
const mcpUrl = new URL("/mcp", base);
const graphqlUrl = new URL("/graphql", base);
let checks = 0;

function b64url(data) {
  return Buffer.from(data).toString("base64url");
}

/** An HS256 JWT, as exo checks them. */
function token(claims) {
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify({ ...claims, exp: Math.floor(Date.now() / 1000) + 3600 }));
  const sig = createHmac("sha256", secret).update(`${header}.${body}`).digest("base64url");
  return `${header}.${body}.${sig}`;
}

const callers = {
  admin: token({ sub: 1, role: "admin" }),
  owner: token({ sub: 2 }),
  anonymous: null,
};

function authHeaders(jwt) {
  return jwt ? { Authorization: `Bearer ${jwt}` } : {};
}

/** The raw `/graphql` answer body. */
async function graphql(jwt, query, variables) {
  const r = await fetch(graphqlUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...authHeaders(jwt) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: r.status, text: await r.text() };
}

/** An SDK client connected as `jwt` (initialize + notifications/initialized). */
async function connect(jwt) {
  const client = new Client({ name: "exo-mcp-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(mcpUrl, { requestInit: { headers: authHeaders(jwt) } });
  await client.connect(transport);
  return client;
}

async function callText(client, name, args) {
  const result = await client.callTool({ name, arguments: args });
  assert.equal(result.content.length, 1);
  assert.equal(result.content[0].type, "text");
  return { text: result.content[0].text, isError: result.isError };
}

function check(label, fn) {
  return fn().then(
    () => {
      checks += 1;
      console.log(`ok   ${label}`);
    },
    (e) => {
      console.error(`FAIL ${label}\n${e.stack || e}`);
      process.exit(1);
    },
  );
}

/** Raw JSON-RPC over HTTP, for what a well-behaved client never sends. */
async function raw(body, { method = "POST", headers = {} } = {}) {
  const r = await fetch(mcpUrl, {
    method,
    headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream", ...headers },
    body: method === "POST" ? body : undefined,
  });
  const text = await r.text();
  return { status: r.status, text, json: text ? JSON.parse(text) : null, headers: r.headers };
}

async function seed() {
  // Users 1 (the admin) and 2 (the owner), and a todo each.
  for (const [email, name] of [["ada@example.com", "Ada"], ["bo@example.com", "Bo"]]) {
    const r = await graphql(callers.admin, `mutation($e: String!, $n: String!) { createUser(data: {email: $e, name: $n}) { id } }`, { e: email, n: name });
    assert.equal(r.status, 200, r.text);
    assert.ok(!r.text.includes("errors"), r.text);
  }
  for (const [title, user] of [["Ada's todo", 1], ["Bo's todo", 2]]) {
    const r = await graphql(callers.admin, `mutation($t: String!, $u: Int!) { createTodo(data: {title: $t, user: {id: $u}}) { id } }`, { t: title, u: user });
    assert.ok(!r.text.includes("errors"), r.text);
  }
}

const TODOS = "{ todos(orderBy: {id: ASC}) { id title user { name } } }";

async function sameAsGraphql(client, tool, jwt, query) {
  const mcp = await callText(client, tool, { query });
  const gql = await graphql(jwt, query);
  assert.equal(mcp.text, gql.text, "the tool's text is the /graphql body");
  assert.equal(mcp.isError, gql.text.startsWith('{"errors"'));
  return JSON.parse(mcp.text);
}

async function protocolChecks() {
  await check("malformed JSON is a parse error (-32700, HTTP 400)", async () => {
    const r = await raw("{ nope");
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, -32700);
    assert.equal(r.json.id, null);
  });
  await check("an invalid request is -32600 (HTTP 400)", async () => {
    const r = await raw(JSON.stringify({ jsonrpc: "1.0", id: 1, method: "tools/list" }));
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, -32600);
    const empty = await raw("[]");
    assert.equal(empty.json.error.code, -32600);
  });
  await check("an unknown method is -32601, an unknown tool -32602", async () => {
    const r = await raw(JSON.stringify({ jsonrpc: "2.0", id: "m", method: "resources/subscribe", params: {} }));
    assert.equal(r.status, 200);
    assert.deepEqual([r.json.id, r.json.error.code], ["m", -32601]);
    const t = await raw(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "drop_everything", arguments: {} } }));
    assert.deepEqual([t.json.id, t.json.error.code], [2, -32602]);
    const q = await raw(JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "execute_query" + (scenario === "profiles" ? "_reader" : ""), arguments: {} } }));
    assert.equal(q.json.error.code, -32602);
  });
  await check("notifications get 202 and no body; a batch gets the answers its requests need", async () => {
    const n = await raw(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
    assert.deepEqual([n.status, n.text], [202, ""]);
    const b = await raw(JSON.stringify([
      { jsonrpc: "2.0", method: "notifications/initialized" },
      { jsonrpc: "2.0", id: 1, method: "ping" },
      { jsonrpc: "2.0", id: 2, method: "nope" },
    ]));
    assert.equal(b.status, 200);
    assert.deepEqual(b.json.map((m) => [m.id, m.result ?? m.error.code]), [[1, {}], [2, -32601]]);
  });
  await check("GET and DELETE are 405 (stateless: no SSE stream, no session)", async () => {
    for (const method of ["GET", "DELETE"]) {
      const r = await raw(null, { method });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.get("allow"), "POST, OPTIONS");
    }
  });
  await check("an unsupported MCP-Protocol-Version header is 400", async () => {
    const r = await raw(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }), { headers: { "MCP-Protocol-Version": "1999-01-01" } });
    assert.equal(r.status, 400);
  });
  await check("a body over 2 MiB is 413, as a JSON-RPC error", async () => {
    const r = await raw(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping", params: { pad: "x".repeat(3 * 1024 * 1024) } }));
    assert.equal(r.status, 413);
    assert.equal(r.json.error.code, -32000);
  });
  await check("no session header is issued", async () => {
    const r = await raw(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } }));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("mcp-session-id"), null);
    assert.equal(r.json.result.protocolVersion, "2025-06-18");
  });
  await check("an invalid token is refused as over /graphql (Not authorized, never anonymous)", async () => {
    const bad = { Authorization: "Bearer not.a.token" };
    const tool = "execute_query" + (scenario === "profiles" ? "_reader" : "");
    const r = await raw(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: tool, arguments: { query: TODOS } } }), { headers: bad });
    const g = await fetch(graphqlUrl, { method: "POST", headers: { "Content-Type": "application/json", ...bad }, body: JSON.stringify({ query: TODOS }) });
    assert.equal(r.status, g.status);
    assert.equal(r.json.result.isError, true);
    const text = await g.text();
    assert.match(text, /Not authorized/);
    assert.equal(r.json.result.content[0].text, text);
  });
}

async function defaultScenario() {
  await seed();
  const admin = await connect(callers.admin);
  await check("initialize negotiates the client's protocol version and declares tools", async () => {
    assert.ok(admin.getServerCapabilities().tools);
    assert.equal(admin.getServerVersion().name, "exo");
    assert.match(admin.getInstructions() ?? "", /Multi-user todo service/);
  });
  await check("tools/list: one execute_query tool whose description holds the SDL and doc comments", async () => {
    const { tools } = await admin.listTools();
    assert.deepEqual(tools.map((t) => t.name), ["execute_query"]);
    const d = tools[0].description;
    assert.match(d, /type Todo \{/);
    assert.match(d, /"""A single item on a user's list\."""/);
    assert.match(d, /todos\(\s*where: TodoFilter/);
    // Every list's `limit` tells the caller about the list cap.
    assert.match(d, /EXO_MAX_LIST_ROWS/);
    assert.doesNotMatch(d, /type Mutation/);
    assert.deepEqual(tools[0].inputSchema.required, ["query"]);
  });
  const answers = {};
  for (const [who, jwt] of Object.entries(callers)) {
    const client = who === "admin" ? admin : await connect(jwt);
    await check(`execute_query as ${who} answers exactly as /graphql`, async () => {
      answers[who] = await sameAsGraphql(client, "execute_query", jwt, TODOS);
    });
  }
  await check("admin, owner and anonymous callers get different answers (access rules apply)", async () => {
    assert.deepEqual(answers.admin.data.todos.map((t) => t.title), ["Ada's todo", "Bo's todo"]);
    assert.deepEqual(answers.owner.data.todos.map((t) => t.title), ["Bo's todo"]);
    // The rule compares the owner with a user id, which an anonymous caller lacks: it holds
    // for no row, so the list is empty, as over /graphql.
    assert.deepEqual(answers.anonymous, { data: { todos: [] } });
  });
  await check("a mutation is refused without a profile (before anything runs)", async () => {
    const r = await callText(admin, "execute_query", { query: 'mutation { createTodo(data: {title: "sneaky"}) { id } }' });
    assert.equal(r.isError, true);
    assert.match(r.text, /The mutation `createTodo` is not available through the MCP tool `execute_query`/);
    const count = await graphql(callers.admin, "{ todosAgg { id { count } } }");
    assert.equal(JSON.parse(count.text).data.todosAgg.id.count, 2);
  });
  await check("variables and operationName reach the engine", async () => {
    const q = "query A($id: Int!) { todo(id: $id) { title } } query B { todosAgg { id { count } } }";
    const r = await admin.callTool({ name: "execute_query", arguments: { query: q, variables: { id: 2 }, operationName: "A" } });
    assert.deepEqual(JSON.parse(r.content[0].text), { data: { todo: { title: "Bo's todo" } } });
  });
  await protocolChecks();
}

async function profilesScenario() {
  await seed();
  const owner = await connect(callers.owner);
  let tools;
  await check("tools/list: one tool per profile", async () => {
    ({ tools } = await owner.listTools());
    assert.deepEqual(tools.map((t) => t.name), ["execute_query_reader", "execute_query_writer"]);
  });
  await check("the reader profile hides the User model", async () => {
    const d = tools[0].description;
    assert.match(d, /\n  todos\(/);
    assert.doesNotMatch(d, /\n  users\(/);
    assert.doesNotMatch(d, /\n  user\(/);
    const r = await callText(owner, "execute_query_reader", { query: "{ users { id name } }" });
    assert.equal(r.isError, true);
    assert.match(r.text, /The query `users` is not available through the MCP tool `execute_query_reader`: the profile `reader`/);
    // The same caller may run it over /graphql: the profile narrows MCP, not the API.
    const g = await graphql(callers.owner, "{ users { id name } }");
    assert.deepEqual(JSON.parse(g.text), { data: { users: [{ id: 2, name: "Bo" }] } });
  });
  await check("a mutation is refused by the reader profile and allowed by the writer profile", async () => {
    const create = 'mutation { createTodo(data: {title: "via MCP"}) { title user { name } } }';
    const refused = await callText(owner, "execute_query_reader", { query: create });
    assert.equal(refused.isError, true);
    assert.match(refused.text, /The mutation `createTodo` is not available through the MCP tool `execute_query_reader`/);
    const allowed = await callText(owner, "execute_query_writer", { query: create });
    assert.equal(allowed.isError, false, allowed.text);
    assert.deepEqual(JSON.parse(allowed.text), { data: { createTodo: { title: "via MCP", user: { name: "Bo" } } } });
    const mutations = tools[1].description.split("type Mutation {")[1];
    assert.match(mutations, /\n  createTodo\(data: TodoCreationInput!\): Todo!\n\}$/);
    assert.doesNotMatch(mutations, /deleteTodo|updateTodo|createUser/);
    assert.doesNotMatch(tools[0].description, /type Mutation/);
    const deleting = await callText(owner, "execute_query_writer", { query: "mutation { deleteTodos { id } }" });
    assert.equal(deleting.isError, true);
    const mine = await graphql(callers.owner, "{ todos(orderBy: {id: ASC}) { title } }");
    assert.deepEqual(JSON.parse(mine.text), { data: { todos: [{ title: "Bo's todo" }, { title: "via MCP" }] } });
  });
  await check("access rules still apply inside a profile", async () => {
    const anonymous = await connect(null);
    await sameAsGraphql(anonymous, "execute_query_reader", null, TODOS);
    const r = await callText(anonymous, "execute_query_writer", { query: 'mutation { createTodo(data: {title: "anon"}) { id } }' });
    assert.equal(r.isError, true);
    const gql = await graphql(null, 'mutation { createTodo(data: {title: "anon"}) { id } }');
    assert.equal(r.text, gql.text);
  });
  await protocolChecks();
}

async function separateScenario() {
  await seed();
  const owner = await connect(callers.owner);
  let tools;
  await check("separate mode: an introspect tool beside each execute_query tool", async () => {
    ({ tools } = await owner.listTools());
    assert.deepEqual(tools.map((t) => t.name), ["execute_query_reader", "introspect_reader", "execute_query_writer", "introspect_writer"]);
    for (const t of tools.filter((t) => t.name.startsWith("execute_query"))) {
      assert.doesNotMatch(t.description, /type Todo \{/, "the schema is not in the description");
      assert.match(t.description, new RegExp(`introspect${t.name.slice("execute_query".length)}`));
    }
  });
  await check("introspect returns the profile's schema with its doc comments", async () => {
    const reader = await callText(owner, "introspect_reader", {});
    assert.equal(reader.isError, false);
    assert.match(reader.text, /"""A single item on a user's list\."""/);
    assert.match(reader.text, /\n  todos\(/);
    assert.doesNotMatch(reader.text, /\n  users\(/);
    assert.doesNotMatch(reader.text, /type Mutation/);
    const writer = await callText(owner, "introspect_writer", {});
    const mutations = writer.text.split("type Mutation {")[1];
    assert.match(mutations, /\n  createTodo\(data: TodoCreationInput!\): Todo!\n\}$/);
    assert.doesNotMatch(mutations, /deleteTodo|updateTodo|createUser/);
  });
  await check("separate mode: execute_query answers as /graphql and refusals point at introspect", async () => {
    await sameAsGraphql(owner, "execute_query_reader", callers.owner, TODOS);
    const r = await callText(owner, "execute_query_reader", { query: "{ users { id } }" });
    assert.equal(r.isError, true);
    assert.match(r.text, /The query `users` is not available through the MCP tool `execute_query_reader`/);
    const i = await callText(owner, "execute_query_reader", { query: "{ __schema { types { name } } }" });
    assert.equal(i.isError, true);
    assert.match(i.text, /`introspect_reader` returns the schema/);
  });
}

async function transcript() {
  const client = await connect(callers.admin);
  console.log(`> initialize -> server ${JSON.stringify(client.getServerVersion())}, capabilities ${JSON.stringify(client.getServerCapabilities())}`);
  const { tools } = await client.listTools();
  for (const t of tools) {
    const lines = t.description.split("\n");
    console.log(`> tools/list -> ${t.name}: ${lines.length} description lines; first: ${JSON.stringify(lines[0])}`);
    console.log(`  ...\n${lines.filter((l) => /^type (Todo|Query) \{/.test(l) || /^  todos?\(/.test(l)).map((l) => "  | " + l).join("\n")}`);
  }
  const query = "{ todos { id title completed user { name } } }";
  const r = await client.callTool({ name: tools[0].name, arguments: { query } });
  console.log(`> tools/call ${tools[0].name} ${JSON.stringify({ query })}\n  -> isError=${r.isError} ${r.content[0].text}`);
  const m = await client.callTool({ name: tools[0].name, arguments: { query: 'mutation { createTodo(data: {title: "x"}) { id } }' } });
  console.log(`> tools/call ${tools[0].name} (a mutation)\n  -> isError=${m.isError} ${m.content[0].text}`);
  await client.close();
}

if (scenario === "default") {
  await defaultScenario();
} else if (scenario === "profiles") {
  await profilesScenario();
} else if (scenario === "separate") {
  await separateScenario();
} else if (scenario === "transcript") {
  await transcript();
} else {
  console.error(`unknown scenario ${scenario}`);
  process.exit(2);
}
if (scenario !== "transcript") {
  console.log(`all ${checks} checks passed`);
}
process.exit(0);
