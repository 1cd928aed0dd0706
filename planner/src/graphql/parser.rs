//! Recursive-descent parser from tokens to [`Document`], one function per grammar rule,
//! following graphql-js's `Parser` so that its error messages come out the same.
//!
//! Recursion happens only where `parse_selection_set`, `parse_value` and `parse_type` call
//! themselves, one frame per nesting level, and each calls `enter` first, so
//! `ParseLimits::max_depth` bounds the stack. Work that needs no recursion is kept in
//! helpers that return before the recursive call, because unoptimised builds give every
//! temporary its own stack slot and would otherwise need kilobytes per level.

use super::ast::*;
use super::lexer::{Lexer, Token, TokenKind};
use super::{ParseError, ParseLimits, Pos};

pub(crate) fn parse_document<'a>(src: &'a str, limits: &ParseLimits) -> Result<Document<'a>, ParseError> {
    if src.len() > limits.max_bytes {
        return Err(ParseError {
            message: format!("Syntax Error: Document is larger than {} bytes. Parsing aborted.", limits.max_bytes),
            pos: Pos { line: 1, column: 1 },
        });
    }
    let mut lexer = Lexer::new(src);
    let token = lexer.next_token()?;
    let mut parser = Parser { lexer, token, limits, token_count: 0, depth: 0 };
    parser.count_token()?;
    parser.parse_document()
}

struct Parser<'a, 'l> {
    lexer: Lexer<'a>,
    /// The current, not yet consumed token.
    token: Token<'a>,
    limits: &'l ParseLimits,
    token_count: usize,
    depth: usize,
}

impl<'a> Parser<'a, '_> {
    // Token handling.

    fn count_token(&mut self) -> Result<(), ParseError> {
        if self.token.kind == TokenKind::Eof {
            return Ok(());
        }
        self.token_count += 1;
        if self.token_count > self.limits.max_tokens {
            return Err(
                self.error(format!("Document contains more than {} tokens. Parsing aborted.", self.limits.max_tokens))
            );
        }
        Ok(())
    }

    /// Consumes the current token and returns it.
    fn advance(&mut self) -> Result<Token<'a>, ParseError> {
        let next = self.lexer.next_token()?;
        let previous = std::mem::replace(&mut self.token, next);
        self.count_token()?;
        Ok(previous)
    }

    fn peek(&self, kind: TokenKind) -> bool {
        self.token.kind == kind
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        self.token.kind == TokenKind::Name && self.token.text == keyword
    }

    fn expect(&mut self, kind: TokenKind) -> Result<Token<'a>, ParseError> {
        if self.peek(kind) {
            return self.advance();
        }
        Err(self.expected(kind))
    }

    fn expected(&self, kind: TokenKind) -> ParseError {
        self.error(format!("Expected {}, found {}.", kind.describe(), self.token.describe()))
    }

    /// Consumes the current token if it is of `kind`.
    fn eat(&mut self, kind: TokenKind) -> Result<bool, ParseError> {
        if self.peek(kind) {
            self.advance()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), ParseError> {
        if self.peek_keyword(keyword) {
            self.advance()?;
            return Ok(());
        }
        Err(self.error(format!("Expected \"{keyword}\", found {}.", self.token.describe())))
    }

    fn eat_keyword(&mut self, keyword: &str) -> Result<bool, ParseError> {
        if self.peek_keyword(keyword) {
            self.advance()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn error(&self, description: String) -> ParseError {
        ParseError { message: format!("Syntax Error: {description}"), pos: self.token.pos }
    }

    fn unexpected(&self) -> ParseError {
        self.error(format!("Unexpected {}.", self.token.describe()))
    }

    /// Consumes the opening token of a nested construct, checking the depth limit first so
    /// that the error points at that token.
    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(self.error(format!(
                "Document contains more than {} levels of nesting. Parsing aborted.",
                self.limits.max_depth
            )));
        }
        self.advance()?;
        Ok(())
    }

    /// Like `expect`, for callers that do not need the token: keeping `Result<Token>` out
    /// of the recursive functions keeps their frames small.
    fn skip(&mut self, kind: TokenKind) -> Result<(), ParseError> {
        self.expect(kind)?;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // Grammar rules.

    /// Document : Definition+ (executable definitions only)
    fn parse_document(&mut self) -> Result<Document<'a>, ParseError> {
        let mut document = Document::default();
        loop {
            match (self.token.kind, self.token.text) {
                (TokenKind::BraceL, _) | (TokenKind::Name, "query" | "mutation" | "subscription") => {
                    document.operations.push(self.parse_operation_definition()?)
                }
                (TokenKind::Name, "fragment") => document.fragments.push(self.parse_fragment_definition()?),
                _ => return Err(self.unexpected()),
            }
            if self.peek(TokenKind::Eof) {
                return Ok(document);
            }
        }
    }

    /// OperationDefinition : SelectionSet | OperationType Name? VariableDefinitions?
    /// Directives? SelectionSet
    fn parse_operation_definition(&mut self) -> Result<OperationDefinition<'a>, ParseError> {
        let pos = self.token.pos;
        if self.peek(TokenKind::BraceL) {
            return Ok(OperationDefinition {
                kind: OperationKind::Query,
                name: None,
                variables: Vec::new(),
                directives: Vec::new(),
                selection_set: self.parse_selection_set()?,
                pos,
            });
        }
        let kind = match self.token.text {
            "query" if self.peek(TokenKind::Name) => OperationKind::Query,
            "mutation" if self.peek(TokenKind::Name) => OperationKind::Mutation,
            "subscription" if self.peek(TokenKind::Name) => OperationKind::Subscription,
            _ => return Err(self.unexpected()),
        };
        self.advance()?;
        let name = if self.peek(TokenKind::Name) { Some(self.parse_name()?) } else { None };
        let variables = self.parse_variable_definitions()?;
        let directives = self.parse_directives(false)?;
        let selection_set = self.parse_selection_set()?;
        Ok(OperationDefinition { kind, name, variables, directives, selection_set, pos })
    }

    /// VariableDefinitions : ( VariableDefinition* )
    ///
    /// The spec asks for at least one definition, but Exograph accepts `mutation () { ... }`,
    /// and its users' documents rely on it.
    fn parse_variable_definitions(&mut self) -> Result<Vec<VariableDefinition<'a>>, ParseError> {
        let mut variables = Vec::new();
        if self.eat(TokenKind::ParenL)? {
            while !self.eat(TokenKind::ParenR)? {
                variables.push(self.parse_variable_definition()?);
            }
        }
        Ok(variables)
    }

    /// VariableDefinition : Variable : Type DefaultValue? Directives[Const]?
    fn parse_variable_definition(&mut self) -> Result<VariableDefinition<'a>, ParseError> {
        let pos = self.token.pos;
        self.expect(TokenKind::Dollar)?;
        let name = self.parse_name()?;
        self.skip(TokenKind::Colon)?;
        let ty = self.parse_type()?;
        let default = if self.eat(TokenKind::Equals)? { Some(self.parse_value(true)?) } else { None };
        let directives = self.parse_directives(true)?;
        Ok(VariableDefinition { name, ty, default, directives, pos })
    }

    /// Type : NamedType | ListType | NonNullType
    fn parse_type(&mut self) -> Result<Type<'a>, ParseError> {
        let ty = if self.peek(TokenKind::BracketL) {
            self.enter()?;
            let inner = self.parse_type()?;
            self.skip(TokenKind::BracketR)?;
            self.leave();
            Type::List(Box::new(inner))
        } else {
            Type::Named(self.parse_name()?)
        };
        if self.eat(TokenKind::Bang)? {
            return Ok(Type::NonNull(Box::new(ty)));
        }
        Ok(ty)
    }

    /// SelectionSet : { Selection+ }
    ///
    /// This is the only function on the recursion path for selections: each selection is
    /// parsed up to its own selection set by `parse_selection`, whose frame is gone by the
    /// time this one recurses, so a nesting level costs one frame.
    fn parse_selection_set(&mut self) -> Result<Vec<Selection<'a>>, ParseError> {
        if !self.peek(TokenKind::BraceL) {
            return Err(self.expected(TokenKind::BraceL));
        }
        self.enter()?;
        let mut selections = Vec::new();
        loop {
            let mut selection = self.parse_selection()?;
            match &mut selection {
                Selection::Field(field) if self.peek(TokenKind::BraceL) => {
                    field.selection_set = self.parse_selection_set()?;
                }
                Selection::InlineFragment(inline) => {
                    inline.selection_set = self.parse_selection_set()?;
                }
                _ => {}
            }
            selections.push(selection);
            if self.eat(TokenKind::BraceR)? {
                break;
            }
        }
        self.leave();
        Ok(selections)
    }

    /// Selection : Field | FragmentSpread | InlineFragment, without the selection set of a
    /// field or inline fragment, which the caller parses.
    fn parse_selection(&mut self) -> Result<Selection<'a>, ParseError> {
        if self.peek(TokenKind::Spread) {
            self.parse_fragment()
        } else {
            self.parse_field().map(Selection::Field)
        }
    }

    /// Field : Alias? Name Arguments? Directives? (SelectionSet? is left to the caller)
    fn parse_field(&mut self) -> Result<Field<'a>, ParseError> {
        let pos = self.token.pos;
        let name_or_alias = self.parse_name()?;
        let (alias, name) =
            if self.eat(TokenKind::Colon)? { (Some(name_or_alias), self.parse_name()?) } else { (None, name_or_alias) };
        let arguments = self.parse_arguments(false)?;
        let directives = self.parse_directives(false)?;
        Ok(Field { alias, name, arguments, directives, selection_set: Vec::new(), pos })
    }

    /// Arguments : ( Argument+ ), Argument : Name : Value
    fn parse_arguments(&mut self, is_const: bool) -> Result<Vec<(Name<'a>, Value<'a>)>, ParseError> {
        let mut arguments = Vec::new();
        if self.eat(TokenKind::ParenL)? {
            loop {
                let name = self.parse_name()?;
                self.skip(TokenKind::Colon)?;
                arguments.push((name, self.parse_value(is_const)?));
                if self.eat(TokenKind::ParenR)? {
                    break;
                }
            }
        }
        Ok(arguments)
    }

    /// FragmentSpread : ... FragmentName Directives?
    /// InlineFragment : ... TypeCondition? Directives? (SelectionSet is left to the caller)
    fn parse_fragment(&mut self) -> Result<Selection<'a>, ParseError> {
        let pos = self.token.pos;
        self.expect(TokenKind::Spread)?;
        let has_type_condition = self.eat_keyword("on")?;
        if !has_type_condition && self.peek(TokenKind::Name) {
            let name = self.parse_name()?;
            let directives = self.parse_directives(false)?;
            return Ok(Selection::FragmentSpread(FragmentSpread { name, directives, pos }));
        }
        let type_condition = if has_type_condition { Some(self.parse_name()?) } else { None };
        let directives = self.parse_directives(false)?;
        if !self.peek(TokenKind::BraceL) {
            return Err(self.expected(TokenKind::BraceL));
        }
        Ok(Selection::InlineFragment(InlineFragment { type_condition, directives, selection_set: Vec::new(), pos }))
    }

    /// FragmentDefinition : fragment FragmentName TypeCondition Directives? SelectionSet
    fn parse_fragment_definition(&mut self) -> Result<FragmentDefinition<'a>, ParseError> {
        let pos = self.token.pos;
        self.expect_keyword("fragment")?;
        if self.peek_keyword("on") {
            return Err(self.unexpected());
        }
        let name = self.parse_name()?;
        self.expect_keyword("on")?;
        let type_condition = self.parse_name()?;
        let directives = self.parse_directives(false)?;
        let selection_set = self.parse_selection_set()?;
        Ok(FragmentDefinition { name, type_condition, directives, selection_set, pos })
    }

    /// Directives : Directive+, Directive : @ Name Arguments?
    fn parse_directives(&mut self, is_const: bool) -> Result<Vec<Directive<'a>>, ParseError> {
        let mut directives = Vec::new();
        while self.peek(TokenKind::At) {
            let pos = self.token.pos;
            self.advance()?;
            let name = self.parse_name()?;
            let arguments = self.parse_arguments(is_const)?;
            directives.push(Directive { name, arguments, pos });
        }
        Ok(directives)
    }

    /// Value[Const] : Variable (unless Const) | IntValue | FloatValue | StringValue |
    /// BooleanValue | NullValue | EnumValue | ListValue | ObjectValue
    ///
    /// Lists and objects are parsed here so that a nesting level costs one frame; the other
    /// kinds live in `parse_scalar_value`, keeping their temporaries out of this frame.
    fn parse_value(&mut self, is_const: bool) -> Result<Value<'a>, ParseError> {
        let pos = self.token.pos;
        let kind = match self.token.kind {
            // ListValue : [ ] | [ Value+ ]
            TokenKind::BracketL => {
                self.enter()?;
                let mut items = Vec::new();
                while !self.eat(TokenKind::BracketR)? {
                    items.push(self.parse_value(is_const)?);
                }
                self.leave();
                ValueKind::List(items)
            }
            // ObjectValue : { } | { ObjectField+ }, ObjectField : Name : Value
            TokenKind::BraceL => {
                self.enter()?;
                let mut fields = Vec::new();
                while !self.eat(TokenKind::BraceR)? {
                    let name = self.parse_object_field_name()?;
                    fields.push((name, self.parse_value(is_const)?));
                }
                self.leave();
                ValueKind::Object(fields)
            }
            _ => self.parse_scalar_value(is_const)?,
        };
        Ok(Value { kind, pos })
    }

    fn parse_object_field_name(&mut self) -> Result<Name<'a>, ParseError> {
        let name = self.parse_name()?;
        self.skip(TokenKind::Colon)?;
        Ok(name)
    }

    fn parse_scalar_value(&mut self, is_const: bool) -> Result<ValueKind<'a>, ParseError> {
        let pos = self.token.pos;
        let kind = match self.token.kind {
            TokenKind::Int => {
                let raw = self.advance()?.text;
                ValueKind::Int { raw, value: raw.parse().ok() }
            }
            TokenKind::Float => {
                let raw = self.advance()?.text;
                // The lexer only produces floats Rust's grammar accepts; NaN is unreachable.
                ValueKind::Float { raw, value: raw.parse().unwrap_or(f64::NAN) }
            }
            TokenKind::String | TokenKind::BlockString => ValueKind::String(self.advance()?.value.unwrap_or_default()),
            TokenKind::Name => match self.advance()?.text {
                "true" => ValueKind::Boolean(true),
                "false" => ValueKind::Boolean(false),
                "null" => ValueKind::Null,
                value => ValueKind::Enum(Name { value, pos }),
            },
            TokenKind::Dollar if !is_const => {
                self.advance()?;
                ValueKind::Variable(self.parse_name()?)
            }
            TokenKind::Dollar => {
                self.advance()?;
                let description = if self.peek(TokenKind::Name) {
                    format!("Unexpected variable \"${}\" in constant value.", self.token.text)
                } else {
                    "Unexpected \"$\".".to_owned()
                };
                return Err(ParseError { message: format!("Syntax Error: {description}"), pos });
            }
            _ => return Err(self.unexpected()),
        };
        Ok(kind)
    }

    fn parse_name(&mut self) -> Result<Name<'a>, ParseError> {
        let token = self.expect(TokenKind::Name)?;
        Ok(Name { value: token.text, pos: token.pos })
    }
}
