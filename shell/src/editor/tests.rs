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
    // Insert in the middle: echo, reprint the tail, erase, move back.
    assert_eq!(out.take(), "ab\x1b[1Dcb\x1b[K\x1b[1D\r\n");
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
    assert_eq!(out.take(), "\x1b[1D\x1b[K");
    feed(&mut ed, &mut out, b"\x1b[D\x7f", &NoCompletion);
    assert_eq!(out.take(), "\x1b[1D\x1b[1Db\x1b[K\x1b[1D");
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
    assert_eq!(out.take(), "\x1b[K");
    feed(&mut ed, &mut out, b"\x15", &NoCompletion);
    assert_eq!(out.take(), "\x1b[2D\x1b[K");
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
    assert_eq!(out.take(), "\x1b[H\x1b[2Jkiln> abc\x1b[K\x1b[1D");
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
    assert_eq!(out.take(), "\r\x1b[Kjob 1 done\r\nkiln> ab\x1b[K\x1b[1D");
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
    assert_eq!(out.take(), "\x1b[2Dfw load\x1b[K");
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
    assert_eq!(out.take(), "\r\nmemstat  memtest\r\nkiln> mem\x1b[K");
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
    assert_eq!(out.take(), "\r\nmemstat  memtest\r\nkiln> mem\x1b[K");
}

#[test]
fn listing_puts_the_cursor_back_in_the_middle() {
    let c = completer(&["ab", "ac"]);
    let (mut ed, mut out) = editor(Config::default());
    feed(&mut ed, &mut out, b"a xyz\x1b[D\x1b[D\x1b[D\x1b[D", &c);
    out.take();
    feed(&mut ed, &mut out, b"\t\t", &c);
    assert_eq!(out.take(), "\x07\r\nab  ac\r\nkiln> a xyz\x1b[K\x1b[4D");
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
    assert_eq!(out.take(), "x€😀\x1b[K\x1b[2D");
    feed(&mut ed, &mut out, b"\x7f\x7f", &NoCompletion);
    assert_eq!(ed.line(), "a€😀");
    assert_eq!(out.take(), "\x1b[1D€😀\x1b[K\x1b[2D\x1b[1D€😀\x1b[K\x1b[2D");
    feed(&mut ed, &mut out, b"\x1b[3~", &NoCompletion);
    assert_eq!(ed.line(), "a😀");
    assert_eq!(out.take(), "😀\x1b[K\x1b[1D");
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

/// A one-row terminal of unlimited width that understands exactly the sequences the
/// editor may send; anything else fails the test.
#[derive(Default)]
struct Vt {
    row: Vec<char>,
    col: usize,
}

impl Vt {
    fn apply(&mut self, output: &[u8]) {
        let text = core::str::from_utf8(output).expect("output is UTF-8");
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => self.col = 0,
                '\n' => {
                    self.row.clear();
                    self.col = 0;
                }
                '\x07' => {}
                '\x1b' => {
                    assert_eq!(chars.next(), Some('['), "only CSI sequences are sent");
                    let mut n = String::new();
                    while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                        n.push(d);
                        chars.next();
                    }
                    match (chars.next(), n.as_str()) {
                        (Some('D'), n) => {
                            let n: usize = n.parse().expect("a count");
                            assert!(n > 0 && n <= self.col, "moved left past the line start");
                            self.col -= n;
                        }
                        (Some('C'), n) => self.col += n.parse::<usize>().expect("a count"),
                        (Some('K'), "") => self.row.truncate(self.col),
                        (Some('H'), "") => self.col = 0,
                        (Some('J'), "2") => self.row.clear(),
                        (other, n) => panic!("unexpected sequence {n:?} {other:?}"),
                    }
                }
                c if c.is_control() => panic!("unexpected control {c:?}"),
                c => {
                    while self.row.len() < self.col {
                        self.row.push(' ');
                    }
                    if self.col < self.row.len() {
                        self.row[self.col] = c;
                    } else {
                        self.row.push(c);
                    }
                    self.col += 1;
                }
            }
        }
    }

    fn text(&self) -> String {
        self.row.iter().collect()
    }
}

/// Replays `input` like a shell would (a new prompt after each line) and checks after
/// every byte that the screen shows the prompt and the line, with the cursor in place,
/// and that the editor's invariants hold. Returns the whole output.
fn replay(input: &[u8], max_len: usize) -> Vec<u8> {
    let c = completer(&["fw", "fwload", "memstat", "memtest", "é1", "é2"]);
    let config = Config {
        max_len,
        history_capacity: 4,
        echo: true,
        ..Config::default()
    };
    let mut ed = Editor::new(config);
    let mut out = Sink::default();
    let mut all = Vec::new();
    let mut vt = Vt::default();
    ed.start_line(PROMPT, &mut out).unwrap();
    for &b in input {
        let event = ed.feed(b, &c, &mut out).unwrap();
        if let Event::Line(line) = &event {
            assert!(line.len() <= max_len);
            assert!(!line.chars().any(char::is_control));
        }
        if matches!(
            event,
            Event::Line(_) | Event::Interrupt | Event::TooLong { .. }
        ) {
            ed.start_line(PROMPT, &mut out).unwrap();
        }
        vt.apply(&out.0);
        all.append(&mut out.0);
        assert!(ed.buf.len() <= max_len);
        assert!(ed.buf.is_char_boundary(ed.cursor) && ed.cursor <= ed.buf.len());
        assert!(!ed.buf.chars().any(char::is_control));
        assert_eq!(vt.text(), format!("{PROMPT}{}", ed.line()));
        assert_eq!(vt.col, width(PROMPT) + ed.cursor());
    }
    assert!(
        !all.windows(4).any(|w| w == b"\x1b[6n" || w == b"\x1b[5n"),
        "never a terminal query"
    );
    all
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
    "😀".as_bytes(),
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
