//! `.exo` source: parse, typecheck, lower, build the GraphQL schema and SDL, render the
//! diagnostics, encode and decode the IR, and generate the DDL. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let compiled = exo_compiler::compile_str("fuzz.exo", src);
    let _ = exo_compiler::diag::render(&compiled.diagnostics, &compiled.sources, 100, false);
    if let Some(ir) = compiled.ir {
        let bytes = exo_ir::encode(&ir);
        let back = exo_ir::decode(&bytes).expect("an encoded IR decodes");
        assert!(back == ir, "the IR survives encode and decode");
        let _ = exo_pg_schema::create_statements(&ir.database);
        let _ = exo_runtime::System::new(ir);
    }
});
