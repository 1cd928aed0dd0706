mod parser;
mod schema;
mod errors;
mod typecheck;
