//! Compiler stages over the examples and a generated 200-type model: parse, typecheck+lower
//! (end to end), encode and decode of the IR.

use criterion::{criterion_group, criterion_main, Criterion};
use exo_benches::{examples_dir, generated_model};

fn compiler(c: &mut Criterion) {
    let big = generated_model(200);
    c.bench_function("parse/generated-200", |b| {
        b.iter(|| exo_compiler::parser::parse_file(exo_compiler::ast::FileId(0), &big).unwrap())
    });
    c.bench_function("compile/generated-200", |b| {
        b.iter(|| {
            let compiled = exo_compiler::compile_str("big.exo", &big);
            assert!(compiled.ir.is_some());
            compiled
        })
    });
    for name in ["todo", "concerts", "blog"] {
        let entry = examples_dir().join(name).join("src/index.exo");
        c.bench_function(&format!("compile/{name}"), |b| b.iter(|| exo_compiler::compile_project(&entry)));
        let ir = exo_compiler::compile_project(&entry).ir.expect("example compiles");
        let bytes = exo_ir::encode(&ir);
        c.bench_function(&format!("encode/{name}"), |b| b.iter(|| exo_ir::encode(&ir)));
        c.bench_function(&format!("decode/{name}"), |b| b.iter(|| exo_ir::decode(&bytes).unwrap()));
    }
    let big_ir = exo_compiler::compile_str("big.exo", &big).ir.unwrap();
    let big_bytes = exo_ir::encode(&big_ir);
    c.bench_function("decode/generated-200", |b| b.iter(|| exo_ir::decode(&big_bytes).unwrap()));
}

criterion_group!(benches, compiler);
criterion_main!(benches);
