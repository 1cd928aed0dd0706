//! Field-level `@access`: a field's rule holds wherever the field is used, not only where its
//! value is selected. A rule the context alone makes false refuses the request ("Not
//! authorized") when the field is selected, filtered on, ordered by, aggregated or written. A
//! rule that depends on the row is ANDed into the filter of the rows the field is used on:
//! rows whose field the caller may not see are not read (selection, `where`, aggregates), and
//! rows whose field the caller may not write are not updated. Ordering by such a field is
//! refused, since an order cannot leave rows out.

use exo_ir::graphql::Resolver;
use exo_ir::{EntityId, FieldId};

use super::access::Cond;
use super::Planner;
use crate::error::GqlError;
use crate::sql::{Expr, Ident};
use crate::validate::Selected;
use crate::value::Val;

/// How a field is used: which of its rules applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldUse {
    Read,
    Create,
    Update,
}

pub(crate) fn not_authorized() -> GqlError {
    GqlError::new("Not authorized")
}

impl<'a, 'd> Planner<'a, 'd> {
    /// The rule of `field` for `use_` over row `a`: an error when the context alone refuses it,
    /// otherwise the condition the row must meet (`Cond::True` for a field without a rule).
    pub(super) fn field_rule(
        &mut self,
        entity: EntityId,
        field: FieldId,
        use_: FieldUse,
        a: Ident<'a>,
    ) -> Result<Cond<'a>, GqlError> {
        let ir = self.ir;
        let Some(acc) = &ir.entity(entity).fields[field as usize].access else {
            return Ok(Cond::True);
        };
        let rule = match use_ {
            FieldUse::Read => &acc.query,
            FieldUse::Create => &acc.create,
            FieldUse::Update => &acc.update,
        };
        match self.access(rule, entity, a) {
            Cond::False => Err(not_authorized()),
            c => Ok(c),
        }
    }

    /// The read rules of the fields a selection (of rows or of an aggregate) uses, over row `a`.
    pub(super) fn selection_rule(
        &mut self,
        entity: EntityId,
        a: Ident<'a>,
        selection: &[Selected<'_>],
    ) -> Result<Cond<'a>, GqlError> {
        let mut cond = Cond::True;
        for s in selection {
            let field = match s.field.resolver {
                Resolver::EntityField { field, .. }
                | Resolver::RelationAggregate { field, .. }
                | Resolver::AggregateField { field, .. } => field,
                _ => continue,
            };
            let rule = self.field_rule(entity, field, FieldUse::Read, a)?;
            cond = cond.and(rule);
        }
        Ok(cond)
    }

    /// The create or update rules of the fields an input object names, over row `a`.
    pub(super) fn input_rule(
        &mut self,
        entity: EntityId,
        a: Ident<'a>,
        row: &Val,
        use_: FieldUse,
    ) -> Result<Cond<'a>, GqlError> {
        let e = self.ir.entity(entity);
        let mut cond = Cond::True;
        for (k, _) in row.as_object().unwrap_or(&[]) {
            if let Some((fid, _)) = e.field_by_name(k) {
                let rule = self.field_rule(entity, fid, use_, a)?;
                cond = cond.and(rule);
            }
        }
        Ok(cond)
    }

    /// The fields an input object names that carry a field-level rule.
    pub(super) fn ruled_input_fields(&self, entity: EntityId, row: &Val) -> Vec<FieldId> {
        let e = self.ir.entity(entity);
        row.as_object()
            .unwrap_or(&[])
            .iter()
            .filter_map(|(k, _)| e.field_by_name(k))
            .filter(|(_, f)| f.access.is_some())
            .map(|(fid, _)| fid)
            .collect()
    }

    /// A `where` argument over row `a`, with the read rules of every field it filters on
    /// ANDed in outside any `not`/`or`, so a row whose field is hidden never matches.
    pub(super) fn guarded_predicate(
        &mut self,
        entity: EntityId,
        a: Ident<'a>,
        filter: &Val,
    ) -> Result<Cond<'a>, GqlError> {
        let mark = self.guards.len();
        let p = self.predicate(entity, a, filter);
        let guards: Vec<Expr<'a>> = self.guards.split_off(mark);
        let mut cond = p?;
        for g in guards {
            cond = cond.and(Cond::Sql(g));
        }
        Ok(cond)
    }

    /// Records the read rule of a field a filter uses (see [`Self::guarded_predicate`]).
    pub(super) fn guard_filter_field(
        &mut self,
        entity: EntityId,
        field: FieldId,
        a: Ident<'a>,
    ) -> Result<(), GqlError> {
        if let Cond::Sql(g) = self.field_rule(entity, field, FieldUse::Read, a)? {
            self.guards.push(g);
        }
        Ok(())
    }

    /// Ordering by a field needs its read rule to hold for every row: otherwise the order
    /// would reveal hidden values.
    pub(super) fn check_order_field(&mut self, entity: EntityId, field: FieldId, a: Ident<'a>) -> Result<(), GqlError> {
        match self.field_rule(entity, field, FieldUse::Read, a)? {
            Cond::True => Ok(()),
            _ => Err(not_authorized()),
        }
    }
}
