//! The rc lexer: turns source text into words and operators, one token at a time.
//!
//! The lexer walks a byte offset through the text. The common pieces are scanned with byte
//! loops: blanks and comments, operators, and plain words (no quotes, escapes or `$`), which
//! are by far the most frequent and need no unquoting. A word that meets a quote, a `\` or
//! a `$` continues in [`Lexer::word`]'s state machine, where small nom parsers recognise the
//! pieces (quotes, `$` expansions) and a [`WordBuilder`] collects the parts. Quoting is
//! resolved here: a [`LexedWord`] holds the unquoted parts plus what the parser needs to know
//! about its raw text (keywords, assignments, options). A plain word keeps only its raw
//! text: its single literal part is built when the parser keeps the word, so keywords and
//! assignment names never allocate.
//!
//! Lines and columns come from a [`Locator`] that walks forward once over the text, since
//! token starts only move forward. (nom_locate served here first; it recounted lines on
//! every step and held the parser under 40 MB/s, so positions are tracked this way.)

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use nom::Parser;
use nom::bytes::complete::{tag, take_till, take_while, take_while1};
use nom::character::complete::{char, satisfy};
use nom::combinator::recognize;
use nom::sequence::{delimited, pair};

use super::ast::{Span, Word, WordPart, literal_parts};
use super::error::{ErrorKind, Unsupported, excerpt};

/// The input of the nom sub-parsers: the text from the lexer's position on.
type Input<'a> = &'a str;

/// The result of a nom sub-parser; failures carry no data (callers know what they expected).
type Res<'a, O> = nom::IResult<Input<'a>, O, ()>;

/// A lexing failure, placed at the piece of text that caused it.
pub(crate) struct LexError {
    pub kind: ErrorKind,
    pub span: Span,
}

/// The lexer's result; the error is boxed so that results stay token-sized (see the
/// parser's `Result`).
type LexResult<T> = Result<T, Box<LexError>>;

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
    /// The source text of the word, quotes and all.
    pub raw: &'a str,
    /// Where the word is (the [`Word`] built from it gets the same span).
    pub span: Span,
    /// The unquoted parts, or `None` for a plain word: no quotes, escapes, continuations or
    /// `$` in the raw text, so its only part is the literal `raw` itself (built by
    /// [`LexedWord::into_word`] only for words the tree keeps).
    pub parts: Option<Vec<WordPart>>,
}

impl LexedWord<'_> {
    /// True for a word without quotes, escapes, continuations or `$`.
    pub(crate) fn is_plain(&self) -> bool {
        self.parts.is_none()
    }

    /// The keyword this word is, if it is an unquoted reserved word.
    pub(crate) fn keyword(&self) -> Option<&'static str> {
        if !self.is_plain() {
            return None;
        }
        // The same words as KEYWORDS: a match compiles to length tests and inline compares,
        // where a search of the list calls memcmp for every keyword of the word's length.
        let keyword = match self.raw {
            "if" => "if",
            "then" => "then",
            "elif" => "elif",
            "else" => "else",
            "fi" => "fi",
            "{" => "{",
            "}" => "}",
            _ => return None,
        };
        debug_assert!(KEYWORDS.contains(&keyword));
        Some(keyword)
    }

    /// The length of `NAME` if the raw text starts with an unquoted `NAME=`.
    pub(crate) fn assignment_name_len(&self) -> Option<usize> {
        let name_len = name_prefix_len(self.raw);
        (name_len > 0 && self.raw.as_bytes().get(name_len) == Some(&b'=')).then_some(name_len)
    }

    /// True for an unquoted word starting with `-` (an option of a built-in).
    pub(crate) fn is_option(&self) -> bool {
        self.is_plain() && self.raw.starts_with('-')
    }

    /// The word's text if it is literal only, as [`Word::literal`] gives it.
    pub(crate) fn literal(&self) -> Option<&str> {
        match &self.parts {
            None => Some(self.raw),
            Some(parts) => Word::literal_of(parts),
        }
    }

    /// The word as the tree keeps it.
    pub(crate) fn into_word(self) -> Word {
        Word {
            parts: self.parts.unwrap_or_else(|| literal_parts(self.raw)),
            span: self.span,
        }
    }
}

/// A token and where it is (a word's span is in the word).
///
/// Tokens are moved through the parser's one-token lookahead, so they are kept small: no
/// span is stored twice.
#[derive(Debug, Clone)]
pub(crate) enum Token<'a> {
    Word(LexedWord<'a>),
    Op(Op, Span),
    /// The end of the text.
    Eof(Span),
}

impl Token<'_> {
    /// Where the token is.
    pub(crate) fn span(&self) -> Span {
        match self {
            Token::Word(word) => word.span,
            Token::Op(_, span) | Token::Eof(span) => *span,
        }
    }
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
///
/// Name chars are ASCII, so bytes are tested: a byte of a multi-byte char is not one.
fn name_prefix_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    match bytes.first() {
        Some(&first) if is_name_start(char::from(first)) => bytes
            .iter()
            .position(|&b| !is_name_char(char::from(b)))
            .unwrap_or(bytes.len()),
        _ => 0,
    }
}

/// The characters that end a word when unquoted (all ASCII).
const WORD_ENDERS: &[u8] = b" \t\r\n;&|<>()`";
/// The characters that end a plain run inside a word besides [`WORD_ENDERS`]: quoting and `$`.
const RUN_ENDERS: &[u8] = b"'\"\\$*?[~";

/// [`BYTE_CLASS`] bit: the byte is one of [`WORD_ENDERS`].
const ENDS_WORD: u8 = 1;
/// [`BYTE_CLASS`] bit: the byte is one of [`WORD_ENDERS`] or [`RUN_ENDERS`].
const ENDS_RUN: u8 = 2;

/// The class bits of every byte value, so the scanning loops do one lookup per byte. Bytes of
/// multi-byte chars (`0x80..`) have none: only ASCII chars end words and runs.
static BYTE_CLASS: [u8; 256] = byte_classes();

const fn byte_classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < WORD_ENDERS.len() {
        table[WORD_ENDERS[i] as usize] = ENDS_WORD | ENDS_RUN;
        i += 1;
    }
    let mut i = 0;
    while i < RUN_ENDERS.len() {
        table[RUN_ENDERS[i] as usize] = ENDS_RUN;
        i += 1;
    }
    table
}

/// True if `byte` ends a word when unquoted.
fn byte_ends_word(byte: u8) -> bool {
    BYTE_CLASS[usize::from(byte)] & ENDS_WORD != 0
}

/// True if `byte` ends a plain run inside a word.
fn byte_ends_run(byte: u8) -> bool {
    BYTE_CLASS[usize::from(byte)] & ENDS_RUN != 0
}

/// Characters that end a word when unquoted.
fn ends_word(c: char) -> bool {
    c.is_ascii() && byte_ends_word(c as u8)
}

/// Characters that end a literal run inside double quotes.
fn ends_quoted_run(c: char) -> bool {
    matches!(c, '"' | '\\' | '$')
}

/// The offset of the first `needle` in `bytes` at or after `from`, or the end.
fn find_byte(bytes: &[u8], from: usize, needle: u8) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == needle))
        .map_or(bytes.len(), |i| from + i)
}

/// The operator at the start of `rest` and its length; `&&` and `||` before `&` and `|`.
fn operator(rest: &[u8]) -> Option<(Op, usize)> {
    match rest {
        [b'&', b'&', ..] => Some((Op::AndIf, 2)),
        [b'|', b'|', ..] => Some((Op::OrIf, 2)),
        [b';', ..] => Some((Op::Semi, 1)),
        [b'&', ..] => Some((Op::Amp, 1)),
        [b'|', ..] => Some((Op::Pipe, 1)),
        [b'\n', ..] => Some((Op::Newline, 1)),
        _ => None,
    }
}

/// The construct a `$` followed by `c` starts, when kiln's rc does not have it.
fn unsupported_parameter(c: char) -> Option<Unsupported> {
    match c {
        '(' => Some(Unsupported::CommandSubstitution),
        '0'..='9' | '@' | '*' => Some(Unsupported::Positional(c)),
        '$' | '-' => Some(Unsupported::ShellParameter(c)),
        _ => None,
    }
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

/// A literal run inside double quotes.
fn quoted_run(input: Input<'_>) -> Res<'_, Input<'_>> {
    take_while1(|c| !ends_quoted_run(c)).parse(input)
}

/// Collects the parts of one word; literal text is appended to one buffer until an expansion.
struct WordBuilder {
    parts: Vec<WordPart>,
    literal: String,
}

impl WordBuilder {
    /// A builder whose literal starts with `text`.
    fn starting_with(text: &str) -> WordBuilder {
        WordBuilder {
            parts: Vec::new(),
            literal: String::from(text),
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
    #[inline]
    pub(crate) fn span(&mut self, offset: usize, len: usize) -> Span {
        let offset = offset.min(self.text.len());
        if offset < self.offset {
            *self = Locator::new(self.text);
        }
        let (mut line, mut column) = (self.line, self.column);
        for &byte in &self.text.as_bytes()[self.offset..offset] {
            if byte == b'\n' {
                line = line.saturating_add(1);
                column = 1;
            } else {
                let starts_char = byte & UTF8_CONTINUATION_MASK != UTF8_CONTINUATION_BITS;
                column = column.saturating_add(u32::from(starts_char));
            }
        }
        (self.offset, self.line, self.column) = (offset, line, column);
        Span {
            offset,
            line,
            column,
            len,
        }
    }
}

/// Bytes `10xxxxxx` continue a UTF-8 char and do not start a column.
const UTF8_CONTINUATION_MASK: u8 = 0b1100_0000;
const UTF8_CONTINUATION_BITS: u8 = 0b1000_0000;

/// Produces tokens on demand.
pub(crate) struct Lexer<'a> {
    text: &'a str,
    /// The byte offset where the next token (or the blanks before it) starts.
    pos: usize,
    locator: Locator<'a>,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(text: &'a str) -> Lexer<'a> {
        Lexer {
            text,
            pos: 0,
            locator: Locator::new(text),
        }
    }

    /// The text from the current position on.
    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }

    /// Moves to where a nom sub-parser stopped (`rest` is a suffix of the text).
    fn resume(&mut self, rest: &'a str) {
        self.pos = self.text.len() - rest.len();
    }

    fn error(&mut self, kind: ErrorKind, start: usize, len: usize) -> Box<LexError> {
        Box::new(LexError {
            kind,
            span: self.locator.span(start, len),
        })
    }

    /// Skips blanks (spaces, tabs, carriage returns), comments and line continuations.
    fn skip_blanks(&mut self) {
        let bytes = self.text.as_bytes();
        while let Some(&byte) = bytes.get(self.pos) {
            match byte {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\\' if bytes.get(self.pos + 1) == Some(&b'\n') => self.pos += 2,
                // A comment runs up to (not including) the line break.
                b'#' => self.pos = find_byte(bytes, self.pos, b'\n'),
                _ => return,
            }
        }
    }

    /// The end of the plain run (no word enders, quotes, escapes or `$`) starting at `from`.
    fn plain_run_end(&self, from: usize) -> usize {
        let bytes = self.text.as_bytes();
        bytes
            .get(from..)
            .and_then(|rest| rest.iter().position(|&b| byte_ends_run(b)))
            .map_or(bytes.len(), |i| from + i)
    }

    /// The next token; [`Token::Eof`] forever at the end.
    pub(crate) fn next_token(&mut self) -> LexResult<Token<'a>> {
        self.skip_blanks();
        let start = self.pos;
        let rest = self.rest().as_bytes();
        let Some(&first) = rest.first() else {
            return Ok(Token::Eof(self.locator.span(start, 0)));
        };
        if let Some((op, len)) = operator(rest) {
            self.pos += len;
            return Ok(Token::Op(op, self.locator.span(start, len)));
        }
        if byte_ends_word(first) {
            let kind = match first {
                b'<' | b'>' => ErrorKind::Unsupported(Unsupported::Redirection(char::from(first))),
                b'(' | b')' => ErrorKind::Unsupported(Unsupported::Subshell),
                b'`' => ErrorKind::Unsupported(Unsupported::CommandSubstitution),
                _ => ErrorKind::UnexpectedToken(String::from(char::from(first))),
            };
            return Err(self.error(kind, start, 1));
        }
        self.word(start).map(Token::Word)
    }

    /// One word starting at byte `start`.
    ///
    /// A plain word is one byte scan. Otherwise the scanned run starts the literal and a
    /// state machine takes the rest, piece by piece: quotes, escapes, `$`, plain runs.
    fn word(&mut self, start: usize) -> LexResult<LexedWord<'a>> {
        let run_end = self.plain_run_end(start);
        self.pos = run_end;
        let after = self.text.as_bytes().get(run_end).copied();
        if run_end > start && after.is_none_or(byte_ends_word) {
            return Ok(LexedWord {
                raw: self.text.get(start..run_end).unwrap_or(""),
                span: self.locator.span(start, run_end - start),
                parts: None,
            });
        }
        let mut builder = WordBuilder::starting_with(self.text.get(start..run_end).unwrap_or(""));
        while let Some(c) = self.rest().chars().next() {
            if ends_word(c) {
                break;
            }
            let before = self.pos;
            match c {
                '\'' => match single_quoted(self.rest()) {
                    Ok((rest, inner)) => {
                        builder.push_str(inner);
                        self.resume(rest);
                    }
                    Err(_) => {
                        return Err(self.error(ErrorKind::UnterminatedSingleQuote, before, 1));
                    }
                },
                '"' => self.double_quoted(&mut builder)?,
                '\\' => self.escape_outside_quotes(&mut builder)?,
                '$' => self.dollar(&mut builder)?,
                '*' | '?' | '[' => {
                    let kind = ErrorKind::Unsupported(Unsupported::Glob(c));
                    return Err(self.error(kind, before, 1));
                }
                '~' if before == start => {
                    return Err(self.error(ErrorKind::Unsupported(Unsupported::Tilde), before, 1));
                }
                '~' => {
                    builder.push_str("~");
                    self.pos += 1;
                }
                _ => {
                    let end = self.plain_run_end(before);
                    builder.push_str(self.text.get(before..end).unwrap_or(""));
                    self.pos = end;
                }
            }
            if self.pos == before {
                // Every piece consumes input; this guards the loop should one ever not.
                let kind = ErrorKind::UnexpectedToken(String::from(c));
                return Err(self.error(kind, before, c.len_utf8()));
            }
        }
        let end = self.pos;
        Ok(LexedWord {
            raw: self.text.get(start..end).unwrap_or(""),
            span: self.locator.span(start, end - start),
            parts: Some(builder.finish()),
        })
    }

    /// `\` outside quotes: a continuation is removed, any other char is taken literally.
    fn escape_outside_quotes(&mut self, builder: &mut WordBuilder) -> LexResult<()> {
        let at = self.pos;
        let mut chars = self.rest().chars();
        chars.next();
        match chars.next() {
            None => Err(self.error(ErrorKind::TrailingBackslash, at, 1)),
            Some('\n') => {
                self.pos += 2;
                Ok(())
            }
            Some(escaped) => {
                let mut buf = [0u8; 4];
                builder.push_str(escaped.encode_utf8(&mut buf));
                self.pos += 1 + escaped.len_utf8();
                Ok(())
            }
        }
    }

    /// `"..."`: literal runs, `\"` `\\` `\$` escapes, continuations and `$` expansions.
    fn double_quoted(&mut self, builder: &mut WordBuilder) -> LexResult<()> {
        let quote = self.pos;
        self.pos += 1;
        loop {
            if let Ok((rest, run)) = quoted_run(self.rest()) {
                builder.push_str(run);
                self.resume(rest);
            }
            let mut chars = self.rest().chars();
            match chars.next() {
                None => return Err(self.error(ErrorKind::UnterminatedDoubleQuote, quote, 1)),
                Some('"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some('$') => self.dollar(builder)?,
                Some(_backslash) => match chars.next() {
                    None => {
                        return Err(self.error(ErrorKind::UnterminatedDoubleQuote, quote, 1));
                    }
                    Some('\n') => self.pos += 2,
                    Some(escaped @ ('"' | '\\' | '$')) => {
                        let mut buf = [0u8; 4];
                        builder.push_str(escaped.encode_utf8(&mut buf));
                        self.pos += 2;
                    }
                    Some(_) => {
                        builder.push_str("\\");
                        self.pos += 1;
                    }
                },
            }
        }
    }

    /// `$?`, `${NAME}`, `$NAME`, or a lone `$` taken literally.
    fn dollar(&mut self, builder: &mut WordBuilder) -> LexResult<()> {
        let at = self.pos;
        let fragment = self.rest();
        let second = fragment[1..].chars().next();
        if fragment.starts_with("$?") {
            builder.push_expansion(WordPart::LastStatus);
            self.pos += 2;
        } else if fragment.starts_with("$!") {
            builder.push_expansion(WordPart::LastBackground);
            self.pos += 2;
        } else if fragment.starts_with("$#") {
            // rc scripts and typed lines take no arguments.
            builder.push_str("0");
            self.pos += 2;
        } else if let Some(kind) = second.and_then(unsupported_parameter) {
            let (kind, len) = if fragment.starts_with("$((") {
                (Unsupported::Arithmetic, 3)
            } else {
                (kind, 2)
            };
            return Err(self.error(ErrorKind::Unsupported(kind), at, len));
        } else if fragment.starts_with("${") {
            match braced_var(fragment) {
                Ok((rest, var)) => {
                    builder.push_expansion(WordPart::Var(String::from(var)));
                    self.resume(rest);
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
            self.pos += 1;
            match name(self.rest()) {
                Ok((rest, var)) => {
                    builder.push_expansion(WordPart::Var(String::from(var)));
                    self.resume(rest);
                }
                Err(_) => builder.push_str("$"),
            }
        }
        Ok(())
    }
}
