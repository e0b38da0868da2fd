//! Host tests for the line editor: scripted byte streams, exact output for the
//! rendering rules, and property tests that replay random input on a virtual terminal.

use super::*;
use crate::complete::NoCompletion;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;
use core::convert::Infallible;
use proptest::prelude::*;
use std::format;
use unicode_width::UnicodeWidthChar;

const PROMPT: &str = "kiln> ";

/// An output sink that records everything written.
#[derive(Default)]
struct Sink(Vec<u8>);

impl embedded_io::ErrorType for Sink {
    type Error = Infallible;
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

impl Sink {
    fn text(&self) -> String {
        String::from_utf8(self.0.clone()).expect("output is UTF-8")
    }

    fn take(&mut self) -> String {
        let text = self.text();
        self.0.clear();
        text
    }
}

/// An editor with the default config, a started line, and its output.
fn editor(config: Config) -> (Editor, Sink) {
    let mut ed = Editor::new(config);
    let mut out = Sink::default();
    ed.start_line(PROMPT, &mut out).unwrap();
    (ed, out)
}

/// Feeds `input` and returns the events other than `Event::None`.
fn feed(ed: &mut Editor, out: &mut Sink, input: &[u8], completer: &dyn Completer) -> Vec<Event> {
    input
        .iter()
        .map(|&b| ed.feed(b, completer, out).unwrap())
        .filter(|e| *e != Event::None)
        .collect()
}

/// Feeds `input` to a fresh editor and returns the events.
fn events(input: &[u8]) -> Vec<Event> {
    let (mut ed, mut out) = editor(Config::default());
    feed(&mut ed, &mut out, input, &NoCompletion)
}

/// Feeds `input` to a fresh editor and returns the one line it produced.
fn line(input: &[u8]) -> String {
    match events(input).as_slice() {
        [Event::Line(line)] => line.clone(),
        other => panic!("expected one line, got {other:?}"),
    }
}

fn lines(list: &[&str]) -> Vec<Event> {
    list.iter().map(|l| Event::Line(l.to_string())).collect()
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| w.to_string()).collect()
}

/// Completes from a fixed word list, whatever the position.
fn completer(list: &'static [&'static str]) -> impl Completer {
    move |_: &str, _: usize| words(list)
}

// ---- plain input and line ends ----

#[test]
fn prompt_then_echo_then_newline() {
    let (mut ed, mut out) = editor(Config::default());
    assert_eq!(out.take(), PROMPT);
    let ev = feed(&mut ed, &mut out, b"fw load\r", &NoCompletion);
    assert_eq!(ev, lines(&["fw load"]));
    assert_eq!(out.take(), "fw load\r\n");
}

#[test]
fn cr_lf_and_crlf_each_end_one_line() {
    assert_eq!(events(b"a\rb\nc\r\nd\r\n"), lines(&["a", "b", "c", "d"]));
    assert_eq!(events(b"\r\r"), lines(&["", ""]));
    assert_eq!(events(b"\n\n"), lines(&["", ""]));
    assert_eq!(events(b"\r\n\r\n"), lines(&["", ""]));
}

#[test]
fn crlf_pair_split_by_start_line() {
    let (mut ed, mut out) = editor(Config::default());
    assert_eq!(
        feed(&mut ed, &mut out, b"a\r", &NoCompletion),
        lines(&["a"])
    );
    ed.start_line(PROMPT, &mut out).unwrap();
    assert_eq!(
        feed(&mut ed, &mut out, b"\nb\r", &NoCompletion),
        lines(&["b"])
    );
}

#[test]
fn other_control_bytes_are_ignored() {
    let mut input = Vec::new();
    for b in [
        0x00, 0x0f, 0x11, 0x12, 0x13, 0x14, 0x16, 0x18, 0x19, 0x1a, 0x1c, 0x1f,
    ] {
        input.extend_from_slice(b"x");
        input.push(b);
    }
    input.push(CR);
    assert_eq!(line(&input), "x".repeat(12));
}

// ---- cursor movement ----

#[test]
fn left_arrow_then_insert() {
    let (mut ed, mut out) = editor(Config::default());
    out.take();
    assert_eq!(
        feed(&mut ed, &mut out, b"ab\x1b[Dc\r", &NoCompletion),
        lines(&["acb"])
    );
    // Insert in the middle: erase below, print the rest from there, move back; Enter
    // goes to the end of the line before its line end.
    assert_eq!(out.take(), "ab\x1b[1D\x1b[Jcb\x1b[1D\x1b[1C\r\n");
}

#[test]
fn left_and_right_in_all_forms() {
    assert_eq!(line(b"abc\x1b[D\x1b[D\x1b[CX\r"), "abXc");
    assert_eq!(line(b"abc\x1bOD\x1bOD\x1bOCX\r"), "abXc");
    assert_eq!(line(b"abc\x02\x02\x06X\r"), "abXc");
    // Left at the start and right at the end do nothing.
    assert_eq!(line(b"\x1b[Da\x1b[C\x1b[Cb\r"), "ab");
}

#[test]
fn home_in_all_forms() {
    for home in [&b"\x1b[H"[..], b"\x1bOH", b"\x1b[1~", b"\x1b[7~", b"\x01"] {
        let input = [&b"abc"[..], home, b"X\r"].concat();
        assert_eq!(line(&input), "Xabc", "home as {home:?}");
    }
}

#[test]
fn end_in_all_forms() {
    for end in [&b"\x1b[F"[..], b"\x1bOF", b"\x1b[4~", b"\x1b[8~", b"\x05"] {
        let input = [&b"abc\x01"[..], end, b"X\r"].concat();
        assert_eq!(line(&input), "abcX", "end as {end:?}");
    }
}

#[test]
fn home_and_end_render_relative_moves() {
    let (mut ed, mut out) = editor(Config::default());
    feed(&mut ed, &mut out, b"abcd", &NoCompletion);
    out.take();
    feed(&mut ed, &mut out, b"\x01", &NoCompletion);
    assert_eq!(out.take(), "\x1b[4D");
    feed(&mut ed, &mut out, b"\x05", &NoCompletion);
    assert_eq!(out.take(), "\x1b[4C");
    // Already there: nothing to write.
    feed(&mut ed, &mut out, b"\x05", &NoCompletion);
    assert_eq!(out.take(), "");
}

#[test]
fn word_moves() {
    // Alt-b, Alt-f.
    assert_eq!(line(b"fw load  def\x1bb\x1bbX\r"), "fw Xload  def");
    assert_eq!(line(b"fw load def\x01\x1bfX\r"), "fwX load def");
    assert_eq!(line(b"fw load def\x01\x1bf\x1bfX\r"), "fw loadX def");
    // Ctrl-Left, Ctrl-Right (xterm modifier 5), Alt-Left (3).
    assert_eq!(line(b"ab cd\x1b[1;5DX\r"), "ab Xcd");
    assert_eq!(line(b"ab cd\x1b[1;3DX\r"), "ab Xcd");
    assert_eq!(line(b"ab cd\x01\x1b[1;5CX\r"), "abX cd");
    // Shift-Left (2) is a plain left.
    assert_eq!(line(b"ab cd\x1b[1;2DX\r"), "ab cXd");
}

// ---- deleting ----

#[test]
fn backspace_del_and_ctrl_h() {
    assert_eq!(line(b"abc\x7f\r"), "ab");
    assert_eq!(line(b"abc\x08\x08\r"), "a");
    assert_eq!(line(b"abc\x1b[D\x7f\r"), "ac");
    assert_eq!(line(b"\x7f\x7fa\r"), "a");
    assert_eq!(line(b"ab\x01\x7f\r"), "ab");
}

#[test]
fn backspace_renders() {
    let (mut ed, mut out) = editor(Config::default());
    feed(&mut ed, &mut out, b"abc", &NoCompletion);
    out.take();
    feed(&mut ed, &mut out, b"\x7f", &NoCompletion);
    assert_eq!(out.take(), "\x1b[1D\x1b[J");
    feed(&mut ed, &mut out, b"\x1b[D\x7f", &NoCompletion);
    assert_eq!(out.take(), "\x1b[1D\x1b[1D\x1b[Jb\x1b[1D");
    assert_eq!(ed.line(), "b");
    assert_eq!(ed.cursor(), 0);
}

#[test]
fn delete_key() {
    assert_eq!(line(b"abc\x01\x1b[3~\r"), "bc");
    assert_eq!(line(b"abc\x1b[3~\r"), "abc");
    assert_eq!(line(b"abc\x1b[D\x1b[3~\r"), "ab");
    // With a modifier, still Delete.
    assert_eq!(line(b"abc\x01\x1b[3;5~\r"), "bc");
}

#[test]
fn kill_to_end_and_to_start() {
    assert_eq!(line(b"abcd\x1b[D\x1b[D\x0b\r"), "ab");
    assert_eq!(line(b"abcd\x1b[D\x1b[D\x15\r"), "cd");
    assert_eq!(line(b"abcd\x15\r"), "");
    assert_eq!(line(b"abcd\x01\x0b\r"), "");
    let (mut ed, mut out) = editor(Config::default());
    feed(&mut ed, &mut out, b"abcd\x1b[D\x1b[D", &NoCompletion);
    out.take();
    feed(&mut ed, &mut out, b"\x0b", &NoCompletion);
    assert_eq!(out.take(), "\x1b[J");
    feed(&mut ed, &mut out, b"\x15", &NoCompletion);
    assert_eq!(out.take(), "\x1b[2D\x1b[J");
}

#[test]
fn kills_with_nothing_to_kill_write_nothing() {
    let (mut ed, mut out) = editor(Config::default());
    feed(&mut ed, &mut out, b"ab\x01", &NoCompletion);
    out.take();
    feed(&mut ed, &mut out, b"\x15\x17", &NoCompletion);
    feed(&mut ed, &mut out, b"\x05\x0b", &NoCompletion);
    assert_eq!(out.take(), "\x1b[2C");
    assert_eq!(ed.line(), "ab");
}

#[test]
fn kill_previous_word() {
    assert_eq!(line(b"fw load def\x17\r"), "fw load ");
    assert_eq!(line(b"fw load def  \x17\r"), "fw load ");
    assert_eq!(line(b"fw load def\x17\x17\r"), "fw ");
    assert_eq!(line(b"fw\x17\x17\r"), "");
    assert_eq!(line(b"fw load def\x1b[D\x1b[D\x1b[D\x17\r"), "fw def");
    assert_eq!(
        line(b"fw load def\x1b[D\x1b[D\x1b[D\x1b[D\x17\r"),
        "fw  def"
    );
}

// ---- screen ----

#[test]
fn ctrl_l_clears_and_redraws() {
    let (mut ed, mut out) = editor(Config::default());
    feed(&mut ed, &mut out, b"abc\x1b[D", &NoCompletion);
    out.take();
    feed(&mut ed, &mut out, b"\x0c", &NoCompletion);
    assert_eq!(out.take(), "\x1b[H\x1b[2Jkiln> abc\x1b[1D");
    assert_eq!(ed.line(), "abc");
}

#[test]
fn clear_line_and_redraw_around_job_output() {
    let (mut ed, mut out) = editor(Config::default());
    feed(&mut ed, &mut out, b"ab\x1b[D", &NoCompletion);
    out.take();
    ed.clear_line(&mut out).unwrap();
    out.write_all(b"job 1 done\r\n").unwrap();
    ed.redraw(&mut out).unwrap();
    assert_eq!(out.take(), "\r\x1b[Jjob 1 done\r\nkiln> ab\x1b[1D");
    assert_eq!(
        feed(&mut ed, &mut out, b"X\r", &NoCompletion),
        lines(&["aXb"])
    );
}

// ---- history ----

#[test]
fn history_up_and_down() {
    let (mut ed, mut out) = editor(Config::default());
    let nc = &NoCompletion;
    feed(&mut ed, &mut out, b"one\rtwo\r", nc);
    feed(&mut ed, &mut out, b"dr", nc);
    feed(&mut ed, &mut out, b"\x1b[A", nc);
    assert_eq!(ed.line(), "two");
    feed(&mut ed, &mut out, b"\x1b[A", nc);
    assert_eq!(ed.line(), "one");
    // The oldest entry stays.
    feed(&mut ed, &mut out, b"\x1b[A", nc);
    assert_eq!(ed.line(), "one");
    feed(&mut ed, &mut out, b"\x1b[B", nc);
    assert_eq!(ed.line(), "two");
    // Down past the newest entry gives back the line being edited.
    feed(&mut ed, &mut out, b"\x1b[B", nc);
    assert_eq!(ed.line(), "dr");
    feed(&mut ed, &mut out, b"\x1b[B", nc);
    assert_eq!(ed.line(), "dr");
    assert_eq!(ed.cursor(), 2);
    // Application cursor keys and Ctrl-P / Ctrl-N walk it too.
    feed(&mut ed, &mut out, b"\x1bOA\x10", nc);
    assert_eq!(ed.line(), "one");
    feed(&mut ed, &mut out, b"\x0e\x1bOB", nc);
    assert_eq!(ed.line(), "dr");
}

#[test]
fn recalled_line_renders_and_can_be_edited() {
    let (mut ed, mut out) = editor(Config::default());
    feed(&mut ed, &mut out, b"fw load\r", &NoCompletion);
    feed(&mut ed, &mut out, b"xyz\x1b[D", &NoCompletion);
    out.take();
    let ev = feed(&mut ed, &mut out, b"\x1b[A", &NoCompletion);
    assert!(ev.is_empty());
    assert_eq!(
        out.take(),
        "\r\x1b[Jfw load",
        "no prompt was printed for it"
    );
    let ev = feed(&mut ed, &mut out, b"\x7f\x7f\x7f\x7fcheck\r", &NoCompletion);
    assert_eq!(ev, lines(&["fw check"]));
    let stored: Vec<&str> = ed.history().iter().collect();
    assert_eq!(stored, ["fw load", "fw check"]);
}

#[test]
fn history_skips_empty_lines_and_duplicates() {
    let (mut ed, mut out) = editor(Config::default());
    feed(&mut ed, &mut out, b"a\r\r  \ra\rb\rb\r", &NoCompletion);
    let stored: Vec<&str> = ed.history().iter().collect();
    assert_eq!(stored, ["a", "b"]);
}

#[test]
fn clear_history_forgets_everything() {
    let (mut ed, mut out) = editor(Config::default());
    feed(&mut ed, &mut out, b"a\rb\r", &NoCompletion);
    ed.clear_history();
    feed(&mut ed, &mut out, b"\x1b[A", &NoCompletion);
    assert_eq!(ed.line(), "");
    assert!(ed.history().is_empty());
}

#[test]
fn history_capacity_is_honoured() {
    let config = Config {
        history_capacity: 2,
        ..Config::default()
    };
    let (mut ed, mut out) = editor(config);
    feed(&mut ed, &mut out, b"1\r2\r3\r", &NoCompletion);
    feed(&mut ed, &mut out, b"\x1b[A\x1b[A\x1b[A", &NoCompletion);
    assert_eq!(ed.line(), "2");
    let config = Config {
        history_capacity: 0,
        ..Config::default()
    };
    let (mut ed, mut out) = editor(config);
    feed(&mut ed, &mut out, b"1\rx\x1b[A", &NoCompletion);
    assert_eq!(ed.line(), "x");
}

// ---- completion ----

#[test]
fn tab_completes_a_unique_candidate_with_a_space() {
    let c = completer(&["memstat", "fw"]);
    let (mut ed, mut out) = editor(Config::default());
    out.take();
    let ev = feed(&mut ed, &mut out, b"f\tload\r", &c);
    assert_eq!(ev, lines(&["fw load"]));
    assert_eq!(out.take(), "fw load\r\n");
}

#[test]
fn completer_sees_the_line_up_to_the_cursor_and_the_word_start() {
    let seen = core::cell::RefCell::new(Vec::new());
    let c = |line: &str, start: usize| {
        seen.borrow_mut().push((line.to_string(), start));
        words(&["default"])
    };
    let (mut ed, mut out) = editor(Config::default());
    let ev = feed(&mut ed, &mut out, b"fw de now\x1bb\x1b[D\t\r", &c);
    assert_eq!(ev, lines(&["fw default  now"]));
    assert_eq!(*seen.borrow(), [("fw de".to_string(), 3)]);
}

#[test]
fn tab_extends_to_the_common_prefix_then_lists() {
    let c = completer(&["memstat", "memtest", "fw"]);
    let (mut ed, mut out) = editor(Config::default());
    out.take();
    feed(&mut ed, &mut out, b"m\t", &c);
    assert_eq!(ed.line(), "mem");
    assert_eq!(out.take(), "mem");
    // A second Tab in a row lists the candidates, then redraws prompt and line.
    feed(&mut ed, &mut out, b"\t", &c);
    assert_eq!(out.take(), "\r\nmemstat  memtest\r\nkiln> mem");
    assert_eq!(ed.line(), "mem");
    let ev = feed(&mut ed, &mut out, b"s\t\r", &c);
    assert_eq!(ev, lines(&["memstat "]));
}

#[test]
fn ambiguous_tab_rings_then_lists() {
    let c = completer(&["memstat", "memtest"]);
    let (mut ed, mut out) = editor(Config::default());
    feed(&mut ed, &mut out, b"mem", &c);
    out.take();
    feed(&mut ed, &mut out, b"\t", &c);
    assert_eq!(out.take(), "\x07");
    // Another key in between: the next Tab is a first Tab again.
    feed(&mut ed, &mut out, b"\x1b[D\x1b[C", &c);
    out.take();
    feed(&mut ed, &mut out, b"\t", &c);
    assert_eq!(out.take(), "\x07");
    feed(&mut ed, &mut out, b"\t", &c);
    assert_eq!(out.take(), "\r\nmemstat  memtest\r\nkiln> mem");
}

#[test]
fn listing_puts_the_cursor_back_in_the_middle() {
    let c = completer(&["ab", "ac"]);
    let (mut ed, mut out) = editor(Config::default());
    feed(&mut ed, &mut out, b"a xyz\x1b[D\x1b[D\x1b[D\x1b[D", &c);
    out.take();
    feed(&mut ed, &mut out, b"\t\t", &c);
    assert_eq!(out.take(), "\x07\x1b[4C\r\nab  ac\r\nkiln> a xyz\x1b[4D");
}

#[test]
fn tab_without_candidates_rings_the_bell() {
    let (mut ed, mut out) = editor(Config::default());
    feed(&mut ed, &mut out, b"zz", &NoCompletion);
    out.take();
    feed(&mut ed, &mut out, b"\t\t", &completer(&["fw"]));
    assert_eq!(out.take(), "\x07\x07");
    assert_eq!(ed.line(), "zz");
}

#[test]
fn completion_that_would_overflow_rings_the_bell() {
    let config = Config {
        max_len: 4,
        ..Config::default()
    };
    let (mut ed, mut out) = editor(config);
    feed(&mut ed, &mut out, b"m", &NoCompletion);
    out.take();
    feed(&mut ed, &mut out, b"\t", &completer(&["memstat"]));
    assert_eq!(out.take(), "\x07");
    assert_eq!(ed.line(), "m");
    let ev = feed(&mut ed, &mut out, b"\r", &NoCompletion);
    assert_eq!(ev, lines(&["m"]));
}

// ---- Ctrl-C, Ctrl-D ----

#[test]
fn ctrl_c_discards_the_line() {
    let (mut ed, mut out) = editor(Config::default());
    out.take();
    let ev = feed(&mut ed, &mut out, b"fw lo\x03", &NoCompletion);
    assert_eq!(ev, [Event::Interrupt]);
    assert_eq!(out.take(), "fw lo^C\r\n");
    assert_eq!(ed.line(), "");
    ed.start_line(PROMPT, &mut out).unwrap();
    assert_eq!(
        feed(&mut ed, &mut out, b"ok\r", &NoCompletion),
        lines(&["ok"])
    );
    // Not stored in the history.
    assert_eq!(ed.history().iter().collect::<Vec<_>>(), ["ok"]);
    // In the middle of an escape sequence or a UTF-8 character, too.
    assert_eq!(events(b"a\x1b[\x03"), [Event::Interrupt]);
    assert_eq!(events(b"a\xe2\x82\x03"), [Event::Interrupt]);
}

#[test]
fn ctrl_d() {
    assert_eq!(events(b"\x04"), [Event::Eof]);
    // On a non-empty line: delete under the cursor, nothing at the end.
    assert_eq!(line(b"abc\x04\r"), "abc");
    assert_eq!(line(b"abc\x01\x04\r"), "bc");
    // After deleting everything, Eof again.
    assert_eq!(events(b"a\x7f\x04"), [Event::Eof]);
    let (mut ed, mut out) = editor(Config::default());
    out.take();
    assert_eq!(
        feed(&mut ed, &mut out, b"\x04", &NoCompletion),
        [Event::Eof]
    );
    assert_eq!(out.take(), "", "the caller decides what to print");
}

// ---- over-long lines ----

#[test]
fn too_long_line_is_discarded_then_a_normal_line_works() {
    let config = Config {
        max_len: 4,
        ..Config::default()
    };
    let (mut ed, mut out) = editor(config);
    out.take();
    let ev = feed(
        &mut ed,
        &mut out,
        b"abcdefgh\x1b[D\x7fxyz\r\n",
        &NoCompletion,
    );
    assert_eq!(ev, [Event::TooLong { max: 4 }]);
    // The fitting part was echoed, then a bell, then nothing until the line end.
    assert_eq!(out.take(), "abcd\x07\r\n");
    assert_eq!(ed.line(), "");
    ed.start_line(PROMPT, &mut out).unwrap();
    let ev = feed(&mut ed, &mut out, b"abcd\r", &NoCompletion);
    assert_eq!(ev, lines(&["abcd"]));
    assert_eq!(ed.history().iter().collect::<Vec<_>>(), ["abcd"]);
}

#[test]
fn too_long_counts_bytes_not_characters() {
    let config = Config {
        max_len: 4,
        ..Config::default()
    };
    let (mut ed, mut out) = editor(config);
    let ev = feed(&mut ed, &mut out, "abcé\nabé\n".as_bytes(), &NoCompletion);
    assert_eq!(
        ev,
        [Event::TooLong { max: 4 }, Event::Line("abé".to_string())]
    );
}

#[test]
fn ctrl_c_while_discarding() {
    let config = Config {
        max_len: 2,
        ..Config::default()
    };
    let (mut ed, mut out) = editor(config);
    let ev = feed(&mut ed, &mut out, b"abc\x03ab\r", &NoCompletion);
    assert_eq!(ev, [Event::Interrupt, Event::Line("ab".to_string())]);
}

// ---- UTF-8 ----

#[test]
fn utf8_moves_by_characters() {
    let (mut ed, mut out) = editor(Config::default());
    feed(&mut ed, &mut out, "aé€😀".as_bytes(), &NoCompletion);
    assert_eq!(ed.cursor(), 4);
    out.take();
    feed(&mut ed, &mut out, b"\x1b[D\x1b[D", &NoCompletion);
    assert_eq!(ed.cursor(), 2);
    assert_eq!(out.take(), "\x1b[1D\x1b[1D");
    feed(&mut ed, &mut out, b"x", &NoCompletion);
    assert_eq!(ed.line(), "aéx€😀");
    // The tail is reprinted and the cursor moved back by characters, not bytes.
    assert_eq!(out.take(), "\x1b[Jx€😀\x1b[2D");
    feed(&mut ed, &mut out, b"\x7f\x7f", &NoCompletion);
    assert_eq!(ed.line(), "a€😀");
    assert_eq!(out.take(), "\x1b[1D\x1b[J€😀\x1b[2D\x1b[1D\x1b[J€😀\x1b[2D");
    feed(&mut ed, &mut out, b"\x1b[3~", &NoCompletion);
    assert_eq!(ed.line(), "a😀");
    assert_eq!(out.take(), "\x1b[J😀\x1b[1D");
    let ev = feed(&mut ed, &mut out, "ü\r".as_bytes(), &NoCompletion);
    assert_eq!(ev, lines(&["aü😀"]));
}

#[test]
fn invalid_utf8_is_dropped() {
    // Stray continuation, overlong (C0 AF), surrogate (ED A0 80), beyond U+10FFFF
    // (F4 90 80 80), never-used bytes, a truncated character, a C1 control (U+009B).
    let input = b"a\x80b\xc0\xafc\xed\xa0\x80d\xf4\x90\x80\x80e\xf5\xfff\xe2\x82g\xc2\x9bh\r";
    assert_eq!(line(input), "abcdefgh");
}

// ---- garbage ----

#[test]
fn unknown_escape_sequences_are_ignored() {
    // Insert, PgUp, F1 (SS3 P), Shift-Tab, a private mode, F5, bracketed-paste markers,
    // Alt-x, ESC ESC, an SS3 unknown, a sequence with an intermediate byte.
    let input = b"a\x1b[2~\x1b[5~\x1bOP\x1b[Z\x1b[?25h\x1b[15~\x1b[200~b\x1b[201~\x1bx\x1b\x1b[Dc\x1bOz\x1b[1 q\r";
    assert_eq!(line(input), "acb");
}

#[test]
fn an_endless_control_sequence_names_no_key() {
    let mut input = b"a\x1b[".to_vec();
    input.extend_from_slice(&[b'1'; 100]);
    input.extend_from_slice(b"Db\r");
    assert_eq!(line(&input), "ab");
    // Huge numbers saturate.
    assert_eq!(line(b"a\x1b[99999999999999999999~b\r"), "ab");
}

#[test]
fn a_control_byte_ends_an_escape_sequence_and_acts() {
    assert_eq!(events(b"ab\x1b\r"), lines(&["ab"]));
    assert_eq!(events(b"ab\x1b[1\r"), lines(&["ab"]));
    assert_eq!(events(b"ab\x1bO\r"), lines(&["ab"]));
    // A high byte inside an escape sequence drops it.
    assert_eq!(line(b"ab\x1b[\xc3D\r"), "abD");
}

// ---- echo off ----

#[test]
fn echo_off_is_a_silent_line_discipline() {
    let config = Config {
        echo: false,
        ..Config::default()
    };
    let c = completer(&["fw"]);
    let (mut ed, mut out) = editor(config);
    assert_eq!(out.take(), PROMPT, "the prompt is still printed");
    let ev = feed(
        &mut ed,
        &mut out,
        b"fw\tload\x7fd\x1b[D\x1b[DX\x0c\r\nf\t\x1b[A\x03\x04",
        &c,
    );
    assert_eq!(
        ev,
        [
            Event::Line("fw\tloXad".to_string()),
            Event::Interrupt,
            Event::Eof
        ]
    );
    assert_eq!(out.take(), "");
    ed.redraw(&mut out).unwrap();
    ed.clear_line(&mut out).unwrap();
    assert_eq!(out.take(), "");
    let config = Config {
        echo: false,
        max_len: 3,
        ..Config::default()
    };
    let (mut ed, mut out) = editor(config);
    out.take();
    let ev = feed(&mut ed, &mut out, b"abcd\nabc\n", &c);
    assert_eq!(
        ev,
        [Event::TooLong { max: 3 }, Event::Line("abc".to_string())]
    );
    assert_eq!(out.take(), "");
}

#[test]
fn set_echo_switches_modes() {
    let (mut ed, mut out) = editor(Config::default());
    ed.set_echo(false);
    out.take();
    feed(&mut ed, &mut out, b"ab\r", &NoCompletion);
    assert_eq!(out.take(), "");
    ed.set_echo(true);
    feed(&mut ed, &mut out, b"ab\r", &NoCompletion);
    assert_eq!(out.take(), "ab\r\n");
    assert!(!ed.config().echo || ed.config().max_len == Config::DEFAULT_MAX_LEN);
}

// ---- a virtual terminal to check what the output shows ----

/// Rows of the emulated terminal: enough for a 1,000-character line at 20 columns.
const VT_ROWS: u16 = 64;

/// An emulated VT100/xterm screen (the `vt100` crate) of `columns` columns.
fn terminal(columns: u16) -> vt100::Parser {
    vt100::Parser::new(
        VT_ROWS.try_into().expect("rows"),
        columns.try_into().expect("columns"),
        0,
    )
}

/// The text of the screen's rows, trailing blank rows dropped.
fn screen_rows(vt: &vt100::Parser) -> Vec<String> {
    let columns = vt.screen().size().1.get();
    let mut rows: Vec<String> = vt.screen().rows(0, columns).collect();
    while rows.last().is_some_and(String::is_empty) {
        rows.pop();
    }
    rows
}

/// `text` cut into rows of `columns` characters, as a terminal wraps it.
fn wrapped(text: &str, columns: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(columns)
        .map(|row| row.iter().collect())
        .collect()
}

/// Checks that the screen shows exactly `above` rows, then the prompt and the line
/// wrapped at the screen's width, with the cursor on the editor's cursor.
fn assert_shows(vt: &vt100::Parser, ed: &Editor, prompt: &str, above: &[String]) {
    let columns = usize::from(vt.screen().size().1.get());
    let text = format!("{prompt}{}", ed.line());
    let mut expected = above.to_vec();
    expected.extend(wrapped(&text, columns));
    assert_eq!(screen_rows(vt), expected, "the screen at {columns} columns");
    let offset = width(prompt) + ed.cursor();
    let (row, column) = vt.screen().cursor_position();
    let at = (usize::from(row) - above.len()) * columns + usize::from(column);
    // At the end of a row that is exactly full, the terminal's cursor waits in the
    // last column (the next character wraps); both places mean the same.
    let waiting = offset > 0 && offset.is_multiple_of(columns) && at + 1 == offset;
    assert!(
        at == offset || waiting,
        "cursor at {at}, the line's at {offset} ({columns} columns)"
    );
}

/// Replays `input` like a shell would (a new prompt after each line) on an emulated
/// terminal `columns` wide, and checks after every byte that the screen shows the
/// prompt and the line, with the cursor in place, and that the editor's invariants
/// hold. Returns the whole output.
fn replay_at(input: &[u8], max_len: usize, columns: u16) -> Vec<u8> {
    let c = completer(&["fw", "fwload", "memstat", "memtest", "é1", "é2"]);
    let config = Config {
        max_len,
        history_capacity: 4,
        echo: true,
        columns: usize::from(columns),
    };
    let mut ed = Editor::new(config);
    let mut out = Sink::default();
    let mut all = Vec::new();
    let mut vt = terminal(columns);
    // Rows above the line: completion listings.
    let mut above = Vec::new();
    // The line has had a character the terminal draws wider or narrower than one
    // column (the editor's documented limit): its screen is not checked.
    let mut not_one_column = false;
    ed.start_line(PROMPT, &mut out).unwrap();
    for &b in input {
        let event = ed.feed(b, &c, &mut out).unwrap();
        if let Event::Line(line) = &event {
            assert!(line.len() <= max_len);
            assert!(!line.chars().any(char::is_control));
        }
        if event != Event::None {
            // What the shell does after a line: start afresh at the top.
            vt.process(CLEAR_SCREEN);
            above.clear();
            not_one_column = false;
            all.append(&mut out.0);
            ed.start_line(PROMPT, &mut out).unwrap();
        }
        vt.process(&out.0);
        all.append(&mut out.0);
        assert!(ed.buf.len() <= max_len);
        assert!(ed.buf.is_char_boundary(ed.cursor) && ed.cursor <= ed.buf.len());
        assert!(!ed.buf.chars().any(char::is_control));
        not_one_column |= ed.buf.chars().any(|c| c.width() != Some(1));
        if b == CTRL_L {
            above.clear();
        }
        if b == TAB && ed.state != State::Discarding {
            let rows = screen_rows(&vt);
            let line_rows = wrapped(&format!("{PROMPT}{}", ed.line()), usize::from(columns)).len();
            above = rows[..rows.len() - line_rows].to_vec();
        }
        if ed.state != State::Discarding && !not_one_column {
            assert_shows(&vt, &ed, PROMPT, &above);
        }
    }
    assert!(
        !all.windows(4).any(|w| w == b"\x1b[6n" || w == b"\x1b[5n"),
        "never a terminal query"
    );
    all
}

/// [`replay_at`] at 80 columns.
fn replay(input: &[u8], max_len: usize) -> Vec<u8> {
    replay_at(input, max_len, 80)
}

/// The widths the screen tests run at.
const WIDTHS: [u16; 4] = [20, 60, 80, 120];

/// `word01 word02 ...`, `n` words: a line that wraps.
fn long_line(n: usize) -> String {
    let words: Vec<String> = (1..=n).map(|i| format!("word{i:02}")).collect();
    format!("echo {} END", words.join(" "))
}

/// An editor at `columns` with the prompt on an emulated terminal of that width.
fn screen_editor(columns: u16) -> (Editor, Sink, vt100::Parser) {
    let config = Config {
        columns: usize::from(columns),
        ..Config::default()
    };
    let (ed, mut out) = editor(config);
    let mut vt = terminal(columns);
    vt.process(&out.take().into_bytes());
    (ed, out, vt)
}

/// Feeds `input` and shows the output on `vt`.
fn type_on(ed: &mut Editor, out: &mut Sink, vt: &mut vt100::Parser, input: &[u8]) -> Vec<Event> {
    let events = feed(ed, out, input, &NoCompletion);
    vt.process(&out.0);
    out.0.clear();
    events
}

#[test]
fn a_wrapped_line_edited_at_its_start_shows_what_runs() {
    // The observation: 218 characters at 120 columns, Home, X.
    let text = long_line(30);
    assert_eq!(text.len(), 218);
    for columns in WIDTHS {
        let (mut ed, mut out, mut vt) = screen_editor(columns);
        type_on(&mut ed, &mut out, &mut vt, text.as_bytes());
        assert_shows(&vt, &ed, PROMPT, &[]);
        type_on(&mut ed, &mut out, &mut vt, b"\x01X");
        assert_shows(&vt, &ed, PROMPT, &[]);
        type_on(
            &mut ed,
            &mut out,
            &mut vt,
            b"\x1b[C\x1b[3~\x05\x7f\x7f\x01\x1bf\x1bf\x17",
        );
        assert_shows(&vt, &ed, PROMPT, &[]);
        let events = type_on(&mut ed, &mut out, &mut vt, b"\r");
        let ran = format!("Xeho  {} E", &text[12..text.len() - 4]);
        assert_eq!(events, lines(&[&ran]), "at {columns} columns");
        // The cursor went below the whole line first.
        let rows = wrapped(&format!("{PROMPT}{ran}"), usize::from(columns)).len();
        assert_eq!(usize::from(vt.screen().cursor_position().0), rows);
    }
}

#[test]
fn every_key_on_a_thousand_character_line_at_every_width() {
    let text: String = (0..1000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    for columns in WIDTHS {
        let (mut ed, mut out, mut vt) = screen_editor(columns);
        type_on(&mut ed, &mut out, &mut vt, text.as_bytes());
        assert_shows(&vt, &ed, PROMPT, &[]);
        for key in [
            &b"\x01"[..],
            b"\x1b[C",
            b"\x05",
            b"\x1b[D",
            b"Z",
            b"\x7f",
            b"\x1b[3~",
            b"\x1bb",
            b"\x1bf",
            b"\x0b",
            b"\x15",
        ] {
            for _ in 0..3 {
                type_on(&mut ed, &mut out, &mut vt, key);
                assert_shows(&vt, &ed, PROMPT, &[]);
            }
        }
        // Every offset from the end back to the start, then a character at each row start.
        type_on(&mut ed, &mut out, &mut vt, &text.as_bytes()[..300]);
        for _ in 0..310 {
            type_on(&mut ed, &mut out, &mut vt, b"\x1b[D");
            assert_shows(&vt, &ed, PROMPT, &[]);
        }
        for _ in 0..310 {
            type_on(&mut ed, &mut out, &mut vt, b"\x1b[C");
            assert_shows(&vt, &ed, PROMPT, &[]);
        }
    }
}

#[test]
fn lines_that_end_exactly_at_the_last_column() {
    for columns in WIDTHS {
        let fill = usize::from(columns) - width(PROMPT);
        for len in [fill - 1, fill, fill + 1, fill + usize::from(columns)] {
            let text = "x".repeat(len);
            let (mut ed, mut out, mut vt) = screen_editor(columns);
            for key in [
                text.as_bytes(),
                b"\x01",
                b"\x05",
                b"\x7f",
                b"y",
                b"\x1b[D\x0b",
                b"zz",
            ] {
                type_on(&mut ed, &mut out, &mut vt, key);
                assert_shows(&vt, &ed, PROMPT, &[]);
            }
        }
    }
}

#[test]
fn history_recall_of_a_wrapped_line_leaves_no_stale_rows() {
    for columns in WIDTHS {
        let (mut ed, mut out, mut vt) = screen_editor(columns);
        let long = long_line(30);
        type_on(
            &mut ed,
            &mut out,
            &mut vt,
            format!("{long}\rls\r").as_bytes(),
        );
        vt.process(CLEAR_SCREEN);
        ed.start_line(PROMPT, &mut out).unwrap();
        type_on(&mut ed, &mut out, &mut vt, b"");
        for keys in [
            &b"\x1b[A"[..],
            b"\x1b[A",
            b"\x1b[B",
            b"\x1b[A",
            b"\x01\x1b[B",
            b"\x1b[B",
        ] {
            type_on(&mut ed, &mut out, &mut vt, keys);
            assert_shows(&vt, &ed, PROMPT, &[]);
        }
        type_on(&mut ed, &mut out, &mut vt, b"\x1b[A\x1b[A");
        assert_eq!(ed.line(), long);
        assert_shows(&vt, &ed, PROMPT, &[]);
    }
}

#[test]
fn a_background_line_printed_over_a_wrapped_line() {
    for columns in WIDTHS {
        let (mut ed, mut out, mut vt) = screen_editor(columns);
        type_on(&mut ed, &mut out, &mut vt, long_line(25).as_bytes());
        type_on(&mut ed, &mut out, &mut vt, b"\x01\x1bf\x1bf");
        // What the session does when a job prints while a line is edited.
        ed.clear_line(&mut out).unwrap();
        out.write_all(b"[1]+  Done                    sleep 2s\r\n")
            .unwrap();
        ed.redraw(&mut out).unwrap();
        vt.process(&out.0);
        out.0.clear();
        let above = wrapped(
            "[1]+  Done                    sleep 2s",
            usize::from(columns),
        );
        assert_shows(&vt, &ed, PROMPT, &above);
        type_on(&mut ed, &mut out, &mut vt, b"X\x05Y");
        assert_shows(&vt, &ed, PROMPT, &above);
    }
}

#[test]
fn a_resize_redraws_the_line_at_the_new_width() {
    let text = long_line(30);
    for (from, to) in [(120u16, 60u16), (60, 120), (80, 20), (20, 80)] {
        let (mut ed, mut out, mut vt) = screen_editor(from);
        type_on(&mut ed, &mut out, &mut vt, text.as_bytes());
        type_on(&mut ed, &mut out, &mut vt, b"\x01\x1bf");
        // The terminal changes width (the emulator does not rewrap, so clear it as a
        // rewrapping terminal would have kept the line at the top), then the launcher
        // sends the size report.
        vt.set_size(VT_ROWS.try_into().unwrap(), to.try_into().unwrap());
        type_on(
            &mut ed,
            &mut out,
            &mut vt,
            format!("\x1b[8;40;{to}t").as_bytes(),
        );
        assert_eq!(ed.config().columns, usize::from(to));
        assert_shows(&vt, &ed, PROMPT, &[]);
        type_on(&mut ed, &mut out, &mut vt, b"X\x05Y\x01");
        assert_shows(&vt, &ed, PROMPT, &[]);
    }
}

#[test]
fn a_size_report_is_no_key_and_the_same_width_redraws_nothing() {
    let (mut ed, mut out, mut vt) = screen_editor(80);
    type_on(&mut ed, &mut out, &mut vt, b"ab\x1b[8;24;80tc");
    assert_eq!(ed.line(), "abc");
    assert_eq!(out.take(), "");
    // Other `t` reports and a zero width are ignored.
    assert_eq!(line(b"a\x1b[4;300;600tb\x1b[8;24;0tc\r"), "abc");
}

#[test]
fn replay_checks_a_scripted_session() {
    let input = "fw lé\x1b[D\x1b[Dx\x7f\x1b[3~\x01\x1bf\x0b\rmem\t\ts\t\x1b[A\x1b[A\x1b[B\x17\x0c\x15é\t\t\x03"
        .as_bytes();
    replay(input, 64);
}

/// Keys and fragments that exercise the editor more often than random bytes would.
const TOKENS: &[&[u8]] = &[
    b"a",
    b"b",
    b" ",
    b"m",
    b"f",
    "é".as_bytes(),
    "€".as_bytes(),
    b"\x1b[D",
    b"\x1b[C",
    b"\x1b[A",
    b"\x1b[B",
    b"\x1b[H",
    b"\x1b[F",
    b"\x1bOH",
    b"\x1bOF",
    b"\x1b[1~",
    b"\x1b[4~",
    b"\x1b[7~",
    b"\x1b[8~",
    b"\x1b[3~",
    b"\x1b[1;5D",
    b"\x1b[1;5C",
    b"\x1bb",
    b"\x1bf",
    b"\x7f",
    b"\x08",
    b"\x01",
    b"\x02",
    b"\x03",
    b"\x04",
    b"\x05",
    b"\x06",
    b"\x0b",
    b"\x0c",
    b"\x0e",
    b"\x10",
    b"\x15",
    b"\x17",
    b"\t",
    b"\r",
    b"\n",
    b"\r\n",
    b"\x1b",
    b"\x1b[",
    b"\x1bO",
    b"\xe2\x82",
    b"\x80",
    b"\xff",
];

fn token_stream() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(TOKENS).prop_map(<[u8]>::to_vec),
            1 => any::<u8>().prop_map(|b| vec![b]),
        ],
        0..200,
    )
    .prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random bytes never panic, and the buffer stays valid UTF-8, within the maximum,
    /// free of control characters, and shown correctly on the screen.
    #[test]
    fn random_bytes_keep_the_invariants(input in prop::collection::vec(any::<u8>(), 0..400),
                                        max_len in 1usize..24) {
        replay(&input, max_len);
    }

    /// The same, with key sequences that reach every state and edit.
    #[test]
    fn random_keys_keep_the_invariants(input in token_stream(), max_len in 1usize..40) {
        replay(&input, max_len);
    }

    /// The same at every width, with lines long enough to wrap.
    #[test]
    fn random_keys_at_every_width(input in token_stream(), max_len in 1usize..400,
                                  width in prop::sample::select(&WIDTHS[..])) {
        replay_at(&input, max_len, width);
    }

    /// Output is a function of the input.
    #[test]
    fn output_is_deterministic(input in token_stream()) {
        prop_assert_eq!(replay(&input, 32), replay(&input, 32));
    }

    /// Printable text and Enter give back that text.
    #[test]
    fn typed_text_comes_back(text in "[ -~éü€😀]{0,60}") {
        let mut input = text.clone().into_bytes();
        input.push(CR);
        prop_assert_eq!(line(&input), text);
    }
}

#[test]
fn history_off_records_nothing_until_on_again() {
    let (mut ed, mut out) = editor(Config::default());
    ed.set_history(false);
    assert!(!ed.records_history());
    feed(&mut ed, &mut out, b"first\r", &NoCompletion);
    assert!(ed.history().is_empty());
    ed.set_history(true);
    feed(&mut ed, &mut out, b"second\r", &NoCompletion);
    assert_eq!(ed.history().len(), 1);
}

#[test]
fn a_completion_listing_comes_in_columns_that_fit_the_width() {
    let names: alloc::vec::Vec<String> = ["args", "burn", "cat", "crash", "echo", "false", "fw"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    // Cells of 7 (the longest name, 5, and the gap): three fit in 20 columns, filled
    // down each column first.
    assert_eq!(
        super::listing_rows(&names, 20),
        ["args   crash  fw", "burn   echo", "cat    false"]
    );
    assert_eq!(
        super::listing_rows(&names, 80),
        ["args   burn   cat    crash  echo   false  fw"]
    );
    // Too narrow for two: one a row.
    assert_eq!(super::listing_rows(&names, 5).len(), names.len());
    assert!(super::listing_rows(&[], 80).is_empty());
}

#[test]
fn the_width_comes_from_the_kernel_command_line() {
    let width = Config::columns_from_command_line;
    assert_eq!(width("kiln.columns=120"), Some(120));
    assert_eq!(width("quiet kiln.columns=60 kiln.selftest"), Some(60));
    assert_eq!(
        width("kiln.columns=60 kiln.columns=90"),
        Some(90),
        "the last one wins"
    );
    assert_eq!(width(""), None);
    assert_eq!(width("kiln.columns="), None);
    assert_eq!(width("kiln.columns=0"), None);
    assert_eq!(width("kiln.columns=abc"), None);
    assert_eq!(width("kiln.columns=100000"), None);
    assert_eq!(width("xkiln.columns=70"), None);
}
