//! Typechecking: parsed files in, a resolved [`Model`] and diagnostics out.
//!
//! Every name is resolved here (types, fragments, contexts, fields in access paths),
//! annotations are checked against the catalogue and turned into [`Hints`], relations are
//! paired, defaults and access rules are checked and resolved to their IR form. What is left
//! for [`crate::lower`] is physical: tables, columns, constraints and SQL pieces.
//!
//! The checker never stops at the first problem. Each phase reports what it finds and
//! continues with a placeholder (`FieldType::Error`, `AccessExpr::Const(false)`, ...);
//! later phases stay quiet about placeholders so one mistake gives one diagnostic.
//!
//! Phases, in order: collect declarations; enums; contexts; type-level annotations; fields
//! (fragment spreads, types, hints); relations; primary keys; defaults; access rules.

mod access;
pub mod annotations;
mod defaults;
mod relations;

use std::collections::HashMap;

use exo_ir::{self as ir, EntityAccess, EntityId, FieldId, ScalarType, ValueType};

use crate::ast::{self, Ident, Span, TypeExpr};
use crate::diag::Diagnostic;
use crate::names;
use annotations::{Annots, Target};

/// The typechecked model: names resolved, relations paired, still carrying AST references
/// for the spans lowering may need.
pub struct Model<'a> {
    pub description: Option<String>,
    pub contexts: Vec<ir::Context>,
    pub enums: Vec<ir::EnumType>,
    pub json_types: Vec<ir::JsonType>,
    pub entities: Vec<EntityDef<'a>>,
}

pub struct EntityDef<'a> {
    pub decl: &'a ast::TypeDecl,
    pub name: String,
    pub doc: Option<String>,
    pub plural: String,
    pub table: TableSpec,
    /// In declaration order, with fragment fields spliced in where `...F` is written.
    pub fields: Vec<FieldDef<'a>>,
    pub field_index: HashMap<String, FieldId>,
    pub access: EntityAccess,
}

impl EntityDef<'_> {
    pub fn field(&self, name: &str) -> Option<FieldId> {
        self.field_index.get(name).copied()
    }
}

#[derive(Debug, Clone)]
pub struct TableSpec {
    pub name: String,
    pub schema: String,
    pub managed: bool,
}

pub struct FieldDef<'a> {
    pub ast: &'a ast::Field,
    pub name: String,
    pub doc: Option<String>,
    pub optional: bool,
    pub ty: FieldType,
    pub hints: Hints,
    pub default: Option<ir::FieldDefault>,
    pub access: Option<EntityAccess>,
    annots: Annots<'a>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    Value(ValueType),
    /// `T` / `T?` of an entity type, before relations are paired.
    Entity(EntityId),
    /// `Set<T>`, before relations are paired.
    Set(EntityId),
    ManyToOne {
        target: EntityId,
        inverse: Option<FieldId>,
        one_to_one: bool,
    },
    OneToMany {
        target: EntityId,
        inverse: FieldId,
        one_to_one: bool,
    },
    /// The type did not resolve; a diagnostic was reported.
    Error,
}

impl FieldType {
    pub fn scalar(&self) -> Option<ScalarType> {
        match self {
            FieldType::Value(v) => v.scalar(),
            _ => None,
        }
    }
}

/// What a field's annotations say, already checked against its type.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    pub pk: bool,
    /// Constraint names; a bare `@unique` is named after the field.
    pub unique: Vec<String>,
    /// Index names; `None` for a bare `@index`.
    pub index: Vec<Option<String>>,
    /// `@column("name")`.
    pub column: Option<String>,
    /// `@column(mapping = {pkField: "column"})`: (primary-key field of the target, column).
    pub column_mapping: Vec<(String, String)>,
    /// The span of the `@column` annotation, for messages.
    pub column_span: Option<Span>,
    pub readonly: bool,
    pub update: bool,
    pub dbtype: Option<String>,
    pub max_length: Option<u32>,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    /// 16, 32 or 64 from `@bits*` or `@range` (Int only).
    pub int_bits: Option<u8>,
    pub range: Option<(f64, f64)>,
    pub double_precision: bool,
    /// `@relation("field")` and its span.
    pub relation: Option<(String, Span)>,
    pub many_to_one: bool,
    pub one_to_one: bool,
    /// An unknown or malformed annotation was reported on this field; checks that depend
    /// on what the user meant (such as "no primary key") stay quiet.
    pub suspect: bool,
}

/// What a name in the global namespace refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decl {
    Context(u32),
    Enum(u32),
    Json(u32),
    Entity(u32),
    Fragment(u32),
}

struct DeclInfo {
    decl: Decl,
    span: Span,
    /// Index into `Checker::modules` (None for contexts).
    module: Option<usize>,
}

struct ModuleInfo {
    schema: String,
    managed: bool,
}

struct JsonInfo<'a> {
    decl: &'a ast::TypeDecl,
}

struct EnumInfo<'a> {
    decl: &'a ast::EnumDecl,
    module: usize,
}

struct EntityInfo<'a> {
    decl: &'a ast::TypeDecl,
    module: usize,
}

/// Where a type expression is written; decides which types are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
enum Place {
    EntityField,
    JsonField,
    ContextField,
}

const PRIMITIVES: &[(&str, ScalarType)] = &[
    ("Int", ScalarType::Int),
    ("Float", ScalarType::Float),
    ("Decimal", ScalarType::Decimal),
    ("String", ScalarType::String),
    ("Boolean", ScalarType::Boolean),
    ("LocalDate", ScalarType::LocalDate),
    ("LocalTime", ScalarType::LocalTime),
    ("LocalDateTime", ScalarType::LocalDateTime),
    ("Instant", ScalarType::Instant),
    ("Json", ScalarType::Json),
    ("Blob", ScalarType::Blob),
    ("Uuid", ScalarType::Uuid),
];

fn primitive(name: &str) -> Option<ScalarType> {
    PRIMITIVES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

pub struct Checker<'a> {
    files: &'a [ast::File],
    diags: Vec<Diagnostic>,
    modules: Vec<ModuleInfo>,
    modules_by_name: HashMap<&'a str, usize>,
    decls: HashMap<&'a str, DeclInfo>,
    /// Names declared more than once (reported); lookups into them stay quiet.
    duplicated: std::collections::HashSet<&'a str>,
    context_decls: Vec<&'a ast::Context>,
    enum_infos: Vec<EnumInfo<'a>>,
    json_infos: Vec<JsonInfo<'a>>,
    entity_infos: Vec<EntityInfo<'a>>,
    fragments: Vec<&'a ast::FragmentDecl>,
    // Results.
    contexts: Vec<ir::Context>,
    context_index: HashMap<&'a str, u32>,
    enums: Vec<ir::EnumType>,
    json_types: Vec<ir::JsonType>,
    entities: Vec<EntityDef<'a>>,
}

/// Typechecks parsed files (imports already loaded). The model is returned even when there
/// are errors, so callers can decide what to do with a partial result.
pub fn check(files: &[ast::File]) -> (Model<'_>, Vec<Diagnostic>) {
    let mut c = Checker {
        files,
        diags: Vec::new(),
        modules: Vec::new(),
        modules_by_name: HashMap::new(),
        decls: HashMap::new(),
        duplicated: Default::default(),
        context_decls: Vec::new(),
        enum_infos: Vec::new(),
        json_infos: Vec::new(),
        entity_infos: Vec::new(),
        fragments: Vec::new(),
        contexts: Vec::new(),
        context_index: HashMap::new(),
        enums: Vec::new(),
        json_types: Vec::new(),
        entities: Vec::new(),
    };
    c.collect();
    c.check_fragment_cycles();
    c.check_enums();
    c.check_contexts();
    c.check_entity_headers();
    c.check_json_types();
    c.check_entity_fields();
    c.check_unused_fragments();
    c.pair_relations();
    c.check_primary_keys();
    c.check_defaults();
    c.check_access();
    c.check_projections();

    let docs: Vec<&str> = files.iter().flat_map(|f| f.decl_docs.iter().map(String::as_str)).collect();
    let description = (!docs.is_empty()).then(|| docs.join("\n"));
    let model =
        Model { description, contexts: c.contexts, enums: c.enums, json_types: c.json_types, entities: c.entities };
    (model, c.diags)
}

impl<'a> Checker<'a> {
    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    // -----------------------------------------------------------------------------------------
    // Phase 1: collect declarations into the global namespace
    // -----------------------------------------------------------------------------------------

    fn declare(&mut self, name: &'a Ident, decl: Decl, module: Option<usize>) -> bool {
        if primitive(name.as_str()).is_some() || matches!(name.as_str(), "Set" | "Array" | "Vector") {
            self.error(
                Diagnostic::error(
                    "exo::duplicate_declaration",
                    format!("`{name}` is a built-in type and cannot be redeclared"),
                )
                .with_primary(name.span, "built-in type name")
                .with_help("choose another name"),
            );
            return false;
        }
        if let Some(prev) = self.decls.get(name.as_str()) {
            self.duplicated.insert(name.as_str());
            let d = Diagnostic::error("exo::duplicate_declaration", format!("`{name}` is declared twice"))
                .with_primary(name.span, "declared again here")
                .with_secondary(prev.span, "first declared here")
                .with_help(
                    "types, enums, fragments and contexts share one namespace across all files; rename one of them",
                );
            self.error(d);
            return false;
        }
        self.decls.insert(name.as_str(), DeclInfo { decl, span: name.span, module });
        true
    }

    fn collect(&mut self) {
        let files = self.files;
        for file in files {
            for ctx in &file.contexts {
                let id = self.context_decls.len() as u32;
                if self.declare(&ctx.name, Decl::Context(id), None) {
                    self.context_decls.push(ctx);
                }
            }
            for module in &file.modules {
                self.collect_module(module);
            }
        }
    }

    fn collect_module(&mut self, module: &'a ast::Module) {
        let annots = annotations::check(&module.annotations, Target::Module, &mut self.diags);
        let plugins: Vec<&ast::Annotation> =
            module.annotations.iter().filter(|a| matches!(a.name.as_str(), "postgres" | "deno" | "wasm")).collect();
        if plugins.len() > 1 {
            self.error(
                Diagnostic::error(
                    "exo::module_kind",
                    format!("module `{}` has more than one plugin annotation", module.name),
                )
                .with_primary(plugins[1].span, "second plugin annotation")
                .with_secondary(plugins[0].span, "first plugin annotation")
                .with_help("a module is either `@postgres`, `@deno` or `@wasm`"),
            );
            return;
        }
        match plugins.first().map(|a| a.name.as_str()) {
            None => {
                self.error(
                    Diagnostic::error("exo::module_kind", format!("module `{}` has no plugin annotation", module.name))
                        .with_primary(module.name.span, "missing `@postgres`")
                        .with_help(format!("add `@postgres` before `module {}`", module.name)),
                );
                // Go on as if it were `@postgres`, so references to its types still resolve.
            }
            Some(kind @ ("deno" | "wasm")) => {
                let (what, lang) =
                    if kind == "deno" { ("Deno", "TypeScript/JavaScript") } else { ("Wasm", "WebAssembly") };
                self.error(
                    Diagnostic::error("exo::unsupported_module", format!("exo does not run {what} modules"))
                        .with_primary(plugins[0].span, format!("`@{kind}` module"))
                        .with_secondary(module.name.span, format!("module `{}`", module.name))
                        .with_help(format!(
                            "exo serves `@postgres` modules only; run the {lang} code of `{}` as a separate service",
                            module.name
                        )),
                );
                return;
            }
            _ => {}
        }

        let mut schema = "public".to_string();
        let mut managed = true;
        if let Some(pg) = annots.get("postgres") {
            if let Some(p) = annotations::named_param(pg, "schema") {
                if let Some(s) = annotations::value_string(pg, &p.value, &mut self.diags) {
                    schema = s;
                }
            }
            if let Some(p) = annotations::named_param(pg, "managed") {
                if let Some(b) = annotations::value_bool(pg, &p.value, &mut self.diags) {
                    managed = b;
                }
            }
        }
        let module_id = self.modules.len();
        self.modules.push(ModuleInfo { schema, managed });
        if let Some(&prev) = self.modules_by_name.get(module.name.as_str()) {
            let _ = prev;
            // Two modules with one name would make `Module.Type` ambiguous.
            self.error(
                Diagnostic::error("exo::duplicate_declaration", format!("module `{}` is declared twice", module.name))
                    .with_primary(module.name.span, "declared again here")
                    .with_help("rename one of the modules"),
            );
        } else {
            self.modules_by_name.insert(module.name.as_str(), module_id);
        }

        for m in &module.methods {
            self.error(
                Diagnostic::error(
                    "exo::unsupported_module",
                    format!(
                        "`{}` declares a {} in a `@postgres` module",
                        m.name,
                        match m.kind {
                            ast::MethodKind::Query => "query",
                            ast::MethodKind::Mutation => "mutation",
                        }
                    ),
                )
                .with_primary(m.name.span, "custom operation")
                .with_help("custom queries and mutations need a Deno or Wasm module, which exo does not support"),
            );
        }
        for i in &module.interceptors {
            self.error(
                Diagnostic::error("exo::unsupported_module", format!("interceptor `{}` is not supported", i.name))
                    .with_primary(i.name.span, "interceptor")
                    .with_help("interceptors need a Deno module, which exo does not support"),
            );
        }
        for e in &module.enums {
            let id = self.enum_infos.len() as u32;
            if self.declare(&e.name, Decl::Enum(id), Some(module_id)) {
                self.enum_infos.push(EnumInfo { decl: e, module: module_id });
            }
        }
        for f in &module.fragments {
            let id = self.fragments.len() as u32;
            if self.declare(&f.name, Decl::Fragment(id), Some(module_id)) {
                self.fragments.push(f);
            }
            let _ = annotations::check(&f.annotations, Target::Fragment, &mut self.diags);
        }
        for t in &module.types {
            let is_json = t.annotations.iter().any(|a| a.name.as_str() == "json");
            if is_json {
                let id = self.json_infos.len() as u32;
                if self.declare(&t.name, Decl::Json(id), Some(module_id)) {
                    self.json_infos.push(JsonInfo { decl: t });
                }
            } else {
                let id = self.entity_infos.len() as u32;
                if self.declare(&t.name, Decl::Entity(id), Some(module_id)) {
                    self.entity_infos.push(EntityInfo { decl: t, module: module_id });
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Phase 2: enums
    // -----------------------------------------------------------------------------------------

    fn check_enums(&mut self) {
        for i in 0..self.enum_infos.len() {
            let EnumInfo { decl, module } = self.enum_infos[i];
            let _ = annotations::check(&decl.annotations, Target::Enum, &mut self.diags);
            let mut variants: Vec<String> = Vec::new();
            let mut seen: HashMap<&str, Span> = HashMap::new();
            for v in &decl.variants {
                if let Some(prev) = seen.get(v.name.as_str()) {
                    let d = Diagnostic::error(
                        "exo::duplicate_variant",
                        format!("enum `{}` lists `{}` twice", decl.name, v.name),
                    )
                    .with_primary(v.name.span, "listed again here")
                    .with_secondary(*prev, "first listed here");
                    self.error(d);
                    continue;
                }
                seen.insert(v.name.as_str(), v.name.span);
                variants.push(v.name.name.clone());
            }
            if variants.is_empty() {
                self.error(
                    Diagnostic::error("exo::empty_enum", format!("enum `{}` has no values", decl.name))
                        .with_primary(decl.name.span, "empty enum")
                        .with_help(
                            "list its values separated by spaces or newlines, e.g. `enum Priority { LOW HIGH }`",
                        ),
                );
            }
            let schema = self.modules[module].schema.clone();
            self.enums.push(ir::EnumType {
                name: decl.name.name.clone(),
                doc: decl.doc.clone(),
                variants,
                pg_schema: schema,
                pg_name: names::snake_case(decl.name.as_str()),
            });
        }
    }

    // -----------------------------------------------------------------------------------------
    // Phase 3: contexts
    // -----------------------------------------------------------------------------------------

    fn check_contexts(&mut self) {
        for i in 0..self.context_decls.len() {
            let ctx = self.context_decls[i];
            let _ = annotations::check(&ctx.annotations, Target::Context, &mut self.diags);
            for f in &ctx.fragment_refs {
                self.error(
                    Diagnostic::error(
                        "exo::invalid_fragment",
                        format!("context `{}` cannot spread a fragment", ctx.name),
                    )
                    .with_primary(f.span, "fragment spread in a context")
                    .with_help("declare the context fields directly"),
                );
            }
            let mut fields: Vec<ir::ContextField> = Vec::new();
            let mut seen: HashMap<&str, Span> = HashMap::new();
            for f in &ctx.fields {
                if let Some(prev) = seen.get(f.name.as_str()) {
                    let d = duplicate_field(&ctx.name, &f.name, *prev);
                    self.error(d);
                    continue;
                }
                seen.insert(f.name.as_str(), f.name.span);
                fields.push(self.check_context_field(ctx, f));
            }
            self.context_index.insert(ctx.name.as_str(), self.contexts.len() as u32);
            self.contexts.push(ir::Context { name: ctx.name.name.clone(), fields });
        }
    }

    fn check_context_field(&mut self, ctx: &ast::Context, f: &'a ast::Field) -> ir::ContextField {
        let (resolved, optional) = self.resolve_type(&f.ty, Place::ContextField);
        let (ty, is_list) = match &resolved {
            FieldType::Value(ValueType::Scalar(s)) => (*s, false),
            FieldType::Value(ValueType::Array(inner)) => match **inner {
                ValueType::Scalar(s) => (s, true),
                _ => {
                    self.error(
                        Diagnostic::error("exo::invalid_type", "context fields can only be lists of scalar values")
                            .with_primary(f.ty.span(), "nested list"),
                    );
                    (ScalarType::String, true)
                }
            },
            _ => (ScalarType::String, false),
        };
        let annots = annotations::check(&f.annotations, Target::ContextField, &mut self.diags);
        let sources: Vec<&ast::Annotation> = annots.iter().collect();
        let source = match sources.as_slice() {
            // Annotations that failed the catalogue checks were already reported.
            [] if !f.annotations.is_empty() => ir::ContextSource::ClientIp,
            [] => {
                self.error(
                    Diagnostic::error(
                        "exo::context_source",
                        format!("context field `{}.{}` has no source", ctx.name, f.name),
                    )
                    .with_primary(f.name.span, "where does this value come from?")
                    .with_help(format!(
                        "annotate it with one of `@jwt`, `@header(\"...\")`, `@cookie(\"...\")`, `@env(\"...\")` or `@clientIp`, e.g. `@jwt {}: ...`",
                        f.name
                    )),
                );
                ir::ContextSource::ClientIp
            }
            [a] => self.context_source(ctx, a, f),
            [first, second, ..] => {
                self.error(
                    Diagnostic::error(
                        "exo::context_source",
                        format!("context field `{}.{}` has more than one source", ctx.name, f.name),
                    )
                    .with_primary(second.span, "second source")
                    .with_secondary(first.span, "first source")
                    .with_help("keep exactly one source annotation"),
                );
                self.context_source(ctx, first, f)
            }
        };
        let default = f.default.as_ref().and_then(|d| self.context_default(d, ty, is_list, optional));
        ir::ContextField { name: f.name.name.clone(), ty, is_list, optional, source, default }
    }

    fn context_source(&mut self, ctx: &ast::Context, a: &ast::Annotation, f: &ast::Field) -> ir::ContextSource {
        let arg = |c: &mut Self| {
            annotations::positional(a)
                .first()
                .and_then(|e| annotations::expr_string(a, e, &mut c.diags))
                .unwrap_or_default()
        };
        match a.name.as_str() {
            "jwt" => {
                let claim = if annotations::positional(a).is_empty() { f.name.name.clone() } else { arg(self) };
                ir::ContextSource::Jwt(claim.split('.').map(str::to_string).collect())
            }
            "header" => ir::ContextSource::Header(arg(self)),
            "cookie" => ir::ContextSource::Cookie(arg(self)),
            "env" => ir::ContextSource::Env(arg(self)),
            "query" => {
                // Exograph's `@query` runs a Deno or Wasm module query (its arguments injected
                // contexts, its result a primitive). exo has no such modules, so no query could
                // fill the field; accepting it would leave the field empty and every rule
                // using it would silently run with null.
                let name = arg(self);
                self.error(
                    Diagnostic::error(
                        "exo::unsupported_context_source",
                        format!(
                            "context field `{}.{}` uses `@query(\"{name}\")`, which exo does not support",
                            ctx.name, f.name
                        ),
                    )
                    .with_primary(a.span, "`@query` source")
                    .with_secondary(f.name.span, "this field would always be empty")
                    .with_help(
                        "`@query` runs a Deno or Wasm module query, which exo does not support; compute the value \
                         before the request reaches exo and pass it as a signed JWT claim (`@jwt`)",
                    ),
                );
                ir::ContextSource::Query(name)
            }
            _ => ir::ContextSource::ClientIp,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Type expressions
    // -----------------------------------------------------------------------------------------

    /// Resolves a field's type; returns the type and whether it was written with `?`.
    fn resolve_type(&mut self, ty: &TypeExpr, place: Place) -> (FieldType, bool) {
        match ty {
            TypeExpr::Optional { inner, .. } => {
                if let TypeExpr::Optional { span, .. } = &**inner {
                    self.error(
                        Diagnostic::error("exo::invalid_type", "a type can be made optional only once")
                            .with_primary(*span, "already optional"),
                    );
                }
                (self.resolve_inner(inner, place, true), true)
            }
            _ => (self.resolve_inner(ty, place, true), false),
        }
    }

    fn resolve_inner(&mut self, ty: &TypeExpr, place: Place, top: bool) -> FieldType {
        let (module, name, params, span) = match ty {
            TypeExpr::Named { module, name, params, span } => (module, name, params, *span),
            TypeExpr::Optional { span, .. } => {
                self.error(
                    Diagnostic::error("exo::invalid_type", "elements of a list cannot be optional")
                        .with_primary(*span, "optional element type")
                        .with_help("remove the `?`; make the list itself optional instead"),
                );
                return FieldType::Error;
            }
        };
        let n = name.as_str();
        if let Some(m) = module {
            match self.modules_by_name.get(m.as_str()) {
                None => {
                    let d = Diagnostic::error("exo::unknown_type", format!("unknown module `{m}`"))
                        .with_primary(m.span, "no module with this name");
                    self.error(d);
                    return FieldType::Error;
                }
                Some(&mid) => {
                    let in_module = self.decls.get(n).is_some_and(|d| d.module == Some(mid));
                    if !in_module {
                        let d = Diagnostic::error("exo::unknown_type", format!("module `{m}` has no type `{n}`"))
                            .with_primary(name.span, "not declared in this module");
                        self.error(d);
                        return FieldType::Error;
                    }
                }
            }
        }
        if n == "Set" || n == "Array" {
            if params.len() != 1 {
                self.error(
                    Diagnostic::error("exo::invalid_type", format!("`{n}` takes exactly one type argument"))
                        .with_primary(span, format!("found {}", params.len()))
                        .with_help(format!("write `{n}<T>`")),
                );
                return FieldType::Error;
            }
            let inner = self.resolve_inner(&params[0], place, false);
            let pspan = params[0].span();
            return match (n, inner) {
                (_, FieldType::Error) => FieldType::Error,
                ("Array", FieldType::Value(v)) => FieldType::Value(ValueType::Array(Box::new(v))),
                ("Array", FieldType::Entity(e)) => {
                    let target = self.entity_infos[e as usize].decl.name.name.clone();
                    self.error(
                        Diagnostic::error("exo::invalid_type", format!("`Array<{target}>` cannot hold entities"))
                            .with_primary(span, "array of an entity type")
                            .with_help(format!("use `Set<{target}>` for a one-to-many relation")),
                    );
                    FieldType::Error
                }
                ("Set", FieldType::Entity(e)) if place == Place::EntityField && top => FieldType::Set(e),
                ("Set", FieldType::Value(ValueType::Scalar(s))) if place == Place::ContextField => {
                    FieldType::Value(ValueType::Array(Box::new(ValueType::Scalar(s))))
                }
                ("Set", FieldType::Value(_)) => {
                    let inner = params[0].to_string();
                    self.error(
                        Diagnostic::error("exo::invalid_type", format!("`Set<{inner}>` is not a relation"))
                            .with_primary(pspan, "not an entity type")
                            .with_help(format!("use `Array<{inner}>` for a list of values")),
                    );
                    FieldType::Error
                }
                (_, _) => {
                    self.error(
                        Diagnostic::error("exo::invalid_type", format!("`{ty}` is not a valid field type"))
                            .with_primary(span, "nested collection")
                            .with_help("a `Set` holds entities and cannot be nested; `Array` holds values"),
                    );
                    FieldType::Error
                }
            };
        }
        if let Some(p) = params.first() {
            self.error(
                Diagnostic::error("exo::invalid_type", format!("`{n}` takes no type arguments"))
                    .with_primary(p.span(), "unexpected type argument"),
            );
        }
        if let Some(s) = primitive(n) {
            return FieldType::Value(ValueType::Scalar(s));
        }
        if n == "Vector" {
            self.error(
                Diagnostic::error("exo::unsupported_type", "the `Vector` type is not supported yet")
                    .with_primary(name.span, "vector columns (pgvector) are not available in exo")
                    .with_help("store the embedding as `Array<Float>` for now"),
            );
            return FieldType::Error;
        }
        let Some(info) = self.decls.get(n) else {
            let mut d = Diagnostic::error("exo::unknown_type", format!("unknown type `{n}`"))
                .with_primary(name.span, "not declared anywhere");
            let candidates = PRIMITIVES.iter().map(|(p, _)| *p).chain(
                self.decls
                    .iter()
                    .filter(|(_, i)| matches!(i.decl, Decl::Entity(_) | Decl::Enum(_) | Decl::Json(_)))
                    .map(|(k, _)| *k),
            );
            if n == "DateTime" {
                d = d.with_help("use `LocalDateTime` (without time zone) or `Instant` (with time zone)");
            } else if let Some(s) = names::suggest(n, candidates) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            self.error(d);
            return FieldType::Error;
        };
        match info.decl {
            Decl::Enum(id) => FieldType::Value(ValueType::Scalar(ScalarType::Enum(id))),
            Decl::Json(id) => {
                if place == Place::ContextField {
                    self.error(
                        Diagnostic::error(
                            "exo::invalid_type",
                            format!("context fields cannot have the `@json` type `{n}`"),
                        )
                        .with_primary(name.span, "not a scalar type"),
                    );
                    return FieldType::Error;
                }
                FieldType::Value(ValueType::JsonObject(id))
            }
            Decl::Entity(id) => match place {
                Place::EntityField => FieldType::Entity(id),
                Place::JsonField => {
                    self.error(
                        Diagnostic::error(
                            "exo::invalid_type",
                            format!("a `@json` type cannot refer to the entity type `{n}`"),
                        )
                        .with_primary(name.span, "entity type")
                        .with_help("`@json` types hold plain values: scalars, enums, arrays and other `@json` types"),
                    );
                    FieldType::Error
                }
                Place::ContextField => {
                    self.error(
                        Diagnostic::error(
                            "exo::invalid_type",
                            format!("context fields cannot have the entity type `{n}`"),
                        )
                        .with_primary(name.span, "not a scalar type"),
                    );
                    FieldType::Error
                }
            },
            Decl::Fragment(_) => {
                self.error(
                    Diagnostic::error("exo::invalid_type", format!("`{n}` is a fragment, not a type"))
                        .with_primary(name.span, "fragment")
                        .with_help(format!("spread its fields into a type with `...{n}`")),
                );
                FieldType::Error
            }
            Decl::Context(_) => {
                self.error(
                    Diagnostic::error("exo::invalid_type", format!("`{n}` is a context, not a type"))
                        .with_primary(name.span, "context")
                        .with_help(format!("use context values in defaults and access rules, e.g. `= {n}.id`")),
                );
                FieldType::Error
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Phase 4: type-level annotations (`@table`, `@plural`)
    // -----------------------------------------------------------------------------------------

    fn check_entity_headers(&mut self) {
        for i in 0..self.entity_infos.len() {
            let EntityInfo { decl, module } = self.entity_infos[i];
            let annots = annotations::check(&decl.annotations, Target::Type, &mut self.diags);
            let plural = match annots.get("plural") {
                Some(a) => annotations::positional(a)
                    .first()
                    .and_then(|e| annotations::expr_string(a, e, &mut self.diags))
                    .unwrap_or_else(|| names::pluralize(decl.name.as_str())),
                None => names::pluralize(decl.name.as_str()),
            };
            let m = &self.modules[module];
            let mut table =
                TableSpec { name: names::snake_case(&plural), schema: m.schema.clone(), managed: m.managed };
            if let Some(a) = annots.get("table") {
                if let Some(e) = annotations::positional(a).first() {
                    if let Some(s) = annotations::expr_string(a, e, &mut self.diags) {
                        table.name = s;
                    }
                }
                for p in annotations::named(a) {
                    match p.name.as_str() {
                        "name" => {
                            if let Some(s) = annotations::value_string(a, &p.value, &mut self.diags) {
                                table.name = s;
                            }
                        }
                        "schema" => {
                            if let Some(s) = annotations::value_string(a, &p.value, &mut self.diags) {
                                table.schema = s;
                            }
                        }
                        _ => {
                            if let Some(b) = annotations::value_bool(a, &p.value, &mut self.diags) {
                                table.managed = b;
                            }
                        }
                    }
                }
            }
            if decl.fields.is_empty() && decl.fragment_refs.is_empty() {
                self.error(
                    Diagnostic::error("exo::empty_type", format!("type `{}` has no fields", decl.name))
                        .with_primary(decl.name.span, "empty type")
                        .with_help("add at least a primary key, e.g. `@pk id: Int = autoIncrement()`"),
                );
            }
            self.entities.push(EntityDef {
                decl,
                name: decl.name.name.clone(),
                doc: decl.doc.clone(),
                plural,
                table,
                fields: Vec::new(),
                field_index: HashMap::new(),
                access: EntityAccess::default(),
            });
        }
    }

    // -----------------------------------------------------------------------------------------
    // Phase 5: fields
    // -----------------------------------------------------------------------------------------

    /// The fields of a type with fragment spreads spliced in where they are written.
    fn expanded_fields(
        &mut self,
        owner: &'a Ident,
        fields: &'a [ast::Field],
        spreads: &'a [Ident],
    ) -> Vec<&'a ast::Field> {
        let mut out: Vec<&'a ast::Field> = Vec::new();
        let mut visiting = Vec::new();
        self.splice_body(owner, fields, spreads, &mut visiting, &mut out);
        // Duplicate names (including fields that come from fragments).
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut unique = Vec::with_capacity(out.len());
        for f in out {
            if let Some(prev) = seen.get(f.name.as_str()) {
                let d = duplicate_field(owner, &f.name, *prev);
                self.error(d);
                continue;
            }
            seen.insert(f.name.as_str(), f.name.span);
            unique.push(f);
        }
        unique
    }

    /// Appends the fields of a body (a type's or a fragment's) in source order, replacing each
    /// `...F` by the fields of `F`. The parser keeps fields and spreads apart; their spans
    /// (always in one file) give back the order they were written in.
    fn splice_body(
        &mut self,
        owner: &'a Ident,
        fields: &'a [ast::Field],
        spreads: &'a [Ident],
        visiting: &mut Vec<u32>,
        out: &mut Vec<&'a ast::Field>,
    ) {
        let mut seen_spreads: HashMap<&str, Span> = HashMap::new();
        let mut next_field = 0;
        for s in spreads {
            while next_field < fields.len() && fields[next_field].span.start < s.span.start {
                out.push(&fields[next_field]);
                next_field += 1;
            }
            if let Some(prev) = seen_spreads.get(s.as_str()) {
                let d = Diagnostic::error(
                    "exo::invalid_fragment",
                    format!("fragment `{s}` is spread twice into `{owner}`"),
                )
                .with_primary(s.span, "spread again here")
                .with_secondary(*prev, "first spread here");
                self.error(d);
                continue;
            }
            seen_spreads.insert(s.as_str(), s.span);
            match self.decls.get(s.as_str()).map(|d| d.decl) {
                Some(Decl::Fragment(id)) => {
                    // Cycles are reported once by `check_fragment_cycles`; stop silently here.
                    if visiting.contains(&id) {
                        continue;
                    }
                    visiting.push(id);
                    let frag = self.fragments[id as usize];
                    self.splice_body(&frag.name, &frag.fields, &frag.fragment_refs, visiting, out);
                    visiting.pop();
                }
                Some(_) => {
                    let d = Diagnostic::error("exo::invalid_fragment", format!("`{s}` is not a fragment"))
                        .with_primary(s.span, "only fragments can be spread")
                        .with_help(format!(
                            "declare the shared fields with `fragment {s}Fields {{ ... }}` and spread that"
                        ));
                    self.error(d);
                }
                None => {
                    let frags = self.fragments.iter().map(|f| f.name.as_str());
                    let mut d = Diagnostic::error("exo::unknown_fragment", format!("unknown fragment `{s}`"))
                        .with_primary(s.span, "no fragment with this name");
                    if let Some(sugg) = names::suggest(s.as_str(), frags) {
                        d = d.with_help(format!("did you mean `{sugg}`?"));
                    } else {
                        d = d.with_help(format!("declare it in a `@postgres` module: `fragment {s} {{ ... }}`"));
                    }
                    self.error(d);
                }
            }
        }
        out.extend(fields[next_field..].iter());
    }

    /// Reports each cycle of fragments spreading each other once.
    fn check_fragment_cycles(&mut self) {
        let mut state = vec![0u8; self.fragments.len()];
        for f in 0..self.fragments.len() {
            let mut stack: Vec<(u32, Option<&'a Ident>)> = Vec::new();
            self.fragment_dfs(f as u32, None, &mut state, &mut stack);
        }
    }

    fn fragment_dfs(
        &mut self,
        f: u32,
        via: Option<&'a Ident>,
        state: &mut Vec<u8>,
        stack: &mut Vec<(u32, Option<&'a Ident>)>,
    ) {
        match state[f as usize] {
            2 => return,
            1 => {
                let start = stack.iter().position(|(x, _)| *x == f).unwrap_or(0);
                let mut names: Vec<String> =
                    stack[start..].iter().map(|(x, _)| format!("`{}`", self.fragments[*x as usize].name)).collect();
                names.push(format!("`{}`", self.fragments[f as usize].name));
                let mut d = Diagnostic::error(
                    "exo::fragment_cycle",
                    format!("fragments spread each other in a cycle: {}", names.join(" -> ")),
                )
                .with_help("a fragment cannot include itself, directly or through others; remove one of the spreads");
                if let Some(v) = via {
                    d = d.with_primary(v.span, "closes the cycle");
                }
                for (_, v) in &stack[start + 1..] {
                    if let Some(v) = v {
                        d = d.with_secondary(v.span, "spread here");
                    }
                }
                self.error(d);
                return;
            }
            _ => {}
        }
        state[f as usize] = 1;
        stack.push((f, via));
        let frag = self.fragments[f as usize];
        for r in &frag.fragment_refs {
            if let Some(Decl::Fragment(g)) = self.decls.get(r.as_str()).map(|d| d.decl) {
                self.fragment_dfs(g, Some(r), state, stack);
            }
        }
        stack.pop();
        state[f as usize] = 2;
    }

    fn check_json_types(&mut self) {
        for i in 0..self.json_infos.len() {
            let decl = self.json_infos[i].decl;
            let annots = annotations::check(&decl.annotations, Target::Type, &mut self.diags);
            for a in annots.iter().filter(|a| a.name.as_str() != "json") {
                if a.name.as_str() == "access" {
                    // Harmless (the entity using the type decides access); Exograph accepts it.
                    self.error(
                        Diagnostic::warning("exo::ignored_annotation", "`@access` has no effect on a `@json` type")
                            .with_primary(a.span, "ignored")
                            .with_help("access is decided by the rules of the entities whose fields use this type"),
                    );
                    continue;
                }
                self.error(
                    Diagnostic::error(
                        "exo::annotation_target",
                        format!("annotation `@{}` cannot be used on a `@json` type", a.name),
                    )
                    .with_primary(a.span, "not allowed here")
                    .with_help("a `@json` type is stored inside a column of the entity that uses it"),
                );
            }
            let fields = self.expanded_fields(&decl.name, &decl.fields, &decl.fragment_refs);
            let mut out = Vec::new();
            for f in fields {
                let (ty, optional) = self.resolve_type(&f.ty, Place::JsonField);
                for a in &f.annotations {
                    self.error(
                        Diagnostic::error(
                            "exo::annotation_target",
                            format!("annotation `@{}` cannot be used on a field of a `@json` type", a.name),
                        )
                        .with_primary(a.span, "not allowed here"),
                    );
                }
                if let Some(d) = &f.default {
                    self.error(
                        Diagnostic::error("exo::invalid_default", "fields of a `@json` type cannot have defaults")
                            .with_primary(d.span(), "default value"),
                    );
                }
                let ty = match ty {
                    FieldType::Value(v) => v,
                    _ => ValueType::Scalar(ScalarType::Json),
                };
                out.push(ir::JsonTypeField { name: f.name.name.clone(), ty, optional });
            }
            self.json_types.push(ir::JsonType { name: decl.name.name.clone(), doc: decl.doc.clone(), fields: out });
        }
    }

    /// Fields of fragments no type spreads are still checked, so mistakes in them surface.
    fn check_unused_fragments(&mut self) {
        let mut used = vec![false; self.fragments.len()];
        let mark = |refs: &[Ident], decls: &HashMap<&str, DeclInfo>, used: &mut Vec<bool>| {
            for r in refs {
                if let Some(Decl::Fragment(id)) = decls.get(r.as_str()).map(|d| d.decl) {
                    used[id as usize] = true;
                }
            }
        };
        for e in &self.entity_infos {
            mark(&e.decl.fragment_refs, &self.decls, &mut used);
        }
        for j in &self.json_infos {
            mark(&j.decl.fragment_refs, &self.decls, &mut used);
        }
        for f in &self.fragments {
            mark(&f.fragment_refs, &self.decls, &mut used);
        }
        for (i, f) in self.fragments.clone().into_iter().enumerate() {
            if used[i] {
                continue;
            }
            for field in &f.fields {
                let (ty, optional) = self.resolve_type(&field.ty, Place::EntityField);
                let annots = annotations::check(&field.annotations, Target::Field, &mut self.diags);
                let _ = self.field_hints(&annots, field, &ty, optional);
            }
        }
    }

    fn check_entity_fields(&mut self) {
        for e in 0..self.entities.len() {
            let decl = self.entities[e].decl;
            let fields = self.expanded_fields(&decl.name, &decl.fields, &decl.fragment_refs);
            let mut defs = Vec::with_capacity(fields.len());
            let mut index = HashMap::with_capacity(fields.len());
            for f in fields {
                let (ty, optional) = self.resolve_type(&f.ty, Place::EntityField);
                let annots = annotations::check(&f.annotations, Target::Field, &mut self.diags);
                let hints = self.field_hints(&annots, f, &ty, optional);
                index.insert(f.name.name.clone(), defs.len() as FieldId);
                defs.push(FieldDef {
                    ast: f,
                    name: f.name.name.clone(),
                    doc: f.doc.clone(),
                    optional,
                    ty,
                    hints,
                    default: None,
                    access: None,
                    annots,
                });
            }
            self.entities[e].fields = defs;
            self.entities[e].field_index = index;
        }
    }

    /// A readable name of a field's type for messages (`Int`, `Array<String>`, `User`).
    fn type_label(&self, ty: &FieldType, f: &ast::Field) -> String {
        match ty {
            FieldType::Value(v) => self.value_label(v),
            _ => strip_optional(&f.ty).to_string(),
        }
    }

    fn value_label(&self, v: &ValueType) -> String {
        match v {
            ValueType::Scalar(ScalarType::Enum(id)) => {
                self.enums.get(*id as usize).map_or("<enum>".to_string(), |e| e.name.clone())
            }
            ValueType::Scalar(s) => s.graphql_name().to_string(),
            ValueType::JsonObject(id) => self.json_infos[*id as usize].decl.name.name.clone(),
            ValueType::Array(inner) => format!("Array<{}>", self.value_label(inner)),
        }
    }

    fn field_hints(&mut self, annots: &Annots<'a>, f: &'a ast::Field, ty: &FieldType, optional: bool) -> Hints {
        let mut h = Hints::default();
        let element = ty.scalar();
        let is_value = matches!(ty, FieldType::Value(_));
        let is_set = matches!(ty, FieldType::Set(_));
        let is_single_relation = matches!(ty, FieldType::Entity(_));
        let resolved = !matches!(ty, FieldType::Error);
        let type_label = self.type_label(ty, f);

        // Type hints: (annotation, scalars it applies to).
        const HINTS: &[(&str, &[ScalarType])] = &[
            ("maxLength", &[ScalarType::String]),
            ("precision", &[ScalarType::Decimal, ScalarType::Instant, ScalarType::LocalDateTime]),
            ("scale", &[ScalarType::Decimal]),
            ("bits16", &[ScalarType::Int]),
            ("bits32", &[ScalarType::Int]),
            ("bits64", &[ScalarType::Int]),
            ("range", &[ScalarType::Int, ScalarType::Float, ScalarType::Decimal]),
            ("singlePrecision", &[ScalarType::Float]),
            ("doublePrecision", &[ScalarType::Float]),
            ("size", &[]),
            ("distanceFunction", &[]),
        ];
        let mut applicable: Vec<&'a ast::Annotation> = Vec::new();
        for (name, scalars) in HINTS {
            let Some(a) = annots.get(name) else { continue };
            let ok = element.is_some_and(|s| scalars.contains(&s));
            if !ok {
                if resolved {
                    let mut d = Diagnostic::error(
                        "exo::hint_not_supported",
                        format!("annotation `@{name}` is not supported for type `{type_label}`"),
                    )
                    .with_primary(a.span, "not applicable")
                    .with_secondary(f.ty.span(), format!("`{}` has type `{type_label}`", f.name));
                    if !scalars.is_empty() {
                        let names: Vec<String> = scalars.iter().map(|s| format!("`{}`", s.graphql_name())).collect();
                        d = d.with_help(format!("`@{name}` applies to {}", names.join(", ")));
                    } else {
                        d = d
                            .with_help(format!("`@{name}` applies to `Vector` fields, which exo does not support yet"));
                    }
                    self.error(d);
                }
                continue;
            }
            applicable.push(a);
        }
        if let Some(db) = annots.get("dbtype") {
            if resolved && !is_value {
                self.error(
                    Diagnostic::error(
                        "exo::hint_not_supported",
                        format!("annotation `@dbtype` is not supported for type `{type_label}`"),
                    )
                    .with_primary(db.span, "not applicable")
                    .with_help(
                        "`@dbtype` sets the column type of a scalar field; relation columns follow the referenced key",
                    ),
                );
            } else {
                h.dbtype =
                    annotations::positional(db).first().and_then(|e| annotations::expr_string(db, e, &mut self.diags));
                if let Some(other) = applicable.first() {
                    self.error(
                        Diagnostic::error(
                            "exo::conflicting_annotations",
                            format!("`@dbtype` cannot be combined with `@{}`", other.name),
                        )
                        .with_primary(other.span, "type hint")
                        .with_secondary(db.span, "explicit column type")
                        .with_help("`@dbtype` gives the whole column type; remove the hint or fold it into the `@dbtype` string"),
                    );
                    applicable.clear();
                }
            }
        }
        for a in &applicable {
            match a.name.as_str() {
                "maxLength" => h.max_length = annotations::positive_int(a, &mut self.diags),
                "precision" => h.precision = annotations::positive_int(a, &mut self.diags),
                "scale" => {
                    h.scale = annotations::positional(a).first().and_then(|e| {
                        annotations::expr_number(a, e, &mut self.diags)
                            .filter(|v| *v >= 0.0 && v.fract() == 0.0)
                            .map(|v| v as u32)
                    })
                }
                "bits16" => h.int_bits = Some(16),
                "bits32" => h.int_bits = Some(32),
                "bits64" => h.int_bits = Some(64),
                "doublePrecision" => h.double_precision = true,
                _ => {}
            }
        }
        // Conflicts among hints.
        let bits: Vec<&&ast::Annotation> = applicable.iter().filter(|a| a.name.as_str().starts_with("bits")).collect();
        if bits.len() > 1 {
            self.error(
                Diagnostic::error(
                    "exo::conflicting_annotations",
                    format!("`@{}` and `@{}` cannot both be used", bits[0].name, bits[1].name),
                )
                .with_primary(bits[1].span, "second size")
                .with_secondary(bits[0].span, "first size")
                .with_help("keep one of them"),
            );
        }
        let single = applicable.iter().find(|a| a.name.as_str() == "singlePrecision");
        let double = applicable.iter().find(|a| a.name.as_str() == "doublePrecision");
        if let (Some(s), Some(d)) = (single, double) {
            self.error(
                Diagnostic::error(
                    "exo::conflicting_annotations",
                    "`@singlePrecision` and `@doublePrecision` cannot both be used",
                )
                .with_primary(d.span, "double precision")
                .with_secondary(s.span, "single precision")
                .with_help("keep one of them"),
            );
        }
        if let Some(r) = applicable.iter().find(|a| a.name.as_str() == "range") {
            let min = annotations::named_param(r, "min");
            let max = annotations::named_param(r, "max");
            let num = |c: &mut Self, p: Option<&ast::NamedParam>| {
                p.and_then(|p| match &p.value {
                    ast::AnnotationValue::Expr(e) => annotations::range_bound(r, e, &mut c.diags),
                    v => {
                        c.diags.push(
                            Diagnostic::error("exo::annotation_params", "`@range` expects numbers")
                                .with_primary(v.span(), "expected a number"),
                        );
                        None
                    }
                })
            };
            match (min.is_some(), max.is_some()) {
                (true, true) => {
                    let (lo, hi) = (num(self, min), num(self, max));
                    if let (Some(lo), Some(hi)) = (lo, hi) {
                        if lo > hi {
                            self.error(
                                Diagnostic::error(
                                    "exo::annotation_params",
                                    format!("`@range` has `min` ({lo}) greater than `max` ({hi})"),
                                )
                                .with_primary(r.span, "empty range"),
                            );
                        } else {
                            h.range = Some((lo, hi));
                            // With an explicit `@bits*` the size is that one and the range
                            // only checks values, as in Exograph (`customizing-types.md`:
                            // "You may use the `@range` annotation with one of the `@bits*`").
                            if element == Some(ScalarType::Int) && bits.is_empty() {
                                h.int_bits = Some(bits_for_range(lo, hi));
                            }
                        }
                    }
                }
                _ => {
                    self.error(
                        Diagnostic::error("exo::annotation_params", "`@range` needs both `min` and `max`")
                            .with_primary(r.span, "incomplete range")
                            .with_help("write `@range(min = 0, max = 100)`"),
                    );
                }
            }
        }
        if let Some(s) = annots.get("scale") {
            if applicable.iter().any(|a| a.name.as_str() == "scale")
                && !applicable.iter().any(|a| a.name.as_str() == "precision")
            {
                self.error(
                    Diagnostic::error("exo::scale_without_precision", "`@scale` requires `@precision`")
                        .with_primary(s.span, "scale without precision")
                        .with_help("add `@precision(n)`, the total number of digits, e.g. `@precision(10) @scale(2)`"),
                );
                h.scale = None;
            }
            if let (Some(p), Some(sc)) = (h.precision, h.scale) {
                if sc > p {
                    self.error(
                        Diagnostic::error(
                            "exo::annotation_params",
                            format!("`@scale({sc})` is larger than `@precision({p})`"),
                        )
                        .with_primary(s.span, "too many digits after the point"),
                    );
                }
            }
        }

        // Structural annotations.
        h.pk = annots.has("pk");
        h.suspect = annots.had_unknown || (annots.written("pk") && !annots.has("pk"));
        if let Some(a) = annots.get("pk") {
            if is_set {
                self.error(
                    Diagnostic::error(
                        "exo::invalid_pk",
                        format!("the one-to-many field `{}` cannot be a primary key", f.name),
                    )
                    .with_primary(a.span, "`@pk` on a collection"),
                );
                h.pk = false;
            } else if optional && resolved {
                self.error(
                    Diagnostic::error(
                        "exo::invalid_pk",
                        format!("the primary-key field `{}` cannot be optional", f.name),
                    )
                    .with_primary(f.ty.span(), "optional type")
                    .with_secondary(a.span, "primary key")
                    .with_help("remove the `?`"),
                );
            } else if let FieldType::Value(v) = ty {
                let bad = matches!(
                    v,
                    ValueType::Scalar(ScalarType::Json | ScalarType::Blob)
                        | ValueType::JsonObject(_)
                        | ValueType::Array(_)
                );
                if bad {
                    self.error(
                        Diagnostic::error(
                            "exo::invalid_pk",
                            format!("a field of type `{type_label}` cannot be a primary key"),
                        )
                        .with_primary(a.span, "primary key")
                        .with_secondary(f.ty.span(), "this type cannot be compared for identity")
                        .with_help("use an `Int`, `String`, `Uuid` or other scalar key"),
                    );
                    h.pk = false;
                }
            }
        }
        if let Some(a) = annots.get("unique") {
            if is_set {
                self.error(
                    Diagnostic::error(
                        "exo::invalid_unique",
                        format!("the one-to-many field `{}` cannot be unique", f.name),
                    )
                    .with_primary(a.span, "`@unique` on a collection")
                    .with_help("put `@unique` on the many-to-one field of the other type"),
                );
            } else {
                let named = annotations::strings(a, &mut self.diags);
                if named.is_empty() {
                    h.unique.push(f.name.name.clone());
                } else {
                    h.unique.extend(named.into_iter().map(|(s, _)| s));
                }
            }
        }
        if let Some(a) = annots.get("index") {
            if is_set {
                self.error(
                    Diagnostic::error(
                        "exo::invalid_index",
                        format!("the one-to-many field `{}` cannot be indexed", f.name),
                    )
                    .with_primary(a.span, "`@index` on a collection")
                    .with_help("put `@index` on the many-to-one field of the other type"),
                );
            } else {
                let named = annotations::strings(a, &mut self.diags);
                if named.is_empty() {
                    h.index.push(None);
                } else {
                    h.index.extend(named.into_iter().map(|(s, _)| Some(s)));
                }
            }
        }
        if let Some(a) = annots.get("column") {
            h.column_span = Some(a.span);
            if is_set {
                self.error(
                    Diagnostic::error(
                        "exo::invalid_column",
                        format!("the one-to-many field `{}` has no column", f.name),
                    )
                    .with_primary(a.span, "`@column` on a collection")
                    .with_help(
                        "the foreign-key column lives in the other type; put `@column` on its many-to-one field",
                    ),
                );
            } else if let Some(e) = annotations::positional(a).first() {
                h.column = annotations::expr_string(a, e, &mut self.diags);
            } else if let Some(p) = annotations::named_param(a, "mapping") {
                match &p.value {
                    ast::AnnotationValue::Object { pairs, .. } => {
                        if !is_single_relation && resolved {
                            self.error(
                                Diagnostic::error(
                                    "exo::invalid_column",
                                    "`@column(mapping = ...)` applies only to many-to-one fields",
                                )
                                .with_primary(a.span, "mapping on a scalar field")
                                .with_help("name the column with `@column(\"name\")`"),
                            );
                        }
                        for (k, v) in pairs {
                            match &v.value {
                                ast::LiteralValue::Str(s) => h.column_mapping.push((k.clone(), s.clone())),
                                _ => self.error(
                                    Diagnostic::error(
                                        "exo::annotation_params",
                                        "column names in a mapping must be strings",
                                    )
                                    .with_primary(v.span, "expected a string"),
                                ),
                            }
                        }
                    }
                    v => self.error(
                        Diagnostic::error(
                            "exo::annotation_params",
                            "`mapping` expects an object such as `{id: \"column\"}`",
                        )
                        .with_primary(v.span(), "expected an object"),
                    ),
                }
            }
        }
        h.readonly = annots.has("readonly");
        h.update = annots.has("update");
        for name in ["readonly", "update"] {
            if let Some(a) = annots.get(name) {
                // A many-to-one may be readonly (`@readonly owner: User = AuthContext.id`).
                let allowed = is_value || (name == "readonly" && is_single_relation);
                if resolved && !allowed {
                    self.error(
                        Diagnostic::error(
                            "exo::annotation_target",
                            format!("`@{name}` cannot be used on the relation field `{}`", f.name),
                        )
                        .with_primary(a.span, "on a relation"),
                    );
                }
            }
        }
        if let Some(a) = annots.get("relation") {
            if resolved && !(is_set || is_single_relation) {
                self.error(
                    Diagnostic::error(
                        "exo::invalid_relation",
                        format!("`@relation` applies only to relation fields, but `{}` is a `{type_label}`", f.name),
                    )
                    .with_primary(a.span, "not a relation"),
                );
            } else if let Some(e) = annotations::positional(a).first() {
                if let Some(s) = annotations::expr_string(a, e, &mut self.diags) {
                    h.relation = Some((s, e.span()));
                }
            }
        }
        for name in ["manyToOne", "oneToOne"] {
            if let Some(a) = annots.get(name) {
                if resolved && !is_single_relation {
                    let help = if is_set {
                        format!("`@{name}` goes on the field that holds the foreign key, never on a `Set`")
                    } else {
                        format!("`@{name}` marks a field whose type is an entity")
                    };
                    self.error(
                        Diagnostic::error(
                            "exo::invalid_relation",
                            format!("`@{name}` applies only to fields of an entity type"),
                        )
                        .with_primary(a.span, format!("`{}` has type `{type_label}`", f.name))
                        .with_help(help),
                    );
                    continue;
                }
                if name == "manyToOne" {
                    h.many_to_one = true;
                } else {
                    h.one_to_one = true;
                }
            }
        }
        if h.many_to_one && h.one_to_one {
            if let (Some(a), Some(b)) = (annots.get("manyToOne"), annots.get("oneToOne")) {
                self.error(
                    Diagnostic::error(
                        "exo::conflicting_annotations",
                        "`@manyToOne` and `@oneToOne` cannot both be used",
                    )
                    .with_primary(b.span, "one-to-one")
                    .with_secondary(a.span, "many-to-one")
                    .with_help("keep one of them"),
                );
            }
        }
        if let (Some(r), true) = (&h.relation, h.many_to_one || h.one_to_one) {
            let which = if h.many_to_one { "manyToOne" } else { "oneToOne" };
            self.error(
                Diagnostic::error(
                    "exo::conflicting_annotations",
                    format!("`@relation` cannot be combined with `@{which}`"),
                )
                .with_primary(r.1, "pairs this field with another")
                .with_help(format!("`@{which}` declares a relation without an inverse field")),
            );
        }
        h
    }
}

/// The smallest integer size that holds `lo..=hi`.
fn bits_for_range(lo: f64, hi: f64) -> u8 {
    if lo >= i16::MIN as f64 && hi <= i16::MAX as f64 {
        16
    } else if lo >= i32::MIN as f64 && hi <= i32::MAX as f64 {
        32
    } else {
        64
    }
}

fn strip_optional(t: &TypeExpr) -> &TypeExpr {
    match t {
        TypeExpr::Optional { inner, .. } => strip_optional(inner),
        t => t,
    }
}

fn duplicate_field(owner: &Ident, field: &Ident, prev: Span) -> Diagnostic {
    Diagnostic::error("exo::duplicate_field", format!("`{owner}` has two fields named `{field}`"))
        .with_primary(field.span, "declared again here")
        .with_secondary(prev, "first declared here")
        .with_help("rename or remove one of them (fields from `...` fragment spreads count too)")
}
