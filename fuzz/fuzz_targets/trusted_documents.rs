//! A `trusted-documents/*.json` file, compiled as `exo build` compiles it (parsed, every
//! operation validated and planned for each variable shape and context outcome) against one of
//! the example models. Bad files must become diagnostics; the plans must be well-formed SQL.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn project() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir_all(dir.path().join("trusted-documents")).expect("mkdir");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, text, _)) = exo_fuzz::split(data) else {
        return;
    };
    let irs = exo_fuzz::irs();
    let mut ir = irs[selector as usize % irs.len()].clone();
    let dir = project();
    std::fs::write(dir.path().join("trusted-documents/fuzz.json"), text).expect("write");
    let mut sources = exo_compiler::source::SourceMap::new();
    let mut diagnostics = vec![];
    exo_compiler::trusted_docs::attach(&mut ir, dir.path(), &mut sources, &mut diagnostics);
    let _ = exo_compiler::diag::render(&diagnostics, &sources, 100, false);
    // The documents survive the IR file, and a server loads them.
    let bytes = exo_ir::encode(&ir);
    let back = exo_ir::decode(&bytes).expect("an encoded IR decodes");
    let _ = exo_runtime::System::new(back);
});
