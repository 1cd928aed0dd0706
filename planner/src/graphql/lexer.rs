//! Splits source text into tokens on demand, skipping ignored tokens (whitespace, commas,
//! comments, byte order marks).
//!
//! The lexer works on bytes: every token and ignored token starts with an ASCII byte, and
//! UTF-8 continuation bytes are never ASCII, so multi-byte characters only need care where
//! they are reported (as `U+XXXX`) and where columns are counted. Every offset it slices at
//! is therefore a character boundary; slicing still goes through `get` so that a mistake
//! here shows up as a wrong token, not a panic.

use std::borrow::Cow;

use super::{ParseError, Pos};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Eof,
    Bang,
    Dollar,
    Amp,
    ParenL,
    ParenR,
    Spread,
    Colon,
    Equals,
    At,
    BracketL,
    BracketR,
    BraceL,
    Pipe,
    BraceR,
    Name,
    Int,
    Float,
    String,
    BlockString,
}

impl TokenKind {
    /// The kind as graphql-js names it in messages: punctuators quoted, others by class.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            TokenKind::Eof => "<EOF>",
            TokenKind::Bang => "\"!\"",
            TokenKind::Dollar => "\"$\"",
            TokenKind::Amp => "\"&\"",
            TokenKind::ParenL => "\"(\"",
            TokenKind::ParenR => "\")\"",
            TokenKind::Spread => "\"...\"",
            TokenKind::Colon => "\":\"",
            TokenKind::Equals => "\"=\"",
            TokenKind::At => "\"@\"",
            TokenKind::BracketL => "\"[\"",
            TokenKind::BracketR => "\"]\"",
            TokenKind::BraceL => "\"{\"",
            TokenKind::Pipe => "\"|\"",
            TokenKind::BraceR => "\"}\"",
            TokenKind::Name => "Name",
            TokenKind::Int => "Int",
            TokenKind::Float => "Float",
            TokenKind::String => "String",
            TokenKind::BlockString => "BlockString",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Token<'a> {
    pub kind: TokenKind,
    /// The token as written, quotes included for strings; empty at the end of input.
    pub text: &'a str,
    pub pos: Pos,
    /// The value of a string or block string; `None` for other kinds.
    pub value: Option<Cow<'a, str>>,
}

impl Token<'_> {
    /// The token as graphql-js describes it in messages: `Name "foo"`, `"}"`, `<EOF>`.
    pub(crate) fn describe(&self) -> String {
        match self.kind {
            TokenKind::Name | TokenKind::Int | TokenKind::Float => {
                format!("{} \"{}\"", self.kind.describe(), self.text)
            }
            TokenKind::String | TokenKind::BlockString => {
                format!("{} \"{}\"", self.kind.describe(), self.value.as_deref().unwrap_or(""))
            }
            _ => self.kind.describe().to_owned(),
        }
    }
}

pub(crate) struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    /// Where the next token search starts.
    offset: usize,
    line: u32,
    /// Column cache: `column` is the column of byte `column_offset`, which is on `line`.
    /// Positions are asked for in increasing order, so each costs only the bytes since the
    /// previous one, keeping a long single-line document linear.
    column_offset: usize,
    column: u32,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer { src, bytes: src.as_bytes(), offset: 0, line: 1, column_offset: 0, column: 1 }
    }

    fn byte(&self, offset: usize) -> Option<u8> {
        self.bytes.get(offset).copied()
    }

    fn slice(&self, start: usize, end: usize) -> &'a str {
        self.src.get(start..end).unwrap_or("")
    }

    /// The position of `offset`, which must be on the current line at or after the last
    /// position asked for.
    pub(crate) fn pos_at(&mut self, offset: usize) -> Pos {
        let skipped = self.bytes.get(self.column_offset..offset).unwrap_or(&[]);
        // Count characters by counting the bytes that start one.
        let chars = skipped.iter().filter(|&&b| b & 0xC0 != 0x80).count();
        self.column = self.column.saturating_add(u32::try_from(chars).unwrap_or(u32::MAX));
        self.column_offset = offset.max(self.column_offset);
        Pos { line: self.line, column: self.column }
    }

    fn start_line(&mut self, offset: usize) {
        self.line = self.line.saturating_add(1);
        self.column_offset = offset;
        self.column = 1;
    }

    fn error(&mut self, offset: usize, description: &str) -> ParseError {
        ParseError { message: format!("Syntax Error: {description}"), pos: self.pos_at(offset) }
    }

    /// The character at `offset` as graphql-js prints it: `"a"`, `'"'`, `U+00E9`, `<EOF>`.
    fn describe_char_at(&self, offset: usize) -> String {
        match self.src.get(offset..).and_then(|rest| rest.chars().next()) {
            None => "<EOF>".to_owned(),
            Some('"') => "'\"'".to_owned(),
            Some(c @ ' '..='~') => format!("\"{c}\""),
            Some(c) => format!("U+{:04X}", u32::from(c)),
        }
    }

    /// Up to `count` characters of source starting at `offset`, for quoting in messages.
    fn chars_at(&self, offset: usize, count: usize) -> &'a str {
        let rest = self.src.get(offset..).unwrap_or("");
        let end = rest.char_indices().nth(count).map_or(rest.len(), |(i, _)| i);
        rest.get(..end).unwrap_or("")
    }

    fn skip_ignored(&mut self) {
        loop {
            match self.byte(self.offset) {
                Some(b' ' | b'\t' | b',') => self.offset += 1,
                Some(b'\n') => {
                    self.offset += 1;
                    self.start_line(self.offset);
                }
                Some(b'\r') => {
                    self.offset += if self.byte(self.offset + 1) == Some(b'\n') { 2 } else { 1 };
                    self.start_line(self.offset);
                }
                // U+FEFF, the byte order mark, is ignored anywhere.
                Some(0xEF) if self.byte(self.offset + 1) == Some(0xBB) && self.byte(self.offset + 2) == Some(0xBF) => {
                    self.offset += 3
                }
                Some(b'#') => {
                    self.offset += 1;
                    while !matches!(self.byte(self.offset), None | Some(b'\n' | b'\r')) {
                        self.offset += 1;
                    }
                }
                _ => return,
            }
        }
    }

    pub(crate) fn next_token(&mut self) -> Result<Token<'a>, ParseError> {
        self.skip_ignored();
        let start = self.offset;
        let pos = self.pos_at(start);
        let Some(first) = self.byte(start) else {
            return Ok(Token { kind: TokenKind::Eof, text: "", pos, value: None });
        };
        let punctuator = match first {
            b'!' => Some(TokenKind::Bang),
            b'$' => Some(TokenKind::Dollar),
            b'&' => Some(TokenKind::Amp),
            b'(' => Some(TokenKind::ParenL),
            b')' => Some(TokenKind::ParenR),
            b':' => Some(TokenKind::Colon),
            b'=' => Some(TokenKind::Equals),
            b'@' => Some(TokenKind::At),
            b'[' => Some(TokenKind::BracketL),
            b']' => Some(TokenKind::BracketR),
            b'{' => Some(TokenKind::BraceL),
            b'|' => Some(TokenKind::Pipe),
            b'}' => Some(TokenKind::BraceR),
            _ => None,
        };
        if let Some(kind) = punctuator {
            return Ok(self.finish(kind, start, start + 1, pos, None));
        }
        match first {
            b'.' if self.byte(start + 1) == Some(b'.') && self.byte(start + 2) == Some(b'.') => {
                Ok(self.finish(TokenKind::Spread, start, start + 3, pos, None))
            }
            b'"' if self.byte(start + 1) == Some(b'"') && self.byte(start + 2) == Some(b'"') => {
                self.read_block_string(start, pos)
            }
            b'"' => self.read_string(start, pos),
            b'-' | b'0'..=b'9' => self.read_number(start, pos),
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                let mut end = start + 1;
                while matches!(self.byte(end), Some(b'_' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')) {
                    end += 1;
                }
                Ok(self.finish(TokenKind::Name, start, end, pos, None))
            }
            b'\'' => {
                Err(self
                    .error(start, "Unexpected single quote character ('), did you mean to use a double quote (\")?"))
            }
            _ => {
                let message = format!("Unexpected character: {}.", self.describe_char_at(start));
                Err(self.error(start, &message))
            }
        }
    }

    fn finish(
        &mut self,
        kind: TokenKind,
        start: usize,
        end: usize,
        pos: Pos,
        value: Option<Cow<'a, str>>,
    ) -> Token<'a> {
        self.offset = end;
        Token { kind, text: self.slice(start, end), pos, value }
    }

    /// IntValue or FloatValue. Neither may be followed by `.` or a name start, so `1.` and
    /// `1a` are errors rather than two tokens.
    fn read_number(&mut self, start: usize, pos: Pos) -> Result<Token<'a>, ParseError> {
        let mut end = start;
        let mut is_float = false;
        if self.byte(end) == Some(b'-') {
            end += 1;
        }
        if self.byte(end) == Some(b'0') {
            end += 1;
            if matches!(self.byte(end), Some(b'0'..=b'9')) {
                let message = format!("Invalid number, unexpected digit after 0: {}.", self.describe_char_at(end));
                return Err(self.error(end, &message));
            }
        } else {
            end = self.read_digits(end)?;
        }
        if self.byte(end) == Some(b'.') {
            is_float = true;
            end = self.read_digits(end + 1)?;
        }
        if matches!(self.byte(end), Some(b'e' | b'E')) {
            is_float = true;
            end += 1;
            if matches!(self.byte(end), Some(b'+' | b'-')) {
                end += 1;
            }
            end = self.read_digits(end)?;
        }
        if matches!(self.byte(end), Some(b'.' | b'_' | b'a'..=b'z' | b'A'..=b'Z')) {
            return Err(self.expected_digit(end));
        }
        let kind = if is_float { TokenKind::Float } else { TokenKind::Int };
        Ok(self.finish(kind, start, end, pos, None))
    }

    /// Returns the offset after one or more digits starting at `start`.
    fn read_digits(&mut self, start: usize) -> Result<usize, ParseError> {
        if !matches!(self.byte(start), Some(b'0'..=b'9')) {
            return Err(self.expected_digit(start));
        }
        let mut end = start + 1;
        while matches!(self.byte(end), Some(b'0'..=b'9')) {
            end += 1;
        }
        Ok(end)
    }

    fn expected_digit(&mut self, offset: usize) -> ParseError {
        let message = format!("Invalid number, expected digit but got: {}.", self.describe_char_at(offset));
        self.error(offset, &message)
    }

    /// A `"`-quoted string. Its value borrows from the source unless it contains escapes.
    fn read_string(&mut self, start: usize, pos: Pos) -> Result<Token<'a>, ParseError> {
        let mut offset = start + 1;
        let mut chunk_start = offset;
        let mut owned: Option<String> = None;
        loop {
            match self.byte(offset) {
                None | Some(b'\n' | b'\r') => return Err(self.error(offset, "Unterminated string.")),
                Some(b'"') => {
                    let chunk = self.slice(chunk_start, offset);
                    let value = match owned {
                        None => Cow::Borrowed(chunk),
                        Some(mut value) => {
                            value.push_str(chunk);
                            Cow::Owned(value)
                        }
                    };
                    return Ok(self.finish(TokenKind::String, start, offset + 1, pos, Some(value)));
                }
                Some(b'\\') => {
                    let (c, len) = self.read_escape(offset)?;
                    let value = owned.get_or_insert_with(String::new);
                    value.push_str(self.slice(chunk_start, offset));
                    value.push(c);
                    offset += len;
                    chunk_start = offset;
                }
                Some(_) => offset += 1,
            }
        }
    }

    /// The escape sequence whose `\` is at `offset`: its character and length in bytes.
    fn read_escape(&mut self, offset: usize) -> Result<(char, usize), ParseError> {
        let c = match self.byte(offset + 1) {
            Some(b'u') if self.byte(offset + 2) == Some(b'{') => return self.read_braced_unicode_escape(offset),
            Some(b'u') => return self.read_fixed_unicode_escape(offset),
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            _ => {
                let message = format!("Invalid character escape sequence: \"{}\".", self.chars_at(offset, 2));
                return Err(self.error(offset, &message));
            }
        };
        Ok((c, 2))
    }

    /// `\u{1F600}`: any number of hex digits naming a Unicode scalar value.
    fn read_braced_unicode_escape(&mut self, offset: usize) -> Result<(char, usize), ParseError> {
        let mut end = offset + 3;
        let mut code: u32 = 0;
        loop {
            match self.byte(end) {
                Some(b'}') if end > offset + 3 => {
                    if let Some(c) = char::from_u32(code) {
                        return Ok((c, end + 1 - offset));
                    }
                    break;
                }
                Some(b) => match hex_value(b) {
                    // Saturate past the largest code point so leading zeros stay allowed
                    // and overflow is impossible.
                    Some(digit) => code = if code > 0x10_FFFF { code } else { code * 16 + digit },
                    None => break,
                },
                None => break,
            }
            end += 1;
        }
        // Quote up to and including the character that made the escape invalid.
        let message = format!("Invalid Unicode escape sequence: \"{}\".", self.chars_at(offset, end + 1 - offset));
        Err(self.error(offset, &message))
    }

    /// `\uXXXX`, or a `\uXXXX\uXXXX` surrogate pair as in JSON.
    fn read_fixed_unicode_escape(&mut self, offset: usize) -> Result<(char, usize), ParseError> {
        if let Some(code) = self.hex4(offset + 2) {
            if let Some(c) = char::from_u32(code) {
                return Ok((c, 6));
            }
            let is_leading = (0xD800..=0xDBFF).contains(&code);
            if is_leading && self.byte(offset + 6) == Some(b'\\') && self.byte(offset + 7) == Some(b'u') {
                if let Some(trailing) = self.hex4(offset + 8) {
                    if (0xDC00..=0xDFFF).contains(&trailing) {
                        let combined = 0x1_0000 + ((code - 0xD800) << 10) + (trailing - 0xDC00);
                        if let Some(c) = char::from_u32(combined) {
                            return Ok((c, 12));
                        }
                    }
                }
            }
        }
        let message = format!("Invalid Unicode escape sequence: \"{}\".", self.chars_at(offset, 6));
        Err(self.error(offset, &message))
    }

    fn hex4(&self, offset: usize) -> Option<u32> {
        (offset..offset + 4).try_fold(0, |code, i| Some(code * 16 + hex_value(self.byte(i)?)?))
    }

    /// A `"""`-quoted block string. Only `\"""` is an escape; the value has its common
    /// indentation and leading and trailing blank lines removed (spec `BlockStringValue`).
    fn read_block_string(&mut self, start: usize, pos: Pos) -> Result<Token<'a>, ParseError> {
        let mut offset = start + 3;
        let mut line_start = offset;
        let mut lines: Vec<&'a str> = Vec::new();
        let mut has_escape = false;
        loop {
            match self.byte(offset) {
                None => return Err(self.error(offset, "Unterminated string.")),
                Some(b'"') if self.byte(offset + 1) == Some(b'"') && self.byte(offset + 2) == Some(b'"') => {
                    lines.push(self.slice(line_start, offset));
                    let value = block_string_value(&lines, has_escape);
                    return Ok(self.finish(TokenKind::BlockString, start, offset + 3, pos, Some(value)));
                }
                Some(b'\\')
                    if self.byte(offset + 1) == Some(b'"')
                        && self.byte(offset + 2) == Some(b'"')
                        && self.byte(offset + 3) == Some(b'"') =>
                {
                    has_escape = true;
                    offset += 4;
                }
                Some(b'\n') => {
                    lines.push(self.slice(line_start, offset));
                    offset += 1;
                    line_start = offset;
                    self.start_line(offset);
                }
                Some(b'\r') => {
                    lines.push(self.slice(line_start, offset));
                    offset += if self.byte(offset + 1) == Some(b'\n') { 2 } else { 1 };
                    line_start = offset;
                    self.start_line(offset);
                }
                Some(_) => offset += 1,
            }
        }
    }
}

fn hex_value(b: u8) -> Option<u32> {
    char::from(b).to_digit(16)
}

/// The spec's `BlockStringValue` over the raw lines between the quotes, followed by
/// replacing `\"""` with `"""`. Replacing afterwards is equivalent because removed
/// indentation and inserted line feeds cannot form or split an escape.
fn block_string_value<'a>(lines: &[&'a str], has_escape: bool) -> Cow<'a, str> {
    let indent = |line: &str| line.bytes().take_while(|&b| b == b' ' || b == b'\t').count();
    let mut common_indent = usize::MAX;
    let mut first_non_blank = None;
    let mut last_non_blank = 0;
    for (i, line) in lines.iter().enumerate() {
        let line_indent = indent(line);
        if line_indent == line.len() {
            continue;
        }
        first_non_blank.get_or_insert(i);
        last_non_blank = i;
        if i != 0 {
            common_indent = common_indent.min(line_indent);
        }
    }
    let Some(first_non_blank) = first_non_blank else {
        return Cow::Borrowed("");
    };
    // Indentation is ASCII, so cutting it off lands on a character boundary.
    let dedent = |i: usize, line: &'a str| {
        if i == 0 {
            line
        } else {
            line.get(common_indent.min(line.len())..).unwrap_or("")
        }
    };
    let kept = lines.get(first_non_blank..=last_non_blank).unwrap_or(&[]);
    if let ([line], false) = (kept, has_escape) {
        return Cow::Borrowed(dedent(first_non_blank, line));
    }
    let mut value = String::new();
    for (i, line) in kept.iter().enumerate() {
        if i != 0 {
            value.push('\n');
        }
        value.push_str(dedent(first_non_blank + i, line));
    }
    if has_escape {
        value = value.replace("\\\"\"\"", "\"\"\"");
    }
    Cow::Owned(value)
}
