//! Bounds on the size of one operation, counted while validation expands it: fields per
//! selection set (root fields separately), fields in total, and fragment spreads after
//! expansion.
//!
//! The counts are taken as the validator walks the document, not afterwards: a few hundred
//! bytes of fragments that spread each other twice expand to millions of fields, so the walk
//! itself must stop as soon as a bound is crossed.

use crate::error::GqlError;
use crate::graphql::Pos;

/// The bounds, each an `EXO_*` setting (see `Config::from_env`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperationLimits {
    /// Fields (aliases included) in the operation's root selection set
    /// (`EXO_MAX_ROOT_FIELDS`).
    pub max_root_fields: usize,
    /// Fields (aliases included) in any other selection set, fragments expanded
    /// (`EXO_MAX_FIELDS_PER_SELECTION`).
    pub max_fields_per_selection: usize,
    /// Fields in the whole operation, fragments expanded (`EXO_MAX_FIELDS`).
    pub max_fields: usize,
    /// Fragment spreads after expansion: a fragment spread twice counts twice, and so does
    /// every spread inside it (`EXO_MAX_FRAGMENT_SPREADS`).
    pub max_fragment_spreads: usize,
}

impl Default for OperationLimits {
    fn default() -> Self {
        OperationLimits {
            max_root_fields: 64,
            max_fields_per_selection: 256,
            max_fields: 2_000,
            max_fragment_spreads: 500,
        }
    }
}

impl OperationLimits {
    /// For documents the server's owner wrote (trusted documents, planned at build time):
    /// far above any real document, but a fragment bomb still ends with an error instead of
    /// a build that never finishes.
    pub const TRUSTED: OperationLimits = OperationLimits {
        max_root_fields: 10_000,
        max_fields_per_selection: 10_000,
        max_fields: 1_000_000,
        max_fragment_spreads: 1_000_000,
    };
}

/// What one validation has counted so far. The first bound crossed ends the walk with one
/// error; later counts are not taken.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    fields: usize,
    spreads: usize,
    exceeded: Option<GqlError>,
}

impl Counter {
    /// Whether the walk should stop.
    pub(crate) fn stopped(&self) -> bool {
        self.exceeded.is_some()
    }

    pub(crate) fn take_error(&mut self) -> Option<GqlError> {
        self.exceeded.take()
    }

    /// Counts one field at `pos`, the `in_set`-th of its selection set (1-based), `root` when
    /// that set is the operation's own. Returns false once a bound is crossed.
    pub(crate) fn field(&mut self, limits: &OperationLimits, in_set: usize, root: bool, pos: Pos) -> bool {
        if self.stopped() {
            return false;
        }
        self.fields += 1;
        let (set_max, what, var) = if root {
            (limits.max_root_fields, "root fields", "EXO_MAX_ROOT_FIELDS")
        } else {
            (limits.max_fields_per_selection, "fields in one selection set", "EXO_MAX_FIELDS_PER_SELECTION")
        };
        if in_set > set_max {
            self.exceed(
                format!("The operation has more than {set_max} {what} (aliases and fragments included; `{var}`)"),
                pos,
            );
        } else if self.fields > limits.max_fields {
            self.exceed(
                format!(
                    "The operation has more than {} fields in all (aliases and fragments included; `EXO_MAX_FIELDS`)",
                    limits.max_fields
                ),
                pos,
            );
        }
        !self.stopped()
    }

    /// Counts one fragment spread about to be expanded. Returns false once a bound is crossed.
    pub(crate) fn spread(&mut self, limits: &OperationLimits, pos: Pos) -> bool {
        if self.stopped() {
            return false;
        }
        self.spreads += 1;
        if self.spreads > limits.max_fragment_spreads {
            self.exceed(
                format!(
                    "The operation expands more than {} fragment spreads (`EXO_MAX_FRAGMENT_SPREADS`)",
                    limits.max_fragment_spreads
                ),
                pos,
            );
        }
        !self.stopped()
    }

    fn exceed(&mut self, message: String, pos: Pos) {
        self.exceeded = Some(GqlError::at(message, pos));
    }
}
