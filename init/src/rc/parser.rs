//! The rc grammar: a recursive-descent parser over the [`Lexer`]'s tokens, one token of
//! lookahead.
//!
//! ```text
//! list      := (and_or (';' | '&' | newline))* [and_or]
//! and_or    := pipeline (('&&' | '||') newline* pipeline)*
//! pipeline  := command ('|' newline* command)*
//! command   := '{' list '}' | if | builtin | NAME=value... word...
//! if        := 'if' list 'then' list ('elif' list 'then' list)* ['else' list] 'fi'
//! ```
//!
//! Keywords count only unquoted and in command position, as in sh. Built-ins are parsed into
//! typed [`Builtin`]s; every other command name is checked against the caller's [`Names`].
//! Nesting is bounded by [`MAX_DEPTH`], so no input can exhaust the stack.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::{self, Vec};
use core::time::Duration;

use nom::Parser as _;
use nom::character::complete::digit1;
use nom::combinator::all_consuming;

use super::Names;
use super::ast::{
    AndOr, Assignment, BUILTIN_NAMES, Builtin, Command, Connector, IfCommand, Item, List, Pipeline,
    Script, SimpleCommand, Span, Word, WordPart, literal_parts,
};
use super::error::{Error, ErrorKind, Unsupported, excerpt};
use super::lexer::{LexedWord, Lexer, Op, Token, is_name};
use super::{MAX_DEPTH, MAX_SCRIPT_BYTES};

/// The parser's result. Its error is boxed: results (tokens among them) move through `?`
/// several times per word, and a one-pointer `Err` keeps them small and cheap to move.
type Result<T> = core::result::Result<T, Box<Error>>;

/// Names longer than this get no did-you-mean suggestion (edit distance is quadratic).
const MAX_SUGGEST_CHARS: usize = 64;
/// The largest edit distance still offered as a suggestion.
const MAX_SUGGEST_DISTANCE: usize = 2;

/// What ends the list being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closer {
    /// The end of the script (top level).
    Eof,
    /// `}` of a group.
    Brace,
    /// `then` after an `if`/`elif` condition.
    Then,
    /// `elif`, `else` or `fi` after a `then` body.
    ElseElifFi,
    /// `fi` after an `else` body.
    Fi,
}

impl Closer {
    fn accepts(self, keyword: &str) -> bool {
        match self {
            Closer::Eof => false,
            Closer::Brace => keyword == "}",
            Closer::Then => keyword == "then",
            Closer::ElseElifFi => matches!(keyword, "elif" | "else" | "fi"),
            Closer::Fi => keyword == "fi",
        }
    }

    /// The keyword this list waits for, for messages.
    fn expected(self) -> &'static str {
        match self {
            Closer::Eof => "end of the input",
            Closer::Brace => "}",
            Closer::Then => "then",
            Closer::ElseElifFi | Closer::Fi => "fi",
        }
    }
}

/// Keywords that close a list (everything but `if` and `{`).
fn is_closing_keyword(keyword: &str) -> bool {
    matches!(keyword, "then" | "elif" | "else" | "fi" | "}")
}

pub(crate) use crate::duration::parse_duration;

/// The sh keyword `word` starts a construct kiln's rc does not have.
fn unsupported_keyword(word: &str) -> Option<Unsupported> {
    match word {
        "for" => Some(Unsupported::Loop("for")),
        "while" => Some(Unsupported::Loop("while")),
        "until" => Some(Unsupported::Loop("until")),
        "case" => Some(Unsupported::Case),
        "function" => Some(Unsupported::Function),
        _ => None,
    }
}

/// Parses a decimal number that fits `T`.
fn parse_number<T: core::str::FromStr>(text: &str) -> Option<T> {
    all_consuming(digit1::<_, ()>)
        .parse(text)
        .ok()?
        .1
        .parse()
        .ok()
}

/// The Levenshtein distance between `a` and `b`, counted in chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = Vec::with_capacity(b.len() + 1);
    for (i, ca) in a.chars().enumerate() {
        current.clear();
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            let delete = previous[j + 1] + 1;
            let insert = current[j] + 1;
            current.push(substitute.min(delete).min(insert));
        }
        core::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// The known name (or built-in) closest to `name`, if close enough.
pub(crate) fn suggest(name: &str, names: &dyn Names) -> Option<String> {
    let length = name.chars().count();
    if length == 0 || length > MAX_SUGGEST_CHARS {
        return None;
    }
    let limit = MAX_SUGGEST_DISTANCE.min(length.saturating_sub(1)).max(1);
    let mut best: Option<(usize, &str)> = None;
    let candidates = names.candidates();
    for candidate in candidates
        .iter()
        .copied()
        .chain(BUILTIN_NAMES.iter().copied())
    {
        if candidate.chars().count() > MAX_SUGGEST_CHARS + MAX_SUGGEST_DISTANCE {
            continue;
        }
        let distance = edit_distance(name, candidate);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| String::from(candidate))
}

/// The parser's state: the token stream with one token of lookahead, and open constructs.
pub(crate) struct Parser<'a, 'n> {
    lexer: Lexer<'a>,
    peeked: Option<Token<'a>>,
    source: &'a str,
    text: &'a str,
    names: &'n dyn Names,
    /// Open `{ }` and `if` constructs.
    depth: usize,
    /// Open `{ }` groups (a `}` with none is stray).
    open_braces: usize,
    /// Open `if`s (a `fi` with none has no `if`).
    open_ifs: usize,
    /// The words of the simple command being parsed; kept between commands so that
    /// collecting words allocates only while the longest command so far grows.
    words: Vec<LexedWord<'a>>,
}

/// The words of a command after its name, taken out of [`Parser::words`].
type Args<'s, 'a> = vec::Drain<'s, LexedWord<'a>>;

/// Parses a whole script; see [`super::parse`].
pub(crate) fn parse_script(source: &str, text: &str, names: &dyn Names) -> super::Result<Script> {
    if text.len() > MAX_SCRIPT_BYTES {
        let span = Span {
            offset: 0,
            line: 1,
            column: 1,
            len: 1,
        };
        let kind = ErrorKind::ScriptTooLarge {
            size: text.len(),
            limit: MAX_SCRIPT_BYTES,
        };
        return Err(Error::at(kind, source, span, text));
    }
    let mut parser = Parser {
        lexer: Lexer::new(text),
        peeked: None,
        source,
        text,
        names,
        depth: 0,
        open_braces: 0,
        open_ifs: 0,
        words: Vec::new(),
    };
    match parser.list(Closer::Eof, Span::default()) {
        Ok(items) => Ok(Script { items }),
        Err(error) => Err(*error),
    }
}

impl<'a> Parser<'a, '_> {
    fn error(&self, kind: ErrorKind, span: Span) -> Box<Error> {
        Box::new(Error::at(kind, self.source, span, self.text))
    }

    fn peek(&mut self) -> Result<&Token<'a>> {
        if self.peeked.is_none() {
            let token = self
                .lexer
                .next_token()
                .map_err(|e| self.error(e.kind, e.span))?;
            self.peeked = Some(token);
        }
        match &self.peeked {
            Some(token) => Ok(token),
            None => unreachable!("a token was just peeked"),
        }
    }

    fn next(&mut self) -> Result<Token<'a>> {
        self.peek()?;
        Ok(self.peeked.take().unwrap_or(Token::Eof(Span::default())))
    }

    /// Skips line breaks (after `&&`, `||`, `|` and between items).
    fn skip_newlines(&mut self) -> Result<()> {
        while matches!(self.peek()?, Token::Op(Op::Newline, _)) {
            self.next()?;
        }
        Ok(())
    }

    /// The closing keyword the next token is, if any.
    fn peek_closing_keyword(&mut self) -> Result<Option<&'static str>> {
        Ok(match self.peek()? {
            Token::Word(word) => word.keyword().filter(|k| is_closing_keyword(k)),
            _ => None,
        })
    }

    /// Items up to `closer` (not consumed); `opener` is where the construct began.
    fn list(&mut self, closer: Closer, opener: Span) -> Result<List> {
        let mut items = List::new();
        loop {
            self.skip_newlines()?;
            if let Some(keyword) = self.peek_closing_keyword()? {
                if closer.accepts(keyword) {
                    return Ok(items);
                }
                let span = self.peek()?.span();
                return Err(self.error(self.misplaced(keyword, closer), span));
            }
            let token = self.peek()?;
            let span = token.span();
            match token {
                Token::Eof(_) => {
                    return match closer {
                        Closer::Eof => Ok(items),
                        Closer::Brace => Err(self.error(ErrorKind::MissingCloseBrace, opener)),
                        Closer::Then => Err(self.error(ErrorKind::MissingThen, opener)),
                        Closer::ElseElifFi | Closer::Fi => {
                            Err(self.error(ErrorKind::MissingFi, opener))
                        }
                    };
                }
                &Token::Op(op, _) => {
                    return Err(self.error(ErrorKind::EmptyCommand { before: op.text() }, span));
                }
                Token::Word(_) => {}
            }
            let and_or = self.and_or()?;
            let background = self.item_end()?;
            items.push(Item { and_or, background });
        }
    }

    /// The error for closing keyword `keyword` met where `closer` was awaited.
    fn misplaced(&self, keyword: &'static str, closer: Closer) -> ErrorKind {
        if keyword == "}" && self.open_braces == 0 {
            ErrorKind::StrayCloseBrace
        } else if keyword != "}" && self.open_ifs == 0 {
            ErrorKind::KeywordWithoutIf(keyword)
        } else {
            ErrorKind::Expected {
                expected: closer.expected(),
                found: String::from(keyword),
            }
        }
    }

    /// Consumes what ends an item; true for `&`.
    fn item_end(&mut self) -> Result<bool> {
        if self.peek_closing_keyword()?.is_some() {
            return Ok(false);
        }
        let token = self.peek()?;
        let span = token.span();
        let unexpected = match token {
            Token::Op(Op::Semi | Op::Newline, _) | Token::Eof(_) => None,
            Token::Op(Op::Amp, _) => {
                self.next()?;
                return Ok(true);
            }
            Token::Op(op, _) => Some(String::from(op.text())),
            Token::Word(word) => Some(excerpt(word.raw)),
        };
        match unexpected {
            Some(text) => Err(self.error(ErrorKind::UnexpectedToken(text), span)),
            None => {
                if !matches!(self.peek()?, Token::Eof(_)) {
                    self.next()?;
                }
                Ok(false)
            }
        }
    }

    fn and_or(&mut self) -> Result<AndOr> {
        let first = self.pipeline(None)?;
        let mut rest = Vec::new();
        loop {
            let token = self.peek()?;
            let connector = match token {
                Token::Op(Op::AndIf, _) => Connector::And,
                Token::Op(Op::OrIf, _) => Connector::Or,
                _ => return Ok(AndOr { first, rest }),
            };
            let operator = self.next()?;
            let after = match connector {
                Connector::And => "&&",
                Connector::Or => "||",
            };
            self.skip_newlines()?;
            rest.push((connector, self.pipeline(Some((after, operator.span())))?));
        }
    }

    /// A pipeline; `after` is the operator before it, if any.
    fn pipeline(&mut self, after: Option<(&'static str, Span)>) -> Result<Pipeline> {
        // Most pipelines are one command.
        let mut commands = Vec::with_capacity(1);
        commands.push(self.command(after)?);
        while matches!(self.peek()?, Token::Op(Op::Pipe, _)) {
            let pipe = self.next()?;
            self.skip_newlines()?;
            commands.push(self.command(Some(("|", pipe.span())))?);
        }
        Ok(Pipeline { commands })
    }

    /// One command; `after` is the operator before it, if any.
    fn command(&mut self, after: Option<(&'static str, Span)>) -> Result<Command> {
        let token = self.peek()?;
        let span = token.span();
        // Refused where the command starts, before the rest (`case x in x)`) is lexed.
        if let Token::Word(word) = &token
            && let Some(construct) = word.literal().and_then(unsupported_keyword)
        {
            return Err(self.error(ErrorKind::Unsupported(construct), span));
        }
        let keyword = match token {
            Token::Word(word) => word.keyword(),
            Token::Eof(_) => {
                let (after, at) = after.unwrap_or(("start", span));
                return Err(self.error(ErrorKind::UnexpectedEnd { after }, at));
            }
            Token::Op(op, _) => {
                let before = op.text();
                return Err(match after {
                    Some((after, at)) => self.error(ErrorKind::MissingCommand { after }, at),
                    None => self.error(ErrorKind::EmptyCommand { before }, span),
                });
            }
        };
        match keyword {
            Some("if") => self.nested(span, Parser::if_command),
            Some("{") => self.nested(span, Parser::group),
            Some(closing) => Err(match after {
                Some((after, at)) => self.error(ErrorKind::MissingCommand { after }, at),
                None => self.error(ErrorKind::UnexpectedToken(String::from(closing)), span),
            }),
            None => self.simple_or_builtin(),
        }
    }

    /// Runs `body` one nesting level deeper, failing past [`MAX_DEPTH`].
    fn nested(&mut self, span: Span, body: fn(&mut Self) -> Result<Command>) -> Result<Command> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(ErrorKind::NestingTooDeep { limit: MAX_DEPTH }, span));
        }
        self.depth += 1;
        let command = body(self)?;
        self.depth -= 1;
        Ok(command)
    }

    /// `{ list }`.
    fn group(&mut self) -> Result<Command> {
        let open = self.next()?.span();
        self.open_braces += 1;
        let body = self.list(Closer::Brace, open)?;
        if body.is_empty() {
            return Err(self.error(ErrorKind::MissingCommand { after: "{" }, open));
        }
        self.next()?;
        self.open_braces -= 1;
        Ok(Command::Group { body, span: open })
    }

    /// `if ... fi`.
    fn if_command(&mut self) -> Result<Command> {
        let if_span = self.next()?.span();
        self.open_ifs += 1;
        let mut branches = Vec::new();
        let mut keyword: &'static str = "if";
        let mut keyword_span = if_span;
        let otherwise = loop {
            let condition = self.list(Closer::Then, if_span)?;
            if condition.is_empty() {
                let kind = ErrorKind::MissingCommand { after: keyword };
                return Err(self.error(kind, keyword_span));
            }
            let then_span = self.next()?.span();
            let body = self.list(Closer::ElseElifFi, if_span)?;
            if body.is_empty() {
                let kind = ErrorKind::MissingCommand { after: "then" };
                return Err(self.error(kind, then_span));
            }
            branches.push((condition, body));
            let closing = self.peek_closing_keyword()?;
            keyword_span = self.next()?.span();
            match closing {
                Some("elif") => keyword = "elif",
                Some("else") => {
                    let body = self.list(Closer::Fi, if_span)?;
                    if body.is_empty() {
                        let kind = ErrorKind::MissingCommand { after: "else" };
                        return Err(self.error(kind, keyword_span));
                    }
                    self.next()?;
                    break Some(body);
                }
                _ => break None,
            }
        };
        self.open_ifs -= 1;
        Ok(Command::If(IfCommand {
            branches,
            otherwise,
            span: if_span,
        }))
    }

    /// A simple command, or a built-in if the first non-assignment word names one.
    ///
    /// The words up to the next operator are collected in [`Parser::words`], then moved
    /// into the tree's exactly sized vectors.
    fn simple_or_builtin(&mut self) -> Result<Command> {
        self.words.clear();
        while matches!(self.peek()?, Token::Word(_)) {
            if let Token::Word(word) = self.next()? {
                self.words.push(word);
            }
        }
        let mut words = core::mem::take(&mut self.words);
        let command = self.command_from_words(words.drain(..));
        self.words = words;
        command
    }

    /// The command made of `words`: assignments, then a built-in or a program and its args.
    fn command_from_words(&self, mut words: Args<'_, 'a>) -> Result<Command> {
        let assignment_count = words
            .as_slice()
            .iter()
            .take_while(|w| w.assignment_name_len().is_some())
            .count();
        let assignments: Vec<Assignment> = words
            .by_ref()
            .take(assignment_count)
            .map(into_assignment)
            .collect();
        if let Some(first) = words.as_slice().first() {
            let literal = first.literal();
            if let Some(builtin) =
                literal.and_then(|name| BUILTIN_NAMES.iter().copied().find(|b| *b == name))
            {
                return self.builtin(builtin, assignments, words);
            }
            if let Some(name) = literal {
                self.check_program(name, first.span)?;
            }
        }
        let words = words.map(LexedWord::into_word).collect();
        Ok(Command::Simple(simple_command(assignments, words)))
    }

    /// Fails unless `name` is a known program (or an extra built-in of the caller).
    fn check_program(&self, name: &str, span: Span) -> Result<()> {
        if self.names.contains(name) {
            return Ok(());
        }
        let kind = ErrorKind::UnknownProgram {
            name: excerpt(name),
            suggestion: suggest(name, self.names),
        };
        Err(self.error(kind, span))
    }

    /// The built-in `name` (`words[0]`) with its arguments `words[1..]`.
    fn builtin(
        &self,
        name: &'static str,
        assignments: Vec<Assignment>,
        mut words: Args<'_, 'a>,
    ) -> Result<Command> {
        let name_span = words.next().map_or(Span::default(), |w| w.span);
        let args = words;
        let takes_env = matches!(name, "start" | "respawn" | "timeout");
        if let (false, Some(first)) = (takes_env, assignments.first()) {
            return Err(self.error(ErrorKind::AssignmentBeforeBuiltin(name), first.span));
        }
        let builtin = match name {
            "wait" => Builtin::Wait(self.wait_args(args)?),
            "export" => Builtin::Export(self.export_args(args, name_span)?),
            "unset" => Builtin::Unset(self.unset_args(args, name_span)?),
            "start" => self.start(assignments, args, name_span)?,
            "respawn" => self.respawn(assignments, args, name_span)?,
            "timeout" => self.timeout(assignments, args, name_span)?,
            "source" => {
                let word = self.at_most_one(name, args)?.ok_or_else(|| {
                    let kind = ErrorKind::MissingArgument {
                        builtin: name,
                        what: "a script name",
                    };
                    self.error(kind, name_span)
                })?;
                Builtin::Source(word)
            }
            "poweroff" | "exit" => {
                let status = self.at_most_one(name, args)?;
                if let Some(word) = &status {
                    self.check_status(word)?;
                }
                if name == "exit" {
                    Builtin::Exit(status)
                } else {
                    Builtin::Poweroff(status)
                }
            }
            "shell" | "halt" | "reboot" => {
                if let Some(extra) = args.as_slice().first() {
                    let kind = ErrorKind::TooManyArguments { builtin: name };
                    return Err(self.error(kind, extra.span));
                }
                match name {
                    "shell" => Builtin::Shell,
                    "halt" => Builtin::Halt,
                    _ => Builtin::Reboot,
                }
            }
            _ => unreachable!("every name in BUILTIN_NAMES is handled"),
        };
        Ok(Command::Builtin(builtin))
    }

    /// Zero or one argument.
    fn at_most_one(&self, name: &'static str, mut args: Args<'_, 'a>) -> Result<Option<Word>> {
        if let Some(extra) = args.as_slice().get(1) {
            let kind = ErrorKind::TooManyArguments { builtin: name };
            return Err(self.error(kind, extra.span));
        }
        Ok(args.next().map(LexedWord::into_word))
    }

    /// A literal `poweroff` status must be 0..=255.
    fn check_status(&self, word: &Word) -> Result<()> {
        match word.literal() {
            Some(text) if parse_number::<u8>(text).is_none() => {
                Err(self.error(ErrorKind::BadNumber(excerpt(text)), word.span))
            }
            _ => Ok(()),
        }
    }

    /// `%N` job numbers or job names.
    fn wait_args(&self, args: Args<'_, 'a>) -> Result<Vec<Word>> {
        let mut jobs = Vec::with_capacity(args.len());
        for arg in args {
            if let Some(text) = arg.literal()
                && let Some(number) = text.strip_prefix('%')
                && parse_number::<u32>(number).is_none()
            {
                return Err(self.error(ErrorKind::BadJobSpec(excerpt(text)), arg.span));
            }
            jobs.push(arg.into_word());
        }
        Ok(jobs)
    }

    /// `NAME=value...`, at least one.
    /// `export NAME=value...`; none: list the exported variables, as sh does.
    fn export_args(&self, args: Args<'_, 'a>, _name_span: Span) -> Result<Vec<Assignment>> {
        let mut assignments = Vec::with_capacity(args.len());
        for arg in args {
            if arg.assignment_name_len().is_some() {
                assignments.push(into_assignment(arg));
                continue;
            }
            // `export NAME`: exports the variable with its value (empty if unset).
            match arg.literal().filter(|name| is_name(name)) {
                Some(name) => assignments.push(Assignment {
                    name: String::from(name),
                    value: Word {
                        parts: alloc::vec![WordPart::Var(String::from(name))],
                        span: arg.span,
                    },
                    span: arg.span,
                }),
                None => {
                    let kind = ErrorKind::NotAnAssignment(excerpt(arg.raw));
                    return Err(self.error(kind, arg.span));
                }
            }
        }
        Ok(assignments)
    }

    /// Literal variable names, at least one.
    fn unset_args(&self, args: Args<'_, 'a>, name_span: Span) -> Result<Vec<Word>> {
        if args.as_slice().is_empty() {
            let kind = ErrorKind::MissingArgument {
                builtin: "unset",
                what: "a variable name",
            };
            return Err(self.error(kind, name_span));
        }
        let mut names = Vec::with_capacity(args.len());
        for arg in args {
            if !arg.literal().is_some_and(is_name) {
                return Err(self.error(ErrorKind::BadName(excerpt(arg.raw)), arg.span));
            }
            names.push(arg.into_word());
        }
        Ok(names)
    }

    /// A literal duration.
    fn duration(&self, word: &LexedWord<'a>) -> Result<Duration> {
        word.literal()
            .and_then(parse_duration)
            .ok_or_else(|| self.error(ErrorKind::BadDuration(excerpt(word.raw)), word.span))
    }

    /// The value after option `option` of `builtin`.
    fn option_value(
        &self,
        builtin: &'static str,
        what: &'static str,
        option: &LexedWord<'a>,
        value: Option<LexedWord<'a>>,
    ) -> Result<LexedWord<'a>> {
        value.ok_or_else(|| self.error(ErrorKind::MissingArgument { builtin, what }, option.span))
    }

    /// `start [--timeout D] cmd`.
    fn start(
        &self,
        assignments: Vec<Assignment>,
        args: Args<'_, 'a>,
        name_span: Span,
    ) -> Result<Builtin> {
        let builtin = "start";
        let mut args = args.peekable();
        let mut timeout = None;
        while let Some(option) = args.next_if(LexedWord::is_option) {
            if option.raw != "--timeout" {
                return Err(self.unknown_option(builtin, &option));
            }
            let value =
                self.option_value(builtin, "a duration after --timeout", &option, args.next())?;
            timeout = Some(self.duration(&value)?);
        }
        let command = self.inner_command(builtin, assignments, args, name_span)?;
        Ok(Builtin::Start { timeout, command })
    }

    /// `respawn [--max N] [--delay D] cmd`.
    fn respawn(
        &self,
        assignments: Vec<Assignment>,
        args: Args<'_, 'a>,
        name_span: Span,
    ) -> Result<Builtin> {
        let builtin = "respawn";
        let mut args = args.peekable();
        let (mut max, mut delay) = (None, None);
        while let Some(option) = args.next_if(LexedWord::is_option) {
            match option.raw {
                "--max" => {
                    let value =
                        self.option_value(builtin, "a number after --max", &option, args.next())?;
                    let number = value.literal().and_then(parse_number::<u32>);
                    let kind = ErrorKind::BadNumber(excerpt(value.raw));
                    max = Some(number.ok_or_else(|| self.error(kind, value.span))?);
                }
                "--delay" => {
                    let value = self.option_value(
                        builtin,
                        "a duration after --delay",
                        &option,
                        args.next(),
                    )?;
                    delay = Some(self.duration(&value)?);
                }
                _ => return Err(self.unknown_option(builtin, &option)),
            }
        }
        let command = self.inner_command(builtin, assignments, args, name_span)?;
        Ok(Builtin::Respawn {
            max,
            delay,
            command,
        })
    }

    /// `timeout D cmd`.
    fn timeout(
        &self,
        assignments: Vec<Assignment>,
        args: Args<'_, 'a>,
        name_span: Span,
    ) -> Result<Builtin> {
        let builtin = "timeout";
        let mut args = args;
        let Some(limit) = args.next() else {
            let kind = ErrorKind::MissingArgument {
                builtin,
                what: "a duration",
            };
            return Err(self.error(kind, name_span));
        };
        let limit = self.duration(&limit)?;
        let command = self.inner_command(builtin, assignments, args, name_span)?;
        Ok(Builtin::Timeout { limit, command })
    }

    fn unknown_option(&self, builtin: &'static str, option: &LexedWord<'a>) -> Box<Error> {
        let kind = ErrorKind::UnknownOption {
            builtin,
            option: excerpt(option.raw),
        };
        self.error(kind, option.span)
    }

    /// The program a `start`/`respawn`/`timeout` runs, with `outer` assignments written
    /// before the built-in put first.
    fn inner_command(
        &self,
        builtin: &'static str,
        outer: Vec<Assignment>,
        args: impl Iterator<Item = LexedWord<'a>>,
        name_span: Span,
    ) -> Result<SimpleCommand> {
        let mut assignments = outer;
        let mut args = args.peekable();
        while let Some(word) = args.next_if(|w| w.assignment_name_len().is_some()) {
            assignments.push(into_assignment(word));
        }
        let words: Vec<Word> = args.map(LexedWord::into_word).collect();
        let Some(program) = words.first() else {
            let kind = ErrorKind::MissingArgument {
                builtin,
                what: "a program to run",
            };
            return Err(self.error(kind, name_span));
        };
        if let Some(name) = program.literal() {
            if BUILTIN_NAMES.contains(&name) {
                let kind = ErrorKind::NotAProgram {
                    builtin,
                    name: excerpt(name),
                };
                return Err(self.error(kind, program.span));
            }
            self.check_program(name, program.span)?;
        }
        Ok(simple_command(assignments, words))
    }
}

/// A simple command from its parts; its span runs from the first to the last piece.
fn simple_command(assignments: Vec<Assignment>, words: Vec<Word>) -> SimpleCommand {
    let first = assignments
        .first()
        .map(|a| a.span)
        .or_else(|| words.first().map(|w| w.span))
        .unwrap_or_default();
    let last = words
        .last()
        .map(|w| w.span)
        .or_else(|| assignments.last().map(|a| a.span))
        .unwrap_or_default();
    let end = last.offset + last.len;
    let span = Span {
        len: end.saturating_sub(first.offset),
        ..first
    };
    SimpleCommand {
        assignments,
        words,
        span,
    }
}

/// Splits an assignment-shaped word into `NAME` and its value.
fn into_assignment(word: LexedWord<'_>) -> Assignment {
    let name_len = word.assignment_name_len().unwrap_or(0);
    let name = String::from(word.raw.get(..name_len).unwrap_or(""));
    let prefix = name_len + 1;
    let span = word.span;
    let parts = match word.parts {
        // A plain word's value is the rest of its raw text.
        None => literal_parts(word.raw.get(prefix..).unwrap_or(word.raw)),
        Some(mut parts) => {
            if let Some(WordPart::Literal(first)) = parts.first_mut() {
                if first.is_char_boundary(prefix) {
                    first.drain(..prefix);
                }
                if first.is_empty() {
                    parts.remove(0);
                }
            }
            parts
        }
    };
    let value_span = Span {
        offset: span.offset + prefix,
        line: span.line,
        column: span
            .column
            .saturating_add(u32::try_from(prefix).unwrap_or(u32::MAX)),
        len: span.len.saturating_sub(prefix),
    };
    Assignment {
        name,
        value: Word {
            parts,
            span: value_span,
        },
        span,
    }
}
