// The playground in a real headless Chromium: starts `exo yolo` on the todo example, seeds it,
// loads /playground, runs a query without and then with a JWT typed into the page's token
// field, reads the results from the page, opens the schema docs, checks that every request
// stayed on exo's own origin (no CDN), and saves a screenshot.
//
//   node browser-test.mjs EXO_BINARY EXAMPLE_DIR SCREENSHOT_PNG
//
// Chromium comes from Debian (`/usr/bin/chromium`, or CHROMIUM_PATH); playwright-core drives it.
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, mkdirSync, rmSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";

const [exoBinary, exampleDir, screenshotPath] = process.argv.slice(2);
if (!exoBinary || !exampleDir || !screenshotPath) {
  console.error("usage: node browser-test.mjs EXO_BINARY EXAMPLE_DIR SCREENSHOT_PNG");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const PATIENCE_MS = 60_000;

const results = [];
function check(name, condition, detail = "") {
  results.push({ name, ok: Boolean(condition) });
  console.log(`${condition ? "ok  " : "FAIL"} ${name}${condition || !detail ? "" : `\n     ${detail}`}`);
}

// A port that is free now, below Linux's ephemeral range (32768 and up), so no outgoing
// connection of the machine can take it before exo binds it.
async function freePort() {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const free = await new Promise((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("no free port between 20000 and 32000");
}

async function waitFor(what, predicate) {
  const started = Date.now();
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() - started > PATIENCE_MS) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const work = mkdtempSync(join(tmpdir(), "exo-browser-"));
const project = join(work, "project");
cpSync(exampleDir, project, { recursive: true, filter: (src) => !src.endsWith("/target") });
const port = await freePort();
let output = "";
const exo = spawn(exoBinary, ["yolo", "--project", project, "--port", String(port)], {
  stdio: ["ignore", "pipe", "pipe"],
  env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("EXO_") && k !== "DATABASE_URL")),
});
exo.stdout.on("data", (d) => (output += d));
exo.stderr.on("data", (d) => (output += d));
let exited = false;
exo.on("exit", () => (exited = true));

let browser;
try {
  await waitFor("exo yolo to serve", () => {
    if (exited) throw new Error(`exo exited early:\n${output}`);
    return output.includes("Watching");
  });
  const token = output.match(/Bearer (\S+)/)[1];
  const base = `http://127.0.0.1:${port}`;

  // Seed through the API as the admin the printed token stands for.
  const seed = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: `mutation {
        createUser(data: {email: "ada@example.com", name: "Ada"}) { id }
        createTodos(data: [{title: "Buy milk", user: {id: 1}}, {title: "Ship exo", priority: HIGH, user: {id: 1}}]) { id }
      }`,
    }),
  }).then((r) => r.json());
  check("seeding through the API works", !seed.errors, JSON.stringify(seed));

  browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu"] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  const requested = [];
  page.on("request", (r) => requested.push(r.url()));
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));

  await page.goto(`${base}/playground`, { waitUntil: "load" });
  await page.waitForSelector(".graphiql-query-editor .CodeMirror", { timeout: PATIENCE_MS });
  const query = "query Todos {\n  todos(orderBy: {id: ASC}) {\n    id\n    title\n    priority\n    user { name }\n  }\n}\n";

  async function run() {
    await page.evaluate((q) => document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.setValue(q), query);
    const before = await responseText();
    await page.click(".graphiql-execute-button");
    const text = await waitFor("a new result in the page", async () => {
      const now = await responseText();
      return now && now !== before && now.trim().startsWith("{") ? now : null;
    });
    return JSON.parse(text);
  }
  async function responseText() {
    return page.evaluate(() => {
      const cm = document.querySelector(".graphiql-response .CodeMirror");
      return cm ? cm.CodeMirror.getValue() : "";
    });
  }

  const anonymous = await run();
  check(
    "without a token the row rule hides every todo (an empty list, as in Exograph)",
    anonymous.errors === undefined && Array.isArray(anonymous.data?.todos) && anonymous.data.todos.length === 0,
    JSON.stringify(anonymous),
  );

  await page.fill("#exo-jwt", token);
  const signedIn = await run();
  const titles = (signedIn.data?.todos || []).map((t) => t.title);
  check(
    "with the token typed into the page the admin sees both todos",
    JSON.stringify(titles) === JSON.stringify(["Buy milk", "Ship exo"]) && signedIn.data.todos[1].user.name === "Ada",
    JSON.stringify(signedIn),
  );

  await page.click('[aria-label="Show Documentation Explorer"]');
  await page.waitForSelector(".graphiql-doc-explorer", { timeout: PATIENCE_MS });
  await page.locator(".graphiql-doc-explorer .graphiql-doc-explorer-type-name", { hasText: /^Query$/ }).first().click();
  const docs = await waitFor("the Query fields in the docs", async () => {
    const text = await page.textContent(".graphiql-doc-explorer");
    return text && text.includes("todosAgg") ? text : null;
  });
  check("the docs explorer lists the schema's queries from introspection", docs.includes("todos") && docs.includes("todosAgg"), docs.slice(0, 300));

  const foreign = requested.filter((u) => !u.startsWith(base) && !u.startsWith("data:"));
  check("every request stays on exo's own origin (no CDN)", foreign.length === 0, foreign.join(", "));
  check("the page raised no script errors", pageErrors.length === 0, pageErrors.join("\n"));

  mkdirSync(dirname(screenshotPath), { recursive: true });
  await page.screenshot({ path: screenshotPath });
  check("a screenshot was written", readFileSync(screenshotPath).length > 10_000, screenshotPath);
} catch (e) {
  check(`the run completed (${e.message})`, false, output);
} finally {
  if (browser) await browser.close();
  if (!exited) {
    exo.kill("SIGINT");
    await waitFor("exo to stop", () => exited).catch(() => exo.kill("SIGKILL"));
  }
  rmSync(work, { recursive: true, force: true });
}

const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
