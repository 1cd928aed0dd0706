//! The syntax tree of an executable document, borrowing from the source text.
//!
//! Every node that a later error may point at carries the [`Pos`] of its first token.
//! Equality is derived and so includes positions; compare sub-trees parsed from the same
//! text, or compare fields.

use std::borrow::Cow;

use super::Pos;

/// A parsed document. Operations and fragments are each kept in source order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Document<'a> {
    pub operations: Vec<OperationDefinition<'a>>,
    pub fragments: Vec<FragmentDefinition<'a>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperationKind {
    Query,
    Mutation,
    Subscription,
}

impl OperationKind {
    /// The keyword as written in a document.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Query => "query",
            OperationKind::Mutation => "mutation",
            OperationKind::Subscription => "subscription",
        }
    }
}

/// An operation. The shorthand `{ ... }` is a query with no name, variables or directives;
/// its `pos` is that of the `{`.
#[derive(Clone, Debug, PartialEq)]
pub struct OperationDefinition<'a> {
    pub kind: OperationKind,
    pub name: Option<Name<'a>>,
    pub variables: Vec<VariableDefinition<'a>>,
    pub directives: Vec<Directive<'a>>,
    pub selection_set: Vec<Selection<'a>>,
    pub pos: Pos,
}

/// `fragment name on type_condition @directives { ... }`; `pos` is that of `fragment`.
#[derive(Clone, Debug, PartialEq)]
pub struct FragmentDefinition<'a> {
    pub name: Name<'a>,
    pub type_condition: Name<'a>,
    pub directives: Vec<Directive<'a>>,
    pub selection_set: Vec<Selection<'a>>,
    pub pos: Pos,
}

/// `$name: ty = default @directives`; `pos` is that of the `$`, `name` excludes it.
#[derive(Clone, Debug, PartialEq)]
pub struct VariableDefinition<'a> {
    pub name: Name<'a>,
    pub ty: Type<'a>,
    /// A constant value: it contains no variables.
    pub default: Option<Value<'a>>,
    /// Directive arguments here are constant values too.
    pub directives: Vec<Directive<'a>>,
    pub pos: Pos,
}

/// A type reference such as `[ID!]!`.
#[derive(Clone, Debug, PartialEq)]
pub enum Type<'a> {
    Named(Name<'a>),
    List(Box<Type<'a>>),
    NonNull(Box<Type<'a>>),
}

impl<'a> Type<'a> {
    /// The named type at the bottom of the wrappers: `ID` for `[ID!]!`.
    pub fn innermost(&self) -> &Name<'a> {
        let mut ty = self;
        loop {
            match ty {
                Type::Named(name) => return name,
                Type::List(inner) | Type::NonNull(inner) => ty = inner,
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Selection<'a> {
    Field(Field<'a>),
    FragmentSpread(FragmentSpread<'a>),
    InlineFragment(InlineFragment<'a>),
}

impl Selection<'_> {
    pub fn pos(&self) -> Pos {
        match self {
            Selection::Field(field) => field.pos,
            Selection::FragmentSpread(spread) => spread.pos,
            Selection::InlineFragment(inline) => inline.pos,
        }
    }
}

/// `alias: name(arguments) @directives { selection_set }`; `pos` is that of the first
/// name (the alias if there is one). A leaf field has an empty `selection_set`, since the
/// grammar forbids an empty `{}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Field<'a> {
    pub alias: Option<Name<'a>>,
    pub name: Name<'a>,
    pub arguments: Vec<(Name<'a>, Value<'a>)>,
    pub directives: Vec<Directive<'a>>,
    pub selection_set: Vec<Selection<'a>>,
    pub pos: Pos,
}

impl<'a> Field<'a> {
    /// The key of this field in the response: the alias if present, else the name.
    pub fn response_key(&self) -> &'a str {
        self.alias.as_ref().unwrap_or(&self.name).value
    }
}

/// `...name @directives`; `pos` is that of the `...`.
#[derive(Clone, Debug, PartialEq)]
pub struct FragmentSpread<'a> {
    pub name: Name<'a>,
    pub directives: Vec<Directive<'a>>,
    pub pos: Pos,
}

/// `... on type_condition @directives { selection_set }`, the type condition optional;
/// `pos` is that of the `...`.
#[derive(Clone, Debug, PartialEq)]
pub struct InlineFragment<'a> {
    pub type_condition: Option<Name<'a>>,
    pub directives: Vec<Directive<'a>>,
    pub selection_set: Vec<Selection<'a>>,
    pub pos: Pos,
}

/// `@name(arguments)`; `pos` is that of the `@`.
#[derive(Clone, Debug, PartialEq)]
pub struct Directive<'a> {
    pub name: Name<'a>,
    pub arguments: Vec<(Name<'a>, Value<'a>)>,
    pub pos: Pos,
}

/// A name, borrowed from the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Name<'a> {
    pub value: &'a str,
    pub pos: Pos,
}

/// A value literal and the position of its first token.
///
/// The position sits beside the kind rather than in every variant so that matching on the
/// kind stays short; list items and object fields each have their own.
#[derive(Clone, Debug, PartialEq)]
pub struct Value<'a> {
    pub kind: ValueKind<'a>,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ValueKind<'a> {
    /// `$name`; the name's position is after the `$`, the value's is at it.
    Variable(Name<'a>),
    /// `raw` is the literal as written (`-12`); `value` is `None` when it does not fit an
    /// `i64`, which is left for input coercion to report (GraphQL `Int` is 32-bit anyway).
    Int {
        raw: &'a str,
        value: Option<i64>,
    },
    /// `raw` is the literal as written; `value` may be infinite for literals like `1e999`.
    Float {
        raw: &'a str,
        value: f64,
    },
    /// The string's value after escapes and, for block strings, indentation removal.
    String(Cow<'a, str>),
    Boolean(bool),
    Null,
    /// Any name other than `true`, `false` and `null`.
    Enum(Name<'a>),
    List(Vec<Value<'a>>),
    Object(Vec<(Name<'a>, Value<'a>)>),
}
