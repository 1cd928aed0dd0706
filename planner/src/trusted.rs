//! Trusted documents compiled ahead of time.
//!
//! `exo build` calls [`compile`] for every document under `trusted-documents/`: each operation
//! is validated and planned here, by the same code that plans requests, once per variable
//! shape and per context outcome that can occur, and the resulting plans travel in the IR. At
//! request time [`TrustedSet`] finds the plan for a document hash, a shape and a context
//! without parsing, validating or planning anything.
//!
//! Context outcomes are found by exploration: plan with every context field null, look at
//! which fields the plan consulted (its [`CtxDep`]s), and plan again with each candidate
//! value of those fields (null, a non-null sample, every literal the model's access rules
//! compare them with, and a value equal to none of them). A plan is correct for every request
//! whose context agrees with its dependencies, which is the same argument that lets the
//! runtime cache share plans between users.

use std::collections::HashMap;
use std::sync::Arc;

use exo_ir::graphql::{TypeKind, TypeRef};
use exo_ir::plan::{
    TrustedDep, TrustedDocument, TrustedField, TrustedOperation, TrustedOutcome, TrustedRoot, TrustedVariant,
};
use exo_ir::{AccessExpr, AccessOperand, Ir};
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

use crate::context::RequestContext;
use crate::error::GqlError;
use crate::graphql::{self, OperationKind, ParseLimits};
use crate::limits::OperationLimits;
use crate::plan::{self, literal_json, CtxDep, FieldPlan, Plan, RootPlan};
use crate::system::System;
use crate::validate::{self, Limits};

/// At most this many plans per operation; beyond it, requests are planned at request time.
const MAX_VARIANTS: usize = 64;
/// At most this many variable shapes are compiled per operation.
const MAX_SHAPES: usize = 16;

/// A document that does not compile.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileError {
    pub operation: Option<String>,
    pub message: String,
}

/// Lowercase hex SHA-256 of a document's text.
pub fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push(char::from_digit((b >> 4) as u32, 16).unwrap_or('0'));
        s.push(char::from_digit((b & 15) as u32, 16).unwrap_or('0'));
    }
    s
}

/// Validates and plans every operation of `document`.
pub fn compile(system: &System, hash: &str, document: &str) -> Result<TrustedDocument, CompileError> {
    let limits = ParseLimits { max_tokens: usize::MAX / 2, max_depth: 256, max_bytes: usize::MAX / 2 };
    let doc = graphql::parse(document, &limits).map_err(|e| CompileError { operation: None, message: e.message })?;
    if doc.operations.is_empty() {
        return Err(CompileError { operation: None, message: "the document holds no operation".into() });
    }
    let mut operations = vec![];
    for def in &doc.operations {
        let name = def.name.map(|n| n.value.to_string());
        if name.is_none() && doc.operations.len() > 1 {
            return Err(CompileError {
                operation: None,
                message: "an anonymous operation must be the only one in its document".into(),
            });
        }
        // Sample values must fit where the variables are used, which is also what requests
        // are shaped and checked by.
        let var_types = validate::variable_types(system, &doc, name.as_deref()).unwrap_or_default();
        let (shapes, mut fallback) = shapes(system, &var_types);
        let mut variants: Vec<TrustedVariant> = vec![];
        let mut plans: Vec<TrustedOutcome> = vec![];
        for (shape, variables) in shapes {
            let op = validate::validate(
                system,
                &doc,
                name.as_deref(),
                &variables,
                Limits { max_depth: 256, max_introspection_depth: 256, operation: OperationLimits::TRUSTED },
            )
            .map_err(|errors| CompileError {
                operation: name.clone(),
                message: errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; "),
            })?;
            if op.fields.iter().any(|f| f.field.name == "__schema" || f.field.name == "__type") {
                fallback.get_or_insert_with(|| {
                    "it introspects the schema, which the runtime answers from the document".into()
                });
                break;
            }
            let found = explore(system, &op);
            for (outcome, deps) in found.variants {
                if let Some(reason) = uncacheable(&outcome) {
                    fallback.get_or_insert(reason);
                    continue;
                }
                if variants.len() >= MAX_VARIANTS {
                    fallback.get_or_insert_with(|| format!("it has more than {MAX_VARIANTS} variants"));
                    break;
                }
                let outcome = outcome_to_ir(outcome);
                let plan = match plans.iter().position(|p| *p == outcome) {
                    Some(i) => i,
                    None => {
                        plans.push(outcome);
                        plans.len() - 1
                    }
                };
                variants.push(TrustedVariant {
                    shape: shape.clone(),
                    deps: deps.iter().map(dep_to_ir).collect(),
                    plan: plan as u32,
                });
            }
            if found.truncated {
                fallback.get_or_insert_with(|| {
                    "its access rules depend on more context combinations than were explored".into()
                });
            }
        }
        operations.push(TrustedOperation {
            name,
            mutation: def.kind == OperationKind::Mutation,
            variables: var_types.clone(),
            plans,
            variants,
            fallback,
        });
    }
    Ok(TrustedDocument { sha256: hash.to_string(), document: document.to_string(), operations })
}

fn uncacheable(outcome: &Result<Plan, GqlError>) -> Option<String> {
    match outcome {
        Ok(p) if !p.cacheable => Some("a list written in the document holds variables".into()),
        _ => None,
    }
}

/// The variable shapes to compile, each with sample values of that shape, and why other
/// shapes are left to the runtime planner.
fn shapes(system: &System, vars: &[(String, TypeRef)]) -> (Vec<(String, Map<String, Json>)>, Option<String>) {
    let mut fallback = None;
    if let Some((name, _)) =
        vars.iter().enumerate().find(|(i, (n, _))| vars[..*i].iter().any(|(m, _)| m == n)).map(|(_, v)| v)
    {
        // One sample value cannot be made to fit two types; such requests are planned late.
        return (vec![], Some(format!("variable `${name}` is used at more than one type")));
    }
    // Per variable: the shape strings it may take, with a sample value (None: absent).
    let mut options: Vec<Vec<(String, Option<Json>)>> = vec![];
    for (name, ty) in vars {
        let (nullable, inner) = match ty {
            TypeRef::NonNull(inner) => (false, &**inner),
            other => (true, other),
        };
        let mut opts = vec![];
        match inner {
            TypeRef::Named(n) => match system.type_named(n).map(|t| &t.kind) {
                Some(TypeKind::Enum { values }) => {
                    for v in values {
                        opts.push((format!("e{}", v.name), Some(Json::String(v.name.clone()))));
                    }
                }
                Some(TypeKind::InputObject { .. }) => {
                    fallback.get_or_insert_with(|| {
                        format!("variable `${name}` is an input object, whose fields shape the SQL")
                    });
                }
                _ if n == "Boolean" => {
                    opts.push(("t".into(), Some(Json::Bool(true))));
                    opts.push(("f".into(), Some(Json::Bool(false))));
                }
                _ => opts.push(("s".into(), Some(sample_scalar(n)))),
            },
            _ => {
                fallback.get_or_insert_with(|| format!("variable `${name}` is a list, whose length shapes the SQL"));
            }
        }
        if nullable {
            opts.push(("n".into(), Some(Json::Null)));
            opts.push(("-".into(), None));
        }
        options.push(opts);
    }
    if options.iter().any(Vec::is_empty) {
        return (vec![], fallback);
    }
    let mut out: Vec<(String, Map<String, Json>)> = vec![(String::new(), Map::new())];
    for ((name, _), opts) in vars.iter().zip(&options) {
        let mut next = vec![];
        for (shape, values) in &out {
            for (s, v) in opts {
                let mut values = values.clone();
                if let Some(v) = v {
                    values.insert(name.clone(), v.clone());
                }
                next.push((format!("{shape}{s};"), values));
            }
        }
        if next.len() > MAX_SHAPES {
            next.truncate(MAX_SHAPES);
            fallback.get_or_insert_with(|| format!("its variables take more than {MAX_SHAPES} shapes"));
        }
        out = next;
    }
    (out, fallback)
}

/// A value of a scalar that passes validation; it never reaches SQL text (variables are
/// bound as parameters), it only lets the planner run.
fn sample_scalar(name: &str) -> Json {
    match name {
        "Int" => Json::from(1),
        "Float" => Json::from(1.5),
        "Decimal" => Json::from("1.5"),
        "LocalDate" => Json::from("2024-01-02"),
        "LocalTime" => Json::from("10:11:12"),
        "LocalDateTime" => Json::from("2024-01-02T10:11:12"),
        "Instant" => Json::from("2024-01-02T10:11:12Z"),
        "Uuid" => Json::from("00000000-0000-0000-0000-000000000001"),
        "Json" => Json::Object(Map::new()),
        "Blob" => Json::from("AA=="),
        "ID" => Json::from("1"),
        _ => Json::from("s"),
    }
}

struct Explored {
    variants: Vec<(Result<Plan, GqlError>, Vec<CtxDep>)>,
    truncated: bool,
}

/// Plans `op` for every context outcome reachable from the all-null context.
fn explore(system: &System, op: &validate::Operation<'_>) -> Explored {
    let ir = &system.ir;
    let candidates = context_candidates(ir);
    let start: Vec<Vec<Option<Json>>> = ir.contexts.iter().map(|c| vec![None; c.fields.len()]).collect();
    let mut seen = vec![start.clone()];
    let mut queue = vec![start];
    let mut variants: Vec<(Result<Plan, GqlError>, Vec<CtxDep>)> = vec![];
    let mut truncated = false;
    while let Some(values) = queue.pop() {
        let ctx = RequestContext::from_values(values.clone());
        let (result, deps) = plan::plan_with_deps(system, op, &ctx);
        for dep in &deps {
            let (c, f) = match dep {
                CtxDep::Value { context, field, .. }
                | CtxDep::Null { context, field, .. }
                | CtxDep::List { context, field, .. }
                | CtxDep::Other { context, field, .. } => (*context, *field),
            };
            for cand in candidates.values.get(&(c, f)).into_iter().flatten() {
                let mut next = values.clone();
                next[c as usize][f as usize] = cand.clone();
                if !seen.contains(&next) {
                    if seen.len() >= 4 * MAX_VARIANTS {
                        truncated = true;
                        continue;
                    }
                    seen.push(next.clone());
                    queue.push(next);
                }
            }
        }
        // A plan made for "none of the literals" holds for every such value.
        let deps: Vec<CtxDep> = deps
            .into_iter()
            .map(|d| match d {
                CtxDep::Value { context, field, value } => match candidates.classes.get(&(context, field)) {
                    Some((other, lits, list)) if *other == value => {
                        CtxDep::Other { context, field, excluded: lits.clone(), list: *list }
                    }
                    _ => CtxDep::Value { context, field, value },
                },
                d => d,
            })
            .collect();
        if !variants.iter().any(|(_, d)| same_deps(d, &deps)) {
            variants.push((result, deps));
        }
    }
    Explored { variants, truncated }
}

fn same_deps(a: &[CtxDep], b: &[CtxDep]) -> bool {
    a.len() == b.len() && a.iter().all(|d| b.contains(d))
}

struct Candidates {
    values: HashMap<(u32, u32), Vec<Option<Json>>>,
    /// Fields only ever compared for (in)equality or membership with literals: the sample
    /// value standing for "none of the literals", the literals, and whether it is a list.
    classes: HashMap<(u32, u32), (Json, Vec<Json>, bool)>,
}

/// For every context field: null, its default, a non-null sample, each literal the access rules compare
/// it with, and a value equal to none of them (for list fields: the empty list, each literal
/// alone, and all of them together).
fn context_candidates(ir: &Ir) -> Candidates {
    let mut classes = HashMap::new();
    let mut literals: HashMap<(u32, u32), Vec<Json>> = HashMap::new();
    let mut rules: Vec<&AccessExpr> = vec![];
    for e in &ir.entities {
        rules.extend([&e.access.query, &e.access.create, &e.access.update, &e.access.delete]);
        for f in &e.fields {
            if let Some(a) = &f.access {
                rules.extend([&a.query, &a.create, &a.update, &a.delete]);
            }
        }
    }
    let mut ordered = vec![];
    for r in rules {
        collect_literals(r, &mut literals, &mut ordered);
    }
    let mut out = HashMap::new();
    for (ci, c) in ir.contexts.iter().enumerate() {
        for (fi, f) in c.fields.iter().enumerate() {
            let key = (ci as u32, fi as u32);
            let lits = literals.remove(&key).unwrap_or_default();
            let mut cands: Vec<Option<Json>> = vec![None];
            if let Some(d) = &f.default {
                cands.push(Some(literal_json(d)));
            }
            if f.is_list {
                cands.push(Some(Json::Array(vec![])));
                for l in &lits {
                    cands.push(Some(Json::Array(vec![l.clone()])));
                }
                if lits.len() > 1 {
                    cands.push(Some(Json::Array(lits.clone())));
                }
                let other = Json::Array(vec![other_value(&lits, f.ty)]);
                if !ordered.contains(&key) {
                    classes.insert(key, (other.clone(), lits.clone(), true));
                }
                cands.push(Some(other));
            } else {
                for l in &lits {
                    cands.push(Some(l.clone()));
                }
                let other = other_value(&lits, f.ty);
                if !ordered.contains(&key) && f.ty != exo_ir::ScalarType::Boolean {
                    classes.insert(key, (other.clone(), lits.clone(), false));
                }
                cands.push(Some(other));
                if f.ty == exo_ir::ScalarType::Boolean {
                    cands.push(Some(Json::Bool(true)));
                    cands.push(Some(Json::Bool(false)));
                }
            }
            let mut unique = vec![];
            for c in cands {
                if !unique.contains(&c) {
                    unique.push(c);
                }
            }
            out.insert(key, unique);
        }
    }
    Candidates { values: out, classes }
}

/// Literals compared with each context field; `ordered` gets the fields compared otherwise
/// than by (in)equality or membership with literals, whose "any other value" is not one class.
fn collect_literals(e: &AccessExpr, out: &mut HashMap<(u32, u32), Vec<Json>>, ordered: &mut Vec<(u32, u32)>) {
    match e {
        AccessExpr::Const(_) => {}
        AccessExpr::Not(x) => collect_literals(x, out, ordered),
        AccessExpr::And(l, r) | AccessExpr::Or(l, r) => {
            collect_literals(l, out, ordered);
            collect_literals(r, out, ordered);
        }
        AccessExpr::Cmp { op, lhs, rhs } => {
            for (a, b) in [(lhs, rhs), (rhs, lhs)] {
                if let AccessOperand::Context { context, field } = a {
                    match b {
                        AccessOperand::Literal(l) => {
                            let v = literal_json(l);
                            let list = out.entry((*context, *field)).or_default();
                            if !list.contains(&v) {
                                list.push(v);
                            }
                            if !matches!(op, exo_ir::CmpOp::Eq | exo_ir::CmpOp::Neq | exo_ir::CmpOp::In) {
                                ordered.push((*context, *field));
                            }
                        }
                        AccessOperand::Context { .. } => ordered.push((*context, *field)),
                        _ => {}
                    }
                }
            }
        }
        AccessExpr::Some { body, .. } => collect_literals(body, out, ordered),
    }
}

/// A value of the field's type that equals none of `lits`.
fn other_value(lits: &[Json], ty: exo_ir::ScalarType) -> Json {
    use exo_ir::ScalarType as S;
    match ty {
        S::Int => Json::from(lits.iter().filter_map(Json::as_i64).max().unwrap_or(0).saturating_add(1000)),
        S::Float => Json::from(lits.iter().filter_map(Json::as_f64).fold(0.0, f64::max) + 1000.5),
        S::Boolean => Json::Bool(!lits.iter().any(|l| l == &Json::Bool(true))),
        _ => {
            let mut s = String::from("exo-other");
            while lits.iter().any(|l| l.as_str() == Some(&s)) {
                s.push('!');
            }
            Json::String(s)
        }
    }
}

fn dep_to_ir(d: &CtxDep) -> TrustedDep {
    match d {
        CtxDep::Value { context, field, value } => {
            TrustedDep::Value { context: *context, field: *field, json: value.to_string() }
        }
        CtxDep::Null { context, field, is_null } => {
            TrustedDep::Null { context: *context, field: *field, is_null: *is_null }
        }
        CtxDep::List { context, field, is_list } => {
            TrustedDep::List { context: *context, field: *field, is_list: *is_list }
        }
        CtxDep::Other { context, field, excluded, list } => TrustedDep::Other {
            context: *context,
            field: *field,
            excluded: excluded.iter().map(Json::to_string).collect(),
            list: *list,
        },
    }
}

fn dep_from_ir(d: &TrustedDep) -> CtxDep {
    match d {
        TrustedDep::Value { context, field, json } => {
            CtxDep::Value { context: *context, field: *field, value: serde_json::from_str(json).unwrap_or(Json::Null) }
        }
        TrustedDep::Null { context, field, is_null } => {
            CtxDep::Null { context: *context, field: *field, is_null: *is_null }
        }
        TrustedDep::List { context, field, is_list } => {
            CtxDep::List { context: *context, field: *field, is_list: *is_list }
        }
        TrustedDep::Other { context, field, excluded, list } => CtxDep::Other {
            context: *context,
            field: *field,
            excluded: excluded.iter().map(|j| serde_json::from_str(j).unwrap_or(Json::Null)).collect(),
            list: *list,
        },
    }
}

fn outcome_to_ir(outcome: Result<Plan, GqlError>) -> TrustedOutcome {
    match outcome {
        Err(e) => TrustedOutcome::Error {
            message: e.message,
            locations: e.locations.iter().map(|p| (p.line, p.column)).collect(),
        },
        Ok(plan) => TrustedOutcome::Fields {
            needs_transaction: plan.needs_transaction,
            checks: plan.checks,
            fields: plan
                .fields
                .into_iter()
                .map(|f| TrustedField {
                    key: f.key,
                    root: match f.plan {
                        RootPlan::Sql { steps, no_row } => TrustedRoot::Sql { steps, no_row },
                        RootPlan::Const(c) => TrustedRoot::Const(c),
                        // Documents with introspection fields are never compiled.
                        RootPlan::Introspection => TrustedRoot::Const("null".into()),
                    },
                })
                .collect(),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Request time
// ---------------------------------------------------------------------------------------------

/// The trusted documents of a loaded system, ready to run.
#[derive(Default)]
pub struct TrustedSet {
    by_hash: HashMap<String, usize>,
    docs: Vec<Vec<ReadyOperation>>,
}

pub struct ReadyOperation {
    pub name: Option<String>,
    pub mutation: bool,
    pub variables: Arc<[(String, TypeRef)]>,
    /// `(shape, context dependencies, outcome)`.
    pub variants: Vec<(String, Vec<CtxDep>, Result<Arc<Plan>, GqlError>)>,
    pub fallback: Option<String>,
}

impl TrustedSet {
    pub fn new(docs: &[TrustedDocument]) -> TrustedSet {
        let mut set = TrustedSet::default();
        for d in docs {
            set.by_hash.insert(d.sha256.to_ascii_lowercase(), set.docs.len());
            set.docs.push(d.operations.iter().map(ready).collect());
        }
        set
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// The index of the document with this hash.
    pub fn find(&self, sha256: &str) -> Option<usize> {
        self.by_hash.get(sha256).or_else(|| self.by_hash.get(&sha256.to_ascii_lowercase())).copied()
    }

    /// The operation of document `doc` named `name` (or its only operation).
    pub fn operation(&self, doc: usize, name: Option<&str>) -> Option<&ReadyOperation> {
        let ops = self.docs.get(doc)?;
        match name {
            Some(n) => ops.iter().find(|o| o.name.as_deref() == Some(n)),
            None if ops.len() == 1 => ops.first(),
            None => None,
        }
    }
}

fn ready(op: &TrustedOperation) -> ReadyOperation {
    let kind = if op.mutation { OperationKind::Mutation } else { OperationKind::Query };
    let plans: Vec<Result<Arc<Plan>, GqlError>> = op
        .plans
        .iter()
        .map(|outcome| match outcome {
            TrustedOutcome::Error { message, locations } => Err(GqlError {
                message: message.clone(),
                locations: locations.iter().map(|&(line, column)| crate::graphql::Pos { line, column }).collect(),
            }),
            TrustedOutcome::Fields { fields, needs_transaction, checks } => Ok(Arc::new(Plan {
                checks: checks.clone(),
                kind,
                fields: fields
                    .iter()
                    .map(|f| FieldPlan {
                        key: f.key.clone(),
                        plan: match &f.root {
                            TrustedRoot::Sql { steps, no_row } => {
                                RootPlan::Sql { steps: steps.clone(), no_row: *no_row }
                            }
                            TrustedRoot::Const(c) => RootPlan::Const(c.clone()),
                        },
                    })
                    .collect(),
                context_deps: vec![],
                needs_transaction: *needs_transaction,
                cacheable: true,
            })),
        })
        .collect();
    let variants = op
        .variants
        .iter()
        .filter_map(|v| {
            let outcome = plans.get(v.plan as usize)?.clone();
            Some((v.shape.clone(), v.deps.iter().map(dep_from_ir).collect(), outcome))
        })
        .collect();
    ReadyOperation {
        name: op.name.clone(),
        mutation: op.mutation,
        variables: op.variables.as_slice().into(),
        variants,
        fallback: op.fallback.clone(),
    }
}
