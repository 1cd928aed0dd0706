//! `exo graphql schema`: the GraphQL schema as SDL or as the introspection result (JSON).

use std::path::PathBuf;

use exo_runtime::{Config, Db, DbError, Engine, Introspection, RequestHead, System};

use crate::commands::write_output;
use crate::project::Project;
use crate::{Context, Failure};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print the GraphQL schema of the model (SDL by default).
    Schema(SchemaArgs),
}

#[derive(clap::Args, Debug)]
pub struct SchemaArgs {
    #[arg(long, value_enum, default_value_t = Format::Graphql)]
    pub format: Format,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// SDL, as graphql-js `printSchema` prints it.
    Graphql,
    /// The result of the standard introspection query.
    Json,
}

pub fn run(ctx: &Context, command: Command) -> Result<(), Failure> {
    let Command::Schema(args) = command;
    let project = Project::locate(ctx.project.as_deref())?;
    let ir = project.compile(ctx.quiet)?;
    let text = match args.format {
        Format::Graphql => exo_compiler::sdl::print_sdl(&ir.graphql),
        Format::Json => introspection_json(System::new(ir))?,
    };
    write_output(args.output.as_deref(), &text)?;
    if let Some(path) = args.output.as_deref().filter(|_| !ctx.quiet) {
        eprintln!("Wrote {} ({} bytes)", path.display(), text.len());
    }
    Ok(())
}

/// Runs the standard introspection query through an in-memory engine. Introspection never
/// touches the database, so the `Db` handed to it refuses every call.
fn introspection_json(system: System) -> Result<String, Failure> {
    let config = Config { introspection: Introspection::Enabled, ..Config::default() };
    let engine = Engine::new(system, config, Box::new(|_| None));
    let body = serde_json::json!({ "query": INTROSPECTION_QUERY, "operationName": "IntrospectionQuery" }).to_string();
    let head = RequestHead { headers: &[], client_ip: None, now: 0 };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))?;
    let response = runtime.block_on(engine.handle(body.as_bytes(), &head, &mut NoDatabase));
    let value: serde_json::Value = serde_json::from_str(&response.body).map_err(|e| {
        Failure::new(format!("the engine answered the introspection query with invalid JSON: {e}; please report this"))
    })?;
    if value.get("errors").is_some() || response.status != 200 {
        return Err(Failure::new(format!("the introspection query failed: {}; please report this", response.body)));
    }
    Ok(pretty(&response.body))
}

/// Indents compact JSON text, keeping key order as the engine wrote it (re-serializing a
/// `serde_json::Value` would sort the keys).
fn pretty(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    let mut chars = compact.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    out.push(chars.next().unwrap_or(close));
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

struct NoDatabase;

impl Db for NoDatabase {
    async fn query(&mut self, _: &str, _: &[Option<String>]) -> Result<Vec<Vec<Option<String>>>, DbError> {
        Err(DbError("introspection does not use the database".into()))
    }

    async fn execute(&mut self, _: &str) -> Result<(), DbError> {
        Err(DbError("introspection does not use the database".into()))
    }
}

/// The introspection query tools send (graphql-js `getIntrospectionQuery` with descriptions).
const INTROSPECTION_QUERY: &str = r#"query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives {
      name
      description
      locations
      args { ...InputValue }
    }
  }
}

fragment FullType on __Type {
  kind
  name
  description
  fields(includeDeprecated: true) {
    name
    description
    args { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) {
    name
    description
    isDeprecated
    deprecationReason
  }
  possibleTypes { ...TypeRef }
}

fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
}

fragment TypeRef on __Type {
  kind
  name
  ofType {
    kind
    name
    ofType {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
              }
            }
          }
        }
      }
    }
  }
}
"#;
