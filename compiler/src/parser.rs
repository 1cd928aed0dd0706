//! Parse stage: `&str -> ast::File`.
//!
//! This is the only module that sees pest's `Pair`s. It has one function per
//! grammar rule, each turning a pair into an AST node with its span. Syntax
//! errors become a single [`Diagnostic`] with code `exo::syntax`, a message in
//! plain words ("expected a field name or `}`, found `:`") and a label at the
//! error position.

use std::cell::Cell;
use std::sync::OnceLock;

use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser as _;

use crate::ast::{
    Annotation, AnnotationParams, AnnotationValue, Argument, BinOp, CallArgs, Context, DefaultExpr, EnumDecl,
    EnumVariant, Expr, Field, File, FileId, FragmentDecl, Ident, Import, Interceptor, Literal, LiteralValue, Method,
    MethodKind, Module, NamedParam, ProjectionAtom, Span, TypeDecl, TypeExpr,
};
use crate::diag::Diagnostic;

mod grammar {
    //! The pest-generated parser, kept private so `Rule` stays out of the API.
    #[derive(pest_derive::Parser)]
    #[grammar = "grammar.pest"]
    pub struct ExoParser;
}

use grammar::{ExoParser, Rule};

/// How deeply expressions and types may nest. Deeper input is rejected with a
/// diagnostic instead of risking the stack while building or dropping the tree.
const MAX_DEPTH: u32 = 128;

type Result<T> = std::result::Result<T, Diagnostic>;

/// Parses one file. `file` is stamped on every span.
///
/// The returned [`File::path`] is empty; callers that know the path set it.
pub fn parse_file(file: FileId, src: &str) -> Result<File> {
    // Detailed attempts make the "expected ..." list name literal tokens such
    // as `}` instead of only rule names. It is a process-wide pest switch
    // that costs time on every parse, so it is turned on only once some parse
    // has failed (and then stays on: turning it off could race with another
    // thread's error path).
    let pairs = match ExoParser::parse(Rule::file, src) {
        Ok(pairs) => pairs,
        Err(_) => {
            pest::set_error_detail(true);
            match ExoParser::parse(Rule::file, src) {
                Ok(pairs) => pairs,
                Err(err) => return Err(syntax_error(file, src, &err)),
            }
        }
    };
    let docs = pairs
        .clone()
        .flatten()
        .filter_map(|p| {
            let text = match p.as_rule() {
                Rule::doc_line => line_doc_text(&p),
                Rule::doc_block => block_doc_text(&p),
                _ => return None,
            };
            let span = p.as_span();
            Some(DocComment { end: span.end(), text })
        })
        .collect();
    let builder = Builder { file, src, docs, depth: Cell::new(0) };
    builder.file(pairs)
}

struct Builder<'s> {
    file: FileId,
    src: &'s str,
    /// Every element doc comment (`///`, `/** */`) in source order.
    docs: Vec<DocComment>,
    depth: Cell<u32>,
}

struct DocComment {
    end: usize,
    text: String,
}

/// Children of a pair, without doc-comment pairs (which can appear anywhere
/// a comment can) and keyword pairs.
fn children<'i>(pair: &Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
    pair.clone().into_inner().filter(|p| !is_doc(p.as_rule()) && !is_keyword(p.as_rule()))
}

fn is_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_import
            | Rule::kw_context
            | Rule::kw_module
            | Rule::kw_type
            | Rule::kw_fragment
            | Rule::kw_enum
            | Rule::kw_interceptor
    )
}

fn is_doc(rule: Rule) -> bool {
    matches!(rule, Rule::doc_line | Rule::doc_block | Rule::decl_doc_line | Rule::decl_doc_block)
}

fn internal(what: &str) -> Diagnostic {
    Diagnostic::error("exo::internal", format!("internal parser error: unexpected shape of {what}"))
}

/// The offset of the first character at or after `pos` that is neither
/// whitespace nor inside a comment (or `src.len()`).
fn skip_trivia(src: &str, mut pos: usize) -> usize {
    let bytes = src.as_bytes();
    while pos < bytes.len() {
        match bytes[pos] {
            b' ' | b'\t' | b'\r' | b'\n' => pos += 1,
            b'/' if bytes.get(pos + 1) == Some(&b'/') => {
                pos = src[pos..].find('\n').map_or(bytes.len(), |i| pos + i);
            }
            b'/' if bytes.get(pos + 1) == Some(&b'*') => {
                pos = src[pos + 2..].find("*/").map_or(bytes.len(), |i| pos + 2 + i + 2);
            }
            _ if src[pos..].starts_with('\u{FEFF}') => pos += '\u{FEFF}'.len_utf8(),
            _ => break,
        }
    }
    pos
}

fn doc_body<'i>(pair: &Pair<'i, Rule>) -> &'i str {
    pair.clone().into_inner().next().map(|p| p.as_str()).unwrap_or("")
}

/// `/// text` -> `text` (one leading space removed, trailing space trimmed).
fn line_doc_text(pair: &Pair<'_, Rule>) -> String {
    let body = doc_body(pair);
    body.strip_prefix(' ').unwrap_or(body).trim_end().to_string()
}

/// `/** ... */` -> its lines without the leading ` * ` decoration and
/// without blank first and last lines.
fn block_doc_text(pair: &Pair<'_, Rule>) -> String {
    let lines: Vec<&str> = doc_body(pair)
        .lines()
        .map(|line| {
            let line = line.trim();
            let line = line.strip_prefix('*').unwrap_or(line);
            line.strip_prefix(' ').unwrap_or(line).trim_end()
        })
        .collect();
    let start = lines.iter().position(|l| !l.is_empty()).unwrap_or(lines.len());
    let end = lines.iter().rposition(|l| !l.is_empty()).map_or(start, |i| i + 1);
    lines[start..end].join("\n")
}

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::or, Assoc::Left))
            .op(Op::infix(Rule::and, Assoc::Left))
            .op(Op::infix(Rule::eq, Assoc::Left)
                | Op::infix(Rule::neq, Assoc::Left)
                | Op::infix(Rule::lt, Assoc::Left)
                | Op::infix(Rule::lte, Assoc::Left)
                | Op::infix(Rule::gt, Assoc::Left)
                | Op::infix(Rule::gte, Assoc::Left)
                | Op::infix(Rule::in_op, Assoc::Left))
            .op(Op::prefix(Rule::not))
    })
}

impl Builder<'_> {
    /// The pair's span without trailing whitespace and comments.
    ///
    /// pest includes the implicit skip before a trailing optional part that
    /// did not match (`;`?, `?`, `= default`), so a pair may end with trivia;
    /// users should see only the text of the element.
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        let (start, end) = (s.start(), s.end());
        // The last child may itself end with trivia, hence the recursion (along
        // the last-child chain only).
        let mut real_end = children(pair).last().map_or(start, |p| self.span(&p).end as usize);
        let mut pos = real_end;
        while pos < end {
            pos = skip_trivia(self.src, pos);
            if pos >= end {
                break;
            }
            let len = self.src[pos..].chars().next().map_or(1, char::len_utf8);
            pos += len;
            real_end = pos;
        }
        Span::new(self.file, start as u32, real_end.min(end) as u32)
    }

    fn ident(&self, pair: &Pair<'_, Rule>) -> Ident {
        Ident { name: pair.as_str().to_string(), span: self.span(pair) }
    }

    /// The doc comments directly before `pos`, with only whitespace and
    /// plain comments in between, joined by newlines.
    fn doc_before(&self, pos: usize) -> Option<String> {
        let mut k = self.docs.partition_point(|d| d.end <= pos);
        let mut parts = Vec::new();
        while k > 0 && skip_trivia(self.src, self.docs[k - 1].end) == pos {
            parts.push(self.docs[k - 1].text.as_str());
            k -= 1;
        }
        if parts.is_empty() {
            return None;
        }
        parts.reverse();
        Some(parts.join("\n"))
    }

    /// Docs of an element starting at `pair`; a doc written between the
    /// annotations and the keyword (`@access(true) /// x  type T`) counts too.
    fn element_doc(&self, pair: &Pair<'_, Rule>) -> Option<String> {
        let before = self.doc_before(pair.as_span().start());
        let after_annotations = children(pair)
            .find(|p| p.as_rule() != Rule::annotation)
            .filter(|p| p.as_span().start() != pair.as_span().start())
            .and_then(|p| {
                // Keyword pairs are filtered by `children`; look at the raw start.
                let start = pair
                    .clone()
                    .into_inner()
                    .find(|c| c.as_rule() != Rule::annotation && !is_doc(c.as_rule()))
                    .map_or(p.as_span().start(), |c| c.as_span().start());
                self.doc_before(start)
            });
        match (before, after_annotations) {
            (Some(a), Some(b)) => Some(format!("{a}\n{b}")),
            (a, b) => a.or(b),
        }
    }

    /// Guards recursion; `f` runs one level deeper.
    fn nested<T>(&self, span: Span, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let depth = self.depth.get() + 1;
        if depth > MAX_DEPTH {
            return Err(Diagnostic::error(
                "exo::syntax::too_deep",
                format!("nesting is too deep (more than {MAX_DEPTH} levels)"),
            )
            .with_primary(span, "nested too deeply here"));
        }
        self.depth.set(depth);
        let result = f();
        self.depth.set(depth - 1);
        result
    }

    // ------------------------------------------------------------ top level

    fn file(&self, mut pairs: Pairs<'_, Rule>) -> Result<File> {
        let file_pair = pairs.next().ok_or_else(|| internal("file"))?;
        let mut out = File {
            id: self.file,
            path: String::new(),
            imports: Vec::new(),
            decl_docs: Vec::new(),
            contexts: Vec::new(),
            modules: Vec::new(),
        };
        // Consecutive `//!` lines form one description paragraph.
        let mut last_was_decl_line = false;
        for pair in file_pair.into_inner() {
            let rule = pair.as_rule();
            match rule {
                Rule::decl_doc_line => {
                    let text = line_doc_text(&pair);
                    match out.decl_docs.last_mut() {
                        Some(last) if last_was_decl_line => {
                            last.push('\n');
                            last.push_str(&text);
                        }
                        _ => out.decl_docs.push(text),
                    }
                }
                Rule::decl_doc_block => out.decl_docs.push(block_doc_text(&pair)),
                Rule::import => out.imports.push(self.import(&pair)?),
                Rule::annotated_decl => self.annotated_decl(&pair, &mut out)?,
                Rule::doc_line | Rule::doc_block | Rule::EOI => {}
                _ => return Err(internal("a declaration")),
            }
            last_was_decl_line = rule == Rule::decl_doc_line;
        }
        Ok(out)
    }

    fn import(&self, pair: &Pair<'_, Rule>) -> Result<Import> {
        let string = children(pair).next().ok_or_else(|| internal("import"))?;
        Ok(Import { path: unescape(string_inner(&string)), span: self.span(&string) })
    }

    /// Splits the leading annotations from the declaration they belong to.
    fn annotations_then<'i>(&self, pair: &Pair<'i, Rule>) -> Result<(Vec<Annotation>, Pair<'i, Rule>)> {
        let mut annotations = Vec::new();
        for child in children(pair) {
            if child.as_rule() == Rule::annotation {
                annotations.push(self.annotation(&child)?);
            } else {
                return Ok((annotations, child));
            }
        }
        Err(internal("an annotated declaration"))
    }

    fn annotated_decl(&self, pair: &Pair<'_, Rule>, out: &mut File) -> Result<()> {
        let doc = self.element_doc(pair);
        let (annotations, decl) = self.annotations_then(pair)?;
        let span = self.span(pair);
        match decl.as_rule() {
            Rule::context => out.contexts.push(self.context(&decl, doc, annotations, span)?),
            Rule::module => out.modules.push(self.module(&decl, doc, annotations, span)?),
            _ => return Err(internal("a declaration")),
        }
        Ok(())
    }

    fn context(
        &self,
        pair: &Pair<'_, Rule>,
        doc: Option<String>,
        annotations: Vec<Annotation>,
        span: Span,
    ) -> Result<Context> {
        let name = self.first_ident(pair, "a context")?;
        let (fields, fragment_refs) = self.type_body(pair)?;
        Ok(Context { doc, annotations, name, fields, fragment_refs, span })
    }

    fn module(
        &self,
        pair: &Pair<'_, Rule>,
        doc: Option<String>,
        annotations: Vec<Annotation>,
        span: Span,
    ) -> Result<Module> {
        let mut module = Module {
            doc,
            annotations,
            name: self.first_ident(pair, "a module")?,
            types: Vec::new(),
            fragments: Vec::new(),
            enums: Vec::new(),
            methods: Vec::new(),
            interceptors: Vec::new(),
            span,
        };
        for child in children(pair) {
            match child.as_rule() {
                Rule::ident => {}
                Rule::module_item => self.module_item(&child, &mut module)?,
                _ => return Err(internal("a module")),
            }
        }
        Ok(module)
    }

    fn module_item(&self, pair: &Pair<'_, Rule>, module: &mut Module) -> Result<()> {
        let doc = self.element_doc(pair);
        let (annotations, item) = self.annotations_then(pair)?;
        let span = self.span(pair);
        match item.as_rule() {
            Rule::type_decl => module.types.push(self.type_decl(&item, doc, annotations, span)?),
            Rule::fragment_decl => module.fragments.push(self.fragment_decl(&item, doc, annotations, span)?),
            Rule::enum_decl => module.enums.push(self.enum_decl(&item, doc, annotations, span)?),
            Rule::method => module.methods.push(self.method(&item, doc, annotations, span)?),
            Rule::interceptor => module.interceptors.push(self.interceptor(&item, doc, annotations, span)?),
            _ => return Err(internal("a module item")),
        }
        Ok(())
    }

    fn first_ident(&self, pair: &Pair<'_, Rule>, what: &str) -> Result<Ident> {
        children(pair).find(|p| p.as_rule() == Rule::ident).map(|p| self.ident(&p)).ok_or_else(|| internal(what))
    }

    fn type_decl(
        &self,
        pair: &Pair<'_, Rule>,
        doc: Option<String>,
        annotations: Vec<Annotation>,
        span: Span,
    ) -> Result<TypeDecl> {
        let name = self.first_ident(pair, "a type")?;
        let (fields, fragment_refs) = self.type_body(pair)?;
        Ok(TypeDecl { doc, annotations, name, fields, fragment_refs, span })
    }

    /// Fields and `...Fragment` spreads of a type, context or fragment body.
    fn type_body(&self, pair: &Pair<'_, Rule>) -> Result<(Vec<Field>, Vec<Ident>)> {
        let mut fields = Vec::new();
        let mut refs = Vec::new();
        for child in children(pair) {
            match child.as_rule() {
                Rule::field => fields.push(self.field(&child)?),
                Rule::fragment_ref => refs.push(self.first_ident(&child, "a fragment reference")?),
                Rule::ident => {}
                _ => return Err(internal("a type body")),
            }
        }
        Ok((fields, refs))
    }

    fn fragment_decl(
        &self,
        pair: &Pair<'_, Rule>,
        doc: Option<String>,
        annotations: Vec<Annotation>,
        span: Span,
    ) -> Result<FragmentDecl> {
        let name = self.first_ident(pair, "a fragment")?;
        let (fields, fragment_refs) = self.type_body(pair)?;
        Ok(FragmentDecl { doc, annotations, name, fields, fragment_refs, span })
    }

    fn enum_decl(
        &self,
        pair: &Pair<'_, Rule>,
        doc: Option<String>,
        annotations: Vec<Annotation>,
        span: Span,
    ) -> Result<EnumDecl> {
        let name = self.first_ident(pair, "an enum")?;
        let mut variants = Vec::new();
        for child in children(pair) {
            match child.as_rule() {
                Rule::enum_variant => {
                    let ident = children(&child).next().ok_or_else(|| internal("an enum variant"))?;
                    variants
                        .push(EnumVariant { doc: self.doc_before(child.as_span().start()), name: self.ident(&ident) });
                }
                Rule::ident => {}
                _ => return Err(internal("an enum")),
            }
        }
        Ok(EnumDecl { doc, annotations, name, variants, span })
    }

    fn method(
        &self,
        pair: &Pair<'_, Rule>,
        doc: Option<String>,
        annotations: Vec<Annotation>,
        span: Span,
    ) -> Result<Method> {
        let mut exported = false;
        let mut kind = MethodKind::Query;
        let mut name = None;
        let mut arguments = Vec::new();
        let mut return_type = None;
        for child in children(pair) {
            match child.as_rule() {
                Rule::export => exported = true,
                Rule::method_kind => {
                    kind = if child.as_str() == "mutation" { MethodKind::Mutation } else { MethodKind::Query }
                }
                Rule::ident => name = Some(self.ident(&child)),
                Rule::argument => arguments.push(self.argument(&child)?),
                Rule::type_expr => return_type = Some(self.type_expr(&child)?),
                _ => return Err(internal("a method")),
            }
        }
        Ok(Method {
            doc,
            annotations,
            exported,
            kind,
            name: name.ok_or_else(|| internal("a method name"))?,
            arguments,
            return_type: return_type.ok_or_else(|| internal("a method return type"))?,
            span,
        })
    }

    fn interceptor(
        &self,
        pair: &Pair<'_, Rule>,
        doc: Option<String>,
        annotations: Vec<Annotation>,
        span: Span,
    ) -> Result<Interceptor> {
        let name = self.first_ident(pair, "an interceptor")?;
        let arguments = children(pair)
            .filter(|p| p.as_rule() == Rule::argument)
            .map(|p| self.argument(&p))
            .collect::<Result<Vec<_>>>()?;
        Ok(Interceptor { doc, annotations, name, arguments, span })
    }

    fn argument(&self, pair: &Pair<'_, Rule>) -> Result<Argument> {
        let mut annotations = Vec::new();
        let mut name = None;
        let mut ty = None;
        for child in children(pair) {
            match child.as_rule() {
                Rule::annotation => annotations.push(self.annotation(&child)?),
                Rule::ident => name = Some(self.ident(&child)),
                Rule::type_expr => ty = Some(self.type_expr(&child)?),
                _ => return Err(internal("an argument")),
            }
        }
        Ok(Argument {
            annotations,
            name: name.ok_or_else(|| internal("an argument name"))?,
            ty: ty.ok_or_else(|| internal("an argument type"))?,
            span: self.span(pair),
        })
    }

    fn field(&self, pair: &Pair<'_, Rule>) -> Result<Field> {
        let doc = self.element_doc(pair);
        let mut annotations = Vec::new();
        let mut name = None;
        let mut ty = None;
        let mut default = None;
        for child in children(pair) {
            match child.as_rule() {
                Rule::annotation => annotations.push(self.annotation(&child)?),
                Rule::ident => name = Some(self.ident(&child)),
                Rule::type_expr => ty = Some(self.type_expr(&child)?),
                Rule::default_value => default = Some(self.default_value(&child)?),
                _ => return Err(internal("a field")),
            }
        }
        Ok(Field {
            doc,
            annotations,
            name: name.ok_or_else(|| internal("a field name"))?,
            ty: ty.ok_or_else(|| internal("a field type"))?,
            default,
            span: self.span(pair),
        })
    }

    // ------------------------------------------------------------ types

    fn type_expr(&self, pair: &Pair<'_, Rule>) -> Result<TypeExpr> {
        let span = self.span(pair);
        self.nested(span, || {
            let mut named = None;
            let mut params = Vec::new();
            let mut optional = false;
            for child in children(pair) {
                match child.as_rule() {
                    Rule::type_name => {
                        let idents: Vec<Ident> = children(&child).map(|p| self.ident(&p)).collect();
                        named = Some(match <[Ident; 2]>::try_from(idents) {
                            Ok([module, name]) => (Some(module), name),
                            Err(mut idents) => (None, idents.pop().ok_or_else(|| internal("a type name"))?),
                        });
                    }
                    Rule::type_params => {
                        for param in children(&child) {
                            params.push(self.type_expr(&param)?);
                        }
                    }
                    Rule::optional => optional = true,
                    _ => return Err(internal("a type")),
                }
            }
            let (module, name) = named.ok_or_else(|| internal("a type"))?;
            let named_span = if optional {
                // Everything but the trailing `?` (and any space before it).
                let text_end = children(pair)
                    .filter(|p| p.as_rule() != Rule::optional)
                    .map(|p| p.as_span().end() as u32)
                    .max()
                    .unwrap_or(span.end);
                Span::new(self.file, span.start, text_end)
            } else {
                span
            };
            let named = TypeExpr::Named { module, name, params, span: named_span };
            Ok(if optional { TypeExpr::Optional { inner: Box::new(named), span } } else { named })
        })
    }

    // ------------------------------------------------------------ defaults

    fn default_value(&self, pair: &Pair<'_, Rule>) -> Result<DefaultExpr> {
        let inner = children(pair).next().ok_or_else(|| internal("a default value"))?;
        let span = self.span(&inner);
        match inner.as_rule() {
            Rule::literal => Ok(DefaultExpr::Literal(self.literal(&inner)?)),
            Rule::default_call => {
                let mut parts = children(&inner);
                let name = self.ident(&parts.next().ok_or_else(|| internal("a default call"))?);
                let args = match parts.next() {
                    Some(list) => self.literal_list(&list)?,
                    None => Vec::new(),
                };
                Ok(DefaultExpr::Call { name, args, span })
            }
            Rule::path => {
                let mut path: Vec<Ident> = children(&inner).map(|p| self.ident(&p)).collect();
                if path.len() == 1 {
                    Ok(DefaultExpr::Ident(path.pop().ok_or_else(|| internal("a path"))?))
                } else {
                    Ok(DefaultExpr::Selection { path, span })
                }
            }
            _ => Err(internal("a default value")),
        }
    }

    fn literal_list(&self, pair: &Pair<'_, Rule>) -> Result<Vec<Literal>> {
        children(pair).map(|p| self.literal(&p)).collect()
    }

    // ------------------------------------------------------------ annotations

    fn annotation(&self, pair: &Pair<'_, Rule>) -> Result<Annotation> {
        let mut parts = children(pair);
        let name = self.ident(&parts.next().ok_or_else(|| internal("an annotation"))?);
        let params = match parts.next() {
            None => AnnotationParams::None,
            Some(params) => match params.as_rule() {
                Rule::positional_params => {
                    AnnotationParams::Positional(children(&params).map(|p| self.expr(&p)).collect::<Result<Vec<_>>>()?)
                }
                Rule::named_params => AnnotationParams::Named(
                    children(&params).map(|p| self.named_param(&p)).collect::<Result<Vec<_>>>()?,
                ),
                _ => return Err(internal("annotation parameters")),
            },
        };
        Ok(Annotation { name, params, span: self.span(pair) })
    }

    fn named_param(&self, pair: &Pair<'_, Rule>) -> Result<NamedParam> {
        let mut parts = children(pair);
        let name = self.ident(&parts.next().ok_or_else(|| internal("a named parameter"))?);
        let value = parts.next().ok_or_else(|| internal("a named parameter value"))?;
        let value = match value.as_rule() {
            Rule::object_literal => self.object_literal(&value)?,
            Rule::projection => self.projection(&value)?,
            Rule::expr => AnnotationValue::Expr(self.expr(&value)?),
            _ => return Err(internal("a named parameter value")),
        };
        Ok(NamedParam { name, value, span: self.span(pair) })
    }

    fn object_literal(&self, pair: &Pair<'_, Rule>) -> Result<AnnotationValue> {
        let mut pairs = Vec::new();
        for entry in children(pair) {
            let mut parts = children(&entry);
            let key = parts.next().ok_or_else(|| internal("an object key"))?;
            let key = match key.as_rule() {
                Rule::string => unescape(string_inner(&key)),
                _ => key.as_str().to_string(),
            };
            let value = self.literal(&parts.next().ok_or_else(|| internal("an object value"))?)?;
            pairs.push((key, value));
        }
        Ok(AnnotationValue::Object { pairs, span: self.span(pair) })
    }

    fn projection(&self, pair: &Pair<'_, Rule>) -> Result<AnnotationValue> {
        let mut atoms = Vec::new();
        for atom in children(pair) {
            let inner = children(&atom).next().ok_or_else(|| internal("a projection element"))?;
            atoms.push(match inner.as_rule() {
                Rule::self_projection => ProjectionAtom::OwnProjection(self.first_ident(&inner, "a projection")?),
                Rule::relation_projection => {
                    let mut idents = children(&inner).map(|p| self.ident(&p));
                    match (idents.next(), idents.next()) {
                        (Some(field), Some(projection)) => ProjectionAtom::RelationProjection { field, projection },
                        _ => return Err(internal("a relation projection")),
                    }
                }
                Rule::ident => ProjectionAtom::Field(self.ident(&inner)),
                _ => return Err(internal("a projection element")),
            });
        }
        Ok(AnnotationValue::Projection { atoms, span: self.span(pair) })
    }

    // ------------------------------------------------------------ expressions

    fn expr(&self, pair: &Pair<'_, Rule>) -> Result<Expr> {
        let span = self.span(pair);
        self.nested(span, || {
            // Prefix operators recurse in the Pratt parser; bound them too.
            let nots = children(pair).filter(|p| p.as_rule() == Rule::not).count() as u32;
            if self.depth.get() + nots > MAX_DEPTH {
                return Err(Diagnostic::error(
                    "exo::syntax::too_deep",
                    format!("nesting is too deep (more than {MAX_DEPTH} levels)"),
                )
                .with_primary(span, "too many `!` here"));
            }
            pratt()
                .map_primary(|primary| self.primary(&primary))
                .map_prefix(|op, operand| {
                    let operand = operand?;
                    let span = self.span(&op).to(operand.span());
                    Ok(Expr::Not { operand: Box::new(operand), span })
                })
                .map_infix(|lhs, op, rhs| {
                    let (lhs, rhs) = (lhs?, rhs?);
                    let op = match op.as_rule() {
                        Rule::or => BinOp::Or,
                        Rule::and => BinOp::And,
                        Rule::eq => BinOp::Eq,
                        Rule::neq => BinOp::Neq,
                        Rule::lt => BinOp::Lt,
                        Rule::lte => BinOp::Lte,
                        Rule::gt => BinOp::Gt,
                        Rule::gte => BinOp::Gte,
                        Rule::in_op => BinOp::In,
                        _ => return Err(internal("an operator")),
                    };
                    let span = lhs.span().to(rhs.span());
                    Ok(Expr::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs), span })
                })
                .parse(children(pair))
        })
    }

    fn primary(&self, pair: &Pair<'_, Rule>) -> Result<Expr> {
        match pair.as_rule() {
            Rule::paren => {
                let inner = children(pair).next().ok_or_else(|| internal("parentheses"))?;
                self.expr(&inner)
            }
            Rule::literal => Ok(Expr::Literal(self.literal(pair)?)),
            Rule::selection => self.selection(pair),
            _ => Err(internal("an expression")),
        }
    }

    fn selection(&self, pair: &Pair<'_, Rule>) -> Result<Expr> {
        let span = self.span(pair);
        let mut path = Vec::new();
        for child in children(pair) {
            match child.as_rule() {
                Rule::ident => path.push(self.ident(&child)),
                Rule::method_call => {
                    let mut parts = children(&child);
                    let method = self.ident(&parts.next().ok_or_else(|| internal("a method call"))?);
                    let args = match parts.next() {
                        None => CallArgs::Literals(Vec::new()),
                        Some(args) if args.as_rule() == Rule::literal_list => {
                            CallArgs::Literals(self.literal_list(&args)?)
                        }
                        Some(args) => self.lambda(&args)?,
                    };
                    return Ok(Expr::Call { receiver: path, method, args, span });
                }
                _ => return Err(internal("a selection")),
            }
        }
        Ok(Expr::Path { path, span })
    }

    fn lambda(&self, pair: &Pair<'_, Rule>) -> Result<CallArgs> {
        let mut parts = children(pair);
        let param = self.ident(&parts.next().ok_or_else(|| internal("a lambda"))?);
        let body = self.expr(&parts.next().ok_or_else(|| internal("a lambda body"))?)?;
        Ok(CallArgs::Lambda { param, body: Box::new(body) })
    }

    // ------------------------------------------------------------ literals

    fn literal(&self, pair: &Pair<'_, Rule>) -> Result<Literal> {
        let inner = children(pair).next().ok_or_else(|| internal("a literal"))?;
        let value = match inner.as_rule() {
            Rule::string => LiteralValue::Str(unescape(string_inner(&inner))),
            Rule::number => LiteralValue::Number(inner.as_str().to_string()),
            Rule::boolean => LiteralValue::Bool(inner.as_str() == "true"),
            Rule::null => LiteralValue::Null,
            _ => return Err(internal("a literal")),
        };
        Ok(Literal { value, span: self.span(pair) })
    }
}

fn string_inner<'i>(pair: &Pair<'i, Rule>) -> &'i str {
    pair.clone().into_inner().next().map(|p| p.as_str()).unwrap_or("")
}

/// Resolves `\"`, `\\`, `\n`, `\t`, `\r`; any other escaped character stands
/// for itself.
fn unescape(raw: &str) -> String {
    if !raw.contains('\\') {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

// ---------------------------------------------------------------- syntax errors

fn syntax_error(file: FileId, src: &str, err: &pest::error::Error<Rule>) -> Diagnostic {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((start, _)) => start,
    }
    .min(src.len());
    let (found, found_len) = describe_found(src, pos);

    if let ErrorVariant::CustomError { message } = &err.variant {
        // pest reports its own limits (e.g. nesting depth) this way.
        return Diagnostic::error("exo::syntax", format!("cannot parse: {}", message.to_lowercase()))
            .with_primary(Span::new(file, pos as u32, (pos + found_len) as u32), "here");
    }

    let expected = expected_words(err, src, pos);
    let here = Span::new(file, pos as u32, (pos + found_len) as u32);
    if expected == ["`*/`"] {
        return Diagnostic::error("exo::syntax", "unterminated block comment")
            .with_primary(here, "comment starts here")
            .with_help("close it with `*/`");
    }
    if src[pos..].starts_with('"') && !closes_string(&src[pos + 1..]) {
        return Diagnostic::error("exo::syntax", "unterminated string literal")
            .with_primary(here, "string starts here")
            .with_help("close it with `\"`");
    }
    let listed = join_words(&expected);
    let (message, label) = if expected.is_empty() {
        (format!("unexpected {found}"), "unexpected here".to_string())
    } else {
        (format!("expected {listed}, found {found}"), format!("expected {listed}"))
    };
    let mut diag = Diagnostic::error("exo::syntax", message).with_primary(here, label);
    let expects = |w: &str| expected.iter().any(|e| e == w);
    let keyword = matches!(found.as_str(), "`type`" | "`enum`" | "`fragment`");
    if keyword && expects("`module`") {
        diag = diag.with_help(format!("{found} declarations belong inside a `module`"));
    } else if expects("`:`") && matches!(previous_word(src, pos), "type" | "enum" | "fragment") {
        // `type Venue` read as a field named `type`: most likely the previous
        // body was never closed.
        if let Some(open) = innermost_unclosed_brace(&src[..pos]) {
            diag = diag.with_secondary(Span::new(file, open as u32, open as u32 + 1), "this `{` is not closed");
        }
        diag = diag.with_help(format!("a new `{}` starts here; is a `}}` missing before it?", previous_word(src, pos)));
    } else if found == "end of file" && expects("`}`") {
        if let Some(open) = innermost_unclosed_brace(src) {
            diag = diag.with_secondary(Span::new(file, open as u32, open as u32 + 1), "this `{` is not closed");
        }
    } else if found == "`:`" && expects("`=`") {
        diag = diag.with_help("named annotation arguments use `=`, as in `query = true`");
    } else if found == "`context`" && expects("`type`") {
        diag = diag.with_help("`context` declarations belong at the top level of a file, outside any `module`");
    } else if let Some((field, annotation)) = trailing_annotation(&src[..pos]) {
        diag = diag.with_help(format!("annotations come before the field they annotate: write `{annotation} {field}`"));
    } else if let Some(help) = help_for(src, pos) {
        diag = diag.with_help(help);
    }
    diag
}

/// Whether `rest` (the text after an opening quote) contains the closing one.
fn closes_string(rest: &str) -> bool {
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return true,
            _ => {}
        }
    }
    false
}

/// The offset of the last `{` in `text` that has no matching `}`, skipping
/// strings and comments.
fn innermost_unclosed_brace(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut open = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 1;
            }
            b'{' => open.push(i),
            b'}' => {
                open.pop();
            }
            _ => {}
        }
        i += 1;
    }
    open.pop()
}

/// When the last line before the error is a field followed by an annotation (`ip: String
/// @clientIp`, the order of some old examples), that field and that annotation: the parser
/// took the annotation for the next field's and found no field after it.
fn trailing_annotation(before: &str) -> Option<(&str, &str)> {
    let line = before.trim_end().rsplit('\n').next()?.trim();
    let at = line.rfind('@')?;
    let (field, annotation) = (line[..at].trim_end(), &line[at..]);
    let name_end =
        annotation[1..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(annotation.len(), |i| i + 1);
    let rest = annotation[name_end..].trim();
    let annotation_ok = name_end > 1 && (rest.is_empty() || (rest.starts_with('(') && rest.ends_with(')')));
    let (name, ty) = field.split_once(':')?;
    let is_word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let ty_ok = !ty.trim().is_empty() && ty.trim().chars().all(|c| c.is_ascii_alphanumeric() || "_<>?, ".contains(c));
    (annotation_ok && is_word(name.trim()) && ty_ok && !name.contains('@')).then_some((field, annotation))
}

/// A hint for common mistakes recognisable from the text at the error.
fn help_for(src: &str, pos: usize) -> Option<String> {
    let rest = src.get(pos..)?;
    if rest.starts_with(',') {
        return Some("fields and enum variants are not separated by commas".to_string());
    }
    if rest.starts_with('[') {
        return Some("array literals are not supported; use `\"x\" in Context.field`".to_string());
    }
    None
}

/// What is at `pos`, in words, and how many bytes to underline.
fn describe_found(src: &str, pos: usize) -> (String, usize) {
    let rest = src.get(pos..).unwrap_or("");
    let Some(first) = rest.chars().next() else {
        return ("end of file".to_string(), 0);
    };
    if first.is_ascii_alphanumeric() || first == '_' {
        let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        return (format!("`{}`", &rest[..len]), len);
    }
    if first == '"' {
        return ("a string".to_string(), first.len_utf8());
    }
    if first.is_whitespace() {
        return ("whitespace".to_string(), first.len_utf8());
    }
    (format!("`{first}`"), first.len_utf8())
}

/// The things pest tried at the error position, in plain words.
///
/// pest's detailed attempts list the literal tokens tried (`}`, `:`, `@`, the
/// characters an identifier may start with, ...). Those are grouped back into
/// words ("a name", "a literal", "an expression", "an operator"), and "a name"
/// is made more specific from the token just before the error ("a type name"
/// after `type`).
fn expected_words(err: &pest::error::Error<Rule>, src: &str, pos: usize) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    if let Some(attempts) = err.parse_attempts() {
        // `ParsingToken` is not exported by pest; its `Display` is the token
        // text for literal strings and `a..z` for character ranges.
        tokens = attempts.expected_tokens().iter().map(|t| t.to_string()).collect();
    }
    let has = |t: &str| tokens.iter().any(|x| x == t);
    // Right after a name, the name characters pest tried only mean "the
    // name could have gone on"; that is not worth telling.
    let after_name =
        src.get(..pos).and_then(|b| b.chars().last()).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let name = !after_name && (has("a..z") || has("A..Z") || has("_"));
    let literal = has("\"") || has("true") || has("null");
    let expression = name && literal && has("!") && has("(");
    let operator = has("==") || has("&&") || has("||");

    let mut named: Vec<String> = Vec::new();
    if expression {
        named.push("an expression".to_string());
    } else {
        if name {
            named.push(name_word(src, pos).to_string());
        }
        if literal {
            named.push(literal_word(&tokens).to_string());
        }
    }
    if operator {
        named.push("an operator".to_string());
    }

    let mut literal_tokens: Vec<String> = Vec::new();
    for token in &tokens {
        let covered = match token.as_str() {
            // Skipped trivia, and the pieces of the groups above.
            "//" | "/*" | "///" | "/**" | "//!" | "/*!" | "\u{feff}" | " " | "\t" | "\r" | "\n" => true,
            "_" | "a..z" | "A..Z" | "0..9" | "\"" | "-" | "true" | "false" | "null" => true,
            "!" | "(" => expression,
            "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "&&" | "||" => operator,
            // Keywords are names too; listing them next to "a name" is noise.
            t if name && t.chars().all(|c| c.is_ascii_alphabetic()) => true,
            t if t.chars().count() == 4 && t.contains("..") => true,
            _ => false,
        };
        if !covered {
            let word = format!("`{token}`");
            if !literal_tokens.contains(&word) {
                literal_tokens.push(word);
            }
        }
    }
    literal_tokens.sort();
    if named.is_empty() && literal_tokens.is_empty() {
        // No detail available: fall back to pest's rule names.
        if let ErrorVariant::ParsingError { positives, .. } = &err.variant {
            for rule in positives {
                if let Some(word) = rule_word(*rule, None) {
                    let word = word.to_string();
                    if !named.contains(&word) {
                        named.push(word);
                    }
                }
            }
        }
    }
    named.extend(literal_tokens);
    named
}

fn literal_word(tokens: &[String]) -> &'static str {
    let has = |t: &str| tokens.iter().any(|x| x == t);
    match (has("\""), has("0..9"), has("true")) {
        (true, false, false) => "a string",
        (false, true, false) => "a number",
        _ => "a literal",
    }
}

/// The identifier-like word just before `pos` (possibly empty).
fn previous_word(src: &str, pos: usize) -> &str {
    let before = src.get(..pos).unwrap_or("").trim_end();
    // The word starts after the last character that cannot be part of it (which may be
    // several bytes long, such as a byte-order mark inside a line).
    let word_start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    &before[word_start..]
}

/// Names the kind of name expected, from the token before `pos`.
fn name_word(src: &str, pos: usize) -> &'static str {
    let before = src.get(..pos).unwrap_or("").trim_end();
    match previous_word(src, pos) {
        "type" => return "a type name",
        "fragment" => return "a fragment name",
        "enum" => return "an enum name",
        "context" => return "a context name",
        "module" => return "a module name",
        "interceptor" => return "an interceptor name",
        "query" | "mutation" => return "a method name",
        _ => {}
    }
    if before.ends_with("...") {
        return "a fragment name";
    }
    match before.chars().last() {
        Some('@') => "an annotation name",
        Some(':') | Some('<') => "a type",
        _ => "a name",
    }
}

/// Plain words for the rules a user may be told were expected.
fn rule_word(rule: Rule, parent: Option<Rule>) -> Option<&'static str> {
    Some(match rule {
        Rule::ident => match parent {
            Some(Rule::type_decl) => "a type name",
            Some(Rule::context) => "a context name",
            Some(Rule::module) => "a module name",
            Some(Rule::fragment_decl) | Some(Rule::fragment_ref) => "a fragment name",
            Some(Rule::enum_decl) => "an enum name",
            Some(Rule::enum_variant) => "an enum variant",
            Some(Rule::field) => "a field name",
            Some(Rule::argument) => "an argument name",
            Some(Rule::method) => "a method name",
            Some(Rule::interceptor) => "an interceptor name",
            Some(Rule::annotation) => "an annotation name",
            Some(Rule::type_name) | Some(Rule::type_expr) => "a type",
            Some(Rule::named_param) | Some(Rule::named_params) => "a parameter name",
            _ => "a name",
        },
        Rule::file | Rule::EOI => "end of file",
        Rule::import | Rule::kw_import => "`import`",
        Rule::kw_context => "`context`",
        Rule::kw_module => "`module`",
        Rule::kw_type => "`type`",
        Rule::kw_fragment => "`fragment`",
        Rule::kw_enum => "`enum`",
        Rule::kw_interceptor => "`interceptor`",
        Rule::annotated_decl => "`context` or `module`",
        Rule::context => "`context`",
        Rule::module => "`module`",
        Rule::module_item => "a declaration",
        Rule::type_decl => "`type`",
        Rule::fragment_decl => "`fragment`",
        Rule::enum_decl => "`enum`",
        Rule::enum_variant => "an enum variant",
        Rule::interceptor => "`interceptor`",
        Rule::method => "`query` or `mutation`",
        Rule::method_kind => "`query` or `mutation`",
        Rule::export => "`export`",
        Rule::argument => "an argument",
        Rule::fragment_ref => "`...`",
        Rule::field => match parent {
            Some(Rule::fragment_decl) => "a field",
            _ => "a field",
        },
        Rule::type_expr | Rule::type_name => "a type",
        Rule::type_params => "`<`",
        Rule::optional => "`?`",
        Rule::default_value | Rule::default_call | Rule::path => "a default value",
        Rule::annotation => "an annotation",
        Rule::positional_params | Rule::named_params | Rule::named_param => "an annotation argument",
        Rule::object_literal => "an object",
        Rule::object_pair => "a key",
        Rule::projection => "a projection",
        Rule::projection_atom | Rule::self_projection | Rule::relation_projection => "a projection element",
        Rule::expr | Rule::paren | Rule::selection | Rule::not => "an expression",
        Rule::method_call => "a method call",
        Rule::lambda => "a lambda",
        Rule::or | Rule::and | Rule::eq | Rule::neq | Rule::lt | Rule::lte | Rule::gt | Rule::gte | Rule::in_op => {
            "an operator"
        }
        Rule::literal | Rule::literal_list => "a literal",
        Rule::string | Rule::string_inner => "a string",
        Rule::number => "a number",
        Rule::boolean => "`true` or `false`",
        Rule::null => "`null`",
        Rule::line_rest
        | Rule::block_rest
        | Rule::doc_line
        | Rule::doc_block
        | Rule::decl_doc_line
        | Rule::decl_doc_block => return None,
        // Silent rules and keywords never reach users as rule names: their
        // literal tokens are reported instead.
        _ => return None,
    })
}

fn join_words(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
