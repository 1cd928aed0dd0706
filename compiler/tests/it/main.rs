mod errors;
mod parser;
mod schema;
mod trusted;
mod typecheck;
