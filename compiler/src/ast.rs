//! Syntax tree of `.exo` files: what the parser produces and the typechecker consumes.
//!
//! Every node carries a [`Span`]. Equality ignores spans (see [`Span`]'s
//! `PartialEq`), so tests can compare trees built by hand with parsed ones.
//! The tree keeps what was written and nothing more: no names are resolved
//! and no annotation is interpreted here.

use std::fmt;

/// Identifies one loaded source file inside a [`crate::source::SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A byte range in one source file.
///
/// `PartialEq` deliberately always returns `true`: two syntax trees are equal
/// when they say the same thing, wherever it was written. Use
/// [`Span::same_location`] when the location itself matters.
#[derive(Clone, Copy)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: u32, end: u32) -> Span {
        Span { file, start, end }
    }

    /// Structural equality, including the position.
    pub fn same_location(&self, other: &Span) -> bool {
        self.file == other.file && self.start == other.start && self.end == other.end
    }

    pub fn len(&self) -> u32 {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The smallest span covering both `self` and `other` (same file assumed).
    pub fn to(&self, other: Span) -> Span {
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

impl PartialEq for Span {
    fn eq(&self, _other: &Span) -> bool {
        true
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}..{}", self.file.0, self.start, self.end)
    }
}

/// A name as written, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

impl Ident {
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// One parsed `.exo` file.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub id: FileId,
    /// The path the file was loaded from (or the name given to `parse_str`).
    pub path: String,
    /// `import "x"` targets exactly as written, with the span of the string.
    pub imports: Vec<Import>,
    /// Declaration doc comments (`//!`, `/*! */`), in order; they make up the
    /// schema description.
    pub decl_docs: Vec<String>,
    pub contexts: Vec<Context>,
    pub modules: Vec<Module>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    pub path: String,
    pub span: Span,
}

/// `context AuthContext { @jwt("sub") id: Int }`
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub doc: Option<String>,
    pub annotations: Vec<Annotation>,
    pub name: Ident,
    pub fields: Vec<Field>,
    /// `...Fragment` spreads; accepted by the grammar, rejected later.
    pub fragment_refs: Vec<Ident>,
    pub span: Span,
}

/// What a module's annotations say it is. Derived, not stored by the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    Postgres,
    Deno,
    Wasm,
    /// No (or several, or unknown) plugin annotations; the typechecker reports it.
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Module {
    pub doc: Option<String>,
    pub annotations: Vec<Annotation>,
    pub name: Ident,
    pub types: Vec<TypeDecl>,
    pub fragments: Vec<FragmentDecl>,
    pub enums: Vec<EnumDecl>,
    pub methods: Vec<Method>,
    pub interceptors: Vec<Interceptor>,
    pub span: Span,
}

impl Module {
    /// The kind named by the single `@postgres`, `@deno` or `@wasm` annotation.
    pub fn kind(&self) -> ModuleKind {
        let mut kinds = self.annotations.iter().filter_map(|a| match a.name.as_str() {
            "postgres" => Some(ModuleKind::Postgres),
            "deno" => Some(ModuleKind::Deno),
            "wasm" => Some(ModuleKind::Wasm),
            _ => None,
        });
        match (kinds.next(), kinds.next()) {
            (Some(kind), None) => kind,
            _ => ModuleKind::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeDecl {
    pub doc: Option<String>,
    pub annotations: Vec<Annotation>,
    pub name: Ident,
    pub fields: Vec<Field>,
    /// `...Fragment` spreads, in order of appearance.
    pub fragment_refs: Vec<Ident>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FragmentDecl {
    pub doc: Option<String>,
    pub annotations: Vec<Annotation>,
    pub name: Ident,
    pub fields: Vec<Field>,
    /// Fragments may include other fragments.
    pub fragment_refs: Vec<Ident>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnumDecl {
    pub doc: Option<String>,
    pub annotations: Vec<Annotation>,
    pub name: Ident,
    pub variants: Vec<EnumVariant>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnumVariant {
    pub doc: Option<String>,
    pub name: Ident,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodKind {
    Query,
    Mutation,
}

/// `export? query|mutation name(args): Type` in a Deno/Wasm module.
#[derive(Debug, Clone, PartialEq)]
pub struct Method {
    pub doc: Option<String>,
    pub annotations: Vec<Annotation>,
    pub exported: bool,
    pub kind: MethodKind,
    pub name: Ident,
    pub arguments: Vec<Argument>,
    pub return_type: TypeExpr,
    pub span: Span,
}

/// `interceptor name(args)` in a Deno module.
#[derive(Debug, Clone, PartialEq)]
pub struct Interceptor {
    pub doc: Option<String>,
    pub annotations: Vec<Annotation>,
    pub name: Ident,
    pub arguments: Vec<Argument>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Argument {
    pub annotations: Vec<Annotation>,
    pub name: Ident,
    pub ty: TypeExpr,
    pub span: Span,
}

/// `annotations* name: Type (= default)?`
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub doc: Option<String>,
    pub annotations: Vec<Annotation>,
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<DefaultExpr>,
    pub span: Span,
}

/// A field or argument type: `T`, `M.T`, `Set<T>`, `Array<Array<T>>`, `T?`.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeExpr {
    Named {
        /// The qualifier in `Module.Type`.
        module: Option<Ident>,
        name: Ident,
        params: Vec<TypeExpr>,
        span: Span,
    },
    Optional {
        inner: Box<TypeExpr>,
        span: Span,
    },
}

impl TypeExpr {
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Named { span, .. } | TypeExpr::Optional { span, .. } => *span,
        }
    }
}

impl fmt::Display for TypeExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeExpr::Named { module, name, params, .. } => {
                if let Some(module) = module {
                    write!(f, "{module}.")?;
                }
                f.write_str(&name.name)?;
                if !params.is_empty() {
                    f.write_str("<")?;
                    for (i, p) in params.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{p}")?;
                    }
                    f.write_str(">")?;
                }
                Ok(())
            }
            TypeExpr::Optional { inner, .. } => write!(f, "{inner}?"),
        }
    }
}

/// The right-hand side of `field: T = ...`.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultExpr {
    Literal(Literal),
    /// A bare name, normally an enum variant: `= MEDIUM`.
    Ident(Ident),
    /// A dotted path of two or more names: `= AuthContext.id`.
    Selection {
        path: Vec<Ident>,
        span: Span,
    },
    /// `autoIncrement()`, `autoIncrement("schema.seq")`, `now()`, ...
    Call {
        name: Ident,
        args: Vec<Literal>,
        span: Span,
    },
}

impl DefaultExpr {
    pub fn span(&self) -> Span {
        match self {
            DefaultExpr::Literal(l) => l.span,
            DefaultExpr::Ident(i) => i.span,
            DefaultExpr::Selection { span, .. } | DefaultExpr::Call { span, .. } => *span,
        }
    }
}

/// `@name`, `@name(e1, e2)` or `@name(k = v, ...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub name: Ident,
    pub params: AnnotationParams,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AnnotationParams {
    /// `@pk` or `@pk()`.
    None,
    Positional(Vec<Expr>),
    Named(Vec<NamedParam>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct NamedParam {
    pub name: Ident,
    pub value: AnnotationValue,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AnnotationValue {
    Expr(Expr),
    /// `{a: "x", "b": 1}`: keys as written (unquoted), values literal.
    Object {
        pairs: Vec<(String, Literal)>,
        span: Span,
    },
    /// `[/basic, user/basic, name]`
    Projection {
        atoms: Vec<ProjectionAtom>,
        span: Span,
    },
}

impl AnnotationValue {
    pub fn span(&self) -> Span {
        match self {
            AnnotationValue::Expr(e) => e.span(),
            AnnotationValue::Object { span, .. } | AnnotationValue::Projection { span, .. } => *span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProjectionAtom {
    /// `/basic`: a named projection of the annotated type itself.
    OwnProjection(Ident),
    /// `user/basic`: a named projection of the type a relation field points to.
    RelationProjection { field: Ident, projection: Ident },
    /// `name`: a single field.
    Field(Ident),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    In,
}

impl BinOp {
    pub fn as_str(&self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Neq => "!=",
            BinOp::Lt => "<",
            BinOp::Lte => "<=",
            BinOp::Gt => ">",
            BinOp::Gte => ">=",
            BinOp::In => "in",
        }
    }
}

/// An access-control (or annotation argument) expression. Parentheses are
/// not kept: the tree shape already says how operands group.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Literal),
    /// `self.a.b`, `AuthContext.role`, a lambda parameter `p`.
    Path {
        path: Vec<Ident>,
        span: Span,
    },
    /// `receiver.method(args)`, e.g. `self.items.some(i => ...)`.
    Call {
        receiver: Vec<Ident>,
        method: Ident,
        args: CallArgs,
        span: Span,
    },
    Not {
        operand: Box<Expr>,
        span: Span,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        span: Span,
    },
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Literal(l) => l.span,
            Expr::Path { span, .. } | Expr::Call { span, .. } | Expr::Not { span, .. } | Expr::Binary { span, .. } => {
                *span
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CallArgs {
    /// `x => body` or `(x) => body`.
    Lambda { param: Ident, body: Box<Expr> },
    /// `("ADMIN")`, or `()` as an empty list.
    Literals(Vec<Literal>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    pub value: LiteralValue,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LiteralValue {
    /// Unescaped contents.
    Str(String),
    /// The number exactly as written (`-1.5e3`); interpretation depends on the
    /// field type, so it is left to the typechecker.
    Number(String),
    Bool(bool),
    Null,
}
