//! The rc lexer: turns source text into words and operators, one token at a time.
//!
//! Small nom parsers over a [`nom_locate::LocatedSpan`] recognise each piece (blanks and
//! comments, operators, plain runs, quotes, `$` expansions); [`Lexer::next_token`] drives them
//! with an explicit loop per word ([`WordBuilder`] collects parts without per-char
//! allocation). Quoting is resolved here: a [`LexedWord`] holds the unquoted parts plus what
//! the parser needs to know about its raw text (keywords, assignments, options).
//!
//! Lines and columns come from a [`Locator`] that walks forward once over the text, since
//! token starts only move forward (nom_locate's column lookup rescans the line each time).

use alloc::string::String;
use alloc::vec::Vec;

use nom::Parser;
use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_till1, take_while, take_while1};
use nom::character::complete::{char, satisfy};
use nom::combinator::recognize;
use nom::sequence::{delimited, pair};
use nom_locate::LocatedSpan;

use super::ast::{Span, Word, WordPart};
use super::error::{ErrorKind, excerpt};

/// The lexer's input: the remaining text with its byte offset.
pub(crate) type Input<'a> = LocatedSpan<&'a str>;

/// The result of a nom sub-parser; failures carry no data (callers know what they expected).
type Res<'a, O> = nom::IResult<Input<'a>, O, ()>;

/// A lexing failure, placed at the piece of text that caused it.
pub(crate) struct LexError {
    pub kind: ErrorKind,
    pub span: Span,
}

/// An operator token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `;`
    Semi,
    /// `&`
    Amp,
    /// `|`
    Pipe,
    /// `&&`
    AndIf,
    /// `||`
    OrIf,
    /// A line break.
    Newline,
}

impl Op {
    /// The operator as written (a newline is shown as `newline`).
    pub(crate) fn text(self) -> &'static str {
        match self {
            Op::Semi => ";",
            Op::Amp => "&",
            Op::Pipe => "|",
            Op::AndIf => "&&",
            Op::OrIf => "||",
            Op::Newline => "newline",
        }
    }
}

/// A word as lexed: its unquoted parts plus facts about its raw source text.
#[derive(Debug, Clone)]
pub(crate) struct LexedWord<'a> {
    pub word: Word,
    /// The source text of the word, quotes and all.
    pub raw: &'a str,
    /// No quotes, escapes, continuations or `$` in the raw text: the literal is `raw` itself.
    pub plain: bool,
}

impl LexedWord<'_> {
    /// The keyword this word is, if it is an unquoted reserved word.
    pub(crate) fn keyword(&self) -> Option<&'static str> {
        if !self.plain {
            return None;
        }
        KEYWORDS.iter().copied().find(|k| *k == self.raw)
    }

    /// The length of `NAME` if the raw text starts with an unquoted `NAME=`.
    pub(crate) fn assignment_name_len(&self) -> Option<usize> {
        let name_len = name_prefix_len(self.raw);
        (name_len > 0 && self.raw.as_bytes().get(name_len) == Some(&b'=')).then_some(name_len)
    }

    /// True for an unquoted word starting with `-` (an option of a built-in).
    pub(crate) fn is_option(&self) -> bool {
        self.plain && self.raw.starts_with('-')
    }
}

/// What a token is.
#[derive(Debug, Clone)]
pub(crate) enum TokenKind<'a> {
    Word(LexedWord<'a>),
    Op(Op),
    /// The end of the text.
    Eof,
}

/// A token and where it is.
#[derive(Debug, Clone)]
pub(crate) struct Token<'a> {
    pub kind: TokenKind<'a>,
    pub span: Span,
}

/// The reserved words, recognised only unquoted and in command position.
pub(crate) const KEYWORDS: &[&str] = &["if", "then", "elif", "else", "fi", "{", "}"];

/// True for `[A-Za-z_]`.
pub(crate) fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

/// True for `[A-Za-z0-9_]`.
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// True if `text` is a variable name.
pub(crate) fn is_name(text: &str) -> bool {
    !text.is_empty() && name_prefix_len(text) == text.len()
}

/// The length of the longest variable name at the start of `text` (0 if none).
fn name_prefix_len(text: &str) -> usize {
    match text.chars().next() {
        Some(c) if is_name_start(c) => text.find(|c: char| !is_name_char(c)).unwrap_or(text.len()),
        _ => 0,
    }
}

/// Characters that end a word when unquoted.
fn ends_word(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')' | '`'
    )
}

/// Characters that end a plain run inside a word.
fn ends_plain_run(c: char) -> bool {
    ends_word(c) || matches!(c, '\'' | '"' | '\\' | '$')
}

/// Characters that end a literal run inside double quotes.
fn ends_quoted_run(c: char) -> bool {
    matches!(c, '"' | '\\' | '$')
}

/// Spaces, tabs and carriage returns.
fn blanks(input: Input<'_>) -> Res<'_, Input<'_>> {
    take_while(|c| c == ' ' || c == '\t' || c == '\r').parse(input)
}

/// `# ...` up to (not including) the line break.
fn comment(input: Input<'_>) -> Res<'_, Input<'_>> {
    recognize(pair(char('#'), take_till(|c| c == '\n'))).parse(input)
}

/// A backslash-newline pair, which is removed.
fn continuation(input: Input<'_>) -> Res<'_, Input<'_>> {
    tag("\\\n").parse(input)
}

/// One operator token; `&&` and `||` before `&` and `|`.
fn operator(input: Input<'_>) -> Res<'_, Op> {
    alt((
        tag("&&").map(|_| Op::AndIf),
        tag("||").map(|_| Op::OrIf),
        char(';').map(|_| Op::Semi),
        char('&').map(|_| Op::Amp),
        char('|').map(|_| Op::Pipe),
        char('\n').map(|_| Op::Newline),
    ))
    .parse(input)
}

/// A variable name.
fn name(input: Input<'_>) -> Res<'_, Input<'_>> {
    recognize(pair(satisfy(is_name_start), take_while(is_name_char))).parse(input)
}

/// `'...'`, giving the text between the quotes.
fn single_quoted(input: Input<'_>) -> Res<'_, Input<'_>> {
    delimited(char('\''), take_till(|c| c == '\''), char('\'')).parse(input)
}

/// `${NAME}`, giving the name.
fn braced_var(input: Input<'_>) -> Res<'_, Input<'_>> {
    delimited(tag("${"), name, char('}')).parse(input)
}

/// Collects the parts of one word; literal text is appended to one buffer until an expansion.
struct WordBuilder {
    parts: Vec<WordPart>,
    literal: String,
}

impl WordBuilder {
    fn new() -> WordBuilder {
        WordBuilder {
            parts: Vec::new(),
            literal: String::new(),
        }
    }

    fn push_str(&mut self, text: &str) {
        self.literal.push_str(text);
    }

    fn push_expansion(&mut self, part: WordPart) {
        if !self.literal.is_empty() {
            self.parts
                .push(WordPart::Literal(core::mem::take(&mut self.literal)));
        }
        self.parts.push(part);
    }

    fn finish(mut self) -> Vec<WordPart> {
        if !self.literal.is_empty() {
            self.parts.push(WordPart::Literal(self.literal));
        }
        self.parts
    }
}

/// Turns byte offsets into 1-based lines and char columns, walking forward only.
pub(crate) struct Locator<'a> {
    text: &'a str,
    offset: usize,
    line: u32,
    column: u32,
}

impl<'a> Locator<'a> {
    pub(crate) fn new(text: &'a str) -> Locator<'a> {
        Locator {
            text,
            offset: 0,
            line: 1,
            column: 1,
        }
    }

    /// The span of `len` bytes at `offset`; offsets before the last one asked restart the walk.
    pub(crate) fn span(&mut self, offset: usize, len: usize) -> Span {
        let offset = offset.min(self.text.len());
        if offset < self.offset {
            *self = Locator::new(self.text);
        }
        for &byte in &self.text.as_bytes()[self.offset..offset] {
            if byte == b'\n' {
                self.line = self.line.saturating_add(1);
                self.column = 1;
            } else if byte & UTF8_CONTINUATION_MASK != UTF8_CONTINUATION_BITS {
                self.column = self.column.saturating_add(1);
            }
        }
        self.offset = offset;
        Span {
            offset,
            line: self.line,
            column: self.column,
            len,
        }
    }
}

/// Bytes `10xxxxxx` continue a UTF-8 char and do not start a column.
const UTF8_CONTINUATION_MASK: u8 = 0b1100_0000;
const UTF8_CONTINUATION_BITS: u8 = 0b1000_0000;

/// Produces tokens on demand.
pub(crate) struct Lexer<'a> {
    rest: Input<'a>,
    text: &'a str,
    locator: Locator<'a>,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(text: &'a str) -> Lexer<'a> {
        Lexer {
            rest: Input::new(text),
            text,
            locator: Locator::new(text),
        }
    }

    /// The span from byte `start` to the current position.
    fn span_from(&mut self, start: usize) -> Span {
        let end = self.rest.location_offset();
        self.locator.span(start, end.saturating_sub(start))
    }

    fn error(&mut self, kind: ErrorKind, start: usize, len: usize) -> LexError {
        LexError {
            kind,
            span: self.locator.span(start, len),
        }
    }

    /// Skips blanks, comments and line continuations.
    fn skip_blanks(&mut self) {
        loop {
            if let Ok((rest, _)) = blanks(self.rest) {
                self.rest = rest;
            }
            if let Ok((rest, _)) = continuation(self.rest) {
                self.rest = rest;
            } else if let Ok((rest, _)) = comment(self.rest) {
                self.rest = rest;
            } else {
                return;
            }
        }
    }

    /// The next token; [`TokenKind::Eof`] forever at the end.
    pub(crate) fn next_token(&mut self) -> Result<Token<'a>, LexError> {
        self.skip_blanks();
        let start = self.rest.location_offset();
        let Some(first) = self.rest.fragment().chars().next() else {
            return Ok(Token {
                kind: TokenKind::Eof,
                span: self.locator.span(start, 0),
            });
        };
        if let Ok((rest, op)) = operator(self.rest) {
            self.rest = rest;
            let span = self.span_from(start);
            return Ok(Token {
                kind: TokenKind::Op(op),
                span,
            });
        }
        if ends_word(first) {
            let mut text = String::new();
            text.push(first);
            return Err(self.error(ErrorKind::UnexpectedToken(text), start, first.len_utf8()));
        }
        let word = self.word(start)?;
        let span = word.word.span;
        Ok(Token {
            kind: TokenKind::Word(word),
            span,
        })
    }

    /// One word starting at byte `start`; the state is the builder plus the `plain` flag.
    fn word(&mut self, start: usize) -> Result<LexedWord<'a>, LexError> {
        let mut builder = WordBuilder::new();
        let mut plain = true;
        while let Some(c) = self.rest.fragment().chars().next() {
            if ends_word(c) {
                break;
            }
            let before = self.rest.location_offset();
            match c {
                '\'' => {
                    plain = false;
                    let quote = self.rest.location_offset();
                    match single_quoted(self.rest) {
                        Ok((rest, inner)) => {
                            builder.push_str(inner.fragment());
                            self.rest = rest;
                        }
                        Err(_) => {
                            return Err(self.error(ErrorKind::UnterminatedSingleQuote, quote, 1));
                        }
                    }
                }
                '"' => {
                    plain = false;
                    self.double_quoted(&mut builder)?;
                }
                '\\' => {
                    plain = false;
                    self.escape_outside_quotes(&mut builder)?;
                }
                '$' => {
                    plain = false;
                    self.dollar(&mut builder)?;
                }
                _ => {
                    let run: Res<'_, Input<'_>> = take_till1(ends_plain_run).parse(self.rest);
                    match run {
                        Ok((rest, run)) => {
                            builder.push_str(run.fragment());
                            self.rest = rest;
                        }
                        Err(_) => break,
                    }
                }
            }
            if self.rest.location_offset() == before {
                // Every piece consumes input; this guards the loop should one ever not.
                let kind = ErrorKind::UnexpectedToken(String::from(c));
                return Err(self.error(kind, before, c.len_utf8()));
            }
        }
        let end = self.rest.location_offset();
        let raw = self.text.get(start..end).unwrap_or("");
        let span = self.locator.span(start, end.saturating_sub(start));
        Ok(LexedWord {
            word: Word {
                parts: builder.finish(),
                span,
            },
            raw,
            plain,
        })
    }

    /// Advances past the next `chars` chars (callers have seen them).
    fn advance(&mut self, chars: usize) {
        let taken: Res<'_, Input<'_>> = nom::bytes::complete::take(chars).parse(self.rest);
        if let Ok((rest, _)) = taken {
            self.rest = rest;
        }
    }

    /// `\` outside quotes: a continuation is removed, any other char is taken literally.
    fn escape_outside_quotes(&mut self, builder: &mut WordBuilder) -> Result<(), LexError> {
        let at = self.rest.location_offset();
        let mut chars = self.rest.fragment().chars();
        chars.next();
        match chars.next() {
            None => Err(self.error(ErrorKind::TrailingBackslash, at, 1)),
            Some('\n') => {
                self.advance(2);
                Ok(())
            }
            Some(escaped) => {
                let mut buf = [0u8; 4];
                builder.push_str(escaped.encode_utf8(&mut buf));
                self.advance(2);
                Ok(())
            }
        }
    }

    /// `"..."`: literal runs, `\"` `\\` `\$` escapes, continuations and `$` expansions.
    fn double_quoted(&mut self, builder: &mut WordBuilder) -> Result<(), LexError> {
        let quote = self.rest.location_offset();
        self.advance(1);
        loop {
            if let Ok((rest, run)) =
                take_while1::<_, _, ()>(|c| !ends_quoted_run(c)).parse(self.rest)
            {
                builder.push_str(run.fragment());
                self.rest = rest;
            }
            let mut chars = self.rest.fragment().chars();
            match chars.next() {
                None => return Err(self.error(ErrorKind::UnterminatedDoubleQuote, quote, 1)),
                Some('"') => {
                    self.advance(1);
                    return Ok(());
                }
                Some('$') => self.dollar(builder)?,
                Some(_backslash) => match chars.next() {
                    None => {
                        return Err(self.error(ErrorKind::UnterminatedDoubleQuote, quote, 1));
                    }
                    Some('\n') => self.advance(2),
                    Some(escaped @ ('"' | '\\' | '$')) => {
                        let mut buf = [0u8; 4];
                        builder.push_str(escaped.encode_utf8(&mut buf));
                        self.advance(2);
                    }
                    Some(_) => {
                        builder.push_str("\\");
                        self.advance(1);
                    }
                },
            }
        }
    }

    /// `$?`, `${NAME}`, `$NAME`, or a lone `$` taken literally.
    fn dollar(&mut self, builder: &mut WordBuilder) -> Result<(), LexError> {
        let at = self.rest.location_offset();
        let fragment = *self.rest.fragment();
        if fragment.starts_with("$?") {
            builder.push_expansion(WordPart::LastStatus);
            self.advance(2);
        } else if fragment.starts_with("${") {
            match braced_var(self.rest) {
                Ok((rest, var)) => {
                    builder.push_expansion(WordPart::Var(String::from(*var.fragment())));
                    self.rest = rest;
                }
                Err(_) => {
                    let end = fragment
                        .find(|c: char| c == '}' || ends_word(c))
                        .map_or(fragment.len(), |i| {
                            i + usize::from(fragment.as_bytes()[i] == b'}')
                        });
                    let text = excerpt(&fragment[..end]);
                    return Err(self.error(ErrorKind::BadSubstitution(text), at, end));
                }
            }
        } else {
            self.advance(1);
            match name(self.rest) {
                Ok((rest, var)) => {
                    builder.push_expansion(WordPart::Var(String::from(*var.fragment())));
                    self.rest = rest;
                }
                Err(_) => builder.push_str("$"),
            }
        }
        Ok(())
    }
}
