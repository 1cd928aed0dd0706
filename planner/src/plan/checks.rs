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
        let validation = Validation { single_precision: true, ..Default::default() };
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
    let pos = Pos { line: check.line, column: check.column };
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

pub(super) fn check_constraints(name: &str, val: &Validation, v: &Val, pos: Pos) -> Result<(), GqlError> {
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
                        format!("Invalid value for 'range': max = {max}, provided value = {i}"),
                        pos,
                    ));
                }
            }
            if let Some(min) = val.min {
                if x < min {
                    return Err(GqlError::at(
                        format!("Invalid value for 'range': min = {min}, provided value = {i}"),
                        pos,
                    ));
                }
            }
            if val.single_precision && !fits_single_precision(x) {
                return Err(conversion_error(name, SINGLE_PRECISION));
            }
            // A value wider than its column is a conversion error naming the field (without a
            // location, as in Exograph), not a Postgres error answered "Operation failed".
            let width = match val.int_bits {
                Some(16) if i16::try_from(*i).is_err() => Some("16-bit integer"),
                Some(32) if i32::try_from(*i).is_err() => Some("32-bit integer"),
                _ => None,
            };
            if let Some(width) = width {
                return Err(conversion_error(name, width));
            }
        }
        Val::Float(x, _) => {
            if val.single_precision && !fits_single_precision(*x) {
                return Err(conversion_error(name, SINGLE_PRECISION));
            }
            if let Some(max) = val.max {
                if *x > max {
                    return Err(GqlError::at(
                        format!("Invalid value for 'range': max = {max}, provided value = {x}"),
                        pos,
                    ));
                }
            }
            if let Some(min) = val.min {
                if *x < min {
                    return Err(GqlError::at(
                        format!("Invalid value for 'range': min = {min}, provided value = {x}"),
                        pos,
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether `x` is within single precision: at most `f32::MAX` in magnitude (Exograph refuses
/// `3.40282347e38`, which Postgres would round down to it), and not a non-zero value that
/// rounds to zero (Postgres refuses those). The same test for inputs and filters.
pub(super) fn fits_single_precision(x: f64) -> bool {
    x.abs() <= f32::MAX as f64 && ((x as f32) != 0.0 || x == 0.0)
}

const SINGLE_PRECISION: &str = "Single precision floating point";

/// Exograph's wording for a value its column's type cannot hold; it carries no location.
fn conversion_error(name: &str, ty: &str) -> GqlError {
    GqlError::new(format!(
        "Unable to convert input to the expected type: trying to convert the '{name}' field to the '{ty}' type"
    ))
}
