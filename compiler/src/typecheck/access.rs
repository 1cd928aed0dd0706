//! Access rules: `@access(...)` expressions resolved into [`AccessExpr`] trees.
//!
//! Paths become field indices, context selections become context indices, operand types
//! are checked, and constant subexpressions are folded (`true || x` is `true`). The mapped
//! form is resolved with Exograph's precedence: `create`/`update`/`delete` over `mutation`
//! over the unnamed rule, `query` over the unnamed rule, and `false` when nothing applies.

use exo_ir::{
    self as ir, AccessExpr, AccessOperand, CmpOp, EntityAccess, EntityId, FieldId, PathStep, ScalarType, ValueType,
};

use super::{Checker, FieldType};
use crate::ast::{self, AnnotationParams, AnnotationValue, BinOp, CallArgs, Expr, Ident, LiteralValue, Span};
use crate::diag::Diagnostic;
use crate::names;

/// The type of an operand in an access expression.
#[derive(Debug, Clone, PartialEq)]
enum OpTy {
    Scalar(ScalarType),
    /// An array column or a list context field.
    List(ScalarType),
    /// A `@json` value or a nested array: only comparable with `null`.
    Opaque,
    /// A many-to-one relation (or `self`).
    Entity(EntityId),
    /// A one-to-many relation.
    Collection(EntityId),
    Null,
    /// Already reported.
    Error,
}

struct Operand {
    op: AccessOperand,
    ty: OpTy,
    literal: bool,
    span: Span,
    text: String,
}

struct Scope {
    entity: EntityId,
    /// Lambda parameters in scope: (name, entity, index).
    params: Vec<(String, EntityId, u32)>,
    next_param: u32,
}

impl<'a> Checker<'a> {
    pub(super) fn check_access(&mut self) {
        for e in 0..self.entities.len() {
            let decl = self.entities[e].decl;
            let annot = decl.annotations.iter().find(|a| a.name.as_str() == "access");
            let access = match annot {
                Some(a) if self.annotation_is_valid(a) => self.access_rule(e as EntityId, a),
                _ => EntityAccess::default(),
            };
            self.entities[e].access = access;
            for i in 0..self.entities[e].fields.len() {
                let Some(a) = self.entities[e].fields[i].annots.get("access") else { continue };
                let rule = self.access_rule(e as EntityId, a);
                self.entities[e].fields[i].access = Some(rule);
            }
        }
    }

    /// Whether the annotation passed the catalogue checks (only the first `@access` counts).
    fn annotation_is_valid(&self, a: &ast::Annotation) -> bool {
        match &a.params {
            AnnotationParams::Positional(args) => args.len() == 1,
            AnnotationParams::Named(params) => {
                params.iter().all(|p| matches!(p.name.as_str(), "query" | "mutation" | "create" | "update" | "delete"))
            }
            AnnotationParams::None => false,
        }
    }

    fn access_rule(&mut self, e: EntityId, a: &ast::Annotation) -> EntityAccess {
        let mut scope = Scope { entity: e, params: Vec::new(), next_param: 0 };
        match &a.params {
            AnnotationParams::Positional(args) => {
                let rule = args.first().map_or(AccessExpr::Const(false), |x| self.lower_bool(&mut scope, x));
                EntityAccess { query: rule.clone(), create: rule.clone(), update: rule.clone(), delete: rule }
            }
            AnnotationParams::Named(params) => {
                let mut get = |c: &mut Self, key: &str| -> Option<AccessExpr> {
                    let p = params.iter().find(|p| p.name.as_str() == key)?;
                    match &p.value {
                        AnnotationValue::Expr(x) => Some(c.lower_bool(&mut scope, x)),
                        v => {
                            c.error(
                                Diagnostic::error("exo::annotation_params", format!("`{key}` expects an access rule"))
                                    .with_primary(v.span(), "not an expression"),
                            );
                            Some(AccessExpr::Const(false))
                        }
                    }
                };
                let query = get(self, "query");
                let mutation = get(self, "mutation");
                let create = get(self, "create");
                let update = get(self, "update");
                let delete = get(self, "delete");
                let or_mutation =
                    |x: Option<AccessExpr>| x.or_else(|| mutation.clone()).unwrap_or(AccessExpr::Const(false));
                EntityAccess {
                    query: query.unwrap_or(AccessExpr::Const(false)),
                    create: or_mutation(create),
                    update: or_mutation(update),
                    delete: or_mutation(delete),
                }
            }
            AnnotationParams::None => EntityAccess::default(),
        }
    }

    fn lower_bool(&mut self, scope: &mut Scope, x: &Expr) -> AccessExpr {
        match x {
            Expr::Literal(l) => match &l.value {
                LiteralValue::Bool(b) => AccessExpr::Const(*b),
                _ => {
                    self.error(
                        Diagnostic::error("exo::not_boolean", format!("{} is not a condition", literal_text(&l.value)))
                            .with_primary(l.span, "expected `true`, `false` or a comparison"),
                    );
                    AccessExpr::Const(false)
                }
            },
            Expr::Not { operand, .. } => not(self.lower_bool(scope, operand)),
            Expr::Binary { op: BinOp::And, lhs, rhs, .. } => {
                let l = self.lower_bool(scope, lhs);
                let r = self.lower_bool(scope, rhs);
                and(l, r)
            }
            Expr::Binary { op: BinOp::Or, lhs, rhs, .. } => {
                let l = self.lower_bool(scope, lhs);
                let r = self.lower_bool(scope, rhs);
                or(l, r)
            }
            Expr::Binary { op, lhs, rhs, span } => self.lower_cmp(scope, *op, lhs, rhs, *span),
            Expr::Path { path, span } => {
                let Some(o) = self.resolve_path(scope, path, *span) else { return AccessExpr::Const(false) };
                match o.ty {
                    OpTy::Scalar(ScalarType::Boolean) => AccessExpr::Cmp {
                        op: CmpOp::Eq,
                        lhs: o.op,
                        rhs: AccessOperand::Literal(ir::Literal::Bool(true)),
                    },
                    OpTy::Error => AccessExpr::Const(false),
                    ref t => {
                        let tl = self.op_label(t);
                        self.error(
                            Diagnostic::error("exo::not_boolean", format!("`{}` is not a condition", o.text))
                                .with_primary(o.span, format!("this is `{tl}`, not `Boolean`"))
                                .with_help("compare it with something, e.g. `== ...` or `!= null`"),
                        );
                        AccessExpr::Const(false)
                    }
                }
            }
            Expr::Call { receiver, method, args, span } => self.lower_call(scope, receiver, method, args, *span),
        }
    }

    fn lower_call(
        &mut self,
        scope: &mut Scope,
        receiver: &[Ident],
        method: &Ident,
        args: &CallArgs,
        span: Span,
    ) -> AccessExpr {
        let rspan = receiver.first().map_or(span, |f| f.span.to(receiver.last().map_or(f.span, |l| l.span)));
        match method.as_str() {
            "some" => {
                let CallArgs::Lambda { param, body } = args else {
                    self.error(
                        Diagnostic::error("exo::invalid_method", "`.some` takes a condition on each related row")
                            .with_primary(span, "missing `x => ...`")
                            .with_help("write `.some(x => x.field == ...)`"),
                    );
                    return AccessExpr::Const(false);
                };
                let Some(recv) = self.resolve_path(scope, receiver, rspan) else { return AccessExpr::Const(false) };
                let target = match recv.ty {
                    OpTy::Collection(t) => t,
                    OpTy::Error => return AccessExpr::Const(false),
                    ref t => {
                        let tl = self.op_label(t);
                        let help = if let OpTy::Entity(x) = t {
                            let name = &self.entities[*x as usize].name;
                            format!(
                                "`{}` is a single `{name}`; compare its fields directly, e.g. `{}.id == ...`",
                                recv.text, recv.text
                            )
                        } else if matches!(t, OpTy::List(_)) {
                            format!(
                                "to test membership in a list, write `value in {}` or `{}.contains(value)`",
                                recv.text, recv.text
                            )
                        } else {
                            "`.some` applies to one-to-many relations (`Set<T>` fields)".to_string()
                        };
                        self.error(
                            Diagnostic::error(
                                "exo::invalid_method",
                                format!("`.some` cannot be used on `{}`", recv.text),
                            )
                            .with_primary(recv.span, format!("this is `{tl}`"))
                            .with_help(help),
                        );
                        return AccessExpr::Const(false);
                    }
                };
                let index = scope.next_param;
                scope.next_param += 1;
                scope.params.push((param.name.clone(), target, index));
                let body = self.lower_bool(scope, body);
                scope.params.pop();
                AccessExpr::Some { collection: recv.op, param: index, body: Box::new(body) }
            }
            "contains" => {
                let lits = match args {
                    CallArgs::Literals(l) if l.len() == 1 => l,
                    _ => {
                        self.error(
                            Diagnostic::error("exo::invalid_method", "`.contains` takes exactly one value")
                                .with_primary(span, "expected `.contains(value)`"),
                        );
                        return AccessExpr::Const(false);
                    }
                };
                let Some(recv) = self.resolve_path(scope, receiver, rspan) else { return AccessExpr::Const(false) };
                let lit = self.literal_operand(&lits[0]);
                match recv.ty {
                    OpTy::List(_) => {
                        self.check_in(&lit, &recv);
                        AccessExpr::Cmp { op: CmpOp::In, lhs: lit.op, rhs: recv.op }
                    }
                    OpTy::Error => AccessExpr::Const(false),
                    ref t => {
                        let tl = self.op_label(t);
                        self.error(
                            Diagnostic::error(
                                "exo::invalid_method",
                                format!("`.contains` cannot be used on `{}`", recv.text),
                            )
                            .with_primary(recv.span, format!("this is `{tl}`, not a list"))
                            .with_help("`.contains` applies to list values such as `Array<String>` context fields"),
                        );
                        AccessExpr::Const(false)
                    }
                }
            }
            other => {
                self.error(
                    Diagnostic::error("exo::invalid_method", format!("unknown method `.{other}`"))
                        .with_primary(method.span, "not a known method")
                        .with_help(
                            "access rules support `.some(x => ...)` on relations and `.contains(value)` on lists",
                        ),
                );
                AccessExpr::Const(false)
            }
        }
    }

    fn lower_cmp(&mut self, scope: &mut Scope, op: BinOp, lhs: &Expr, rhs: &Expr, span: Span) -> AccessExpr {
        let l = self.lower_operand(scope, lhs);
        let r = self.lower_operand(scope, rhs);
        let (Some(l), Some(r)) = (l, r) else { return AccessExpr::Const(false) };
        if l.ty == OpTy::Error || r.ty == OpTy::Error {
            return AccessExpr::Const(false);
        }
        let cmp = match op {
            BinOp::Eq => CmpOp::Eq,
            BinOp::Neq => CmpOp::Neq,
            BinOp::Lt => CmpOp::Lt,
            BinOp::Lte => CmpOp::Lte,
            BinOp::Gt => CmpOp::Gt,
            BinOp::Gte => CmpOp::Gte,
            BinOp::In => CmpOp::In,
            BinOp::And | BinOp::Or => unreachable!("handled by lower_bool"),
        };
        let ok = match cmp {
            CmpOp::In => {
                if let OpTy::List(_) = r.ty {
                    self.check_in(&l, &r)
                } else {
                    let rl = self.op_label(&r.ty);
                    let help = if let OpTy::Collection(_) = r.ty {
                        format!("to test related rows, write `{}.some(x => x.field == {})`", r.text, l.text)
                    } else {
                        "the right side of `in` must be a list, such as an `Array<String>` context field".to_string()
                    };
                    self.error(
                        Diagnostic::error("exo::in_needs_list", format!("`{}` is not a list", r.text))
                            .with_primary(r.span, format!("this is `{rl}`"))
                            .with_help(help),
                    );
                    false
                }
            }
            CmpOp::Eq | CmpOp::Neq => {
                if l.ty == OpTy::Null || r.ty == OpTy::Null {
                    true
                } else {
                    self.check_comparable(&l, &r, op, span)
                }
            }
            _ => {
                if l.ty == OpTy::Null || r.ty == OpTy::Null {
                    let n = if l.ty == OpTy::Null { &l } else { &r };
                    self.error(
                        Diagnostic::error(
                            "exo::type_mismatch",
                            format!("`null` cannot be compared with `{}`", op.as_str()),
                        )
                        .with_primary(n.span, "null")
                        .with_help("only `==` and `!=` apply to `null`"),
                    );
                    false
                } else {
                    self.check_comparable(&l, &r, op, span) && self.check_ordered(&l, &r, op)
                }
            }
        };
        if !ok {
            return AccessExpr::Const(false);
        }
        if l.literal && r.literal {
            if let (AccessOperand::Literal(a), AccessOperand::Literal(b)) = (&l.op, &r.op) {
                match cmp {
                    CmpOp::Eq => return AccessExpr::Const(a == b),
                    CmpOp::Neq => return AccessExpr::Const(a != b),
                    _ => {}
                }
            }
        }
        AccessExpr::Cmp { op: cmp, lhs: l.op, rhs: r.op }
    }

    /// `l in r` where `r` is a list: the element types must match.
    fn check_in(&mut self, l: &Operand, r: &Operand) -> bool {
        let OpTy::List(elem) = r.ty else { return false };
        let elem_op =
            Operand { op: r.op.clone(), ty: OpTy::Scalar(elem), literal: false, span: r.span, text: r.text.clone() };
        match l.ty {
            OpTy::Scalar(_) => {
                if self.scalars_compatible(l, &elem_op) {
                    true
                } else {
                    let (ll, rl) = (self.op_label(&l.ty), self.op_label(&r.ty));
                    self.error(
                        Diagnostic::error(
                            "exo::type_mismatch",
                            format!("`{}` cannot be an element of `{}`", l.text, r.text),
                        )
                        .with_primary(l.span, format!("this is `{ll}`"))
                        .with_secondary(r.span, format!("this is `{rl}`")),
                    );
                    false
                }
            }
            OpTy::Error => false,
            ref t => {
                let ll = self.op_label(t);
                self.error(
                    Diagnostic::error("exo::type_mismatch", format!("`{}` cannot be tested for membership", l.text))
                        .with_primary(l.span, format!("this is `{ll}`"))
                        .with_help("the left side of `in` must be a single value"),
                );
                false
            }
        }
    }

    fn check_comparable(&mut self, l: &Operand, r: &Operand, op: BinOp, span: Span) -> bool {
        let _ = span;
        let ok = match (&l.ty, &r.ty) {
            (OpTy::Scalar(_), OpTy::Scalar(_)) => self.scalars_compatible(l, r),
            _ => false,
        };
        if !ok {
            let (ll, rl) = (self.op_label(&l.ty), self.op_label(&r.ty));
            let mut d = Diagnostic::error(
                "exo::type_mismatch",
                format!("cannot compare `{}` (`{ll}`) with `{}` (`{rl}`)", l.text, r.text),
            )
            .with_primary(l.span, format!("this is `{ll}`"))
            .with_secondary(r.span, format!("this is `{rl}`"));
            let entity_side = [(&l.ty, &l.text), (&r.ty, &r.text)].into_iter().find_map(|(t, text)| match t {
                OpTy::Entity(x) => Some((*x, text.clone())),
                _ => None,
            });
            if let Some((x, text)) = entity_side {
                let pk = self.entities[x as usize].fields.iter().find(|f| f.hints.pk).map(|f| f.name.clone());
                if let Some(pk) = pk {
                    d = d.with_help(format!("compare the key of the related row: `{text}.{pk} {} ...`", op.as_str()));
                }
            } else if matches!(l.ty, OpTy::List(_)) || matches!(r.ty, OpTy::List(_)) {
                d = d.with_help("to test membership, write `value in list`");
            }
            self.error(d);
        }
        ok
    }

    fn check_ordered(&mut self, l: &Operand, r: &Operand, op: BinOp) -> bool {
        for o in [l, r] {
            if let OpTy::Scalar(s @ (ScalarType::Boolean | ScalarType::Json | ScalarType::Blob | ScalarType::Uuid)) =
                o.ty
            {
                self.error(
                    Diagnostic::error(
                        "exo::type_mismatch",
                        format!("`{}` values cannot be ordered with `{}`", s.graphql_name(), op.as_str()),
                    )
                    .with_primary(o.span, format!("this is `{}`", s.graphql_name()))
                    .with_help("use `==` or `!=`"),
                );
                return false;
            }
        }
        true
    }

    /// Whether two scalar operands can be compared. String literals stand for the string-like
    /// scalars (dates, UUIDs, decimals, enum values); numbers are mutually comparable.
    fn scalars_compatible(&mut self, l: &Operand, r: &Operand) -> bool {
        let (OpTy::Scalar(a), OpTy::Scalar(b)) = (&l.ty, &r.ty) else { return false };
        let (a, b) = (*a, *b);
        let numeric = |s: ScalarType| matches!(s, ScalarType::Int | ScalarType::Float | ScalarType::Decimal);
        if a == b || (numeric(a) && numeric(b)) {
            return true;
        }
        let string_like = |s: ScalarType| {
            matches!(
                s,
                ScalarType::String
                    | ScalarType::Decimal
                    | ScalarType::LocalDate
                    | ScalarType::LocalTime
                    | ScalarType::LocalDateTime
                    | ScalarType::Instant
                    | ScalarType::Uuid
                    | ScalarType::Enum(_)
            )
        };
        for (x, xo, y) in [(a, l, b), (b, r, a)] {
            if x == ScalarType::String && string_like(y) && (xo.literal || matches!(y, ScalarType::Enum(_))) {
                if let (ScalarType::Enum(id), AccessOperand::Literal(ir::Literal::String(v))) = (y, &xo.op) {
                    self.check_variant(id, v, xo.span);
                }
                return true;
            }
        }
        false
    }

    fn check_variant(&mut self, id: u32, v: &str, span: Span) {
        let Some(en) = self.enums.get(id as usize) else { return };
        if en.variants.iter().any(|x| x == v) {
            return;
        }
        let mut d = Diagnostic::error("exo::unknown_variant", format!("enum `{}` has no value `{v}`", en.name))
            .with_primary(span, "unknown value");
        if let Some(s) = names::suggest(v, en.variants.iter().map(String::as_str)) {
            d = d.with_help(format!("did you mean `\"{s}\"`?"));
        }
        self.error(d);
    }

    fn literal_operand(&self, l: &ast::Literal) -> Operand {
        let value = super::defaults::literal_value(&l.value);
        let ty = match &value {
            ir::Literal::Null => OpTy::Null,
            ir::Literal::Bool(_) => OpTy::Scalar(ScalarType::Boolean),
            ir::Literal::Int(_) => OpTy::Scalar(ScalarType::Int),
            ir::Literal::Float(_) => OpTy::Scalar(ScalarType::Float),
            ir::Literal::String(_) => OpTy::Scalar(ScalarType::String),
        };
        Operand { op: AccessOperand::Literal(value), ty, literal: true, span: l.span, text: literal_text(&l.value) }
    }

    fn lower_operand(&mut self, scope: &mut Scope, x: &Expr) -> Option<Operand> {
        match x {
            Expr::Literal(l) => Some(self.literal_operand(l)),
            Expr::Path { path, span } => self.resolve_path(scope, path, *span),
            _ => {
                self.error(
                    Diagnostic::error("exo::type_mismatch", "expected a value, found a condition")
                        .with_primary(x.span(), "a condition")
                        .with_help("comparisons take values on both sides: paths such as `self.field`, context fields or literals"),
                );
                None
            }
        }
    }

    /// Resolves `self.a.b`, `Ctx.field` or `param.a.b`.
    fn resolve_path(&mut self, scope: &Scope, path: &[Ident], span: Span) -> Option<Operand> {
        let head = path.first()?;
        let text = path.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(".");
        if let Some(&(_, entity, index)) = scope.params.iter().rev().find(|(n, _, _)| *n == head.name) {
            let (steps, ty) = self.walk(entity, &path[1..], head)?;
            return Some(Operand {
                op: AccessOperand::Param { param: index, path: steps },
                ty,
                literal: false,
                span,
                text,
            });
        }
        if head.as_str() == "self" {
            let (steps, ty) = self.walk(scope.entity, &path[1..], head)?;
            return Some(Operand { op: AccessOperand::SelfPath(steps), ty, literal: false, span, text });
        }
        if self.context_index.contains_key(head.as_str()) {
            let (ctx, field) = self.resolve_context_selection(path, span)?;
            let f = &self.contexts[ctx as usize].fields[field as usize];
            let ty = if f.is_list { OpTy::List(f.ty) } else { OpTy::Scalar(f.ty) };
            return Some(Operand {
                op: AccessOperand::Context { context: ctx, field },
                ty,
                literal: false,
                span,
                text,
            });
        }
        let mut d = Diagnostic::error("exo::unknown_name", format!("unknown name `{head}`"))
            .with_primary(head.span, "not `self`, a context or a `.some` parameter");
        let candidates: Vec<&str> = std::iter::once("self")
            .chain(self.context_index.keys().copied())
            .chain(scope.params.iter().map(|(n, _, _)| n.as_str()))
            .collect();
        if let Some(s) = names::suggest(head.as_str(), candidates.iter().copied()) {
            d = d.with_help(format!("did you mean `{s}`?"));
        } else if matches!(self.decls.get(head.as_str()).map(|d| d.decl), Some(super::Decl::Entity(_))) {
            d = d.with_help("refer to the row the rule is about as `self`");
        } else if !self.context_index.is_empty() {
            d = d.with_help(format!(
                "access rules start from `self`, a context ({}), or a `.some(x => ...)` parameter",
                self.context_list()
            ));
        } else {
            d = d.with_help(
                "access rules start from `self`, a context such as `AuthContext`, or a `.some(x => ...)` parameter",
            );
        }
        self.error(d);
        None
    }

    /// Walks field names from `start`. Relations in the middle must be many-to-one.
    fn walk(&mut self, start: EntityId, steps: &[Ident], head: &Ident) -> Option<(Vec<PathStep>, OpTy)> {
        let mut cur_ty = OpTy::Entity(start);
        let mut out = Vec::with_capacity(steps.len());
        // The path walked so far, for messages (`self.author`).
        let mut prev = head.name.clone();
        for step in steps {
            let cur = match cur_ty {
                OpTy::Entity(x) => x,
                OpTy::Error => return Some((out, OpTy::Error)),
                OpTy::Collection(x) => {
                    let name = self.entities[x as usize].name.clone();
                    self.error(
                        Diagnostic::error("exo::invalid_path", format!("`{prev}` is a collection of `{name}` rows"))
                            .with_primary(step.span, "cannot select a field of a collection")
                            .with_help(format!("test the related rows with `{prev}.some(x => x.{step} == ...)`")),
                    );
                    return Some((out, OpTy::Error));
                }
                ref t => {
                    let tl = self.op_label(t);
                    self.error(
                        Diagnostic::error("exo::invalid_path", format!("`{prev}` is `{tl}` and has no fields"))
                            .with_primary(step.span, "no such field"),
                    );
                    return Some((out, OpTy::Error));
                }
            };
            let ent = &self.entities[cur as usize];
            let Some(fid) = ent.field(step.as_str()) else {
                let mut d =
                    Diagnostic::error("exo::unknown_field", format!("type `{}` has no field `{step}`", ent.name))
                        .with_primary(step.span, "unknown field");
                if let Some(s) = names::suggest(step.as_str(), ent.fields.iter().map(|f| f.name.as_str())) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                self.error(d);
                return None;
            };
            out.push(PathStep { entity: cur, field: fid });
            cur_ty = self.field_op_ty(cur, fid);
            prev.push('.');
            prev.push_str(step.as_str());
        }
        Some((out, cur_ty))
    }

    fn field_op_ty(&self, e: EntityId, f: FieldId) -> OpTy {
        match &self.entities[e as usize].fields[f as usize].ty {
            FieldType::Value(ValueType::Scalar(s)) => OpTy::Scalar(*s),
            FieldType::Value(ValueType::Array(inner)) => match **inner {
                ValueType::Scalar(s) => OpTy::List(s),
                _ => OpTy::Opaque,
            },
            FieldType::Value(ValueType::JsonObject(_)) => OpTy::Opaque,
            FieldType::ManyToOne { target, .. } => OpTy::Entity(*target),
            FieldType::OneToMany { target, .. } => OpTy::Collection(*target),
            FieldType::Entity(_) | FieldType::Set(_) | FieldType::Error => OpTy::Error,
        }
    }

    fn op_label(&self, t: &OpTy) -> String {
        let scalar = |s: &ScalarType| match s {
            ScalarType::Enum(id) => self.enums.get(*id as usize).map_or("enum".into(), |e| e.name.clone()),
            s => s.graphql_name().to_string(),
        };
        match t {
            OpTy::Scalar(s) => scalar(s),
            OpTy::List(s) => format!("Array<{}>", scalar(s)),
            OpTy::Opaque => "Json".into(),
            OpTy::Entity(x) => self.entities[*x as usize].name.clone(),
            OpTy::Collection(x) => format!("Set<{}>", self.entities[*x as usize].name),
            OpTy::Null => "null".into(),
            OpTy::Error => "?".into(),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Projections (validated only; the IR does not carry them)
    // -----------------------------------------------------------------------------------------

    pub(super) fn check_projections(&mut self) {
        for e in 0..self.entities.len() {
            let decl = self.entities[e].decl;
            let Some(a) = decl.annotations.iter().find(|a| a.name.as_str() == "projection") else { continue };
            let own: Vec<&str> = super::annotations::named(a).iter().map(|p| p.name.as_str()).collect();
            for p in super::annotations::named(a) {
                let AnnotationValue::Projection { atoms, .. } = &p.value else {
                    self.error(
                        Diagnostic::error(
                            "exo::annotation_params",
                            format!("projection `{}` must be a list such as `[id, name]`", p.name),
                        )
                        .with_primary(p.value.span(), "expected `[...]`"),
                    );
                    continue;
                };
                for atom in atoms {
                    match atom {
                        ast::ProjectionAtom::Field(f) => {
                            if self.entities[e].field(f.as_str()).is_none() {
                                let name = self.entities[e].name.clone();
                                self.error(
                                    Diagnostic::error(
                                        "exo::unknown_field",
                                        format!("type `{name}` has no field `{f}`"),
                                    )
                                    .with_primary(f.span, "unknown field"),
                                );
                            }
                        }
                        ast::ProjectionAtom::OwnProjection(n) => {
                            if !matches!(n.as_str(), "pk" | "basic") && !own.contains(&n.as_str()) {
                                self.error(
                                    Diagnostic::error("exo::unknown_projection", format!("unknown projection `/{n}`"))
                                        .with_primary(n.span, "not declared")
                                        .with_help("built-in projections are `/pk` and `/basic`"),
                                );
                            }
                        }
                        ast::ProjectionAtom::RelationProjection { field, .. } => {
                            let ok = self.entities[e].field(field.as_str()).is_some_and(|f| {
                                self.entities[e].fields[f as usize].ty != FieldType::Error
                                    && matches!(
                                        self.entities[e].fields[f as usize].ty,
                                        FieldType::ManyToOne { .. } | FieldType::OneToMany { .. }
                                    )
                            });
                            if !ok {
                                let name = self.entities[e].name.clone();
                                self.error(
                                    Diagnostic::error(
                                        "exo::unknown_field",
                                        format!("type `{name}` has no relation field `{field}`"),
                                    )
                                    .with_primary(field.span, "not a relation"),
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

fn literal_text(v: &LiteralValue) -> String {
    match v {
        LiteralValue::Str(s) => format!("\"{s}\""),
        LiteralValue::Number(n) => n.clone(),
        LiteralValue::Bool(b) => b.to_string(),
        LiteralValue::Null => "null".into(),
    }
}

fn not(x: AccessExpr) -> AccessExpr {
    match x {
        AccessExpr::Const(b) => AccessExpr::Const(!b),
        AccessExpr::Not(inner) => *inner,
        x => AccessExpr::Not(Box::new(x)),
    }
}

fn and(l: AccessExpr, r: AccessExpr) -> AccessExpr {
    match (l, r) {
        (AccessExpr::Const(false), _) | (_, AccessExpr::Const(false)) => AccessExpr::Const(false),
        (AccessExpr::Const(true), x) | (x, AccessExpr::Const(true)) => x,
        (l, r) => AccessExpr::And(Box::new(l), Box::new(r)),
    }
}

fn or(l: AccessExpr, r: AccessExpr) -> AccessExpr {
    match (l, r) {
        (AccessExpr::Const(true), _) | (_, AccessExpr::Const(true)) => AccessExpr::Const(true),
        (AccessExpr::Const(false), x) | (x, AccessExpr::Const(false)) => x,
        (l, r) => AccessExpr::Or(Box::new(l), Box::new(r)),
    }
}
