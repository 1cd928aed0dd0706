// graphql-js as a client: `query` prints the standard introspection query;
// `sdl` reads an introspection result on stdin and prints printSchema(buildClientSchema(...)).
import { buildClientSchema, getIntrospectionQuery, printSchema, validateSchema } from "graphql";
import { readFileSync } from "node:fs";

const mode = process.argv[2];
if (mode === "query") {
  process.stdout.write(getIntrospectionQuery({ descriptions: true, schemaDescription: true, inputValueDeprecation: true, specifiedByUrl: true }));
} else if (mode === "sdl") {
  const result = JSON.parse(readFileSync(0, "utf8"));
  const schema = buildClientSchema(result.data ?? result);
  const errors = validateSchema(schema);
  if (errors.length > 0) {
    console.error(errors.map((e) => e.message).join("\n"));
    process.exit(2);
  }
  process.stdout.write(printSchema(schema));
} else {
  console.error("usage: graphql-client.mjs query|sdl");
  process.exit(64);
}
