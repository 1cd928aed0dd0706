//! Builds the GraphQL API a model exposes (`&Ir -> graphql::Schema`), in Exograph's shape.
//!
//! The root fields come first: per entity, the queries and mutations its access rules allow.
//! Every other type is generated on demand, the first time a field or argument names it, so
//! the schema holds exactly the types reachable from `Query` and `Mutation` (no unused
//! `...Filter`, `...Agg` or input types). Types are kept in a `BTreeMap` so the result is
//! sorted by name, which is what [`Schema::type_by_name`] relies on.
//!
//! Rules the builder follows beyond the Exograph notes (each also applies to nested inputs):
//! - An operation whose rule is literally `false` is left out, and so is any input field
//!   that could only ever feed such an operation (nested `create`/`update`/`delete`).
//! - A field whose own `query` rule is `false` is left out of the object type and of the
//!   filter, ordering and aggregate types (a filter on it would probe hidden data); its own
//!   `create`/`update` rules likewise remove it from creation/update inputs.
//! - `TAgg` holds column aggregates only: relation aggregates fail at run time in Exograph.
//!   When an entity has no aggregatable column, `tsAgg` and `<rel>Agg` are left out
//!   (an object type without fields is not valid GraphQL).
//! - An empty object or input type (invalid GraphQL) is removed with everything that needs
//!   it (see `remove_empty_types`).
//! - A type without a primary key gets no pk lookup, no `createT(s)`, no `updateT` and
//!   no `deleteT`; where-based `updateTs`/`deleteTs` stay when their rules allow them.
//! - Primary-key and unique-lookup arguments that are relations take `UUniqueFilter!`; the
//!   same relations in reference inputs take `UReferenceInput!`. Both hold the target's pk.

use std::collections::{BTreeMap, BTreeSet};

use exo_ir::graphql::{
    AggOp, ArgRole, EnumValue, Field as GqlField, FilterOp, InputValue, LogicalOp, Resolver, Schema, Type, TypeKind,
    TypeRef,
};
use exo_ir::{AccessExpr, EntityId, EnumId, Field, FieldId, FieldKind, Ir, JsonTypeId, ScalarType, ValueType};

/// Builds the complete GraphQL schema of `ir` (ignores whatever `ir.graphql` holds).
pub fn build(ir: &Ir) -> Schema {
    let mut b = Builder { ir, types: BTreeMap::new(), wanted: BTreeSet::new(), queue: Vec::new() };
    let mut queries = Vec::new();
    let mut mutations = Vec::new();
    for id in 0..ir.entities.len() as EntityId {
        b.root_queries(id, &mut queries);
        b.root_mutations(id, &mut mutations);
    }
    while let Some(key) = b.queue.pop() {
        let ty = b.make(key);
        b.types.insert(ty.name.clone(), ty);
    }
    let mut types = b.types;
    remove_empty_types(&mut types, &mut queries, &mut mutations);
    queries.sort_by(|a, b| a.name.cmp(&b.name));
    mutations.sort_by(|a, b| a.name.cmp(&b.name));
    Schema { description: ir.description.clone(), types: types.into_values().collect(), queries, mutations }
}

/// GraphQL has no empty object, input object or enum types, yet some models produce them
/// (a nested creation input whose fields are all defaulted or readonly, an entity whose
/// fields are all hidden). Such a type is removed together with whatever needs it: a field
/// of that type, a field or input field that requires it, and so on until nothing changes;
/// an optional argument or input field of that type is just dropped. Then only the types
/// still reachable from the root fields are kept.
fn remove_empty_types(types: &mut BTreeMap<String, Type>, queries: &mut Vec<GqlField>, mutations: &mut Vec<GqlField>) {
    let is_empty = |t: &Type| match &t.kind {
        TypeKind::Object { fields } => fields.is_empty(),
        TypeKind::InputObject { fields } => fields.is_empty(),
        TypeKind::Enum { values } => values.is_empty(),
        TypeKind::Scalar => false,
    };
    let mut removed: BTreeSet<String> = types.values().filter(|t| is_empty(t)).map(|t| t.name.clone()).collect();
    while !removed.is_empty() {
        for name in &removed {
            types.remove(name);
        }
        let gone = |t: &TypeRef| removed.contains(t.base_name());
        let required = |t: &TypeRef| matches!(t, TypeRef::NonNull(_));
        // Keeps `f` unless it needs a removed type; drops its optional arguments of removed types.
        let keep_field = |f: &mut GqlField| {
            if gone(&f.ty) || f.args.iter().any(|a| gone(&a.ty) && required(&a.ty)) {
                return false;
            }
            f.args.retain(|a| !gone(&a.ty));
            true
        };
        queries.retain_mut(keep_field);
        mutations.retain_mut(keep_field);
        let mut next = BTreeSet::new();
        for t in types.values_mut() {
            match &mut t.kind {
                TypeKind::Object { fields } => fields.retain_mut(keep_field),
                TypeKind::InputObject { fields } => {
                    if fields.iter().any(|f| gone(&f.ty) && required(&f.ty)) {
                        next.insert(t.name.clone());
                    }
                    fields.retain(|f| !gone(&f.ty));
                }
                TypeKind::Enum { .. } | TypeKind::Scalar => {}
            }
            if is_empty(t) {
                next.insert(t.name.clone());
            }
        }
        removed = next;
    }

    let mut reachable = BTreeSet::new();
    let mut stack: Vec<String> = Vec::new();
    let visit = |t: &TypeRef, stack: &mut Vec<String>| stack.push(t.base_name().to_string());
    for f in queries.iter().chain(mutations.iter()) {
        visit(&f.ty, &mut stack);
        f.args.iter().for_each(|a| visit(&a.ty, &mut stack));
    }
    while let Some(name) = stack.pop() {
        if !reachable.insert(name.clone()) {
            continue;
        }
        match types.get(&name).map(|t| &t.kind) {
            Some(TypeKind::Object { fields }) => {
                for f in fields {
                    visit(&f.ty, &mut stack);
                    f.args.iter().for_each(|a| visit(&a.ty, &mut stack));
                }
            }
            Some(TypeKind::InputObject { fields }) => fields.iter().for_each(|f| visit(&f.ty, &mut stack)),
            _ => {}
        }
    }
    types.retain(|name, _| reachable.contains(name));
}

/// `Todo` -> `todo`, `ChatParticipation` -> `chatParticipation`, `HTTPLog` -> `httpLog`:
/// words split at case changes, the first lowercased, the others capitalized.
pub fn lower_camel(name: &str) -> String {
    let mut out = String::new();
    for (i, word) in words(name).iter().enumerate() {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            if i == 0 {
                out.extend(first.to_lowercase());
            } else {
                out.extend(first.to_uppercase());
            }
            out.extend(chars.flat_map(char::to_lowercase));
        }
    }
    out
}

/// Splits an identifier into words: at non-alphanumerics, between a lowercase letter and an
/// uppercase one, and before the last capital of an acronym followed by lowercase (`HTTPLog`).
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    for part in name.split(|c: char| !c.is_alphanumeric()).filter(|p| !p.is_empty()) {
        let chars: Vec<char> = part.chars().collect();
        let mut current = String::new();
        for (i, &c) in chars.iter().enumerate() {
            current.push(c);
            let next = chars.get(i + 1);
            let after = chars.get(i + 2);
            let boundary = match (next, after) {
                (Some(n), _) if c.is_lowercase() && n.is_uppercase() => true,
                (Some(n), Some(a)) => c.is_uppercase() && n.is_uppercase() && a.is_lowercase(),
                _ => false,
            };
            if boundary {
                words.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() {
            words.push(current);
        }
    }
    words
}

fn upper_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn is_false(rule: &AccessExpr) -> bool {
    matches!(rule, AccessExpr::Const(false))
}

fn field_readable(f: &Field) -> bool {
    !f.access.as_ref().is_some_and(|a| is_false(&a.query))
}

fn field_creatable(f: &Field) -> bool {
    !f.access.as_ref().is_some_and(|a| is_false(&a.create))
}

fn field_updatable(f: &Field) -> bool {
    !f.access.as_ref().is_some_and(|a| is_false(&a.update))
}

/// One generated type. Each key has exactly one name (see [`Builder::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    /// `Decimal`, `LocalDate`, ...: the non-built-in primitives.
    CustomScalar(ScalarTypeKey),
    Enum(EnumId),
    /// `enum Ordering { ASC DESC }`.
    Ordering,
    /// `IntFilter`, `PriorityFilter`, the scalar `BlobFilter`, ...
    ScalarFilter(ScalarTypeKey),
    /// `IntAgg`, `PriorityAgg`, ...
    ScalarAgg(ScalarTypeKey),
    Object(EntityId),
    Agg(EntityId),
    Filter(EntityId),
    EntityOrdering(EntityId),
    Creation(EntityId),
    /// `UCreationInputFromT`: nested creation of `entity` under `parent`.
    CreationFrom {
        entity: EntityId,
        parent: EntityId,
    },
    Update(EntityId),
    /// `UUpdateInputFromT { create update delete }`.
    UpdateFrom {
        entity: EntityId,
        parent: EntityId,
    },
    /// `UUpdateInputFromTNested`: one nested update, identified by its pk.
    UpdateFromNested {
        entity: EntityId,
        parent: EntityId,
    },
    Reference(EntityId),
    UniqueFilter(EntityId),
    Json(JsonTypeId),
    JsonCreation(JsonTypeId),
    JsonUpdate(JsonTypeId),
}

/// `ScalarType` with an order, so keys can live in a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ScalarTypeKey(u8, EnumId);

impl ScalarTypeKey {
    fn of(s: ScalarType) -> Self {
        match s {
            ScalarType::Int => ScalarTypeKey(0, 0),
            ScalarType::Float => ScalarTypeKey(1, 0),
            ScalarType::Decimal => ScalarTypeKey(2, 0),
            ScalarType::String => ScalarTypeKey(3, 0),
            ScalarType::Boolean => ScalarTypeKey(4, 0),
            ScalarType::LocalDate => ScalarTypeKey(5, 0),
            ScalarType::LocalTime => ScalarTypeKey(6, 0),
            ScalarType::LocalDateTime => ScalarTypeKey(7, 0),
            ScalarType::Instant => ScalarTypeKey(8, 0),
            ScalarType::Json => ScalarTypeKey(9, 0),
            ScalarType::Blob => ScalarTypeKey(10, 0),
            ScalarType::Uuid => ScalarTypeKey(11, 0),
            ScalarType::Enum(id) => ScalarTypeKey(12, id),
        }
    }
    fn scalar(self) -> ScalarType {
        match self.0 {
            0 => ScalarType::Int,
            1 => ScalarType::Float,
            2 => ScalarType::Decimal,
            3 => ScalarType::String,
            4 => ScalarType::Boolean,
            5 => ScalarType::LocalDate,
            6 => ScalarType::LocalTime,
            7 => ScalarType::LocalDateTime,
            8 => ScalarType::Instant,
            9 => ScalarType::Json,
            10 => ScalarType::Blob,
            11 => ScalarType::Uuid,
            _ => ScalarType::Enum(self.1),
        }
    }
}

/// How a value type is spelled: in output, or in creation or update inputs
/// (which differ only for `@json` types: `MetadataCreationInput`, `MetadataUpdateInput`).
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Output,
    Creation,
    Update,
}

struct Builder<'a> {
    ir: &'a Ir,
    types: BTreeMap<String, Type>,
    /// Every key ever requested, built or queued.
    wanted: BTreeSet<Key>,
    queue: Vec<Key>,
}

impl<'a> Builder<'a> {
    // -----------------------------------------------------------------------------------------
    // Names and demand
    // -----------------------------------------------------------------------------------------

    fn scalar_name(&self, s: ScalarType) -> String {
        match s {
            ScalarType::Enum(id) => self.ir.enums[id as usize].name.clone(),
            other => other.graphql_name().to_string(),
        }
    }

    fn name(&self, key: Key) -> String {
        let entity = |id: EntityId| self.ir.entity(id).name.as_str();
        match key {
            Key::CustomScalar(s) => self.scalar_name(s.scalar()),
            Key::Enum(id) => self.ir.enums[id as usize].name.clone(),
            Key::Ordering => "Ordering".to_string(),
            Key::ScalarFilter(s) => format!("{}Filter", self.scalar_name(s.scalar())),
            Key::ScalarAgg(s) => format!("{}Agg", self.scalar_name(s.scalar())),
            Key::Object(e) => entity(e).to_string(),
            Key::Agg(e) => format!("{}Agg", entity(e)),
            Key::Filter(e) => format!("{}Filter", entity(e)),
            Key::EntityOrdering(e) => format!("{}Ordering", entity(e)),
            Key::Creation(e) => format!("{}CreationInput", entity(e)),
            Key::CreationFrom { entity: e, parent } => {
                format!("{}CreationInputFrom{}", entity(e), entity(parent))
            }
            Key::Update(e) => format!("{}UpdateInput", entity(e)),
            Key::UpdateFrom { entity: e, parent } => format!("{}UpdateInputFrom{}", entity(e), entity(parent)),
            Key::UpdateFromNested { entity: e, parent } => {
                format!("{}UpdateInputFrom{}Nested", entity(e), entity(parent))
            }
            Key::Reference(e) => format!("{}ReferenceInput", entity(e)),
            Key::UniqueFilter(e) => format!("{}UniqueFilter", entity(e)),
            Key::Json(j) => self.ir.json_types[j as usize].name.clone(),
            Key::JsonCreation(j) => format!("{}CreationInput", self.ir.json_types[j as usize].name),
            Key::JsonUpdate(j) => format!("{}UpdateInput", self.ir.json_types[j as usize].name),
        }
    }

    /// Names the type of `key`, queueing it for generation the first time.
    fn want(&mut self, key: Key) -> TypeRef {
        if self.wanted.insert(key) {
            self.queue.push(key);
        }
        TypeRef::Named(self.name(key))
    }

    fn scalar_ref(&mut self, s: ScalarType) -> TypeRef {
        match s {
            ScalarType::Int | ScalarType::Float | ScalarType::String | ScalarType::Boolean => {
                TypeRef::named(s.graphql_name())
            }
            ScalarType::Enum(id) => self.want(Key::Enum(id)),
            other => self.want(Key::CustomScalar(ScalarTypeKey::of(other))),
        }
    }

    /// The type of a column value, without the outer non-null.
    fn value_ref(&mut self, ty: &ValueType, mode: Mode) -> TypeRef {
        match ty {
            ValueType::Scalar(s) => self.scalar_ref(*s),
            ValueType::JsonObject(j) => self.want(match mode {
                Mode::Output => Key::Json(*j),
                Mode::Creation => Key::JsonCreation(*j),
                Mode::Update => Key::JsonUpdate(*j),
            }),
            ValueType::Array(inner) => self.value_ref(inner, mode).non_null().list(),
        }
    }

    fn int(&self) -> TypeRef {
        TypeRef::named("Int")
    }

    // -----------------------------------------------------------------------------------------
    // Root fields
    // -----------------------------------------------------------------------------------------

    fn root_queries(&mut self, id: EntityId, out: &mut Vec<GqlField>) {
        let e = self.ir.entity(id);
        if is_false(&e.access.query) {
            return;
        }
        let name = &e.name;
        let object = TypeRef::Named(name.clone());
        self.want(Key::Object(id));
        if !e.pk.is_empty() {
            let args = self.pk_args(id);
            out.push(root_field(
                lower_camel(name),
                format!("Returns the `{name}` with the given primary key, or null if there is none."),
                args,
                object.clone(),
                Resolver::ByPk { entity: id },
            ));
        }
        let args = self.collection_args(id);
        out.push(root_field(
            lower_camel(&e.plural),
            format!(
                "Returns the `{name}` rows that match `where`, sorted by `orderBy`, \
                 skipping `offset` rows and returning at most `limit`."
            ),
            args,
            object.clone().non_null().list().non_null(),
            Resolver::Collection { entity: id },
        ));
        if self.has_agg_fields(id) {
            let args = vec![self.where_arg(id)];
            let agg = self.want(Key::Agg(id));
            out.push(root_field(
                format!("{}Agg", lower_camel(&e.plural)),
                format!("Aggregates the `{name}` rows that match `where`."),
                args,
                agg.non_null(),
                Resolver::Aggregate { entity: id },
            ));
        }
        for (i, lookup) in e.unique_lookups.iter().enumerate() {
            let args: Vec<InputValue> =
                lookup.fields.iter().map(|&f| self.identifying_arg(id, f, Key::UniqueFilter)).collect();
            let fields = lookup
                .fields
                .iter()
                .map(|&f| format!("`{}`", e.fields[f as usize].name))
                .collect::<Vec<_>>()
                .join(" and ");
            out.push(root_field(
                format!("{}By{}", lower_camel(name), lookup.name),
                format!("Returns the `{name}` with the given {fields}, or null if there is none."),
                args,
                object.clone(),
                Resolver::ByUnique { entity: id, lookup: i as u32 },
            ));
        }
    }

    fn root_mutations(&mut self, id: EntityId, out: &mut Vec<GqlField>) {
        let e = self.ir.entity(id);
        let name = &e.name;
        let plural = upper_first(&e.plural);
        let object = TypeRef::Named(name.clone());
        let has_pk = !e.pk.is_empty();
        let (create, update, delete) =
            (!is_false(&e.access.create), !is_false(&e.access.update), !is_false(&e.access.delete));
        if create || update || delete {
            self.want(Key::Object(id));
        }
        if create && has_pk {
            let data = self.want(Key::Creation(id));
            out.push(root_field(
                format!("create{name}"),
                format!("Creates a `{name}` from `data` and returns it."),
                vec![arg(ArgRole::Data.name(), data.clone().non_null())],
                object.clone().non_null(),
                Resolver::Create { entity: id, many: false },
            ));
            out.push(root_field(
                format!("create{plural}"),
                format!("Creates one `{name}` per element of `data` and returns them in the same order."),
                vec![arg(ArgRole::Data.name(), data.non_null().list().non_null())],
                object.clone().non_null().list().non_null(),
                Resolver::Create { entity: id, many: true },
            ));
        }
        if update {
            let data = self.want(Key::Update(id));
            if has_pk {
                let mut args = self.pk_args(id);
                args.push(arg(ArgRole::Data.name(), data.clone().non_null()));
                out.push(root_field(
                    format!("update{name}"),
                    format!(
                        "Applies `data` to the `{name}` with the given primary key and returns it, \
                         or null if there is none. Fields left out of `data` keep their values."
                    ),
                    args,
                    object.clone(),
                    Resolver::Update { entity: id, many: false },
                ));
            }
            let args = vec![self.where_arg(id), arg(ArgRole::Data.name(), data.non_null())];
            out.push(root_field(
                format!("update{plural}"),
                format!(
                    "Applies `data` to every `{name}` that matches `where` and returns the updated rows. \
                     Fields left out of `data` keep their values."
                ),
                args,
                object.clone().non_null().list().non_null(),
                Resolver::Update { entity: id, many: true },
            ));
        }
        if delete {
            if has_pk {
                let args = self.pk_args(id);
                out.push(root_field(
                    format!("delete{name}"),
                    format!(
                        "Deletes the `{name}` with the given primary key and returns it, or null if there is none."
                    ),
                    args,
                    object.clone(),
                    Resolver::Delete { entity: id, many: false },
                ));
            }
            let args = vec![self.where_arg(id)];
            out.push(root_field(
                format!("delete{plural}"),
                format!("Deletes every `{name}` that matches `where` and returns the deleted rows."),
                args,
                object.non_null().list().non_null(),
                Resolver::Delete { entity: id, many: true },
            ));
        }
    }

    fn pk_args(&mut self, id: EntityId) -> Vec<InputValue> {
        let pk = self.ir.entity(id).pk.clone();
        pk.iter().map(|&f| self.identifying_arg(id, f, Key::UniqueFilter)).collect()
    }

    /// A required argument or input field naming one key field: the column's value, or
    /// `relation_key(target)` (`UUniqueFilter` or `UReferenceInput`) for a relation.
    fn identifying_arg(&mut self, id: EntityId, field: FieldId, relation_key: fn(EntityId) -> Key) -> InputValue {
        let f = self.ir.field(id, field);
        let ty = match &f.kind {
            FieldKind::Column { ty, .. } => self.value_ref(ty, Mode::Creation),
            FieldKind::ManyToOne { target, .. } | FieldKind::OneToMany { target, .. } => {
                self.want(relation_key(*target))
            }
        };
        arg(&f.name, ty.non_null())
    }

    fn where_arg(&mut self, id: EntityId) -> InputValue {
        arg(ArgRole::Where.name(), self.want(Key::Filter(id)))
    }

    fn collection_args(&mut self, id: EntityId) -> Vec<InputValue> {
        let ordering = self.want(Key::EntityOrdering(id));
        vec![
            self.where_arg(id),
            arg(ArgRole::OrderBy.name(), ordering.non_null().list()),
            InputValue { description: Some(LIMIT_DOC.to_string()), ..arg(ArgRole::Limit.name(), self.int()) },
            arg(ArgRole::Offset.name(), self.int()),
        ]
    }

    // -----------------------------------------------------------------------------------------
    // Generated types
    // -----------------------------------------------------------------------------------------

    fn make(&mut self, key: Key) -> Type {
        let name = self.name(key);
        let (description, kind) = match key {
            Key::CustomScalar(_) => (None, TypeKind::Scalar),
            Key::Enum(id) => {
                let en = &self.ir.enums[id as usize];
                let values = en.variants.iter().map(|v| EnumValue { name: v.clone(), description: None }).collect();
                (en.doc.clone(), TypeKind::Enum { values })
            }
            Key::Ordering => {
                let values =
                    ["ASC", "DESC"].iter().map(|v| EnumValue { name: v.to_string(), description: None }).collect();
                (None, TypeKind::Enum { values })
            }
            Key::ScalarFilter(s) => self.scalar_filter(s.scalar()),
            Key::ScalarAgg(s) => (None, self.scalar_agg(s.scalar())),
            Key::Object(id) => (self.ir.entity(id).doc.clone(), self.object(id)),
            Key::Agg(id) => (
                Some(format!(
                    "Aggregates over the `{}` rows of a query, one field per column.",
                    self.ir.entity(id).name
                )),
                self.agg(id),
            ),
            Key::Filter(id) => (
                Some(format!(
                    "Selects `{}` rows. Conditions on several fields must all hold; a field left out is \
                     not constrained, and `{{eq: null}}` tests for null.",
                    self.ir.entity(id).name
                )),
                self.filter(id),
            ),
            Key::EntityOrdering(id) => (None, self.entity_ordering(id)),
            Key::Creation(id) => (None, self.creation(id, None)),
            Key::CreationFrom { entity, parent } => (None, self.creation(entity, Some(parent))),
            Key::Update(id) => (None, self.update(id)),
            Key::UpdateFrom { entity, parent } => (None, self.update_from(entity, parent)),
            Key::UpdateFromNested { entity, parent } => (None, self.update_nested(entity, parent)),
            Key::Reference(id) => (None, self.key_input(id, Key::Reference)),
            Key::UniqueFilter(id) => (
                Some(format!("Identifies one `{}` by its primary key.", self.ir.entity(id).name)),
                self.key_input(id, Key::UniqueFilter),
            ),
            Key::Json(j) => (self.ir.json_types[j as usize].doc.clone(), self.json_object(j)),
            Key::JsonCreation(j) => (None, self.json_input(j, Mode::Creation)),
            Key::JsonUpdate(j) => (None, self.json_input(j, Mode::Update)),
        };
        Type { name, description, kind }
    }

    fn scalar_filter(&mut self, s: ScalarType) -> (Option<String>, TypeKind) {
        let ops = match s {
            ScalarType::Blob => {
                // Exograph's `BlobFilter` is a scalar: the value is compared for equality.
                return (
                    Some("A `Blob` value; matches rows whose value is equal to it.".to_string()),
                    TypeKind::Scalar,
                );
            }
            ScalarType::String => FilterOp::STRING,
            ScalarType::Json => FilterOp::JSON,
            ScalarType::Boolean | ScalarType::Uuid | ScalarType::Enum(_) => FilterOp::EQUALITY,
            ScalarType::Int
            | ScalarType::Float
            | ScalarType::Decimal
            | ScalarType::LocalDate
            | ScalarType::LocalTime
            | ScalarType::LocalDateTime
            | ScalarType::Instant => FilterOp::ORDERED,
        };
        let ty = self.scalar_ref(s);
        let fields = ops.iter().map(|op| arg(op.name(), ty.clone())).collect();
        (None, TypeKind::InputObject { fields })
    }

    fn scalar_agg(&mut self, s: ScalarType) -> TypeKind {
        let count = (AggOp::Count, self.int());
        let ops: Vec<(AggOp, TypeRef)> = match s {
            ScalarType::Int => vec![
                (AggOp::Min, self.int()),
                (AggOp::Max, self.int()),
                (AggOp::Sum, self.int()),
                (AggOp::Avg, TypeRef::named("Float")),
                count,
            ],
            ScalarType::Float | ScalarType::Decimal => {
                let t = self.scalar_ref(s);
                vec![(AggOp::Min, t.clone()), (AggOp::Max, t.clone()), (AggOp::Sum, t.clone()), (AggOp::Avg, t), count]
            }
            ScalarType::String => {
                let t = self.scalar_ref(s);
                vec![(AggOp::Min, t.clone()), (AggOp::Max, t), count]
            }
            _ => vec![count],
        };
        let fields = ops
            .into_iter()
            .map(|(op, ty)| GqlField {
                name: op.name().to_string(),
                description: None,
                args: Vec::new(),
                ty,
                resolver: Resolver::AggregateOp(op),
            })
            .collect();
        TypeKind::Object { fields }
    }

    /// Columns that `TAgg` aggregates: readable columns whose values are scalars (or arrays of them).
    fn agg_columns(&self, id: EntityId) -> Vec<(FieldId, ScalarType)> {
        let e = self.ir.entity(id);
        e.fields
            .iter()
            .enumerate()
            .filter(|(_, f)| field_readable(f))
            .filter_map(|(i, f)| match &f.kind {
                FieldKind::Column { ty, .. } => ty.scalar().map(|s| (i as FieldId, s)),
                _ => None,
            })
            .collect()
    }

    fn has_agg_fields(&self, id: EntityId) -> bool {
        !self.agg_columns(id).is_empty()
    }

    fn object(&mut self, id: EntityId) -> TypeKind {
        let e = self.ir.entity(id);
        let mut fields = Vec::new();
        let mut aggs = Vec::new();
        for (i, f) in e.fields.iter().enumerate() {
            if !field_readable(f) {
                continue;
            }
            let field = i as FieldId;
            let mut args = Vec::new();
            let ty = match &f.kind {
                FieldKind::Column { ty, .. } => nullable_if(self.value_ref(ty, Mode::Output), f.optional),
                FieldKind::ManyToOne { target, .. } => nullable_if(self.want(Key::Object(*target)), f.optional),
                FieldKind::OneToMany { target, one_to_one: true, .. } => self.want(Key::Object(*target)),
                FieldKind::OneToMany { target, one_to_one: false, .. } => {
                    args = self.collection_args(*target);
                    if self.has_agg_fields(*target) {
                        aggs.push(GqlField {
                            name: format!("{}Agg", f.name),
                            description: None,
                            args: vec![self.where_arg(*target)],
                            ty: self.want(Key::Agg(*target)),
                            resolver: Resolver::RelationAggregate { entity: id, field },
                        });
                    }
                    nullable_if(self.want(Key::Object(*target)).non_null().list(), f.optional)
                }
            };
            fields.push(GqlField {
                name: f.name.clone(),
                description: f.doc.clone(),
                args,
                ty,
                resolver: Resolver::EntityField { entity: id, field },
            });
        }
        fields.extend(aggs);
        TypeKind::Object { fields }
    }

    fn agg(&mut self, id: EntityId) -> TypeKind {
        let columns = self.agg_columns(id);
        let fields = columns
            .into_iter()
            .map(|(field, s)| GqlField {
                name: self.ir.field(id, field).name.clone(),
                description: None,
                args: Vec::new(),
                ty: self.want(Key::ScalarAgg(ScalarTypeKey::of(s))),
                resolver: Resolver::AggregateField { entity: id, field },
            })
            .collect();
        TypeKind::Object { fields }
    }

    fn filter(&mut self, id: EntityId) -> TypeKind {
        let e = self.ir.entity(id);
        let mut fields = Vec::new();
        for f in e.fields.iter().filter(|f| field_readable(f)) {
            let ty = match &f.kind {
                FieldKind::Column { ty, .. } => match ty.scalar() {
                    Some(s) => self.want(Key::ScalarFilter(ScalarTypeKey::of(s))),
                    None => continue,
                },
                FieldKind::ManyToOne { target, .. } | FieldKind::OneToMany { target, .. } => {
                    self.want(Key::Filter(*target))
                }
            };
            fields.push(arg(&f.name, ty));
        }
        let me = TypeRef::Named(format!("{}Filter", e.name));
        fields.push(arg(LogicalOp::And.name(), me.clone().non_null().list()));
        fields.push(arg(LogicalOp::Or.name(), me.clone().non_null().list()));
        fields.push(arg(LogicalOp::Not.name(), me));
        TypeKind::InputObject { fields }
    }

    fn entity_ordering(&mut self, id: EntityId) -> TypeKind {
        let e = self.ir.entity(id);
        let mut fields = Vec::new();
        for f in e.fields.iter().filter(|f| field_readable(f)) {
            let ty = match &f.kind {
                FieldKind::Column { ty: ValueType::Scalar(_), .. } => self.want(Key::Ordering),
                FieldKind::Column { .. } => continue,
                FieldKind::ManyToOne { target, .. } | FieldKind::OneToMany { target, one_to_one: true, .. } => {
                    self.want(Key::EntityOrdering(*target)).non_null().list()
                }
                FieldKind::OneToMany { one_to_one: false, .. } => continue,
            };
            fields.push(arg(&f.name, ty));
        }
        TypeKind::InputObject { fields }
    }

    /// Whether `parent.field` (a one-to-many) may appear in `parent`'s creation and update
    /// inputs. A self-referencing collection never does (as in Exograph).
    fn nested_target(&self, parent: EntityId, kind: &FieldKind) -> Option<EntityId> {
        match kind {
            FieldKind::OneToMany { target, .. } if *target != parent => Some(*target),
            _ => None,
        }
    }

    /// `TCreationInput`, or `TCreationInputFromP` (no field pointing back at `P`).
    fn creation(&mut self, id: EntityId, parent: Option<EntityId>) -> TypeKind {
        let e = self.ir.entity(id);
        let mut fields = Vec::new();
        for f in e.fields.iter() {
            if f.readonly || !field_creatable(f) {
                continue;
            }
            let required = !f.optional && f.default.is_none();
            let ty = match &f.kind {
                FieldKind::Column { ty, .. } => nullable_if(self.value_ref(ty, Mode::Creation), !required),
                FieldKind::ManyToOne { target, .. } => {
                    if parent == Some(*target) {
                        continue;
                    }
                    nullable_if(self.want(Key::Reference(*target)), !required)
                }
                FieldKind::OneToMany { .. } => {
                    let Some(target) = self.nested_target(id, &f.kind) else { continue };
                    if is_false(&self.ir.entity(target).access.create) {
                        continue;
                    }
                    self.want(Key::CreationFrom { entity: target, parent: id }).non_null().list()
                }
            };
            fields.push(arg(&f.name, ty));
        }
        TypeKind::InputObject { fields }
    }

    fn update(&mut self, id: EntityId) -> TypeKind {
        let e = self.ir.entity(id);
        let mut fields = Vec::new();
        for (i, f) in e.fields.iter().enumerate() {
            if let Some(ty) = self.update_field_type(id, i as FieldId, None) {
                fields.push(arg(&f.name, ty));
            }
        }
        TypeKind::InputObject { fields }
    }

    /// The (optional) type of `field` in an update input of `id`, or `None` when the field
    /// cannot be updated there. Primary-key fields are included, as in Exograph.
    fn update_field_type(&mut self, id: EntityId, field: FieldId, parent: Option<EntityId>) -> Option<TypeRef> {
        let e = self.ir.entity(id);
        let f = &e.fields[field as usize];
        let is_pk = e.pk.contains(&field);
        if (f.readonly && !is_pk) || !field_updatable(f) {
            return None;
        }
        match &f.kind {
            FieldKind::Column { ty, .. } => Some(self.value_ref(ty, Mode::Update)),
            FieldKind::ManyToOne { target, .. } => {
                (parent != Some(*target)).then(|| self.want(Key::Reference(*target)))
            }
            FieldKind::OneToMany { .. } => {
                let target = self.nested_target(id, &f.kind)?;
                self.nested_update_allowed(target).then(|| self.want(Key::UpdateFrom { entity: target, parent: id }))
            }
        }
    }

    /// Which of `create`, `update`, `delete` a nested update of `target` offers.
    fn nested_ops(&self, target: EntityId) -> (bool, bool, bool) {
        let t = self.ir.entity(target);
        let has_pk = !t.pk.is_empty();
        (!is_false(&t.access.create), has_pk && !is_false(&t.access.update), has_pk && !is_false(&t.access.delete))
    }

    fn nested_update_allowed(&self, target: EntityId) -> bool {
        let (c, u, d) = self.nested_ops(target);
        c || u || d
    }

    fn update_from(&mut self, id: EntityId, parent: EntityId) -> TypeKind {
        let (create, update, delete) = self.nested_ops(id);
        let mut fields = Vec::new();
        if create {
            let t = self.want(Key::CreationFrom { entity: id, parent });
            fields.push(arg(ArgRole::Create.name(), t.non_null().list()));
        }
        if update {
            let t = self.want(Key::UpdateFromNested { entity: id, parent });
            fields.push(arg(ArgRole::Update.name(), t.non_null().list()));
        }
        if delete {
            let t = self.want(Key::Reference(id));
            fields.push(arg(ArgRole::Delete.name(), t.non_null().list()));
        }
        TypeKind::InputObject { fields }
    }

    /// One element of `update: [...]`: the pk (required, minus the reference back to
    /// `parent`, which the parent supplies) and the other updatable fields.
    fn update_nested(&mut self, id: EntityId, parent: EntityId) -> TypeKind {
        let e = self.ir.entity(id);
        let mut fields = Vec::new();
        for (i, f) in e.fields.iter().enumerate() {
            let field = i as FieldId;
            let back_reference = matches!(f.kind, FieldKind::ManyToOne { target, .. } if target == parent);
            if back_reference {
                continue;
            }
            if e.pk.contains(&field) {
                fields.push(self.identifying_arg(id, field, Key::Reference));
            } else if let Some(ty) = self.update_field_type(id, field, Some(parent)) {
                fields.push(arg(&f.name, ty));
            }
        }
        TypeKind::InputObject { fields }
    }

    /// `TReferenceInput` / `TUniqueFilter`: the pk fields, required.
    fn key_input(&mut self, id: EntityId, relation_key: fn(EntityId) -> Key) -> TypeKind {
        let pk = self.ir.entity(id).pk.clone();
        let fields = pk.iter().map(|&f| self.identifying_arg(id, f, relation_key)).collect();
        TypeKind::InputObject { fields }
    }

    fn json_object(&mut self, j: JsonTypeId) -> TypeKind {
        let jt = &self.ir.json_types[j as usize];
        let fields = jt
            .fields
            .iter()
            .map(|f| GqlField {
                name: f.name.clone(),
                description: None,
                args: Vec::new(),
                ty: nullable_if(self.value_ref(&f.ty, Mode::Output), f.optional),
                resolver: Resolver::JsonField,
            })
            .collect();
        TypeKind::Object { fields }
    }

    /// A `@json` value is always written whole, so the update input is as strict as creation.
    fn json_input(&mut self, j: JsonTypeId, mode: Mode) -> TypeKind {
        let jt = &self.ir.json_types[j as usize];
        let fields =
            jt.fields.iter().map(|f| arg(&f.name, nullable_if(self.value_ref(&f.ty, mode), f.optional))).collect();
        TypeKind::InputObject { fields }
    }
}

/// `ty!` unless `nullable`.
fn nullable_if(ty: TypeRef, nullable: bool) -> TypeRef {
    if nullable {
        ty
    } else {
        ty.non_null()
    }
}

/// The description of every list's `limit` argument: the server's list cap
/// (`EXO_MAX_LIST_ROWS`) is a runtime setting, so the schema names it with its default.
pub const LIMIT_DOC: &str = "At most this many rows. Without `limit`, a list longer than the server's cap \
(`EXO_MAX_LIST_ROWS`, default 1000) is an error, not a cut list; a larger `limit` is refused. Page with `offset`.";

fn arg(name: &str, ty: TypeRef) -> InputValue {
    InputValue { name: name.to_string(), description: None, ty, default_value: None }
}

fn root_field(name: String, description: String, args: Vec<InputValue>, ty: TypeRef, resolver: Resolver) -> GqlField {
    GqlField { name, description: Some(description), args, ty, resolver }
}
