mod parser;
mod schema;
mod errors;
mod typecheck;
mod trusted;
