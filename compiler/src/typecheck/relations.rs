//! Pairing relation fields and checking primary keys.
//!
//! Rules, in the order they are applied:
//! 1. A `Set<T>` field in `A` pairs with the field of `T` named by its `@relation("f")`, or
//!    else with the only field of `T` whose type is `A`/`A?` (fields marked `@manyToOne` or
//!    `@oneToOne` never pair). None or several candidates is an error.
//! 2. A singular field `s: T?` carrying `@relation("g")` declares a one-to-one relation in
//!    which `s` is the side *without* the foreign key and `T.g` holds it.
//! 3. Remaining singular fields `s` in `A` of type `T` (A ≠ T): if `T` has no unpaired field
//!    of type `A`, `s` is a plain many-to-one. If each side has exactly one, they form a
//!    one-to-one whose required (non-`?`) side holds the foreign key; both optional or both
//!    required is an error. More than one on either side is an error (mark independent
//!    relations `@manyToOne`). Self references never pair implicitly.
//! 4. `@manyToOne` / `@oneToOne` fields are many-to-one relations without an inverse.

use std::collections::HashMap;

use exo_ir::{EntityId, FieldId};

use super::{Checker, FieldType};
use crate::diag::Diagnostic;
use crate::names;

impl<'a> Checker<'a> {
    fn directional(&self, e: EntityId, f: FieldId) -> bool {
        let h = &self.entities[e as usize].fields[f as usize].hints;
        h.many_to_one || h.one_to_one
    }

    fn qualified(&self, e: EntityId, f: FieldId) -> String {
        let ent = &self.entities[e as usize];
        format!("{}.{}", ent.name, ent.fields[f as usize].name)
    }

    pub(super) fn pair_relations(&mut self) {
        // Undirected singular fields by (owner, target), excluding those with `@relation`.
        let mut singular: HashMap<(EntityId, EntityId), Vec<FieldId>> = HashMap::new();
        for (e, ent) in self.entities.iter().enumerate() {
            for (i, f) in ent.fields.iter().enumerate() {
                if let FieldType::Entity(t) = f.ty {
                    if !f.hints.many_to_one && !f.hints.one_to_one && f.hints.relation.is_none() {
                        singular.entry((e as EntityId, t)).or_default().push(i as FieldId);
                    }
                }
            }
        }
        let mut claimed: HashMap<(EntityId, FieldId), (EntityId, FieldId)> = HashMap::new();
        let mut assign: Vec<(EntityId, FieldId, FieldType)> = Vec::new();

        // 1. Collections.
        for e in 0..self.entities.len() as EntityId {
            for i in 0..self.entities[e as usize].fields.len() as FieldId {
                let FieldType::Set(t) = self.entities[e as usize].fields[i as usize].ty else { continue };
                let chosen = match self.entities[e as usize].fields[i as usize].hints.relation.clone() {
                    Some((name, span)) => self.relation_target(e, i, t, &name, span, false),
                    None => {
                        let cands = singular.get(&(t, e)).cloned().unwrap_or_default();
                        match cands.as_slice() {
                            [g] => Some(*g),
                            [] => {
                                self.missing_inverse(e, i, t);
                                None
                            }
                            many => {
                                self.ambiguous_collection(e, i, t, many);
                                None
                            }
                        }
                    }
                };
                let Some(g) = chosen else {
                    assign.push((e, i, FieldType::Error));
                    continue;
                };
                if let Some(&(pe, pi)) = claimed.get(&(t, g)) {
                    let d = Diagnostic::error(
                        "exo::ambiguous_relation",
                        format!(
                            "`{}` and `{}` both pair with `{}`",
                            self.qualified(pe, pi),
                            self.qualified(e, i),
                            self.qualified(t, g)
                        ),
                    )
                    .with_primary(self.field_span(e, i), "second collection")
                    .with_secondary(self.field_span(pe, pi), "first collection")
                    .with_secondary(self.field_span(t, g), "the only matching field")
                    .with_help(format!(
                        "each one-to-many field needs its own many-to-one field in `{}`; add one and name it with `@relation(\"...\")`",
                        self.entities[t as usize].name
                    ));
                    self.error(d);
                    assign.push((e, i, FieldType::Error));
                    continue;
                }
                claimed.insert((t, g), (e, i));
                claimed.insert((e, i), (t, g));
                assign.push((e, i, FieldType::OneToMany { target: t, inverse: g, one_to_one: false }));
                assign.push((t, g, FieldType::ManyToOne { target: e, inverse: Some(i), one_to_one: false }));
            }
        }

        // 2. One-to-one declared with `@relation` on the side without the foreign key.
        for e in 0..self.entities.len() as EntityId {
            for i in 0..self.entities[e as usize].fields.len() as FieldId {
                let f = &self.entities[e as usize].fields[i as usize];
                let FieldType::Entity(t) = f.ty else { continue };
                let Some((name, span)) = f.hints.relation.clone() else { continue };
                let optional = f.optional;
                let fspan = f.ast.ty.span();
                let Some(g) = self.relation_target(e, i, t, &name, span, true) else {
                    assign.push((e, i, FieldType::Error));
                    continue;
                };
                if claimed.contains_key(&(t, g)) {
                    let (pe, pi) = claimed[&(t, g)];
                    let d = Diagnostic::error(
                        "exo::ambiguous_relation",
                        format!("`{}` is already paired with `{}`", self.qualified(t, g), self.qualified(pe, pi)),
                    )
                    .with_primary(span, "named here")
                    .with_secondary(self.field_span(pe, pi), "already paired here");
                    self.error(d);
                    assign.push((e, i, FieldType::Error));
                    continue;
                }
                if !optional {
                    let d = Diagnostic::error(
                        "exo::invalid_relation",
                        format!("`{}` must be optional", self.qualified(e, i)),
                    )
                    .with_primary(fspan, "required")
                    .with_help(format!(
                        "with `@relation`, `{}` is the side of a one-to-one relation without the foreign key, so a row may have no match; write `{}?`",
                        self.qualified(e, i),
                        self.entities[t as usize].name
                    ));
                    self.error(d);
                }
                claimed.insert((t, g), (e, i));
                claimed.insert((e, i), (t, g));
                assign.push((e, i, FieldType::OneToMany { target: t, inverse: g, one_to_one: true }));
                assign.push((t, g, FieldType::ManyToOne { target: e, inverse: Some(i), one_to_one: true }));
            }
        }

        // 3. Implicit one-to-one or plain many-to-one.
        let mut reported: Vec<(EntityId, EntityId)> = Vec::new();
        for e in 0..self.entities.len() as EntityId {
            for i in 0..self.entities[e as usize].fields.len() as FieldId {
                let f = &self.entities[e as usize].fields[i as usize];
                let FieldType::Entity(t) = f.ty else { continue };
                if claimed.contains_key(&(e, i)) || f.hints.relation.is_some() {
                    continue;
                }
                if self.directional(e, i) {
                    let one = f.hints.one_to_one;
                    assign.push((e, i, FieldType::ManyToOne { target: t, inverse: None, one_to_one: one }));
                    continue;
                }
                let plain = FieldType::ManyToOne { target: t, inverse: None, one_to_one: false };
                if e == t {
                    assign.push((e, i, plain));
                    continue;
                }
                let unclaimed = |k: (EntityId, EntityId)| -> Vec<FieldId> {
                    singular
                        .get(&k)
                        .map(|v| v.iter().copied().filter(|g| !claimed.contains_key(&(k.0, *g))).collect())
                        .unwrap_or_default()
                };
                let left = unclaimed((e, t));
                let right = unclaimed((t, e));
                if right.is_empty() {
                    assign.push((e, i, plain));
                    continue;
                }
                if left.len() == 1 && right.len() == 1 {
                    let g = right[0];
                    self.pair_one_to_one(e, i, t, g, &mut assign, &mut claimed);
                    continue;
                }
                let key = (e.min(t), e.max(t));
                if !reported.contains(&key) {
                    reported.push(key);
                    self.ambiguous_singular(e, &left, t, &right);
                }
                assign.push((e, i, FieldType::Error));
            }
        }

        for (e, i, ty) in assign {
            self.entities[e as usize].fields[i as usize].ty = ty;
        }
    }

    fn pair_one_to_one(
        &mut self,
        e: EntityId,
        s: FieldId,
        t: EntityId,
        g: FieldId,
        assign: &mut Vec<(EntityId, FieldId, FieldType)>,
        claimed: &mut HashMap<(EntityId, FieldId), (EntityId, FieldId)>,
    ) {
        let s_opt = self.entities[e as usize].fields[s as usize].optional;
        let g_opt = self.entities[t as usize].fields[g as usize].optional;
        claimed.insert((e, s), (t, g));
        claimed.insert((t, g), (e, s));
        // (side without FK, side with FK)
        let (inv, fk) = match (s_opt, g_opt) {
            (true, false) => ((e, s), (t, g)),
            (false, true) => ((t, g), (e, s)),
            (true, true) => {
                let d = Diagnostic::error(
                    "exo::ambiguous_one_to_one",
                    format!(
                        "cannot tell which side of the one-to-one relation between `{}` and `{}` holds the foreign key",
                        self.qualified(e, s),
                        self.qualified(t, g)
                    ),
                )
                .with_primary(self.field_span(e, s), "optional")
                .with_secondary(self.field_span(t, g), "also optional")
                .with_help(format!(
                    "make the field that holds the foreign key required, or add `@relation(\"{}\")` to `{}` so that `{}` holds it; mark them `@manyToOne` if they are independent relations",
                    self.entities[t as usize].fields[g as usize].name,
                    self.qualified(e, s),
                    self.qualified(t, g)
                ));
                self.error(d);
                assign.push((e, s, FieldType::Error));
                assign.push((t, g, FieldType::Error));
                return;
            }
            (false, false) => {
                let d = Diagnostic::error(
                    "exo::one_to_one_both_required",
                    format!(
                        "`{}` and `{}` refer to each other and are both required",
                        self.qualified(e, s),
                        self.qualified(t, g)
                    ),
                )
                .with_primary(self.field_span(e, s), "required")
                .with_secondary(self.field_span(t, g), "also required")
                .with_help(format!(
                    "write `{}: {}?` (in a one-to-one relation the side without the foreign key is optional), or mark the fields `@manyToOne` if they are independent relations",
                    self.entities[e as usize].fields[s as usize].name,
                    self.entities[t as usize].name
                ));
                self.error(d);
                assign.push((e, s, FieldType::Error));
                assign.push((t, g, FieldType::Error));
                return;
            }
        };
        assign.push((inv.0, inv.1, FieldType::OneToMany { target: fk.0, inverse: fk.1, one_to_one: true }));
        assign.push((fk.0, fk.1, FieldType::ManyToOne { target: inv.0, inverse: Some(inv.1), one_to_one: true }));
    }

    /// Resolves `@relation("name")` on field `i` of `e` (whose target is `t`).
    fn relation_target(
        &mut self,
        e: EntityId,
        i: FieldId,
        t: EntityId,
        name: &str,
        span: crate::ast::Span,
        one_to_one: bool,
    ) -> Option<FieldId> {
        let target = &self.entities[t as usize];
        let Some(g) = target.field(name) else {
            let mut d = Diagnostic::error("exo::invalid_relation", format!("`{}` has no field `{name}`", target.name))
                .with_primary(span, "named by `@relation`");
            let owner = &self.entities[e as usize].name;
            let cands: Vec<&str> = target
                .fields
                .iter()
                .filter(|f| matches!(f.ty, FieldType::Entity(x) if x == e))
                .map(|f| f.name.as_str())
                .collect();
            if let Some(s) = names::suggest(name, cands.iter().copied()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            } else if !cands.is_empty() {
                let list: Vec<String> = cands.iter().map(|c| format!("`{c}`")).collect();
                d = d.with_help(format!("fields of `{}` of type `{owner}`: {}", target.name, list.join(", ")));
            }
            self.error(d);
            return None;
        };
        if g == i && e == t {
            let d = Diagnostic::error("exo::invalid_relation", "a field cannot be paired with itself")
                .with_primary(span, "names its own field");
            self.error(d);
            return None;
        }
        let gf = &target.fields[g as usize];
        match gf.ty {
            FieldType::Entity(x) if x == e => {}
            FieldType::Error => return None,
            _ => {
                let d = Diagnostic::error(
                    "exo::invalid_relation",
                    format!("`{}.{name}` does not refer to `{}`", target.name, self.entities[e as usize].name),
                )
                .with_primary(span, "named by `@relation`")
                .with_secondary(gf.ast.ty.span(), format!("its type is `{}`", gf.ast.ty))
                .with_help(format!(
                    "`@relation` names the field of `{}` that holds the foreign key back to `{}`",
                    target.name, self.entities[e as usize].name
                ));
                self.error(d);
                return None;
            }
        }
        if gf.hints.many_to_one || gf.hints.one_to_one || gf.hints.relation.is_some() {
            let why = if gf.hints.relation.is_some() {
                "it has its own `@relation`"
            } else if gf.hints.many_to_one {
                "it is marked `@manyToOne`, a relation without an inverse"
            } else {
                "it is marked `@oneToOne`, a relation without an inverse"
            };
            let d =
                Diagnostic::error("exo::invalid_relation", format!("`{}.{name}` cannot be paired: {why}", target.name))
                    .with_primary(span, "named by `@relation`")
                    .with_secondary(gf.ast.name.span, "this field");
            self.error(d);
            return None;
        }
        let _ = one_to_one;
        Some(g)
    }

    fn missing_inverse(&mut self, e: EntityId, i: FieldId, t: EntityId) {
        let owner = self.entities[e as usize].name.clone();
        let target = self.entities[t as usize].name.clone();
        let directional: Vec<String> = self.entities[t as usize]
            .fields
            .iter()
            .filter(|f| matches!(f.ty, FieldType::Entity(x) if x == e) && (f.hints.many_to_one || f.hints.one_to_one))
            .map(|f| format!("`{target}.{}`", f.name))
            .collect();
        let help = if directional.is_empty() {
            format!("add a field `{}: {owner}` to `{target}`; it holds the foreign key", names::lower_camel(&owner))
        } else {
            format!(
                "{} is marked as a relation without an inverse; remove `@manyToOne`/`@oneToOne` to pair it",
                directional.join(", ")
            )
        };
        let d = Diagnostic::error(
            "exo::missing_inverse",
            format!("the one-to-many field `{}` has no matching field in `{target}`", self.qualified(e, i)),
        )
        .with_primary(self.field_span(e, i), format!("`{target}` has no field of type `{owner}`"))
        .with_help(help);
        self.error(d);
    }

    fn ambiguous_collection(&mut self, e: EntityId, i: FieldId, t: EntityId, cands: &[FieldId]) {
        let names: Vec<String> =
            cands.iter().map(|g| format!("`{}`", self.entities[t as usize].fields[*g as usize].name)).collect();
        let first = &self.entities[t as usize].fields[cands[0] as usize].name;
        let mut d = Diagnostic::error(
            "exo::ambiguous_relation",
            format!(
                "`{}` could pair with any of {} in `{}`",
                self.qualified(e, i),
                names.join(", "),
                self.entities[t as usize].name
            ),
        )
        .with_primary(self.field_span(e, i), "ambiguous one-to-many field");
        for g in cands {
            d = d.with_secondary(self.field_span(t, *g), "candidate");
        }
        d = d.with_help(format!(
            "name the matching field with `@relation`, e.g. `@relation(\"{first}\") {}: ...`",
            self.entities[e as usize].fields[i as usize].name
        ));
        self.error(d);
    }

    fn ambiguous_singular(&mut self, e: EntityId, left: &[FieldId], t: EntityId, right: &[FieldId]) {
        let mut all: Vec<(EntityId, FieldId)> = left.iter().map(|f| (e, *f)).collect();
        all.extend(right.iter().map(|f| (t, *f)));
        let names: Vec<String> = all.iter().map(|(x, f)| format!("`{}`", self.qualified(*x, *f))).collect();
        let mut d = Diagnostic::error(
            "exo::ambiguous_relation",
            format!("cannot tell how the fields {} pair up", names.join(", ")),
        )
        .with_primary(self.field_span(all[0].0, all[0].1), "ambiguous relation");
        for (x, f) in &all[1..] {
            d = d.with_secondary(self.field_span(*x, *f), "refers back");
        }
        d = d.with_help(
            "mark independent relations with `@manyToOne`, or pair a one-to-one relation with `@relation(\"field\")` on the side without the foreign key",
        );
        self.error(d);
    }

    pub(super) fn field_span(&self, e: EntityId, f: FieldId) -> crate::ast::Span {
        self.entities[e as usize].fields[f as usize].ast.name.span
    }

    // -----------------------------------------------------------------------------------------
    // Primary keys
    // -----------------------------------------------------------------------------------------

    pub(super) fn check_primary_keys(&mut self) {
        let n = self.entities.len();
        for e in 0..n {
            let ent = &self.entities[e];
            let pks: Vec<FieldId> =
                ent.fields.iter().enumerate().filter(|(_, f)| f.hints.pk).map(|(i, _)| i as FieldId).collect();
            let suspect = ent.fields.iter().any(|f| f.hints.suspect);
            if pks.is_empty() && ent.table.managed && !ent.fields.is_empty() && !suspect {
                let mut d = Diagnostic::error("exo::missing_pk", format!("type `{}` has no primary key", ent.name))
                    .with_primary(ent.decl.name.span, "no `@pk` field")
                    .with_help("mark a field `@pk`, e.g. `@pk id: Int = autoIncrement()`; only unmanaged types (`@table(managed = false)`) may omit it");
                for (x, other) in self.entities.iter().enumerate() {
                    for (j, f) in other.fields.iter().enumerate() {
                        if matches!(f.ty, FieldType::ManyToOne { target, .. } if target as usize == e) {
                            d = d.with_secondary(
                                f.ast.ty.span(),
                                format!("`{}` refers to it", self.qualified(x as EntityId, j as FieldId)),
                            );
                        }
                    }
                }
                self.error(d);
            }
            for &p in &pks {
                let f = &self.entities[e].fields[p as usize];
                if let FieldType::OneToMany { .. } = f.ty {
                    let d = Diagnostic::error(
                        "exo::invalid_pk",
                        format!("`{}` cannot be part of the primary key", self.qualified(e as EntityId, p)),
                    )
                    .with_primary(f.ast.name.span, "the other side holds the foreign key")
                    .with_help("only scalar fields and fields holding a foreign key can be primary keys");
                    self.error(d);
                }
            }
        }
        // References to entities without a primary key, and `@column` forms on relations.
        let mut found = Vec::new();
        for e in 0..n {
            for i in 0..self.entities[e].fields.len() {
                let f = &self.entities[e].fields[i];
                let FieldType::ManyToOne { target, .. } = f.ty else { continue };
                let tgt = &self.entities[target as usize];
                let tpks: Vec<&super::FieldDef> = tgt.fields.iter().filter(|g| g.hints.pk).collect();
                if tpks.is_empty() {
                    if tgt.table.managed {
                        // Reported once, on the target type itself.
                        continue;
                    }
                    let d = Diagnostic::error(
                        "exo::missing_pk",
                        format!(
                            "`{}` refers to `{}`, which has no primary key",
                            self.qualified(e as EntityId, i as FieldId),
                            tgt.name
                        ),
                    )
                    .with_primary(f.ast.ty.span(), "a foreign key needs a primary key to point at")
                    .with_secondary(tgt.decl.name.span, "declared without `@pk`");
                    found.push(d);
                    continue;
                }
                if f.hints.column.is_some() && tpks.len() > 1 {
                    let keys: Vec<String> = tpks.iter().map(|g| format!("{}: \"...\"", g.name)).collect();
                    let d = Diagnostic::error(
                        "exo::invalid_column",
                        format!(
                            "`{}` has a composite primary key, so `{}` needs one column per key field",
                            tgt.name, f.name
                        ),
                    )
                    .with_primary(f.hints.column_span.unwrap_or(f.ast.name.span), "a single column name")
                    .with_help(format!("write `@column(mapping = {{{}}})`", keys.join(", ")));
                    found.push(d);
                }
                let pk_names: Vec<&str> = tpks.iter().map(|g| g.name.as_str()).collect();
                let bad: Vec<String> = f
                    .hints
                    .column_mapping
                    .iter()
                    .filter(|(k, _)| !pk_names.contains(&k.as_str()))
                    .map(|(k, _)| k.clone())
                    .collect();
                if !bad.is_empty() {
                    let list: Vec<String> = pk_names.iter().map(|k| format!("`{k}`")).collect();
                    let d = Diagnostic::error(
                        "exo::invalid_column",
                        format!("`{}` is not a primary-key field of `{}`", bad[0], tgt.name),
                    )
                    .with_primary(f.hints.column_span.unwrap_or(f.ast.name.span), "in this mapping")
                    .with_help(format!(
                        "the mapping keys are primary-key fields of `{}`: {}",
                        tgt.name,
                        list.join(", ")
                    ));
                    found.push(d);
                }
            }
        }
        self.diags.extend(found);
        // The side of a one-to-one without the foreign key has no column to constrain.
        let mut found = Vec::new();
        for e in 0..n {
            for f in &self.entities[e].fields {
                let FieldType::OneToMany { target, one_to_one: true, .. } = f.ty else { continue };
                let h = &f.hints;
                let what = if !h.unique.is_empty() {
                    "@unique"
                } else if !h.index.is_empty() {
                    "@index"
                } else if h.column_span.is_some() {
                    "@column"
                } else {
                    continue;
                };
                let span = f
                    .ast
                    .annotations
                    .iter()
                    .find(|a| format!("@{}", a.name) == what)
                    .map_or(f.ast.name.span, |a| a.span);
                let tname = &self.entities[target as usize].name;
                found.push(
                    Diagnostic::error(
                        "exo::invalid_column",
                        format!("`{what}` cannot be used on `{}`, which has no column", f.name),
                    )
                    .with_primary(span, "no column to apply it to")
                    .with_help(format!(
                        "the foreign key of this one-to-one relation is stored in `{tname}`; put `{what}` on its field there"
                    )),
                );
            }
        }
        self.diags.extend(found);

        // Cycles through relation primary keys (`A { @pk b: B }`, `B { @pk a: A }`).
        let mut state = vec![0u8; n]; // 0 = new, 1 = in progress, 2 = done
        for e in 0..n {
            let mut stack = Vec::new();
            self.pk_cycle_dfs(e, &mut state, &mut stack);
        }
    }

    fn pk_cycle_dfs(&mut self, e: usize, state: &mut Vec<u8>, stack: &mut Vec<(usize, FieldId)>) {
        if state[e] == 2 {
            return;
        }
        if state[e] == 1 {
            let names: Vec<String> =
                stack.iter().map(|(x, f)| format!("`{}`", self.qualified(*x as EntityId, *f))).collect();
            let (x, f) = stack[0];
            let d = Diagnostic::error(
                "exo::pk_cycle",
                format!("primary keys refer to each other in a cycle: {}", names.join(" -> ")),
            )
            .with_primary(self.field_span(x as EntityId, f), "part of the cycle")
            .with_help("one of these types needs a primary key of its own (e.g. `@pk id: Int = autoIncrement()`)");
            self.error(d);
            return;
        }
        state[e] = 1;
        let edges: Vec<(FieldId, EntityId)> = self.entities[e]
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.hints.pk)
            .filter_map(|(i, f)| match f.ty {
                FieldType::ManyToOne { target, .. } => Some((i as FieldId, target)),
                _ => None,
            })
            .collect();
        for (f, t) in edges {
            stack.push((e, f));
            self.pk_cycle_dfs(t as usize, state, stack);
            stack.pop();
        }
        state[e] = 2;
    }
}
