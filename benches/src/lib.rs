//! Inputs shared by the benches: the schema examples and a generated large model.

use std::path::{Path, PathBuf};

pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema-examples/ok")
}

/// A model with `n` types, each with a few scalars, a many-to-one reference to the previous
/// type and the matching collection, and an access rule.
pub fn generated_model(n: usize) -> String {
    let mut s = String::from(
        "context AuthContext {\n  @jwt(\"sub\") id: Int\n  @jwt role: String\n}\n\n@postgres\nmodule Big {\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "  @access(query = self.owner == AuthContext.id || AuthContext.role == \"admin\", mutation = AuthContext.role == \"admin\")\n  type T{i} {{\n    @pk id: Int = autoIncrement()\n    @unique name: String\n    @maxLength(200) note: String?\n    amount: Decimal = \"0\"\n    createdAt: Instant = now()\n    owner: Int\n"
        ));
        if i > 0 {
            s.push_str(&format!("    parent: T{}?\n", i - 1));
        }
        if i + 1 < n {
            s.push_str(&format!("    children: Set<T{}>?\n", i + 1));
        }
        s.push_str("  }\n");
    }
    s.push_str("}\n");
    s
}
