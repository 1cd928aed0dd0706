//! The annotation catalogue: which annotations exist, where they may appear and which
//! parameter forms they take, plus helpers that read their arguments.
//!
//! Checking here is purely syntactic (name, target, form, duplicates). What an annotation
//! means for a particular field type is checked where the field is typed.

use crate::ast::{Annotation, AnnotationParams, AnnotationValue, Expr, LiteralValue, NamedParam, Span};
use crate::diag::Diagnostic;
use crate::names;

/// Where an annotation is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Module,
    Type,
    Field,
    Context,
    ContextField,
    Enum,
    Fragment,
}

impl Target {
    fn describe(self) -> &'static str {
        match self {
            Target::Module => "a module",
            Target::Type => "a type",
            Target::Field => "a field",
            Target::Context => "a context",
            Target::ContextField => "a context field",
            Target::Enum => "an enum",
            Target::Fragment => "a fragment",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Mapped {
    No,
    Keys(&'static [&'static str]),
    /// Any key (e.g. `@projection(name = [...])`).
    Dynamic,
}

#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    targets: &'static [Target],
    /// `@x` with no arguments is accepted.
    none: bool,
    /// `@x(a, b)`: accepted number of positional arguments (min, max).
    positional: Option<(usize, usize)>,
    mapped: Mapped,
    /// How the annotation is written, shown in help.
    usage: &'static str,
}

use Target::*;

const fn spec(
    name: &'static str,
    targets: &'static [Target],
    none: bool,
    positional: Option<(usize, usize)>,
    mapped: Mapped,
    usage: &'static str,
) -> Spec {
    Spec { name, targets, none, positional, mapped, usage }
}

const MANY: usize = usize::MAX;

/// Every annotation exo knows, with its targets and parameter forms (notes §1.8).
pub const CATALOGUE: &[Spec] = &[
    spec(
        "postgres",
        &[Module],
        true,
        None,
        Mapped::Keys(&["schema", "managed"]),
        "`@postgres` or `@postgres(schema = \"name\", managed = true)`",
    ),
    spec("deno", &[Module], false, Some((1, 1)), Mapped::No, "`@deno(\"file.ts\")`"),
    spec("wasm", &[Module], false, Some((1, 1)), Mapped::No, "`@wasm(\"file.wasm\")`"),
    spec(
        "table",
        &[Type],
        false,
        Some((1, 1)),
        Mapped::Keys(&["name", "schema", "managed"]),
        "`@table(\"name\")` or `@table(name = \"name\", schema = \"schema\", managed = false)`",
    ),
    spec("plural", &[Type], false, Some((1, 1)), Mapped::No, "`@plural(\"People\")`"),
    spec("json", &[Type], true, None, Mapped::No, "`@json`"),
    spec("projection", &[Type], false, None, Mapped::Dynamic, "`@projection(name = [field, relation/basic])`"),
    spec(
        "access",
        &[Type, Field],
        false,
        Some((1, 1)),
        Mapped::Keys(&["query", "mutation", "create", "update", "delete"]),
        "`@access(rule)` or `@access(query = rule, mutation = rule)`",
    ),
    spec("pk", &[Field], true, None, Mapped::No, "`@pk`"),
    spec(
        "column",
        &[Field],
        false,
        Some((1, 1)),
        Mapped::Keys(&["mapping"]),
        "`@column(\"name\")` or `@column(mapping = {pkField: \"column\"})`",
    ),
    spec("relation", &[Field], false, Some((1, 1)), Mapped::No, "`@relation(\"fieldName\")`"),
    spec("manyToOne", &[Field], true, None, Mapped::No, "`@manyToOne`"),
    spec("oneToOne", &[Field], true, None, Mapped::No, "`@oneToOne`"),
    spec("unique", &[Field], true, Some((1, MANY)), Mapped::No, "`@unique` or `@unique(\"constraint\", ...)`"),
    spec("index", &[Field], true, Some((1, MANY)), Mapped::No, "`@index` or `@index(\"index\", ...)`"),
    spec("readonly", &[Field], true, None, Mapped::No, "`@readonly`"),
    spec("update", &[Field], true, None, Mapped::No, "`@update`"),
    spec("dbtype", &[Field], false, Some((1, 1)), Mapped::No, "`@dbtype(\"VARCHAR(100)\")`"),
    spec("maxLength", &[Field], false, Some((1, 1)), Mapped::No, "`@maxLength(100)`"),
    spec("precision", &[Field], false, Some((1, 1)), Mapped::No, "`@precision(10)`"),
    spec("scale", &[Field], false, Some((1, 1)), Mapped::No, "`@scale(2)`"),
    spec("bits16", &[Field], true, None, Mapped::No, "`@bits16`"),
    spec("bits32", &[Field], true, None, Mapped::No, "`@bits32`"),
    spec("bits64", &[Field], true, None, Mapped::No, "`@bits64`"),
    spec("range", &[Field], false, None, Mapped::Keys(&["min", "max"]), "`@range(min = 0, max = 100)`"),
    spec("singlePrecision", &[Field], true, None, Mapped::No, "`@singlePrecision`"),
    spec("doublePrecision", &[Field], true, None, Mapped::No, "`@doublePrecision`"),
    spec("size", &[Field], false, Some((1, 1)), Mapped::No, "`@size(1536)`"),
    spec("distanceFunction", &[Field], false, Some((1, 1)), Mapped::No, "`@distanceFunction(\"cosine\")`"),
    spec("jwt", &[ContextField], true, Some((1, 1)), Mapped::No, "`@jwt` or `@jwt(\"claim\")`"),
    spec("header", &[ContextField], false, Some((1, 1)), Mapped::No, "`@header(\"X-Header-Name\")`"),
    spec("cookie", &[ContextField], false, Some((1, 1)), Mapped::No, "`@cookie(\"name\")`"),
    spec("env", &[ContextField], false, Some((1, 1)), Mapped::No, "`@env(\"VARIABLE\")`"),
    spec("clientIp", &[ContextField], true, None, Mapped::No, "`@clientIp`"),
    spec("query", &[ContextField], false, Some((1, 1)), Mapped::No, "`@query(\"queryName\")`"),
];

/// Annotations of one element that passed the catalogue checks, by name.
#[derive(Debug, Default)]
pub struct Annots<'a> {
    list: Vec<(&'static str, &'a Annotation)>,
    /// Known annotations written here whose arguments were wrong (already reported).
    malformed: Vec<&'static str>,
    /// Whether an unknown annotation was written here (already reported).
    pub had_unknown: bool,
}

impl<'a> Annots<'a> {
    pub fn get(&self, name: &str) -> Option<&'a Annotation> {
        self.list.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Written here, even with wrong arguments: enough to avoid follow-up errors such as
    /// "no primary key" after `@pk(1)`.
    pub fn written(&self, name: &str) -> bool {
        self.has(name) || self.malformed.contains(&name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a Annotation> + '_ {
        self.list.iter().map(|(_, a)| *a)
    }
}

/// Checks names, targets, parameter forms and duplicates; returns the usable annotations.
pub fn check<'a>(annotations: &'a [Annotation], target: Target, diags: &mut Vec<Diagnostic>) -> Annots<'a> {
    let mut out = Annots::default();
    for a in annotations {
        let name = a.name.as_str();
        let Some(spec) = CATALOGUE.iter().find(|s| s.name == name) else {
            let mut d = Diagnostic::error("exo::unknown_annotation", format!("unknown annotation `@{name}`"))
                .with_primary(a.name.span, "not a known annotation");
            let applicable = CATALOGUE.iter().filter(|s| s.targets.contains(&target)).map(|s| s.name);
            if let Some(s) = names::suggest(name, applicable) {
                d = d.with_help(format!("did you mean `@{s}`?"));
            } else if target == Target::ContextField {
                d = d.with_help("context fields take one source: `@jwt`, `@header`, `@cookie`, `@env` or `@clientIp`");
            } else if matches!(name, "inject" | "before" | "after" | "around") {
                d = d.with_help("this annotation belongs to Deno modules, which exo does not support");
            }
            diags.push(d);
            out.had_unknown = true;
            continue;
        };
        if !spec.targets.contains(&target) {
            let allowed: Vec<&str> = spec.targets.iter().map(|t| t.describe()).collect();
            diags.push(
                Diagnostic::error(
                    "exo::annotation_target",
                    format!("annotation `@{name}` cannot be used on {}", target.describe()),
                )
                .with_primary(a.span, "not allowed here")
                .with_help(format!("`@{name}` applies to {}", allowed.join(" or "))),
            );
            continue;
        }
        if let Some((_, first)) = out.list.iter().find(|(n, _)| *n == name) {
            diags.push(
                Diagnostic::error("exo::duplicate_annotation", format!("annotation `@{name}` is written twice"))
                    .with_primary(a.span, "written again here")
                    .with_secondary(first.span, "first written here")
                    .with_help("remove one of them"),
            );
            continue;
        }
        if check_form(spec, a, diags) {
            out.list.push((spec.name, a));
        } else {
            out.malformed.push(spec.name);
        }
    }
    out
}

fn form_error(spec: &Spec, message: String, label: &str, span: Span) -> Diagnostic {
    Diagnostic::error("exo::annotation_params", message)
        .with_primary(span, label.to_string())
        .with_help(format!("write {}", spec.usage))
}

fn check_form(spec: &Spec, a: &Annotation, diags: &mut Vec<Diagnostic>) -> bool {
    let name = spec.name;
    match &a.params {
        AnnotationParams::None => {
            if !spec.none {
                diags.push(form_error(
                    spec,
                    format!("annotation `@{name}` needs arguments"),
                    "arguments missing",
                    a.span,
                ));
                return false;
            }
        }
        AnnotationParams::Positional(args) => match spec.positional {
            None => {
                let msg = match spec.mapped {
                    Mapped::No => format!("annotation `@{name}` takes no arguments"),
                    _ => format!("annotation `@{name}` takes named arguments"),
                };
                diags.push(form_error(spec, msg, "unexpected arguments", a.span));
                return false;
            }
            Some((min, max)) => {
                if args.len() < min || args.len() > max {
                    let expected = if min == max { format!("exactly {min}") } else { format!("at least {min}") };
                    let noun = if min == 1 && max == 1 { "argument" } else { "arguments" };
                    diags.push(form_error(
                        spec,
                        format!("annotation `@{name}` takes {expected} {noun}, found {}", args.len()),
                        "wrong number of arguments",
                        a.span,
                    ));
                    return false;
                }
            }
        },
        AnnotationParams::Named(params) => {
            let keys: &[&str] = match spec.mapped {
                Mapped::No => {
                    let msg = if spec.positional.is_some() {
                        format!("annotation `@{name}` takes positional arguments, not named ones")
                    } else {
                        format!("annotation `@{name}` takes no arguments")
                    };
                    diags.push(form_error(spec, msg, "unexpected named arguments", a.span));
                    return false;
                }
                Mapped::Keys(keys) => keys,
                Mapped::Dynamic => &[],
            };
            let mut ok = true;
            for (i, p) in params.iter().enumerate() {
                if !matches!(spec.mapped, Mapped::Dynamic) && !keys.contains(&p.name.as_str()) {
                    let expected: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
                    diags.push(
                        Diagnostic::error(
                            "exo::annotation_params",
                            format!("unknown argument `{}` for `@{name}`", p.name),
                        )
                        .with_primary(p.name.span, "unknown argument")
                        .with_help(format!("expected one of {}", expected.join(", "))),
                    );
                    ok = false;
                }
                if let Some(first) = params[..i].iter().find(|q| q.name.name == p.name.name) {
                    diags.push(
                        Diagnostic::error(
                            "exo::annotation_params",
                            format!("argument `{}` of `@{name}` is given twice", p.name),
                        )
                        .with_primary(p.name.span, "given again here")
                        .with_secondary(first.name.span, "first given here"),
                    );
                    ok = false;
                }
            }
            return ok;
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Reading arguments
// ---------------------------------------------------------------------------------------------

/// The positional arguments (empty for `@x` and for named forms).
pub fn positional(a: &Annotation) -> &[Expr] {
    match &a.params {
        AnnotationParams::Positional(args) => args,
        _ => &[],
    }
}

pub fn named(a: &Annotation) -> &[NamedParam] {
    match &a.params {
        AnnotationParams::Named(params) => params,
        _ => &[],
    }
}

pub fn named_param<'a>(a: &'a Annotation, key: &str) -> Option<&'a NamedParam> {
    named(a).iter().find(|p| p.name.name == key)
}

fn value_error(a: &Annotation, span: Span, expected: &str) -> Diagnostic {
    Diagnostic::error("exo::annotation_params", format!("`@{}` expects {expected}", a.name))
        .with_primary(span, format!("expected {expected}"))
}

pub fn expr_string(a: &Annotation, e: &Expr, diags: &mut Vec<Diagnostic>) -> Option<String> {
    if let Expr::Literal(l) = e {
        if let LiteralValue::Str(s) = &l.value {
            return Some(s.clone());
        }
    }
    diags.push(value_error(a, e.span(), "a string"));
    None
}

pub fn value_string(a: &Annotation, v: &AnnotationValue, diags: &mut Vec<Diagnostic>) -> Option<String> {
    match v {
        AnnotationValue::Expr(e) => expr_string(a, e, diags),
        _ => {
            diags.push(value_error(a, v.span(), "a string"));
            None
        }
    }
}

pub fn value_bool(a: &Annotation, v: &AnnotationValue, diags: &mut Vec<Diagnostic>) -> Option<bool> {
    if let AnnotationValue::Expr(Expr::Literal(l)) = v {
        if let LiteralValue::Bool(b) = l.value {
            return Some(b);
        }
    }
    diags.push(value_error(a, v.span(), "`true` or `false`"));
    None
}

pub fn expr_number(a: &Annotation, e: &Expr, diags: &mut Vec<Diagnostic>) -> Option<f64> {
    if let Expr::Literal(l) = e {
        if let LiteralValue::Number(n) = &l.value {
            if let Ok(v) = n.parse::<f64>() {
                return Some(v);
            }
        }
    }
    diags.push(value_error(a, e.span(), "a number"));
    None
}

/// A `@range` bound: a number, or a string holding one (`@range(min = "-1.0", max = "3.0")`,
/// which Exograph accepts and its users write).
pub fn range_bound(a: &Annotation, e: &Expr, diags: &mut Vec<Diagnostic>) -> Option<f64> {
    if let Expr::Literal(l) = e {
        if let LiteralValue::Str(s) = &l.value {
            if let Ok(v) = s.trim().parse::<f64>() {
                if v.is_finite() {
                    return Some(v);
                }
            }
            diags.push(value_error(a, e.span(), "a number"));
            return None;
        }
    }
    expr_number(a, e, diags)
}

/// The single positional argument as a positive integer (`@maxLength(100)`).
pub fn positive_int(a: &Annotation, diags: &mut Vec<Diagnostic>) -> Option<u32> {
    let e = positional(a).first()?;
    if let Expr::Literal(l) = e {
        if let LiteralValue::Number(n) = &l.value {
            if let Ok(v) = n.parse::<u32>() {
                if v > 0 {
                    return Some(v);
                }
            }
        }
    }
    diags.push(value_error(a, e.span(), "a positive integer"));
    None
}

/// The positional arguments, each a string.
pub fn strings(a: &Annotation, diags: &mut Vec<Diagnostic>) -> Vec<(String, Span)> {
    positional(a).iter().filter_map(|e| expr_string(a, e, diags).map(|s| (s, e.span()))).collect()
}
