//! Validation: `(system, document, operation name, variables) -> Operation`.
//!
//! Checks a parsed document against the schema per the GraphQL spec (fields, arguments,
//! fragments, directives, variables and their coercion), flattens fragments, applies
//! `@skip`/`@include`, merges fields with the same response key, and coerces every argument
//! to its input type. What comes out can be planned without looking at the document again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use exo_ir::graphql::{Field, InputValue, TypeKind, TypeRef};
use serde_json::Value as Json;

use crate::error::GqlError;
use crate::graphql::{self as ast, OperationKind, Pos, ValueKind};
use crate::limits::{Counter, OperationLimits};
use crate::system::System;
use crate::value::{Origin, PathSeg, Val};

/// A validated operation.
#[derive(Debug)]
pub struct Operation<'s> {
    pub kind: OperationKind,
    pub fields: Vec<Selected<'s>>,
    /// Whether every root field is `__schema`, `__type` or `__typename`.
    pub introspection_only: bool,
    /// The types variable values were coerced to: for each declared variable (in declaration
    /// order), the type of every place it is used (non-null if declared non-null), or its
    /// declared type if it is unused. The plan cache shapes and re-checks values with these.
    pub variable_types: Vec<(String, TypeRef)>,
}

/// A field in the validated selection tree.
#[derive(Debug)]
pub struct Selected<'s> {
    /// The key in the response: the alias, or the field name.
    pub key: String,
    pub field: &'s Field,
    /// The object type the field belongs to.
    pub parent: &'s str,
    /// Arguments as provided (after coercion), in the schema's order; absent arguments with a
    /// default value are filled in.
    pub args: Vec<(&'s str, Val)>,
    pub selection: Vec<Selected<'s>>,
    pub pos: Pos,
    /// Where the `data` argument's value stands (the field's position when there is none):
    /// errors about input values (`@range`) point there, as in Exograph.
    pub data_pos: Pos,
}

impl<'s> Selected<'s> {
    pub fn arg(&self, name: &str) -> Option<&Val> {
        self.args.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The argument playing `role` (`where`, `data`, ...), if given.
    pub fn role(&self, role: exo_ir::graphql::ArgRole) -> Option<&Val> {
        self.arg(role.name())
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Maximum depth of a field, root fields being at depth 1 (`EXO_MAX_SELECTION_DEPTH`).
    pub max_depth: usize,
    /// The same for documents that only introspect.
    pub max_introspection_depth: usize,
    /// Fields, aliases and fragment spreads (see [`OperationLimits`]).
    pub operation: OperationLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 5, max_introspection_depth: 15, operation: OperationLimits::default() }
    }
}

pub fn validate<'s>(
    system: &'s System,
    doc: &ast::Document<'_>,
    operation_name: Option<&str>,
    variables: &serde_json::Map<String, Json>,
    limits: Limits,
) -> Result<Operation<'s>, Vec<GqlError>> {
    let op = select_operation(doc, operation_name)?;
    let mut v = Validator::new(system, doc);
    v.limits = limits.operation;
    v.check_fragments();
    if !v.errors.is_empty() {
        return Err(v.errors);
    }
    let root = match op.kind {
        OperationKind::Query => "Query",
        OperationKind::Mutation => {
            if system.schema().mutations.is_empty() {
                return Err(vec![GqlError::at("Schema is not configured for mutations.", op.pos)]);
            }
            "Mutation"
        }
        OperationKind::Subscription => {
            return Err(vec![GqlError::at("Subscriptions are not supported.", op.pos)]);
        }
    };
    v.coerce_variables(op, variables);
    if !v.errors.is_empty() {
        return Err(v.errors);
    }
    let fields = v.selection_set(root, &op.selection_set, 0);
    // A walk cut short by a size bound leaves other errors that mean nothing.
    if let Some(e) = v.counter.take_error() {
        return Err(vec![e]);
    }
    // Unused variables are not an error: Exograph ignores them, and so do its users' clients.
    if !v.errors.is_empty() {
        return Err(v.errors);
    }
    let introspection_only = fields.iter().all(|f| f.field.name.starts_with("__"));
    let max = if introspection_only { limits.max_introspection_depth } else { limits.max_depth };
    if let Some(pos) = too_deep(&fields, 1, max) {
        return Err(vec![GqlError::at("Selection set too deep", pos)]);
    }
    let variable_types = v.variable_types(op);
    Ok(Operation { kind: op.kind, fields, introspection_only, variable_types })
}

/// The types an operation's variables are coerced to (see [`Operation::variable_types`]),
/// without values: for compiling trusted documents, whose sample values must fit the places
/// the variables are used. `None` if there is no such operation.
pub fn variable_types(
    system: &System,
    doc: &ast::Document<'_>,
    operation_name: Option<&str>,
) -> Option<Vec<(String, TypeRef)>> {
    let op = select_operation(doc, operation_name).ok()?;
    let mut v = Validator::new(system, doc);
    for def in &op.variables {
        v.vars.insert(def.name.value, VarDecl { json: None, default: def.default.as_ref() });
    }
    let root = match op.kind {
        OperationKind::Mutation => "Mutation",
        _ => "Query",
    };
    // Errors do not matter here: validation with real values reports them.
    let _ = v.selection_set(root, &op.selection_set, 0);
    Some(v.variable_types(op))
}

/// The first field (in document order) deeper than `max`, root fields being at depth 1. Leaf
/// fields count too: with the default of 5, `a { b { c { d { e { f } } } } }` is rejected at `f`.
fn too_deep(fields: &[Selected<'_>], depth: usize, max: usize) -> Option<Pos> {
    for f in fields {
        if depth > max {
            return Some(f.pos);
        }
        if let Some(p) = too_deep(&f.selection, depth + 1, max) {
            return Some(p);
        }
    }
    None
}

fn select_operation<'d, 'a>(
    doc: &'d ast::Document<'a>,
    name: Option<&str>,
) -> Result<&'d ast::OperationDefinition<'a>, Vec<GqlError>> {
    match name {
        Some(n) => doc
            .operations
            .iter()
            .find(|o| o.name.map(|x| x.value) == Some(n))
            .ok_or_else(|| vec![GqlError::new(format!("Unknown operation named \"{n}\"."))]),
        None => match doc.operations.len() {
            0 => Err(vec![GqlError::new("Document does not contain any operations.")]),
            1 => Ok(&doc.operations[0]),
            _ => Err(vec![GqlError::new("Must provide operation name if query contains multiple operations.")]),
        },
    }
}

/// A declared variable and its value as sent. Values are coerced where the variable is used,
/// to the type expected there, as Exograph does: a declaration need not match its use sites
/// (`$id: Int` for `Int!`, `String` for `Uuid`), and a variable may be used at several types.
struct VarDecl<'d, 'a, 'j> {
    /// `None` when the request does not send it (an explicit `null` is `Some`).
    json: Option<&'j Json>,
    default: Option<&'d ast::Value<'a>>,
}

struct Validator<'s, 'd, 'a, 'j> {
    system: &'s System,
    doc: &'d ast::Document<'a>,
    errors: Vec<GqlError>,
    vars: HashMap<&'a str, VarDecl<'d, 'a, 'j>>,
    /// Each variable with each type it is used at, once.
    var_uses: Vec<(&'a str, TypeRef)>,
    fragment_stack: Vec<&'a str>,
    limits: OperationLimits,
    counter: Counter,
    /// Where the value being coerced sits, for Exograph's error wording.
    site: Site,
}

/// The place of the value being coerced, as Exograph's messages name and locate it: the
/// argument, the innermost input field (`Argument 'published' is not of a valid type...`),
/// the GraphQL field (`Argument(s) '[x]' invalid for 'createTodo'`), and a location: the
/// argument's value, wherever inside it the problem is.
#[derive(Clone, Debug, Default)]
struct Site {
    argument: String,
    name: String,
    field: String,
    field_pos: Pos,
    loc: Pos,
}

/// Messages Exograph reports as `Invalid field '<argument>': ...`, without a location.
const MULTIPLE_LOGICAL_OPS: &str = "Cannot specify more than one logical operation on the same level";
const EMPTY_LOGICAL_OP: &str = "Logical operation predicate does not have any arguments";
const INVALID_BLOB: &str = "Invalid Blob value (expected base64)";

/// A Blob that is not base64, in Exograph's words (which carry no location).
fn blob_error(field: &str) -> GqlError {
    GqlError::new(format!(
        "Unable to convert input to the expected type: trying to convert the '{field}' field to the 'Blob' type"
    ))
}

/// A filter (an input type with `and`, `or` and `not`) may use one of them per level, and
/// `and`/`or` need at least one operand.
fn check_logical_ops(fields: &[InputValue], value: &[(String, Val)]) -> Result<(), &'static str> {
    if !["and", "or", "not"].iter().all(|n| fields.iter().any(|f| f.name == *n)) {
        return Ok(());
    }
    let ops = value.iter().filter(|(k, v)| matches!(k.as_str(), "and" | "or" | "not") && !v.is_null());
    if ops.clone().count() > 1 {
        return Err(MULTIPLE_LOGICAL_OPS);
    }
    if ops.into_iter().any(|(k, v)| k != "not" && matches!(v, Val::List(items, _) if items.is_empty())) {
        return Err(EMPTY_LOGICAL_OP);
    }
    Ok(())
}

impl<'s, 'd, 'a, 'j> Validator<'s, 'd, 'a, 'j> {
    fn new(system: &'s System, doc: &'d ast::Document<'a>) -> Self {
        Validator {
            system,
            doc,
            errors: vec![],
            vars: HashMap::new(),
            var_uses: vec![],
            fragment_stack: vec![],
            site: Site::default(),
            limits: OperationLimits::default(),
            counter: Counter::default(),
        }
    }

    fn note_use(&mut self, name: &'a str, ty: &TypeRef) {
        if !self.var_uses.iter().any(|(n, t)| *n == name && t == ty) {
            self.var_uses.push((name, ty.clone()));
        }
    }

    /// Whether `v` is a variable that was neither sent nor has a default: the argument or
    /// input field it stands for is then absent.
    fn absent_var(&mut self, v: &ast::Value<'a>, ty: &TypeRef) -> bool {
        let ValueKind::Variable(var) = &v.kind else { return false };
        let absent = matches!(self.vars.get(var.value), Some(d) if d.json.is_none() && d.default.is_none());
        if absent {
            self.note_use(var.value, ty);
        }
        absent
    }

    fn variable_types(&self, op: &ast::OperationDefinition<'a>) -> Vec<(String, TypeRef)> {
        let mut out = vec![];
        for def in &op.variables {
            let declared = ast_type_to_ref(&def.ty);
            let before = out.len();
            for (_, used) in self.var_uses.iter().filter(|(n, _)| *n == def.name.value) {
                // A variable declared non-null must be sent and not be null, wherever it is used.
                let ty = match (&declared, used) {
                    (TypeRef::NonNull(_), TypeRef::NonNull(_)) | (TypeRef::List(_) | TypeRef::Named(_), _) => {
                        used.clone()
                    }
                    (TypeRef::NonNull(_), _) => TypeRef::NonNull(Box::new(used.clone())),
                };
                if !out[before..].iter().any(|(_, t)| *t == ty) {
                    out.push((def.name.value.to_string(), ty));
                }
            }
            if out.len() == before {
                out.push((def.name.value.to_string(), declared));
            }
        }
        out
    }

    fn err(&mut self, msg: impl Into<String>, pos: Pos) {
        self.errors.push(GqlError::at(msg, pos));
    }

    fn check_fragments(&mut self) {
        let mut seen: HashMap<&str, Pos> = HashMap::new();
        for f in &self.doc.fragments {
            if let Some(first) = seen.get(f.name.value) {
                self.errors.push(GqlError {
                    message: format!("Fragment {} duplicated", f.name.value),
                    locations: vec![*first, f.pos],
                });
            } else {
                seen.insert(f.name.value, f.pos);
            }
            // The type condition is not checked (nor at spreads): as in Exograph, a fragment's
            // fields are checked against the type where it is spread.
        }
        // Cycles: depth-first over spreads.
        let by_name: HashMap<&str, &ast::FragmentDefinition> =
            self.doc.fragments.iter().map(|f| (f.name.value, f)).collect();
        let mut done: HashSet<&str> = HashSet::new();
        for f in &self.doc.fragments {
            let mut stack = vec![];
            if let Some((cycle_at, pos)) = find_cycle(f.name.value, &by_name, &mut stack, &mut done) {
                self.err(format!("Fragment cycle detected: {cycle_at}"), pos);
                return;
            }
        }
        // Unused fragments.
        let mut used = HashSet::new();
        for op in &self.doc.operations {
            collect_spreads(&op.selection_set, &by_name, &mut used);
        }
        for f in &self.doc.fragments {
            if !used.contains(f.name.value) {
                self.err(format!("Fragment \"{}\" is never used.", f.name.value), f.pos);
            }
        }
    }

    /// Records the declared variables with their values. Values are coerced where they are
    /// used (see [`VarDecl`]); here only what does not depend on a use is checked.
    fn coerce_variables(&mut self, op: &'d ast::OperationDefinition<'a>, provided: &'j serde_json::Map<String, Json>) {
        for def in &op.variables {
            let name = def.name.value;
            if self.vars.contains_key(name) {
                self.err(format!("There can be only one variable named \"${name}\"."), def.pos);
                continue;
            }
            // Any type the schema knows will do: Exograph accepts a `@json` type declared by
            // its output name, and coerces the value to the input type where it is used.
            let base = def.ty.innermost().value;
            if !System::is_builtin_scalar(base) && self.system.type_named(base).is_none() {
                self.err(format!("Unknown type \"{base}\"."), def.pos);
                continue;
            }
            let json = provided.get(name);
            if matches!(def.ty, ast::Type::NonNull(_)) && def.default.is_none() {
                match json {
                    None => {
                        self.err(format!("Variable '{name}' not found"), def.name.pos);
                        continue;
                    }
                    Some(Json::Null) => {
                        self.err(
                            format!(
                                "Variable \"${name}\" of non-null type \"{}\" must not be null.",
                                type_to_string(&def.ty)
                            ),
                            def.pos,
                        );
                        continue;
                    }
                    Some(_) => {}
                }
            }
            self.vars.insert(name, VarDecl { json, default: def.default.as_ref() });
        }
    }

    fn selection_set(&mut self, parent: &'s str, sels: &'d [ast::Selection<'a>], depth: usize) -> Vec<Selected<'s>> {
        let mut out: Vec<Selected<'s>> = vec![];
        let mut count = 0;
        self.collect(parent, sels, depth, &mut out, &mut count);
        out
    }

    /// Collects `sels` into `out`; `count` is how many fields this selection set has had so
    /// far (fragments expanded), for the size bounds.
    fn collect(
        &mut self,
        parent: &'s str,
        sels: &'d [ast::Selection<'a>],
        depth: usize,
        out: &mut Vec<Selected<'s>>,
        count: &mut usize,
    ) {
        for sel in sels {
            if self.counter.stopped() {
                return;
            }
            match sel {
                ast::Selection::Field(f) => {
                    if !self.included(&f.directives) {
                        continue;
                    }
                    *count += 1;
                    if !self.counter.field(&self.limits, *count, depth == 0, f.pos) {
                        return;
                    }
                    if let Some(s) = self.field(parent, f, depth) {
                        if let Err((key, first, second)) = merge_into(out, s) {
                            self.errors.push(GqlError {
                                message: format!(
                                    "Failed to merge field defined multiple times with different selection or arguments: '{key}'"
                                ),
                                locations: vec![first, second],
                            });
                        }
                    }
                }
                ast::Selection::FragmentSpread(spread) => {
                    if !self.included(&spread.directives) {
                        continue;
                    }
                    let Some(frag) = self.doc.fragments.iter().find(|x| x.name.value == spread.name.value) else {
                        self.err(format!("Fragment definition '{}' not found", spread.name.value), spread.pos);
                        continue;
                    };
                    if self.fragment_stack.contains(&frag.name.value) {
                        continue; // reported by check_fragments
                    }
                    if !self.counter.spread(&self.limits, spread.pos) {
                        return;
                    }
                    self.fragment_stack.push(frag.name.value);
                    self.collect(parent, &frag.selection_set, depth, out, count);
                    self.fragment_stack.pop();
                }
                ast::Selection::InlineFragment(inline) => {
                    if !self.included(&inline.directives) {
                        continue;
                    }
                    self.collect(parent, &inline.selection_set, depth, out, count);
                }
            }
        }
    }

    /// Evaluates `@skip` / `@include`; reports unknown directives.
    fn included(&mut self, directives: &'d [ast::Directive<'a>]) -> bool {
        let mut keep = true;
        for d in directives {
            let name = d.name.value;
            if name != "skip" && name != "include" {
                self.err(format!("Unknown directive \"@{name}\"."), d.pos);
                continue;
            }
            let Some((_, v)) = d.arguments.iter().find(|(n, _)| n.value == "if") else {
                self.err(
                    format!("Directive \"@{name}\" argument \"if\" of type \"Boolean!\" is required, but it was not provided."),
                    d.pos,
                );
                continue;
            };
            for (n, _) in &d.arguments {
                if n.value != "if" {
                    self.err(format!("Unknown argument \"{}\" on directive \"@{name}\".", n.value), n.pos);
                }
            }
            self.site = Site::default();
            let cond = match self.coerce_literal(v, &TypeRef::named("Boolean").non_null(), false) {
                Ok(Val::Bool(b, _)) => b,
                Ok(_) => true,
                Err(e) => {
                    self.errors.push(e);
                    true
                }
            };
            if (name == "skip" && cond) || (name == "include" && !cond) {
                keep = false;
            }
        }
        keep
    }

    fn field(&mut self, parent: &'s str, f: &'d ast::Field<'a>, depth: usize) -> Option<Selected<'s>> {
        let system = self.system;
        let Some(def) = system.field(parent, f.name.value) else {
            self.err(format!("Field '{}' is not valid for type '{}'", f.name.value, parent), f.name.pos);
            return None;
        };
        let args = self.arguments(parent, def, &f.arguments, f.pos);
        let base = def.ty.base_name();
        let selection = if system.is_leaf(base) {
            if !f.selection_set.is_empty() {
                self.err(
                    format!(
                        "Field \"{}\" must not have a selection since type \"{}\" has no subfields.",
                        f.name.value, def.ty
                    ),
                    f.pos,
                );
            }
            vec![]
        } else {
            // An object field without a selection set is accepted, as in Exograph (mutations
            // whose result is not needed are written `createT(data: {...})`); it answers `{}`.
            let parent_name: &'s str = match system.type_named(base) {
                Some(t) => &t.name,
                None => return None,
            };
            self.selection_set(parent_name, &f.selection_set, depth + 1)
        };
        let data_pos = f.arguments.iter().find(|(n, _)| n.value == "data").map_or(f.pos, |(_, v)| v.pos);
        Some(Selected { key: f.response_key().to_string(), field: def, parent, args, selection, pos: f.pos, data_pos })
    }

    fn arguments(
        &mut self,
        parent: &str,
        def: &'s Field,
        given: &'d [(ast::Name<'a>, ast::Value<'a>)],
        pos: Pos,
    ) -> Vec<(&'s str, Val)> {
        let mut out = Vec::with_capacity(def.args.len());
        for (n, _) in given {
            if !def.args.iter().any(|a| a.name == n.value) {
                self.err(format!("Unknown argument \"{}\" on field \"{}.{}\".", n.value, parent, def.name), n.pos);
            }
            if given.iter().filter(|(m, _)| m.value == n.value).count() > 1 {
                self.err(format!("There can be only one argument named \"{}\".", n.value), n.pos);
                return out;
            }
        }
        for a in &def.args {
            match given.iter().find(|(n, _)| n.value == a.name) {
                Some((_, v)) => {
                    // A variable that was not provided counts as absent.
                    if self.absent_var(v, &a.ty) {
                        if matches!(a.ty, TypeRef::NonNull(_)) {
                            self.err(format!("Required argument '{}' not found", a.name), pos);
                        }
                        continue;
                    }
                    self.site = Site {
                        argument: a.name.clone(),
                        name: a.name.clone(),
                        field: def.name.clone(),
                        field_pos: pos,
                        loc: v.pos,
                    };
                    match self.coerce_literal(v, &a.ty, false) {
                        Ok(val) => out.push((a.name.as_str(), val)),
                        Err(mut e) => {
                            if e.message == MULTIPLE_LOGICAL_OPS || e.message == EMPTY_LOGICAL_OP {
                                e = GqlError::new(format!("Invalid field '{}': {}", a.name, e.message));
                            }
                            self.errors.push(e)
                        }
                    }
                }
                None => {
                    if matches!(a.ty, TypeRef::NonNull(_)) {
                        self.err(format!("Required argument '{}' not found", a.name), pos);
                    }
                }
            }
        }
        out
    }

    fn input_fields(&self, name: &str) -> Option<&'s [InputValue]> {
        match &self.system.type_named(name)?.kind {
            TypeKind::InputObject { fields } => Some(fields),
            _ => None,
        }
    }

    /// Coerces a document value (possibly containing variables) to `ty`.
    fn coerce_literal(&mut self, v: &ast::Value<'a>, ty: &TypeRef, constant: bool) -> Result<Val, GqlError> {
        if let ValueKind::Variable(name) = &v.kind {
            if constant {
                return Err(GqlError::at(format!("Unexpected variable \"${}\" in constant value.", name.value), v.pos));
            }
            self.note_use(name.value, ty);
            let Some(decl) = self.vars.get(name.value) else {
                return Err(GqlError::at(format!("Variable \"${}\" is not defined.", name.value), v.pos));
            };
            let (json, default) = (decl.json, decl.default);
            if let Some(json) = json {
                let var: Arc<str> = Arc::from(name.value);
                return self.coerce_json(json, ty, &var, &mut vec![]).map_err(|msg| {
                    if msg == MULTIPLE_LOGICAL_OPS || msg == EMPTY_LOGICAL_OP {
                        GqlError::new(msg)
                    } else if msg.starts_with(INVALID_BLOB) {
                        blob_error(&self.site.name)
                    } else if msg.starts_with("Expected '") {
                        // A value of the wrong kind reads as in Exograph, located at the argument.
                        GqlError::at(
                            format!("Argument '{}' is not of a valid type. {msg}", self.site.name),
                            self.site.loc,
                        )
                    } else {
                        GqlError::at(
                            format!("Variable \"${}\" got invalid value {}; {msg}", name.value, short_json(json)),
                            v.pos,
                        )
                    }
                });
            }
            return match default {
                Some(d) => self.coerce_literal(d, ty, true),
                None => Ok(Val::Null(Origin::Literal)),
            };
        }
        match ty {
            TypeRef::NonNull(inner) => {
                if matches!(v.kind, ValueKind::Null) {
                    return Err(GqlError::at(
                        format!("Required argument '{}' not found", self.site.name),
                        self.site.loc,
                    ));
                }
                self.coerce_literal(v, inner, constant)
            }
            TypeRef::List(inner) => match &v.kind {
                ValueKind::Null => Ok(Val::Null(Origin::Literal)),
                ValueKind::List(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        out.push(self.coerce_literal(item, inner, constant)?);
                    }
                    Ok(Val::List(out, Origin::Literal))
                }
                _ => Ok(Val::List(vec![self.coerce_literal(v, inner, constant)?], Origin::Literal)),
            },
            TypeRef::Named(name) => {
                if matches!(v.kind, ValueKind::Null) {
                    return Ok(Val::Null(Origin::Literal));
                }
                if let Some(fields) = self.input_fields(name) {
                    let given = match &v.kind {
                        ValueKind::Object(given) => given,
                        ValueKind::Enum(e) => {
                            return Err(GqlError::new(format!(
                                "Invalid field '{}': Invalid argument ('{}')",
                                self.site.argument, e.value
                            )));
                        }
                        _ => {
                            return Err(GqlError::at(
                                format!(
                                    "Argument '{}' is not of a valid type. Expected '{name}', got '{}'",
                                    self.site.name,
                                    literal_kind(v, name)
                                ),
                                self.site.loc,
                            ));
                        }
                    };
                    // Clients that echo objects they read back (Apollo) send `__typename`.
                    let unknown: Vec<&str> = given
                        .iter()
                        .map(|(k, _)| k.value)
                        .filter(|k| *k != "__typename" && !fields.iter().any(|f| f.name == *k))
                        .collect();
                    if !unknown.is_empty() {
                        return Err(GqlError::at(
                            format!("Argument(s) '[{}]' invalid for '{}'", unknown.join(", "), self.site.field),
                            self.site.field_pos,
                        ));
                    }
                    let mut out = Vec::with_capacity(given.len());
                    for f in fields {
                        match given.iter().find(|(k, _)| k.value == f.name) {
                            Some((_, fv)) => {
                                if self.absent_var(fv, &f.ty) {
                                    continue;
                                }
                                let outer = std::mem::replace(&mut self.site.name, f.name.clone());
                                let r = self.coerce_literal(fv, &f.ty, constant);
                                self.site.name = outer;
                                out.push((f.name.clone(), r?))
                            }
                            None if matches!(f.ty, TypeRef::NonNull(_)) => {
                                return Err(GqlError::at(
                                    format!("Required argument '{}' not found", f.name),
                                    self.site.field_pos,
                                ));
                            }
                            None => {}
                        }
                    }
                    check_logical_ops(fields, &out).map_err(GqlError::new)?;
                    return Ok(Val::Object(out));
                }
                let json = literal_to_json(v);
                let at = if self.site.name.is_empty() { v.pos } else { self.site.loc };
                self.coerce_leaf(name, &json, Origin::Literal, Some(v)).map_err(|m| {
                    if m.starts_with(INVALID_BLOB) && !self.site.name.is_empty() {
                        blob_error(&self.site.name)
                    } else if self.site.name.is_empty() {
                        GqlError::at(m, at)
                    } else {
                        GqlError::at(format!("Argument '{}' is not of a valid type. {m}", self.site.name), at)
                    }
                })
            }
        }
    }

    fn coerce_leaf(
        &self,
        name: &str,
        json: &Json,
        origin: Origin,
        lit: Option<&ast::Value<'a>>,
    ) -> Result<Val, String> {
        let got = || match lit {
            Some(l) => describe_literal(l),
            None => short_json(json),
        };
        // What kind of value came, in Exograph's words: `Expected 'Boolean', got 'Number'`.
        let kind = || match lit {
            Some(l) => literal_kind(l, name),
            None => json_kind(json).to_string(),
        };
        let bad = |what: &str| format!("Expected '{what}', got '{}'", kind());
        match name {
            "Int" => match json.as_i64() {
                // 64-bit, as in Exograph: an `Int` stored as `int8` takes values beyond 32 bits;
                // a narrower column's width is checked by the planner, naming the field.
                Some(i) => Ok(Val::Int(i, origin)),
                None if json.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() >= 9.2e18) => {
                    Err(format!("Int cannot represent non 64-bit signed integer value: {}", got()))
                }
                None => Err(bad("Int")),
            },
            "Float" => match json.as_f64() {
                Some(f) if f.is_finite() => Ok(Val::Float(f, origin)),
                _ => Err(bad("Float")),
            },
            "String" | "ID" => match json {
                Json::String(s) => Ok(Val::Str(s.clone(), origin)),
                Json::Number(n) if name == "ID" && n.is_i64() => Ok(Val::Str(n.to_string(), origin)),
                _ => Err(bad(name)),
            },
            "Boolean" => match json {
                Json::Bool(b) => Ok(Val::Bool(*b, origin)),
                _ => Err(bad("Boolean")),
            },
            "Json" => Ok(Val::Json(json.clone(), origin)),
            // A number would lose digits on its way (JSON and GraphQL numbers are doubles), so a
            // Decimal is written as a string, as Exograph requires.
            "Decimal" => match json {
                Json::String(s) if is_decimal(s) => Ok(Val::Str(s.clone(), origin)),
                Json::Number(_) => Err(bad("Decimal")),
                _ => Err(format!("Invalid Decimal value: {}", got())),
            },
            "Uuid" => match json {
                Json::String(s) if is_uuid(s) => Ok(Val::Str(s.clone(), origin)),
                _ => Err(format!("Invalid Uuid value: {}", got())),
            },
            "LocalDate" | "LocalTime" | "LocalDateTime" | "Instant" => match json {
                Json::String(s) if is_temporal(name, s) => Ok(Val::Str(s.clone(), origin)),
                // A timestamp where a date is expected stands for its date (Postgres' cast to
                // `date` keeps the date as written), as in Exograph.
                Json::String(s) if name == "LocalDate" && is_temporal("Instant", s) => Ok(Val::Str(s.clone(), origin)),
                _ => Err(format!("Invalid {name} value: {}", got())),
            },
            // `BlobFilter` is a scalar holding the Blob to compare with.
            "Blob" | "BlobFilter" => match json {
                Json::String(s) if is_base64(s) => Ok(Val::Str(s.clone(), origin)),
                _ => Err(format!("{INVALID_BLOB}: {}", got())),
            },
            _ => match self.system.type_named(name).map(|t| &t.kind) {
                Some(TypeKind::Enum { values }) => {
                    // Enum literals are names; variables carry strings.
                    let s = match (lit, json) {
                        (Some(l), _) => match &l.kind {
                            ValueKind::Enum(n) => Some(n.value.to_string()),
                            _ => None,
                        },
                        (None, Json::String(s)) => Some(s.clone()),
                        _ => None,
                    };
                    match s {
                        Some(s) if values.iter().any(|v| v.name == s) => Ok(Val::Enum(s, origin)),
                        Some(s) => Err(format!("Value \"{s}\" does not exist in \"{name}\" enum.")),
                        None => Err(format!("Enum \"{name}\" cannot represent non-enum value: {}.", got())),
                    }
                }
                Some(TypeKind::Scalar) => {
                    Ok(Val::Str(json.as_str().map(str::to_string).unwrap_or_else(|| json.to_string()), origin))
                }
                _ => Err(format!("Unknown type \"{name}\".")),
            },
        }
    }

    /// Coerces a variable's JSON value to `ty`, recording paths for every leaf.
    fn coerce_json(&self, json: &Json, ty: &TypeRef, var: &Arc<str>, path: &mut Vec<PathSeg>) -> Result<Val, String> {
        let origin = || Origin::Var { var: var.clone(), path: path.clone() };
        match ty {
            TypeRef::NonNull(inner) => {
                if json.is_null() {
                    return Err(format!("Expected non-nullable type \"{ty}\" not to be null{}.", at_path(path)));
                }
                self.coerce_json(json, inner, var, path)
            }
            TypeRef::List(inner) => match json {
                Json::Null => Ok(Val::Null(origin())),
                Json::Array(items) => {
                    let list_origin = origin();
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        path.push(PathSeg::Index(i as u32));
                        let r = self.coerce_json(item, inner, var, path);
                        path.pop();
                        out.push(r?);
                    }
                    Ok(Val::List(out, list_origin))
                }
                // List coercion of a single item: the item stands for a one-element list.
                other => {
                    let item = self.coerce_json(other, inner, var, path)?;
                    Ok(Val::List(vec![item], Origin::Literal))
                }
            },
            TypeRef::Named(name) => {
                if json.is_null() {
                    return Ok(Val::Null(origin()));
                }
                if let Some(fields) = self.input_fields(name) {
                    let Json::Object(map) = json else {
                        return Err(format!("Expected '{name}', got '{}'{}", json_kind(json), at_path(path)));
                    };
                    for k in map.keys() {
                        if k == "__typename" {
                            continue;
                        }
                        if !fields.iter().any(|f| &f.name == k) {
                            return Err(format!("Field \"{k}\" is not defined by type \"{name}\"{}.", at_path(path)));
                        }
                    }
                    let mut out = Vec::with_capacity(map.len());
                    for f in fields {
                        match map.get(&f.name) {
                            Some(v) => {
                                path.push(PathSeg::Key(Arc::from(f.name.as_str())));
                                let r = self.coerce_json(v, &f.ty, var, path);
                                path.pop();
                                out.push((f.name.clone(), r?));
                            }
                            None if matches!(f.ty, TypeRef::NonNull(_)) => {
                                return Err(format!(
                                    "Field \"{}\" of required type \"{}\" was not provided{}.",
                                    f.name,
                                    f.ty,
                                    at_path(path)
                                ));
                            }
                            None => {}
                        }
                    }
                    check_logical_ops(fields, &out).map_err(str::to_string)?;
                    return Ok(Val::Object(out));
                }
                self.coerce_leaf(name, json, origin(), None).map_err(|m| format!("{m}{}", at_path(path)))
            }
        }
    }
}

fn at_path(path: &[PathSeg]) -> String {
    if path.is_empty() {
        return String::new();
    }
    let mut s = String::from(" at \"value");
    for p in path {
        match p {
            PathSeg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            PathSeg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s.push('"');
    s
}

/// Merges a field into the fields selected so far under the same response key. A conflict
/// (another field, other arguments, or a conflict below) is reported, as Exograph does, for
/// the outermost key: `(key, first position, second position)`.
fn merge_into<'s>(out: &mut Vec<Selected<'s>>, s: Selected<'s>) -> Result<(), (String, Pos, Pos)> {
    if let Some(existing) = out.iter_mut().find(|e| e.key == s.key) {
        let conflict = (s.key.clone(), existing.pos, s.pos);
        if existing.field.name != s.field.name || existing.args != s.args {
            return Err(conflict);
        }
        for child in s.selection {
            merge_into(&mut existing.selection, child).map_err(|_| conflict.clone())?;
        }
    } else {
        out.push(s);
    }
    Ok(())
}

/// The fragment a cycle returns to, and the spread that closes the cycle.
fn find_cycle<'a>(
    name: &'a str,
    by_name: &HashMap<&'a str, &ast::FragmentDefinition<'a>>,
    stack: &mut Vec<&'a str>,
    done: &mut HashSet<&'a str>,
) -> Option<(String, Pos)> {
    if done.contains(name) {
        return None;
    }
    let frag = by_name.get(name)?;
    stack.push(name);
    let mut spreads = vec![];
    spreads_of(&frag.selection_set, &mut spreads);
    for (s, pos) in spreads {
        if stack.contains(&s) {
            return Some((s.to_string(), pos));
        }
        if let Some(c) = find_cycle(s, by_name, stack, done) {
            return Some(c);
        }
    }
    stack.pop();
    done.insert(name);
    None
}

fn spreads_of<'a>(sels: &[ast::Selection<'a>], out: &mut Vec<(&'a str, Pos)>) {
    for s in sels {
        match s {
            ast::Selection::Field(f) => spreads_of(&f.selection_set, out),
            ast::Selection::FragmentSpread(sp) => out.push((sp.name.value, sp.pos)),
            ast::Selection::InlineFragment(i) => spreads_of(&i.selection_set, out),
        }
    }
}

fn collect_spreads<'a>(
    sels: &[ast::Selection<'a>],
    by_name: &HashMap<&'a str, &ast::FragmentDefinition<'a>>,
    used: &mut HashSet<&'a str>,
) {
    let mut names = vec![];
    spreads_of(sels, &mut names);
    for (n, _) in names {
        if used.insert(n) {
            if let Some(f) = by_name.get(n) {
                collect_spreads(&f.selection_set, by_name, used);
            }
        }
    }
}

pub fn ast_type_to_ref(t: &ast::Type<'_>) -> TypeRef {
    match t {
        ast::Type::Named(n) => TypeRef::Named(n.value.to_string()),
        ast::Type::List(i) => TypeRef::List(Box::new(ast_type_to_ref(i))),
        ast::Type::NonNull(i) => TypeRef::NonNull(Box::new(ast_type_to_ref(i))),
    }
}

fn type_to_string(t: &ast::Type<'_>) -> String {
    ast_type_to_ref(t).to_string()
}

fn literal_to_json(v: &ast::Value<'_>) -> Json {
    match &v.kind {
        ValueKind::Variable(_) | ValueKind::Null => Json::Null,
        ValueKind::Int { raw, value } => match value {
            Some(i) => Json::from(*i),
            None => {
                raw.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Json::Number).unwrap_or(Json::Null)
            }
        },
        ValueKind::Float { value, .. } => serde_json::Number::from_f64(*value).map(Json::Number).unwrap_or(Json::Null),
        ValueKind::String(s) => Json::String(s.to_string()),
        ValueKind::Boolean(b) => Json::Bool(*b),
        ValueKind::Enum(n) => Json::String(n.value.to_string()),
        ValueKind::List(items) => Json::Array(items.iter().map(literal_to_json).collect()),
        ValueKind::Object(fields) => {
            Json::Object(fields.iter().map(|(k, v)| (k.value.to_string(), literal_to_json(v))).collect())
        }
    }
}

/// A literal's kind as Exograph names it in messages; a list shows the type expected inside.
fn literal_kind(v: &ast::Value<'_>, expected: &str) -> String {
    match &v.kind {
        ValueKind::Int { .. } | ValueKind::Float { .. } => "Number".into(),
        ValueKind::String(_) => "String".into(),
        ValueKind::Boolean(_) => "Boolean".into(),
        ValueKind::List(_) => format!("[{expected}]"),
        ValueKind::Object(_) => "Object".into(),
        _ => describe_literal(v),
    }
}

fn json_kind(j: &Json) -> &'static str {
    match j {
        Json::Null => "Null",
        Json::Bool(_) => "Boolean",
        Json::Number(_) => "Number",
        Json::String(_) => "String",
        Json::Array(_) => "List",
        Json::Object(_) => "Object",
    }
}

fn describe_literal(v: &ast::Value<'_>) -> String {
    match &v.kind {
        ValueKind::Variable(n) => format!("${}", n.value),
        ValueKind::Int { raw, .. } => raw.to_string(),
        ValueKind::Float { raw, .. } => raw.to_string(),
        ValueKind::String(s) => format!("\"{s}\""),
        ValueKind::Boolean(b) => b.to_string(),
        ValueKind::Null => "null".into(),
        ValueKind::Enum(n) => n.value.to_string(),
        ValueKind::List(_) => "[...]".into(),
        ValueKind::Object(_) => "{...}".into(),
    }
}

fn short_json(j: &Json) -> String {
    let s = j.to_string();
    if s.len() > 60 {
        format!(
            "{}...",
            &s[..s.char_indices().take_while(|(i, _)| *i < 57).last().map(|(i, c)| i + c.len_utf8()).unwrap_or(0)]
        )
    } else {
        s
    }
}

fn is_decimal(s: &str) -> bool {
    let t = s.trim();
    let t = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (mant, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mut digits = 0;
    let mut dots = 0;
    for c in mant.chars() {
        match c {
            '0'..='9' => digits += 1,
            '.' => dots += 1,
            _ => return false,
        }
    }
    let exp_ok = match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            // Postgres' numeric holds up to 131072 digits before the point and 16383 after;
            // a larger exponent would only fail there.
            !e.is_empty()
                && e.len() <= 6
                && e.chars().all(|c| c.is_ascii_digit())
                && self::digits(e.as_bytes()).is_some_and(|n| n <= 16383)
        }
    };
    digits > 0 && dots <= 1 && exp_ok
}

fn is_uuid(s: &str) -> bool {
    let hex: Vec<char> = s.chars().filter(|c| *c != '-').collect();
    let s2 = s.trim_start_matches('{').trim_end_matches('}');
    hex.len() == 32 && hex.iter().all(|c| c.is_ascii_hexdigit()) && s2.len() >= 32
}

/// Whether `s` is a real date, time or timestamp (not only the right shape), so that
/// `2024-02-30` or `25:00` is a validation error rather than a database error.
fn is_temporal(kind: &str, s: &str) -> bool {
    let b = s.as_bytes();
    match kind {
        "LocalDate" => b.len() == 10 && is_date(b),
        "LocalTime" => time_len(b) == Some(b.len()),
        _ => {
            if b.len() < 12 || !is_date(&b[..10]) || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') {
                return false;
            }
            let rest = &b[11..];
            match time_len(rest) {
                Some(n) => n == rest.len() || is_offset(&rest[n..]),
                None => false,
            }
        }
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

/// `YYYY-MM-DD` naming a day that exists.
fn is_date(b: &[u8]) -> bool {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(y), Some(m), Some(d)) = (digits(&b[..4]), digits(&b[5..7]), digits(&b[8..10])) else { return false };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    y >= 1 && (1..=days).contains(&d)
}

/// The length of a leading `HH:MM[:SS[.fraction]]` with hours 0-23 and minutes and seconds
/// 0-59.
fn time_len(b: &[u8]) -> Option<usize> {
    if b.len() < 5 || b[2] != b':' || digits(&b[..2])? > 23 || digits(&b[3..5])? > 59 {
        return None;
    }
    if b.len() == 5 || b[5] != b':' {
        return Some(5);
    }
    if b.len() < 8 || digits(&b[6..8])? > 59 {
        return None;
    }
    if b.len() > 8 && b[8] == b'.' {
        let frac = b[9..].iter().take_while(|c| c.is_ascii_digit()).count();
        return (frac > 0).then_some(9 + frac);
    }
    Some(8)
}

/// `Z`, or `+HH`, `+HH:MM`, `+HHMM` (also with `-`) with at most 15 hours.
fn is_offset(b: &[u8]) -> bool {
    if b == b"Z" || b == b"z" {
        return true;
    }
    let Some((&sign, rest)) = b.split_first() else { return false };
    if sign != b'+' && sign != b'-' {
        return false;
    }
    let (h, m) = match rest.len() {
        2 => (&rest[..2], &b"00"[..]),
        4 => (&rest[..2], &rest[2..]),
        5 if rest[2] == b':' => (&rest[..2], &rest[3..]),
        _ => return false,
    };
    matches!((digits(h), digits(m)), (Some(h), Some(m)) if h <= 15 && m <= 59)
}

fn is_base64(s: &str) -> bool {
    s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'=' || c == b'\n' || c == b'\r')
}

/// Checks variable values against the types they are used at ([`Operation::variable_types`]),
/// when a cached plan is reused, since values are not part of the cache key.
pub fn check_variable_values(
    system: &System,
    types: &[(String, TypeRef)],
    variables: &serde_json::Map<String, Json>,
) -> Vec<GqlError> {
    let doc = ast::Document::default();
    let v = Validator::new(system, &doc);
    let mut errors = vec![];
    for (name, ty) in types {
        // A missing variable needs no check here: presence is part of the shape a plan was
        // made for, and a plan exists for a shape only if it validated.
        if let Some(json) = variables.get(name) {
            let var: Arc<str> = Arc::from(name.as_str());
            if let Err(msg) = v.coerce_json(json, ty, &var, &mut vec![]) {
                errors
                    .push(GqlError::new(format!("Variable \"${name}\" got invalid value {}; {msg}", short_json(json))));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporal_values_must_exist() {
        for ok in ["2024-02-29", "2023-12-31", "0001-01-01"] {
            assert!(is_temporal("LocalDate", ok), "{ok}");
        }
        for bad in ["2023-02-29", "2024-13-01", "2024-04-31", "2024-00-10", "2024-1-01", "yesterday", "0000-01-01"] {
            assert!(!is_temporal("LocalDate", bad), "{bad}");
        }
        for ok in ["08:30", "23:59:59", "00:00:00.123456"] {
            assert!(is_temporal("LocalTime", ok), "{ok}");
        }
        for bad in ["24:00:00", "12:60", "12:00:61", "12:00:00.", "12:00:00+02", "noon"] {
            assert!(!is_temporal("LocalTime", bad), "{bad}");
        }
        for ok in
            ["2024-01-01T10:00:00Z", "2024-01-01 10:00:00.5+02:00", "2024-01-01T10:00-0530", "2024-01-01T10:00:00"]
        {
            assert!(is_temporal("Instant", ok), "{ok}");
        }
        for bad in [
            "2024-01-01T10:00:00+99:00",
            "2024-02-30T10:00:00Z",
            "2024-01-01T25:00:00Z",
            "2024-01-01T10:00:00 UTC",
            "2024-01-01",
        ] {
            assert!(!is_temporal("Instant", bad), "{bad}");
        }
    }

    #[test]
    fn decimal_exponents_stay_in_range() {
        assert!(is_decimal("1.5e10") && is_decimal("-2E-16383") && is_decimal("12"));
        assert!(!is_decimal("1e5000000") && !is_decimal("1e") && !is_decimal("12abc") && !is_decimal("."));
    }
}
