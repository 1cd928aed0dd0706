//! MCP profiles: `[[mcp.profiles]]` of `exo.toml` resolved against the GraphQL schema into
//! [`McpProfile`]s (the root fields each tool may run and the SDL its description carries).
//!
//! Patterns are matched here, at build time, so the runtime (native or Worker) only checks
//! membership and never prints SDL. Without profiles the default set applies: every query,
//! no mutation (`execute_query`), as Exograph does.
//!
//! Pattern semantics follow Exograph's documentation: `*` matches any run of characters, `?`
//! one character; a root field is exposed when its name matches an `operations` include and no
//! exclude, and the entity it is about matches a `models` include and no exclude. Queries
//! default to every operation of every model. Mutations default to none; a profile that names
//! only mutation operations (or only models) gets every model (or operation) for the other
//! half, instead of silently exposing nothing.

use std::collections::BTreeSet;
use std::path::Path;

use exo_ir::graphql::{Field, Resolver, Schema, TypeKind, TypeRef};
use exo_ir::{Ir, McpProfile};
use serde::Deserialize;

use crate::ast::Span;
use crate::diag::Diagnostic;
use crate::source::SourceMap;

/// Include and exclude patterns for one kind of name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patterns {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl Patterns {
    pub fn all() -> Patterns {
        Patterns { include: vec!["*".into()], exclude: vec![] }
    }

    pub fn none() -> Patterns {
        Patterns { include: vec![], exclude: vec![] }
    }

    pub fn matches(&self, name: &str) -> bool {
        self.include.iter().any(|p| wildcard(p, name)) && !self.exclude.iter().any(|p| wildcard(p, name))
    }
}

/// Which operations of which models one kind of root field (queries or mutations) exposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationSet {
    pub models: Patterns,
    pub operations: Patterns,
}

impl OperationSet {
    fn matches(&self, model: Option<&str>, operation: &str) -> bool {
        // A root field about no entity has no model to filter on (Exograph treats such
        // fields as "primitive" and lets the operation patterns decide).
        model.is_none_or(|m| self.models.matches(m)) && self.operations.matches(operation)
    }
}

/// A profile as written in `exo.toml`, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSpec {
    pub name: String,
    pub queries: OperationSet,
    pub mutations: OperationSet,
}

/// Every query, no mutation.
fn default_sets() -> (OperationSet, OperationSet) {
    (
        OperationSet { models: Patterns::all(), operations: Patterns::all() },
        OperationSet { models: Patterns::none(), operations: Patterns::none() },
    )
}

/// `*` matches any run of characters (also none), `?` exactly one.
pub fn wildcard(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matching with backtracking to the last `*`: linear in practice, no recursion.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The default tool set: every query, no mutation.
pub fn default_profiles(ir: &Ir) -> Vec<McpProfile> {
    let (queries, mutations) = default_sets();
    vec![resolve(ir, None, &queries, &mutations)]
}

/// Resolves one profile against the schema.
pub fn resolve(ir: &Ir, name: Option<&str>, queries: &OperationSet, mutations: &OperationSet) -> McpProfile {
    let schema = &ir.graphql;
    let model_of = |f: &Field| entity_of(f.resolver).map(|e| ir.entity(e).name.as_str());
    let kept_queries: Vec<Field> =
        schema.queries.iter().filter(|f| queries.matches(model_of(f), &f.name)).cloned().collect();
    let kept_mutations: Vec<Field> =
        schema.mutations.iter().filter(|f| mutations.matches(model_of(f), &f.name)).cloned().collect();
    let models: BTreeSet<String> =
        kept_queries.iter().chain(&kept_mutations).filter_map(|f| model_of(f).map(str::to_string)).collect();
    let restricted = restrict(schema, kept_queries, kept_mutations);
    McpProfile {
        name: name.map(str::to_string),
        queries: sorted(restricted.queries.iter().map(|f| f.name.clone())),
        mutations: sorted(restricted.mutations.iter().map(|f| f.name.clone())),
        models: models.into_iter().collect(),
        sdl: crate::sdl::print_sdl(&restricted),
    }
}

fn sorted(names: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = names.collect();
    v.sort();
    v
}

fn entity_of(resolver: Resolver) -> Option<exo_ir::EntityId> {
    match resolver {
        Resolver::ByPk { entity }
        | Resolver::Collection { entity }
        | Resolver::Aggregate { entity }
        | Resolver::ByUnique { entity, .. }
        | Resolver::Create { entity, .. }
        | Resolver::Update { entity, .. }
        | Resolver::Delete { entity, .. } => Some(entity),
        _ => None,
    }
}

/// The schema with only the given root fields and the types they reach (so a hidden model's
/// filter and input types do not clutter the description when nothing refers to them).
fn restrict(schema: &Schema, queries: Vec<Field>, mutations: Vec<Field>) -> Schema {
    let mut reached = BTreeSet::new();
    let mut pending: Vec<String> = vec![];
    let push_ref = |t: &TypeRef, pending: &mut Vec<String>| pending.push(t.base_name().to_string());
    for f in queries.iter().chain(&mutations) {
        push_ref(&f.ty, &mut pending);
        for a in &f.args {
            push_ref(&a.ty, &mut pending);
        }
    }
    while let Some(name) = pending.pop() {
        let Some(ty) = schema.type_by_name(&name) else {
            continue;
        };
        if !reached.insert(name) {
            continue;
        }
        match &ty.kind {
            TypeKind::Object { fields } => {
                for f in fields {
                    push_ref(&f.ty, &mut pending);
                    for a in &f.args {
                        push_ref(&a.ty, &mut pending);
                    }
                }
            }
            TypeKind::InputObject { fields } => {
                for f in fields {
                    push_ref(&f.ty, &mut pending);
                }
            }
            TypeKind::Scalar | TypeKind::Enum { .. } => {}
        }
    }
    Schema {
        description: schema.description.clone(),
        types: schema.types.iter().filter(|t| reached.contains(&t.name)).cloned().collect(),
        queries,
        mutations,
    }
}

// ---------------------------------------------------------------------------------------------
// exo.toml
// ---------------------------------------------------------------------------------------------

/// `exo.toml` as far as MCP is concerned; other sections belong to other commands.
#[derive(Deserialize)]
struct ExoToml {
    #[serde(default)]
    mcp: Option<McpToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct McpToml {
    #[serde(default)]
    profiles: Vec<ProfileToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileToml {
    name: toml::Spanned<String>,
    #[serde(default)]
    queries: SetToml,
    #[serde(default)]
    mutations: SetToml,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SetToml {
    #[serde(default)]
    models: PatternsToml,
    #[serde(default)]
    operations: PatternsToml,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PatternsToml {
    include: Option<Vec<String>>,
    #[serde(default)]
    exclude: Vec<String>,
}

impl PatternsToml {
    fn with_default(self, default: &Patterns) -> Patterns {
        Patterns { include: self.include.unwrap_or_else(|| default.include.clone()), exclude: self.exclude }
    }
}

/// Parses `exo.toml`'s profiles. `Err` holds a message and the byte range it is about.
pub fn parse_profiles(
    text: &str,
) -> Result<Vec<(ProfileSpec, std::ops::Range<usize>)>, (String, Option<std::ops::Range<usize>>)> {
    let parsed: ExoToml = toml::from_str(text).map_err(|e| (e.message().to_string(), e.span()))?;
    let Some(mcp) = parsed.mcp else {
        return Ok(vec![]);
    };
    let mut seen = BTreeSet::new();
    let mut out = vec![];
    for p in mcp.profiles {
        let span = p.name.span();
        let name = p.name.into_inner();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err((
                format!("profile name `{name}` cannot be part of a tool name; use letters, digits, `_` and `-`"),
                Some(span),
            ));
        }
        if !seen.insert(name.clone()) {
            return Err((format!("profile `{name}` is defined twice"), Some(span)));
        }
        let (dq, dm) = default_sets();
        let queries = OperationSet {
            models: p.queries.models.with_default(&dq.models),
            operations: p.queries.operations.with_default(&dq.operations),
        };
        // Naming mutation operations (or models) alone means "these, of any model (operation)".
        let named_models = p.mutations.models.include.is_some();
        let named_operations = p.mutations.operations.include.is_some();
        let (model_default, operation_default) = match (named_models, named_operations) {
            (false, false) => (dm.models.clone(), dm.operations.clone()),
            _ => (Patterns::all(), Patterns::all()),
        };
        let mutations = OperationSet {
            models: p.mutations.models.with_default(&model_default),
            operations: p.mutations.operations.with_default(&operation_default),
        };
        out.push((ProfileSpec { name, queries, mutations }, span));
    }
    Ok(out)
}

/// Reads `<project>/exo.toml` (if any) and replaces the default tool set with its profiles.
pub fn attach(ir: &mut Ir, project_dir: &Path, sources: &mut SourceMap, diagnostics: &mut Vec<Diagnostic>) {
    let path = project_dir.join("exo.toml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    let file = sources.add("exo.toml", text.clone());
    let span = |r: std::ops::Range<usize>| Span { file, start: r.start as u32, end: r.end as u32 };
    let profiles = match parse_profiles(&text) {
        Ok(p) => p,
        Err((message, range)) => {
            let mut d = Diagnostic::error("exo::mcp_profile", format!("invalid `exo.toml`: {message}"))
                .with_help("see the README's MCP section for the `[[mcp.profiles]]` keys");
            if let Some(r) = range {
                d = d.with_primary(span(r), "here");
            }
            diagnostics.push(d);
            return;
        }
    };
    if profiles.is_empty() {
        return;
    }
    let models: Vec<&str> = ir.entities.iter().map(|e| e.name.as_str()).collect();
    let queries: Vec<&str> = ir.graphql.queries.iter().map(|f| f.name.as_str()).collect();
    let mutations: Vec<&str> = ir.graphql.mutations.iter().map(|f| f.name.as_str()).collect();
    let mut resolved = vec![];
    for (spec, range) in profiles {
        // A pattern that matches nothing is most likely a typo of a model or operation name.
        let sets = [
            ("queries.models", &spec.queries.models, &models),
            ("queries.operations", &spec.queries.operations, &queries),
            ("mutations.models", &spec.mutations.models, &models),
            ("mutations.operations", &spec.mutations.operations, &mutations),
        ];
        for (key, patterns, names) in sets {
            let written =
                patterns.include.iter().map(|p| ("include", p)).chain(patterns.exclude.iter().map(|p| ("exclude", p)));
            for (list, pattern) in written {
                if !names.iter().any(|n| wildcard(pattern, n)) {
                    diagnostics.push(
                        Diagnostic::warning(
                            "exo::mcp_pattern_unmatched",
                            format!(
                                "`{key}.{list}` pattern `{pattern}` of MCP profile `{}` matches nothing",
                                spec.name
                            ),
                        )
                        .with_primary(span(range.clone()), "this profile")
                        .with_help(format!("the names it is matched against: {}", names.join(", "))),
                    );
                }
            }
        }
        let profile = resolve(ir, Some(&spec.name), &spec.queries, &spec.mutations);
        if profile.queries.is_empty() && profile.mutations.is_empty() {
            diagnostics.push(
                Diagnostic::warning(
                    "exo::mcp_profile_empty",
                    format!("MCP profile `{}` exposes no operation", spec.name),
                )
                .with_primary(span(range), "this profile")
                .with_help("check its include and exclude patterns against the operation and model names"),
            );
        }
        resolved.push(profile);
    }
    ir.mcp_profiles = resolved;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        for (p, n) in [
            ("*", ""),
            ("*", "todos"),
            ("todo*", "todosAgg"),
            ("*Agg", "todosAgg"),
            ("t?do", "todo"),
            ("a*b*c", "axxbyyc"),
        ] {
            assert!(wildcard(p, n), "{p} {n}");
        }
        for (p, n) in [("todo", "todos"), ("*Agg", "todos"), ("t?do", "tdo"), ("a*b*c", "axxbyy"), ("", "x")] {
            assert!(!wildcard(p, n), "{p} {n}");
        }
    }

    #[test]
    fn defaults_and_mutation_halves() {
        let p = parse_profiles("[[mcp.profiles]]\nname = \"plain\"\n").unwrap();
        let (dq, dm) = default_sets();
        assert_eq!((&p[0].0.queries, &p[0].0.mutations), (&dq, &dm));
        let p = parse_profiles("[[mcp.profiles]]\nname = \"w\"\nmutations.operations.include = [\"createTodo\"]\n")
            .unwrap();
        assert!(p[0].0.mutations.matches(Some("Todo"), "createTodo"));
        assert!(!p[0].0.mutations.matches(Some("Todo"), "deleteTodo"));
        let p = parse_profiles(
            "[[mcp.profiles]]\nname = \"c\"\nmutations.models.include = [\"Customer\"]\nmutations.operations.exclude = [\"delete*\"]\n",
        )
        .unwrap();
        assert!(p[0].0.mutations.matches(Some("Customer"), "updateCustomer"));
        assert!(!p[0].0.mutations.matches(Some("Customer"), "deleteCustomer"));
        assert!(!p[0].0.mutations.matches(Some("Order"), "createOrder"));
    }

    #[test]
    fn bad_files_say_where() {
        let (msg, range) =
            parse_profiles("[[mcp.profiles]]\nname = \"x\"\nqueries.modles.include = [\"A\"]\n").unwrap_err();
        assert!(msg.contains("modles"), "{msg}");
        assert!(range.is_some());
        let (msg, _) = parse_profiles("[[mcp.profiles]]\nname = \"a b\"\n").unwrap_err();
        assert!(msg.contains("`a b`"), "{msg}");
        let (msg, _) = parse_profiles("[[mcp.profiles]]\nname = \"a\"\n[[mcp.profiles]]\nname = \"a\"\n").unwrap_err();
        assert!(msg.contains("twice"), "{msg}");
        // Other sections belong to other commands.
        assert!(parse_profiles("[build]\nafter-model-change = []\n").unwrap().is_empty());
    }
}
