//! Diagnostics: the compiler's error and warning values, and their rendering.
//!
//! A [`Diagnostic`] is plain data (code, message, labelled spans, help) so
//! every stage can accumulate and test them without formatting anything.
//! Turning them into text happens only in [`render`], which uses miette's
//! graphical handler with a fixed theme and width so the output is stable
//! enough to snapshot.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};

use crate::ast::{FileId, Span};
use crate::source::SourceMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Advice,
}

/// A span with a short note about what is there.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
    /// The label the diagnostic is about; the others give context.
    pub primary: bool,
}

/// One problem found in the sources.
///
/// Messages are lowercase, name things in backticks, and do not end with a
/// period. `code` is stable (`exo::syntax`, `exo::import`, ...) so tests and
/// users can rely on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: &'static str,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    pub severity: Severity,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { code, message: message.into(), labels: Vec::new(), help: None, severity: Severity::Error }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }

    /// Adds the primary label.
    pub fn with_primary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, message: message.into(), primary: true });
        self
    }

    /// Adds a secondary label.
    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, message: message.into(), primary: false });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The span of the first primary label, or else of the first label.
    pub fn primary_span(&self) -> Option<Span> {
        self.labels.iter().find(|l| l.primary).or_else(|| self.labels.first()).map(|l| l.span)
    }

    /// Pairs the diagnostic with its sources, giving a `miette::Diagnostic`.
    pub fn with_sources<'a>(&'a self, sources: &'a SourceMap) -> Report<'a> {
        Report::new(self, sources)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// A diagnostic together with the source text its labels point into.
///
/// miette shows one source per report, so labels are grouped by file: the
/// file of the primary label is shown in the report itself and every other
/// file becomes a related note.
pub struct Report<'a> {
    diagnostic: &'a Diagnostic,
    file: Option<FileId>,
    source: Option<NamedSource<String>>,
    related: Vec<Related>,
}

/// Labels of one diagnostic that point into another file.
struct Related {
    source: NamedSource<String>,
    labels: Vec<Label>,
}

impl<'a> Report<'a> {
    fn new(diagnostic: &'a Diagnostic, sources: &SourceMap) -> Report<'a> {
        let file = diagnostic.primary_span().map(|s| s.file);
        let named = |id: FileId| sources.get(id).map(|f| NamedSource::new(f.path.clone(), f.text.clone()));
        let mut other_files: Vec<FileId> = Vec::new();
        for label in &diagnostic.labels {
            if Some(label.span.file) != file && !other_files.contains(&label.span.file) {
                other_files.push(label.span.file);
            }
        }
        let related = other_files
            .into_iter()
            .filter_map(|id| {
                Some(Related {
                    source: named(id)?,
                    labels: diagnostic.labels.iter().filter(|l| l.span.file == id).cloned().collect(),
                })
            })
            .collect();
        Report { diagnostic, file, source: file.and_then(named), related }
    }
}

fn to_miette(label: &Label, text_len: usize) -> LabeledSpan {
    // Clamp so a stale or synthetic span cannot make miette read out of range.
    let start = (label.span.start as usize).min(text_len);
    let end = (label.span.end as usize).clamp(start, text_len);
    let span = SourceSpan::from(start..end);
    let message = (!label.message.is_empty()).then(|| label.message.clone());
    if label.primary {
        LabeledSpan::new_primary_with_span(message, span)
    } else {
        LabeledSpan::new_with_span(message, span)
    }
}

fn to_miette_severity(severity: Severity) -> miette::Severity {
    match severity {
        Severity::Error => miette::Severity::Error,
        Severity::Warning => miette::Severity::Warning,
        Severity::Advice => miette::Severity::Advice,
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diagnostic, f)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(to_miette_severity(self.diagnostic.severity))
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let source = self.source.as_ref()?;
        let len = source.inner().len();
        let file = self.file;
        Some(Box::new(
            self.diagnostic.labels.iter().filter(move |l| Some(l.span.file) == file).map(move |l| to_miette(l, len)),
        ))
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn miette::Diagnostic> + 'b>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)))
    }
}

impl fmt::Debug for Related {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "related labels in `{}`", self.source.name())
    }
}

impl fmt::Display for Related {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "in `{}`", self.source.name())
    }
}

impl std::error::Error for Related {}

impl miette::Diagnostic for Related {
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Advice)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let len = self.source.inner().len();
        Some(Box::new(self.labels.iter().map(move |l| to_miette(l, len))))
    }
}

/// Renders diagnostics as text, one report after another.
///
/// With `color: false` the output depends only on the arguments (unicode
/// box-drawing characters, no escapes, lines wrapped at `width`), which is
/// what snapshot tests use.
pub fn render(diags: &[Diagnostic], sources: &SourceMap, width: usize, color: bool) -> String {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(width).with_links(false);
    let mut out = String::new();
    for diag in diags {
        let report = diag.with_sources(sources);
        if handler.render_report(&mut out, &report).is_err() {
            // Rendering only fails on a formatter error; fall back to the message.
            out.push_str(&format!("{}: {}\n", diag.code, diag.message));
        }
    }
    out
}
