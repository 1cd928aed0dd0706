//! Value constraints of the model (`@maxLength`, `@range`, integer width, single precision):
//! checked while planning, and recorded in the plan ([`ValueCheck`]) for values from the
//! variables, since a cached or precompiled plan is reused with other values.

use exo_ir::{Field, Validation};
use serde_json::Value as Json;

use super::{Planner, ValueCheck};
use crate::error::GqlError;
use crate::graphql::Pos;
use crate::value::{Origin, Val};

impl<'a, 'd> Planner<'a, 'd> {
    /// A value compared with a single-precision column must be one (a `real` parameter that
    /// overflows or underflows is an error in Postgres). `@range` does not apply to filters.
    pub(super) fn check_filter_value(&mut self, f: &Field, v: &Val) -> Result<(), GqlError> {
        let validation = Validation {
            single_precision: true,
            ..Default::default()
        };
        self.check_value_now_and_later(&f.name, &validation, v, self.filter_pos)
    }

    /// Checks `v` against the model's constraints now, and, when it comes from a variable,
    /// records the check in the plan so every later execution (with other values) repeats it.
    pub(super) fn check_value_now_and_later(
        &mut self,
        field: &str,
        validation: &Validation,
        v: &Val,
        pos: Pos,
    ) -> Result<(), GqlError> {
        check_constraints(field, validation, v, pos)?;
        if let Origin::Var { var, path } = v.origin() {
            if *validation != Validation::default() {
                self.checks.push(ValueCheck {
                    var: var.clone(),
                    path: path.clone(),
                    field: field.to_string(),
                    validation: validation.clone(),
                    line: pos.line,
                    column: pos.column,
                });
            }
        }
        Ok(())
    }
}

/// Checks a value taken from the variables against its field's constraints before any SQL
/// runs, as the planner did when the plan was made.
pub fn check_value(check: &ValueCheck, value: &Json) -> Result<(), GqlError> {
    let pos = Pos {
        line: check.line,
        column: check.column,
    };
    let v = match value {
        Json::String(s) => Val::Str(s.clone(), Origin::Literal),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Val::Int(i, Origin::Literal),
            None => Val::Float(n.as_f64().unwrap_or(0.0), Origin::Literal),
        },
        _ => return Ok(()),
    };
    check_constraints(&check.field, &check.validation, &v, pos)
}

pub(super) fn check_constraints(
    name: &str,
    val: &Validation,
    v: &Val,
    pos: Pos,
) -> Result<(), GqlError> {
    match v {
        Val::Str(s, _) => {
            if let Some(max) = val.max_length {
                let len = s.chars().count();
                if len > max as usize {
                    return Err(GqlError::at(
                        format!("Invalid value for '{name}': maximum length = {max}, provided length = {len}"),
                        pos,
                    ));
                }
            }
        }
        Val::Int(i, _) => {
            let x = *i as f64;
            if let Some(max) = val.max {
                if x > max {
                    return Err(GqlError::at(
                        format!("Invalid value for '{name}': max = {max}, provided value = {i}"),
                        pos,
                    ));
                }
            }
            if let Some(min) = val.min {
                if x < min {
                    return Err(GqlError::at(
                        format!("Invalid value for '{name}': min = {min}, provided value = {i}"),
                        pos,
                    ));
                }
            }
            if val.single_precision && !fits_single_precision(x) {
                return Err(single_precision_error(name, pos));
            }
            if val.int_bits == Some(16) && (*i < i16::MIN as i64 || *i > i16::MAX as i64) {
                return Err(GqlError::at(
                    format!("Unable to convert input to the expected type: trying to convert the '{name}' field to the '16-bit integer' type"),
                    pos,
                ));
            }
        }
        Val::Float(x, _) => {
            if val.single_precision && !fits_single_precision(*x) {
                return Err(single_precision_error(name, pos));
            }
            if let Some(max) = val.max {
                if *x > max {
                    return Err(GqlError::at(
                        format!("Invalid value for '{name}': max = {max}, provided value = {x}"),
                        pos,
                    ));
                }
            }
            if let Some(min) = val.min {
                if *x < min {
                    return Err(GqlError::at(
                        format!("Invalid value for '{name}': min = {min}, provided value = {x}"),
                        pos,
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether Postgres accepts `x` as a `real`: it refuses values that round to infinity and
/// non-zero values that round to zero.
pub(super) fn fits_single_precision(x: f64) -> bool {
    let single = x as f32;
    single.is_finite() && (single != 0.0 || x == 0.0)
}

fn single_precision_error(name: &str, pos: Pos) -> GqlError {
    GqlError::at(
        format!("Unable to convert input to the expected type: trying to convert the '{name}' field to the 'single-precision float' type"),
        pos,
    )
}
