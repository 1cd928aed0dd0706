//! The loaded-model layer stays below the request path: `system.rs` (the lookup data that
//! validation and planning read) and `meta_schema.rs` (the introspection types as data) name
//! no module of the request path, so neither depends on trusted documents, the request
//! context, introspection answers or the engine.

use std::path::Path;

/// Every `crate::<module>` the file names.
fn crate_modules(file: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut found = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !found.contains(&name) {
            found.push(name);
        }
    }
    found
}

#[test]
fn system_is_lookup_data() {
    let names = crate_modules("system.rs");
    let allowed = ["meta_schema", "sql"];
    let outside: Vec<_> = names.iter().filter(|n| !allowed.contains(&n.as_str())).collect();
    assert!(outside.is_empty(), "system.rs names request-path modules: {outside:?}");
    assert!(names.iter().any(|n| n == "meta_schema"), "the check reads the file it means to: {names:?}");
}

#[test]
fn meta_schema_is_plain_data() {
    assert_eq!(crate_modules("meta_schema.rs"), Vec::<String>::new());
}
