//! Default values: literals, enum variants, context values and the known functions, each
//! checked against the field's type. Also the rules tying `@readonly`/`@update` to defaults.

use exo_ir::{self as ir, EntityId, FieldDefault, FieldId, ScalarType, ValueType};

use super::{Checker, FieldType};
use crate::ast::{self, DefaultExpr, Ident, LiteralValue};
use crate::diag::Diagnostic;
use crate::names;

const FUNCTIONS: &[&str] = &["autoIncrement", "now", "generate_uuid", "uuidGenerateV4", "uuidGenerateV7"];

impl<'a> Checker<'a> {
    pub(super) fn check_defaults(&mut self) {
        for e in 0..self.entities.len() {
            for i in 0..self.entities[e].fields.len() {
                let f = &self.entities[e].fields[i];
                let ast_field = f.ast;
                let default = match &ast_field.default {
                    Some(d) => self.resolve_default(e as EntityId, i as FieldId, d),
                    None => None,
                };
                let f = &self.entities[e].fields[i];
                let fspan = ast_field.name.span;
                let qualified = format!("{}.{}", self.entities[e].name, f.name);
                let had_default = ast_field.default.is_some();
                if f.hints.update {
                    let db_computable =
                        !matches!(default, Some(FieldDefault::Context { .. } | FieldDefault::AutoIncrement { .. }));
                    if !had_default {
                        let d = Diagnostic::error(
                            "exo::readonly_without_default",
                            format!("`@update` field `{qualified}` needs a default value"),
                        )
                        .with_primary(fspan, "no default")
                        .with_help(
                            "the default is re-applied on every update, e.g. `@update modifiedAt: Instant = now()`",
                        );
                        self.error(d);
                    } else if default.is_some() && !db_computable {
                        let span = ast_field.default.as_ref().map(|d| d.span()).unwrap_or(fspan);
                        let d = Diagnostic::error(
                            "exo::invalid_default",
                            format!(
                                "the default of the `@update` field `{qualified}` cannot be computed by the database"
                            ),
                        )
                        .with_primary(span, "not a database expression")
                        .with_help("use a literal or a function such as `now()`");
                        self.error(d);
                    }
                }
                // A `@readonly` field needs no default: the database may compute it (a view, a
                // trigger, a generated column). It never appears in inputs either way.
                self.entities[e].fields[i].default = default;
            }
        }
    }

    fn default_error(
        &mut self,
        e: EntityId,
        i: FieldId,
        span: ast::Span,
        message: String,
        label: &str,
        help: Option<String>,
    ) {
        let f = &self.entities[e as usize].fields[i as usize];
        let mut d = Diagnostic::error("exo::invalid_default", message)
            .with_primary(span, label.to_string())
            .with_secondary(f.ast.ty.span(), format!("`{}` has type `{}`", f.name, f.ast.ty));
        if let Some(h) = help {
            d = d.with_help(h);
        }
        self.error(d);
    }

    fn resolve_default(&mut self, e: EntityId, i: FieldId, d: &'a DefaultExpr) -> Option<FieldDefault> {
        let f = &self.entities[e as usize].fields[i as usize];
        let ty = f.ty.clone();
        let optional = f.optional;
        let type_text = f.ast.ty.to_string();
        let max_length = f.hints.max_length;
        let int_bits = f.hints.int_bits.unwrap_or(32);
        if matches!(ty, FieldType::Error) {
            return None;
        }
        if let FieldType::OneToMany { .. } | FieldType::Set(_) = ty {
            self.default_error(
                e,
                i,
                d.span(),
                "a one-to-many field cannot have a default".into(),
                "default on a collection",
                None,
            );
            return None;
        }
        match d {
            DefaultExpr::Literal(lit) => {
                let scalar = match &ty {
                    FieldType::Value(ValueType::Scalar(s)) => *s,
                    FieldType::ManyToOne { .. } => {
                        self.default_error(
                            e,
                            i,
                            lit.span,
                            "a relation field can only default to a context value".into(),
                            "literal default",
                            Some("write a context selection such as `= AuthContext.id`".into()),
                        );
                        return None;
                    }
                    _ => {
                        if lit.value == LiteralValue::Null && optional {
                            return Some(FieldDefault::Literal(ir::Literal::Null));
                        }
                        self.default_error(
                            e,
                            i,
                            lit.span,
                            format!("fields of type `{type_text}` cannot have a literal default"),
                            "unsupported default",
                            None,
                        );
                        return None;
                    }
                };
                self.literal_default(e, i, scalar, lit, optional, max_length, int_bits)
            }
            DefaultExpr::Ident(id) => self.ident_default(e, i, &ty, id),
            DefaultExpr::Selection { path, span } => self.context_default_for_field(e, i, &ty, path, *span),
            DefaultExpr::Call { name, args, span } => self.call_default(e, i, &ty, name, args, *span),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn literal_default(
        &mut self,
        e: EntityId,
        i: FieldId,
        scalar: ScalarType,
        lit: &ast::Literal,
        optional: bool,
        max_length: Option<u32>,
        int_bits: u8,
    ) -> Option<FieldDefault> {
        let type_name = match scalar {
            ScalarType::Enum(id) => self.enums.get(id as usize).map_or("enum".into(), |en| en.name.clone()),
            s => s.graphql_name().to_string(),
        };
        let field_name = self.entities[e as usize].fields[i as usize].name.clone();
        let mismatch = |c: &mut Self, what: &str, help: Option<String>| {
            c.default_error(
                e,
                i,
                lit.span,
                format!("{what} cannot be the default of `{field_name}`, whose type is `{type_name}`"),
                "wrong type",
                help,
            );
            None
        };
        match &lit.value {
            LiteralValue::Null => {
                if optional {
                    Some(FieldDefault::Literal(ir::Literal::Null))
                } else {
                    self.default_error(
                        e,
                        i,
                        lit.span,
                        "`null` cannot be the default of a required field".into(),
                        "null default",
                        Some("make the field optional (`?`) or remove the default".into()),
                    );
                    None
                }
            }
            LiteralValue::Bool(b) => match scalar {
                ScalarType::Boolean => Some(FieldDefault::Literal(ir::Literal::Bool(*b))),
                _ => mismatch(self, "a boolean", None),
            },
            LiteralValue::Number(n) => match scalar {
                ScalarType::Int => match n.parse::<i64>() {
                    Ok(v) if fits(v, int_bits) => Some(FieldDefault::Literal(ir::Literal::Int(v))),
                    Ok(_) => {
                        self.default_error(
                            e,
                            i,
                            lit.span,
                            format!("`{n}` does not fit in a {int_bits}-bit integer"),
                            "out of range",
                            None,
                        );
                        None
                    }
                    Err(_) => mismatch(self, &format!("`{n}`"), Some("an `Int` default must be a whole number".into())),
                },
                ScalarType::Float => match n.parse::<f64>() {
                    Ok(v) => Some(FieldDefault::Literal(ir::Literal::Float(v))),
                    Err(_) => mismatch(self, &format!("`{n}`"), None),
                },
                ScalarType::Decimal => Some(FieldDefault::Literal(ir::Literal::String(n.clone()))),
                _ => mismatch(self, "a number", None),
            },
            LiteralValue::Str(s) => {
                let quoted = format!("`\"{s}\"`");
                let valid = match scalar {
                    ScalarType::String => {
                        if let Some(max) = max_length {
                            if s.chars().count() > max as usize {
                                self.default_error(
                                    e,
                                    i,
                                    lit.span,
                                    format!("the default is longer than `@maxLength({max})`"),
                                    "too long",
                                    None,
                                );
                                return None;
                            }
                        }
                        Ok(())
                    }
                    ScalarType::Decimal => {
                        if is_decimal(s) {
                            Ok(())
                        } else {
                            Err("a decimal number such as `\"10.00\"`")
                        }
                    }
                    ScalarType::LocalDate => {
                        if is_date(s) {
                            Ok(())
                        } else {
                            Err("a date such as `\"2024-01-31\"`")
                        }
                    }
                    ScalarType::LocalTime => {
                        if is_time(s) {
                            Ok(())
                        } else {
                            Err("a time such as `\"14:30:00\"`")
                        }
                    }
                    ScalarType::LocalDateTime => {
                        if is_datetime(s, false) {
                            Ok(())
                        } else {
                            Err("a date and time such as `\"2024-01-31T14:30:00\"`")
                        }
                    }
                    ScalarType::Instant => {
                        if is_datetime(s, true) {
                            Ok(())
                        } else {
                            Err("an instant such as `\"2024-01-31T14:30:00Z\"`")
                        }
                    }
                    ScalarType::Uuid => {
                        if is_uuid(s) {
                            Ok(())
                        } else {
                            Err("a UUID such as `\"550e8400-e29b-41d4-a716-446655440000\"`")
                        }
                    }
                    ScalarType::Json => {
                        if serde_json::from_str::<serde_json::Value>(s).is_ok() {
                            Ok(())
                        } else {
                            Err("valid JSON text")
                        }
                    }
                    ScalarType::Blob => Ok(()),
                    ScalarType::Enum(id) => {
                        let known = self.enums.get(id as usize).is_some_and(|en| en.variants.iter().any(|v| v == s));
                        let help = if known {
                            format!("write the variant without quotes: `= {s}`")
                        } else {
                            "enum defaults are written as a bare variant, e.g. `= MEDIUM`".to_string()
                        };
                        return mismatch(self, "a string", Some(help));
                    }
                    ScalarType::Int | ScalarType::Float => {
                        let help = s.parse::<f64>().is_ok().then(|| format!("remove the quotes: `= {s}`"));
                        return mismatch(self, "a string", help);
                    }
                    ScalarType::Boolean => {
                        let help =
                            matches!(s.as_str(), "true" | "false").then(|| format!("remove the quotes: `= {s}`"));
                        return mismatch(self, "a string", help);
                    }
                };
                match valid {
                    Ok(()) => Some(FieldDefault::Literal(ir::Literal::String(s.clone()))),
                    Err(expected) => {
                        self.default_error(
                            e,
                            i,
                            lit.span,
                            format!("{quoted} is not a valid `{type_name}` value"),
                            "invalid value",
                            Some(format!("expected {expected}")),
                        );
                        None
                    }
                }
            }
        }
    }

    fn ident_default(&mut self, e: EntityId, i: FieldId, ty: &FieldType, id: &Ident) -> Option<FieldDefault> {
        let name = id.as_str();
        if let FieldType::Value(ValueType::Scalar(ScalarType::Enum(en))) = ty {
            let enum_ty = self.enums.get(*en as usize)?;
            if enum_ty.variants.iter().any(|v| v == name) {
                return Some(FieldDefault::EnumVariant(name.to_string()));
            }
            let enum_name = enum_ty.name.clone();
            let mut d = Diagnostic::error("exo::unknown_variant", format!("enum `{enum_name}` has no value `{name}`"))
                .with_primary(id.span, "unknown value");
            let variants = enum_ty.variants.clone();
            if let Some(s) = names::suggest(name, variants.iter().map(String::as_str)) {
                d = d.with_help(format!("did you mean `{s}`?"));
            } else {
                let list: Vec<String> = variants.iter().map(|v| format!("`{v}`")).collect();
                d = d.with_help(format!("the values of `{enum_name}` are {}", list.join(", ")));
            }
            self.error(d);
            return None;
        }
        let help = if self.context_index.contains_key(name) {
            Some(format!("select a field of the context, e.g. `= {name}.id`"))
        } else if FUNCTIONS.contains(&name) {
            Some(format!("call the function: `= {name}()`"))
        } else if matches!(name, "true" | "false" | "null") {
            None
        } else {
            Some("a bare name is an enum value; strings are written in double quotes".into())
        };
        self.default_error(e, i, id.span, format!("`{name}` is not a value of the field's type"), "not a value", help);
        None
    }

    fn context_default_for_field(
        &mut self,
        e: EntityId,
        i: FieldId,
        ty: &FieldType,
        path: &[Ident],
        span: ast::Span,
    ) -> Option<FieldDefault> {
        let (ctx_id, field_id) = self.resolve_context_selection(path, span)?;
        let cf = &self.contexts[ctx_id as usize].fields[field_id as usize];
        let (cty, clist) = (cf.ty, cf.is_list);
        let ctx_text = format!("{}.{}", path[0], path[1]);
        if clist {
            self.default_error(
                e,
                i,
                span,
                format!("`{ctx_text}` is a list and cannot be a default"),
                "list value",
                None,
            );
            return None;
        }
        let field_name = self.entities[e as usize].fields[i as usize].name.clone();
        let expected: Option<(ScalarType, String)> = match ty {
            FieldType::Value(ValueType::Scalar(s)) => Some((*s, format!("`{field_name}` has type"))),
            FieldType::ManyToOne { target, .. } => {
                let tgt = &self.entities[*target as usize];
                let pks: Vec<&super::FieldDef> = tgt.fields.iter().filter(|f| f.hints.pk).collect();
                match pks.as_slice() {
                    [pk] => match pk.ty.scalar() {
                        Some(s) => Some((s, format!("`{field_name}` refers to `{}.{}` of type", tgt.name, pk.name))),
                        None => return None,
                    },
                    [] => return None,
                    _ => {
                        let tname = tgt.name.clone();
                        self.default_error(
                            e,
                            i,
                            span,
                            format!(
                                "`{tname}` has a composite primary key, so a single context value cannot refer to it"
                            ),
                            "context default",
                            None,
                        );
                        return None;
                    }
                }
            }
            _ => {
                self.default_error(
                    e,
                    i,
                    span,
                    "only scalar and many-to-one fields can default to a context value".into(),
                    "context default",
                    None,
                );
                return None;
            }
        };
        let (want, what) = expected?;
        let compatible =
            want == cty || (cty == ScalarType::Int && matches!(want, ScalarType::Float | ScalarType::Decimal));
        if !compatible {
            let label = |s: ScalarType| match s {
                ScalarType::Enum(id) => self.enums.get(id as usize).map_or("enum".into(), |en| en.name.clone()),
                s => s.graphql_name().to_string(),
            };
            let (wl, cl) = (label(want), label(cty));
            self.default_error(
                e,
                i,
                span,
                format!("`{ctx_text}` has type `{cl}`, but {what} `{wl}`"),
                "type mismatch",
                None,
            );
            return None;
        }
        Some(FieldDefault::Context { context: ctx_id, field: field_id })
    }

    /// Resolves `Ctx.field` to indices, reporting unknown names.
    pub(super) fn resolve_context_selection(&mut self, path: &[Ident], span: ast::Span) -> Option<(u32, u32)> {
        let head = &path[0];
        let Some(&ctx_id) = self.context_index.get(head.as_str()) else {
            let mut d = Diagnostic::error("exo::unknown_context", format!("unknown context `{head}`"))
                .with_primary(head.span, "not a context");
            if let Some(super::Decl::Enum(_)) = self.decls.get(head.as_str()).map(|d| d.decl) {
                d = d.with_help(format!(
                    "an enum default is written as the bare variant, e.g. `= {}`",
                    path.last().map_or("", |p| p.as_str())
                ));
            } else if let Some(s) = names::suggest(head.as_str(), self.context_index.keys().copied()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            } else if !self.context_index.is_empty() {
                d = d.with_help(format!("the declared contexts are {}", self.context_list()));
            } else {
                d = d.with_help(format!("declare it at the top level: `context {head} {{ @jwt(\"sub\") id: Int }}`"));
            }
            self.error(d);
            return None;
        };
        if path.len() != 2 {
            let d = Diagnostic::error("exo::unknown_context_field", "a context selection is written `Context.field`")
                .with_primary(span, if path.len() < 2 { "missing field" } else { "context fields have no fields" });
            self.error(d);
            return None;
        }
        let ctx = &self.contexts[ctx_id as usize];
        let fname = &path[1];
        let Some(fid) = ctx.fields.iter().position(|f| f.name == fname.name) else {
            if self.duplicated.contains(head.as_str()) {
                // The field may be in the other declaration, already reported as a duplicate.
                return None;
            }
            let mut d = Diagnostic::error(
                "exo::unknown_context_field",
                format!("context `{}` has no field `{fname}`", ctx.name),
            )
            .with_primary(fname.span, "unknown field");
            if let Some(s) = names::suggest(fname.as_str(), ctx.fields.iter().map(|f| f.name.as_str())) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            self.error(d);
            return None;
        };
        Some((ctx_id, fid as u32))
    }

    fn call_default(
        &mut self,
        e: EntityId,
        i: FieldId,
        ty: &FieldType,
        name: &Ident,
        args: &[ast::Literal],
        span: ast::Span,
    ) -> Option<FieldDefault> {
        let scalar = match ty {
            FieldType::Value(ValueType::Scalar(s)) => Some(*s),
            _ => None,
        };
        let fname = name.as_str();
        let no_args = |c: &mut Self| {
            if let Some(a) = args.first() {
                let d = Diagnostic::error("exo::invalid_default", format!("`{fname}()` takes no arguments"))
                    .with_primary(a.span, "unexpected argument");
                c.error(d);
                false
            } else {
                true
            }
        };
        let wrong_type = |c: &mut Self, needs: &str| {
            c.default_error(
                e,
                i,
                span,
                {
                    let f = &c.entities[e as usize].fields[i as usize];
                    format!("`{fname}()` cannot be the default of `{}`, whose type is `{}`", f.name, f.ast.ty)
                },
                "wrong type",
                Some(format!("`{fname}()` needs {needs}")),
            );
            None
        };
        match fname {
            "autoIncrement" => {
                if scalar != Some(ScalarType::Int) {
                    return wrong_type(self, "an `Int` field");
                }
                match args {
                    [] => Some(FieldDefault::AutoIncrement { sequence: None }),
                    [a] => match &a.value {
                        LiteralValue::Str(s)
                            if !s.is_empty() && s.split('.').count() <= 2 && s.split('.').all(|p| !p.is_empty()) =>
                        {
                            Some(FieldDefault::AutoIncrement { sequence: Some(s.clone()) })
                        }
                        _ => {
                            let d = Diagnostic::error("exo::invalid_default", "`autoIncrement` takes a sequence name")
                                .with_primary(a.span, "expected `\"sequence\"` or `\"schema.sequence\"`");
                            self.error(d);
                            None
                        }
                    },
                    [_, extra, ..] => {
                        let d = Diagnostic::error("exo::invalid_default", "`autoIncrement` takes at most one argument")
                            .with_primary(extra.span, "unexpected argument");
                        self.error(d);
                        None
                    }
                }
            }
            "now" => {
                if !matches!(
                    scalar,
                    Some(
                        ScalarType::LocalDate | ScalarType::LocalTime | ScalarType::LocalDateTime | ScalarType::Instant
                    )
                ) {
                    return wrong_type(self, "a `LocalDate`, `LocalTime`, `LocalDateTime` or `Instant` field");
                }
                no_args(self).then_some(FieldDefault::Now)
            }
            "generate_uuid" | "uuidGenerateV4" | "uuidGenerateV7" => {
                if scalar != Some(ScalarType::Uuid) {
                    return wrong_type(self, "a `Uuid` field");
                }
                no_args(self).then_some(match fname {
                    "generate_uuid" => FieldDefault::GenerateUuid,
                    "uuidGenerateV4" => FieldDefault::UuidV4,
                    _ => FieldDefault::UuidV7,
                })
            }
            _ => {
                let mut d = Diagnostic::error("exo::unknown_function", format!("unknown function `{fname}`"))
                    .with_primary(name.span, "not a known default function");
                let help = match names::suggest(fname, FUNCTIONS.iter().copied()) {
                    Some(s) => format!("did you mean `{s}()`?"),
                    None => format!(
                        "defaults can call {}",
                        FUNCTIONS.iter().map(|f| format!("`{f}()`")).collect::<Vec<_>>().join(", ")
                    ),
                };
                d = d.with_help(help);
                self.error(d);
                None
            }
        }
    }

    /// `\`A\`, \`B\`` for help texts, in declaration order.
    pub(super) fn context_list(&self) -> String {
        self.contexts.iter().map(|c| format!("`{}`", c.name)).collect::<Vec<_>>().join(", ")
    }

    /// Checks a context field's default against its type.
    pub(super) fn context_default(
        &mut self,
        d: &DefaultExpr,
        ty: ScalarType,
        is_list: bool,
        optional: bool,
    ) -> Option<ir::Literal> {
        let DefaultExpr::Literal(lit) = d else {
            let d = Diagnostic::error("exo::invalid_default", "a context field can only default to a literal")
                .with_primary(d.span(), "not a literal");
            self.error(d);
            return None;
        };
        let ok = match (&lit.value, ty) {
            (_, _) if is_list && lit.value != LiteralValue::Null => false,
            (LiteralValue::Null, _) => optional,
            (LiteralValue::Bool(_), ScalarType::Boolean) => true,
            (LiteralValue::Number(n), ScalarType::Int) => n.parse::<i64>().is_ok(),
            (LiteralValue::Number(_), ScalarType::Float | ScalarType::Decimal) => true,
            (LiteralValue::Str(_), ScalarType::Int | ScalarType::Float | ScalarType::Boolean) => false,
            (LiteralValue::Str(s), ScalarType::Enum(id)) => {
                self.enums.get(id as usize).is_some_and(|en| en.variants.iter().any(|v| v == s))
            }
            (LiteralValue::Str(_), _) => true,
            _ => false,
        };
        if !ok {
            let tname = match ty {
                ScalarType::Enum(id) => self.enums.get(id as usize).map_or("enum".into(), |en| en.name.clone()),
                s => s.graphql_name().to_string(),
            };
            let tname = if is_list { format!("Array<{tname}>") } else { tname };
            let d = Diagnostic::error("exo::invalid_default", format!("this default is not a `{tname}`"))
                .with_primary(lit.span, "wrong type");
            self.error(d);
            return None;
        }
        Some(literal_value(&lit.value))
    }
}

/// The IR literal for an AST literal (numbers become `Int` when they are whole).
pub(super) fn literal_value(v: &LiteralValue) -> ir::Literal {
    match v {
        LiteralValue::Null => ir::Literal::Null,
        LiteralValue::Bool(b) => ir::Literal::Bool(*b),
        LiteralValue::Str(s) => ir::Literal::String(s.clone()),
        LiteralValue::Number(n) => match n.parse::<i64>() {
            Ok(i) => ir::Literal::Int(i),
            Err(_) => ir::Literal::Float(n.parse::<f64>().unwrap_or(0.0)),
        },
    }
}

fn fits(v: i64, bits: u8) -> bool {
    match bits {
        16 => i16::try_from(v).is_ok(),
        32 => i32::try_from(v).is_ok(),
        _ => true,
    }
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let mut parts = s.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

fn is_date(s: &str) -> bool {
    let p: Vec<&str> = s.split('-').collect();
    p.len() == 3
        && digits(p[0], 4)
        && digits(p[1], 2)
        && digits(p[2], 2)
        && (1..=12).contains(&p[1].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&p[2].parse::<u32>().unwrap_or(0))
}

fn is_time(s: &str) -> bool {
    let (main, frac) = match s.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    let p: Vec<&str> = main.split(':').collect();
    (p.len() == 2 || p.len() == 3)
        && p.iter().all(|x| digits(x, 2))
        && p[0].parse::<u32>().unwrap_or(99) < 24
        && p[1].parse::<u32>().unwrap_or(99) < 60
        && p.get(2).is_none_or(|x| x.parse::<u32>().unwrap_or(99) < 61)
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

fn is_datetime(s: &str, zoned: bool) -> bool {
    let Some((date, rest)) = s.split_once(['T', ' ']) else { return false };
    if !is_date(date) {
        return false;
    }
    if !zoned {
        return is_time(rest);
    }
    if let Some(t) = rest.strip_suffix('Z') {
        return is_time(t);
    }
    // `+02:00` / `-05:00` / `+0200`
    match rest.rfind(['+', '-']) {
        Some(pos) if pos > 0 => {
            let (t, off) = rest.split_at(pos);
            let off = &off[1..];
            is_time(t)
                && (digits(off, 2)
                    || digits(off, 4)
                    || (off.len() == 5 && off.as_bytes()[2] == b':' && digits(&off[..2], 2) && digits(&off[3..], 2)))
        }
        _ => false,
    }
}

fn is_uuid(s: &str) -> bool {
    let p: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    p.len() == 5 && p.iter().zip(lens).all(|(x, n)| x.len() == n && x.bytes().all(|b| b.is_ascii_hexdigit()))
}
