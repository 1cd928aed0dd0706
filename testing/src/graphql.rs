//! Finds the test-only directives `@bind(name: "x")` and `@unordered` in a
//! GraphQL document, computes the response paths they apply to, and strips
//! them before the document is sent.
//!
//! This is a scanner, not a validating parser: it tracks only what the paths
//! need (operations, fields with aliases, selection nesting, fragment spreads
//! and inline fragments) and skips arguments and variable definitions as
//! balanced token groups. A document it cannot follow is left for the server to
//! reject; the stripped text is still produced token by token, so strings and
//! comments that merely contain `@bind` are never touched.

use std::collections::{BTreeMap, HashSet};

/// The test-only directives of one document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperationMetadata {
    /// `(variable name, response path)`, in document order. Paths start with
    /// `data` and use aliases where given.
    pub binds: Vec<(String, Vec<String>)>,
    /// Response paths whose arrays compare as multisets, joined with `.`.
    pub unordered: HashSet<String>,
}

/// `document -> (metadata, document without @bind/@unordered)`.
pub fn analyze(document: &str) -> Result<(OperationMetadata, String), String> {
    let tokens = tokenize(document)?;
    let stripped = strip(document, &tokens);
    let mut scanner =
        Scanner { src: document, tokens: &tokens, pos: 0, fragments: BTreeMap::new(), operations: Vec::new() };
    if let Err(e) = scanner.document() {
        // Only a document that uses the test directives needs the structure;
        // anything else is sent as written and judged by the server.
        if stripped != document {
            return Err(e);
        }
        return Ok((OperationMetadata::default(), stripped));
    }
    let mut metadata = OperationMetadata::default();
    let operations = std::mem::take(&mut scanner.operations);
    for selection in &operations {
        let mut visiting = Vec::new();
        collect(selection, &["data".to_string()], &scanner.fragments, &mut visiting, &mut metadata);
    }
    Ok((metadata, stripped))
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Name,
    Punct,
    Spread,
    Str,
    Other,
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let kind = match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' if src[i..].starts_with("\"\"\"") => {
                i += 3;
                loop {
                    if i >= bytes.len() {
                        return Err("unterminated block string in the GraphQL document".to_string());
                    }
                    if src[i..].starts_with("\\\"\"\"") {
                        i += 4;
                    } else if src[i..].starts_with("\"\"\"") {
                        i += 3;
                        break;
                    } else {
                        i += 1;
                    }
                }
                Kind::Str
            }
            b'"' => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None | Some(b'\n') => return Err("unterminated string in the GraphQL document".to_string()),
                        Some(b'\\') => i += 2,
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                Kind::Str
            }
            b'.' if src[i..].starts_with("...") => {
                i += 3;
                Kind::Spread
            }
            b'{' | b'}' | b'(' | b')' | b'[' | b']' | b':' | b'@' | b'$' | b'=' | b'!' | b'|' | b'&' => {
                i += 1;
                Kind::Punct
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                Kind::Name
            }
            _ => {
                // Numbers and anything unexpected: one char at a time is enough
                // because only names, punctuation and strings carry structure.
                i += src[i..].chars().next().map_or(1, char::len_utf8);
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.' || bytes[i] == b'-' || bytes[i] == b'+')
                {
                    i += 1;
                }
                Kind::Other
            }
        };
        tokens.push(Token { kind, start, end: i });
    }
    Ok(tokens)
}

fn text<'a>(src: &'a str, t: &Token) -> &'a str {
    &src[t.start..t.end]
}

/// Removes exactly the `@bind(...)` and `@unordered` directive tokens.
fn strip(src: &str, tokens: &[Token]) -> String {
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let is_directive = text(src, &tokens[i]) == "@"
            && tokens.get(i + 1).is_some_and(|t| t.kind == Kind::Name && matches!(text(src, t), "bind" | "unordered"));
        if !is_directive {
            i += 1;
            continue;
        }
        let start = tokens[i].start;
        let mut end = tokens[i + 1].end;
        i += 2;
        if tokens.get(i).is_some_and(|t| text(src, t) == "(") {
            let mut depth = 0;
            while let Some(t) = tokens.get(i) {
                i += 1;
                match text(src, t) {
                    "(" => depth += 1,
                    ")" => {
                        depth -= 1;
                        if depth == 0 {
                            end = t.end;
                            break;
                        }
                    }
                    _ => {}
                }
                end = t.end;
            }
        }
        cuts.push((start, end));
    }
    let mut out = String::with_capacity(src.len());
    let mut last = 0;
    for (start, end) in cuts {
        out.push_str(&src[last..start]);
        last = end;
    }
    out.push_str(&src[last..]);
    out
}

#[derive(Clone, Debug, Default)]
struct Selection {
    items: Vec<Item>,
}

#[derive(Clone, Debug)]
enum Item {
    Field { response_key: String, bind: Option<String>, unordered: bool, selection: Option<Selection> },
    Spread(String),
    Inline(Selection),
}

struct Scanner<'a> {
    src: &'a str,
    tokens: &'a [Token],
    pos: usize,
    fragments: BTreeMap<String, Selection>,
    operations: Vec<Selection>,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.tokens.get(self.pos).map(|t| text(self.src, t))
    }

    fn peek_kind(&self) -> Option<&Kind> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn next(&mut self) -> Option<&'a str> {
        let t = self.peek();
        self.pos += 1;
        t
    }

    fn error(&self, expected: &str) -> String {
        match self.tokens.get(self.pos) {
            Some(t) => {
                let line = self.src[..t.start].matches('\n').count() + 1;
                format!("GraphQL document line {line}: expected {expected}, found `{}`", text(self.src, t))
            }
            None => format!("GraphQL document: expected {expected}, found the end"),
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), String> {
        if self.peek() == Some(token) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("`{token}`")))
        }
    }

    fn name(&mut self) -> Result<&'a str, String> {
        if self.peek_kind() == Some(&Kind::Name) {
            Ok(self.next().unwrap_or_default())
        } else {
            Err(self.error("a name"))
        }
    }

    fn document(&mut self) -> Result<(), String> {
        while let Some(token) = self.peek() {
            match token {
                "{" => {
                    let selection = self.selection_set()?;
                    self.operations.push(selection);
                }
                "query" | "mutation" | "subscription" => {
                    self.pos += 1;
                    if self.peek_kind() == Some(&Kind::Name) {
                        self.pos += 1;
                    }
                    if self.peek() == Some("(") {
                        self.skip_group()?;
                    }
                    self.directives()?;
                    let selection = self.selection_set()?;
                    self.operations.push(selection);
                }
                "fragment" => {
                    self.pos += 1;
                    let name = self.name()?.to_string();
                    self.expect("on")?;
                    self.name()?;
                    self.directives()?;
                    let selection = self.selection_set()?;
                    self.fragments.insert(name, selection);
                }
                _ => return Err(self.error("an operation or fragment definition")),
            }
        }
        Ok(())
    }

    /// Skips a balanced `( ... )` or `[ ... ]` or `{ ... }` group.
    fn skip_group(&mut self) -> Result<(), String> {
        let mut depth = 0usize;
        loop {
            match self.next() {
                None => return Err(self.error("a closing bracket")),
                Some("(" | "[" | "{") => depth += 1,
                Some(")" | "]" | "}") => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// Reads directives; returns (`@bind` name, whether `@unordered` was seen).
    fn directives(&mut self) -> Result<(Option<String>, bool), String> {
        let mut bind = None;
        let mut unordered = false;
        while self.peek() == Some("@") {
            self.pos += 1;
            let name = self.name()?;
            let args_start = self.pos;
            if self.peek() == Some("(") {
                self.skip_group()?;
            }
            match name {
                "unordered" => unordered = true,
                "bind" => bind = Some(self.bind_name(args_start)?),
                _ => {}
            }
        }
        Ok((bind, unordered))
    }

    /// Finds `name: "x"` inside the arguments of `@bind` starting at `start`.
    fn bind_name(&self, start: usize) -> Result<String, String> {
        let args = &self.tokens[start..self.pos];
        let texts: Vec<&str> = args.iter().map(|t| text(self.src, t)).collect();
        for i in 0..texts.len().saturating_sub(2) {
            if texts[i] == "name" && texts[i + 1] == ":" && args[i + 2].kind == Kind::Str {
                let literal = texts[i + 2];
                let value: String = serde_json::from_str(literal)
                    .map_err(|_| format!("`@bind` name {literal} is not a simple string"))?;
                return Ok(value);
            }
        }
        Err(format!("`@bind` needs a `name: \"...\"` argument, found `@bind{}`", texts.join("")))
    }

    fn selection_set(&mut self) -> Result<Selection, String> {
        self.expect("{")?;
        let mut selection = Selection::default();
        loop {
            match self.peek() {
                Some("}") => {
                    self.pos += 1;
                    return Ok(selection);
                }
                Some("...") => {
                    self.pos += 1;
                    match self.peek() {
                        Some("on") => {
                            self.pos += 1;
                            self.name()?;
                            self.directives()?;
                            selection.items.push(Item::Inline(self.selection_set()?));
                        }
                        Some("@" | "{") => {
                            self.directives()?;
                            selection.items.push(Item::Inline(self.selection_set()?));
                        }
                        _ => {
                            let name = self.name()?.to_string();
                            self.directives()?;
                            selection.items.push(Item::Spread(name));
                        }
                    }
                }
                Some(_) => {
                    let first = self.name()?;
                    let response_key = first.to_string();
                    if self.peek() == Some(":") {
                        self.pos += 1;
                        self.name()?;
                    }
                    if self.peek() == Some("(") {
                        self.skip_group()?;
                    }
                    let (bind, unordered) = self.directives()?;
                    let inner = if self.peek() == Some("{") { Some(self.selection_set()?) } else { None };
                    selection.items.push(Item::Field { response_key, bind, unordered, selection: inner });
                }
                None => return Err(self.error("`}`")),
            }
        }
    }
}

fn collect(
    selection: &Selection,
    path: &[String],
    fragments: &BTreeMap<String, Selection>,
    visiting: &mut Vec<String>,
    metadata: &mut OperationMetadata,
) {
    for item in &selection.items {
        match item {
            Item::Field { response_key, bind, unordered, selection } => {
                let mut field_path = path.to_vec();
                field_path.push(response_key.clone());
                if let Some(name) = bind {
                    metadata.binds.push((name.clone(), field_path.clone()));
                }
                if *unordered {
                    metadata.unordered.insert(field_path.join("."));
                }
                if let Some(inner) = selection {
                    collect(inner, &field_path, fragments, visiting, metadata);
                }
            }
            Item::Inline(inner) => collect(inner, path, fragments, visiting, metadata),
            Item::Spread(name) => {
                if visiting.contains(name) {
                    continue;
                }
                if let Some(fragment) = fragments.get(name) {
                    visiting.push(name.clone());
                    collect(fragment, path, fragments, visiting, metadata);
                    visiting.pop();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_string).collect()
    }

    #[test]
    fn binds_follow_aliases_nesting_and_fragments() {
        let doc = r#"
            mutation CreateThings($title: String = "a @bind(name: \"no\")") {
              u1: createUser(data: {name: "u1", tags: ["x"]}) @bind(name: "u1") {
                id @bind(name: "u1Id")
                todos(orderBy: {id: ASC}) { id @bind(name: "u1TodoIds") ...TodoFields }
              }
              # a comment mentioning @bind(name: "comment")
              ... on Mutation { other { key: id @bind(name: "otherId") } }
            }
            fragment TodoFields on Todo {
              tags @unordered { name @bind(name: "tagNames") }
              ... @include(if: true) { self { ...TodoFields } }
            }
        "#;
        let (meta, stripped) = analyze(doc).unwrap();
        assert_eq!(
            meta.binds,
            vec![
                ("u1".to_string(), path("data.u1")),
                ("u1Id".to_string(), path("data.u1.id")),
                ("u1TodoIds".to_string(), path("data.u1.todos.id")),
                ("tagNames".to_string(), path("data.u1.todos.tags.name")),
                ("otherId".to_string(), path("data.other.key")),
            ]
        );
        // The fragment cycle through `self` (invalid GraphQL) stops instead of looping.
        assert_eq!(meta.unordered.into_iter().collect::<Vec<_>>(), vec!["data.u1.todos.tags"]);
        assert!(!stripped.contains("@unordered"));
        assert!(!stripped.contains("@bind(name: \"u1"));
        // Strings and comments are left alone.
        assert!(stripped.contains(r#"$title: String = "a @bind(name: \"no\")""#));
        assert!(stripped.contains(r#"# a comment mentioning @bind(name: "comment")"#));
        assert!(stripped.contains("@include(if: true)"));
    }

    #[test]
    fn stripping_is_exact() {
        let doc =
            "query { todos @unordered { id @bind(name: \"ids\") title } one: todo(id: 1) @bind(name: \"t\") { id } }";
        let (_, stripped) = analyze(doc).unwrap();
        assert_eq!(stripped, "query { todos  { id  title } one: todo(id: 1)  { id } }");
    }

    #[test]
    fn unparsable_documents_without_directives_pass_through() {
        let (meta, stripped) = analyze("query { oops(").unwrap();
        assert_eq!(meta, OperationMetadata::default());
        assert_eq!(stripped, "query { oops(");
        assert!(analyze("query { a @bind(name: \"x\") ").is_err());
        assert!(analyze("query { a @bind(nom: \"x\") }").unwrap_err().contains("needs a `name"));
    }
}
