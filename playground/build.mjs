// Builds the playground bundle that exo embeds: `node build.mjs` (after `npm ci`) writes
// server/assets/playground/{playground.js,playground.css,LICENSES.txt}. The output is committed,
// so building exo never needs npm.
import { build } from "esbuild";
import { readFileSync, writeFileSync, mkdirSync, existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "server", "assets", "playground");
mkdirSync(out, { recursive: true });

const result = await build({
  entryPoints: { playground: join(here, "src", "index.jsx") },
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  outdir: out,
  jsx: "automatic",
  loader: { ".js": "jsx" },
  define: { "process.env.NODE_ENV": '"production"' },
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
});

// One licence file for everything that went into the bundle, found from esbuild's inputs.
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (match) packages.set(match[1], join(here, "node_modules", match[1]));
}
let text = "Third-party software bundled into playground.js and playground.css, with their licences.\n";
for (const [name, dir] of [...packages].sort()) {
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const licenceFile = existsSync(dir) ? readdirSync(dir).find((f) => /^(licen[cs]e|copying)/i.test(f)) : undefined;
  text += `\n${"=".repeat(78)}\n${name}@${pkg.version} (${pkg.license || "see below"})\n${"=".repeat(78)}\n`;
  text += licenceFile ? readFileSync(join(dir, licenceFile), "utf8").trim() + "\n" : "(the package ships no licence file; its package.json declares the licence above)\n";
}
writeFileSync(join(out, "LICENSES.txt"), text);
for (const f of ["playground.js", "playground.css"]) {
  const size = readFileSync(join(out, f)).length;
  console.log(`${f}: ${(size / 1024).toFixed(0)} KiB`);
}
console.log(`LICENSES.txt: ${packages.size} packages`);
