//! Command history: a bounded list of past lines, newest last.
//!
//! [`History::push`] keeps what an operator would want to recall with the Up arrow:
//! blank lines and a repeat of the newest entry are not stored, and when the list is
//! full the oldest entry is dropped. Walking the history (and keeping the line being
//! edited as the newest entry while doing so) is the editor's job
//! ([`crate::editor::Editor`]); this module only stores.

use alloc::collections::VecDeque;
use alloc::string::String;

/// Bytes of text the history keeps, at most (the oldest lines go first beyond it).
pub const TEXT_BYTES: usize = 16 * 1024;

/// A bounded list of past lines, oldest first.
///
/// Its memory is taken once, when it is made: the lines live in one text buffer of
/// [`TEXT_BYTES`] and their lengths in a ring of `capacity`. So typing lines never
/// allocates: a line typed while a burst of jobs fills the heap would otherwise stay in
/// the middle of it, splitting the heap for good.
#[derive(Debug, Clone)]
pub struct History {
    /// Every stored line, oldest first, back to back.
    text: String,
    /// The byte length of each stored line, oldest first.
    lengths: VecDeque<usize>,
    capacity: usize,
}

impl History {
    /// An empty history that keeps at most `capacity` lines (0: keep none).
    pub fn new(capacity: usize) -> Self {
        let text_bytes = if capacity == 0 { 0 } else { TEXT_BYTES };
        Self {
            text: String::with_capacity(text_bytes),
            lengths: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Stores `line` as the newest entry. Returns false (and stores nothing) for a
    /// blank line, a repeat of the newest entry, a line longer than [`TEXT_BYTES`], or
    /// a zero capacity.
    pub fn push(&mut self, line: &str) -> bool {
        if self.capacity == 0 || line.trim().is_empty() || line.len() > TEXT_BYTES {
            return false;
        }
        if self.back(0) == Some(line) {
            return false;
        }
        while self.lengths.len() == self.capacity || self.text.len() + line.len() > TEXT_BYTES {
            self.drop_oldest();
        }
        self.text.push_str(line);
        self.lengths.push_back(line.len());
        true
    }

    fn drop_oldest(&mut self) {
        if let Some(length) = self.lengths.pop_front() {
            self.text.drain(..length);
        }
    }

    /// The byte range of stored line `index` (0 is the oldest).
    fn span(&self, index: usize) -> Option<(usize, usize)> {
        let length = *self.lengths.get(index)?;
        let start: usize = self.lengths.iter().take(index).sum();
        Some((start, start + length))
    }

    /// The entry `age` steps back from the newest (0 is the newest), if there is one.
    pub fn back(&self, age: usize) -> Option<&str> {
        let index = self.lengths.len().checked_sub(age)?.checked_sub(1)?;
        let (start, end) = self.span(index)?;
        self.text.get(start..end)
    }

    /// The number of stored lines.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// True when no line is stored.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// The most lines kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The stored lines, oldest first (for a `history` built-in).
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let mut start = 0;
        self.lengths.iter().map(move |&length| {
            let line = self.text.get(start..start + length).unwrap_or_default();
            start += length;
            line
        })
    }

    /// Forgets every stored line.
    pub fn clear(&mut self) {
        self.text.clear();
        self.lengths.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn skips_blank_lines_and_immediate_duplicates() {
        let mut h = History::new(8);
        assert!(h.push("a"));
        assert!(!h.push(""));
        assert!(!h.push("   "));
        assert!(!h.push("a"));
        assert!(h.push("b"));
        assert!(h.push("a"));
        assert_eq!(h.iter().collect::<Vec<_>>(), ["a", "b", "a"]);
    }

    #[test]
    fn drops_the_oldest_when_full() {
        let mut h = History::new(2);
        h.push("1");
        h.push("2");
        h.push("3");
        assert_eq!(h.len(), 2);
        assert_eq!(h.back(0), Some("3"));
        assert_eq!(h.back(1), Some("2"));
        assert_eq!(h.back(2), None);
        assert_eq!(h.back(usize::MAX), None);
    }

    #[test]
    fn long_lines_push_out_the_oldest_text_and_memory_stays_put() {
        let mut h = History::new(64);
        let (text_capacity, lengths_capacity) = (h.text.capacity(), h.lengths.capacity());
        let line = "x".repeat(1000);
        for i in 0..100 {
            h.push(&alloc::format!("{i:03}{line}"));
        }
        // 16 KiB holds 16 lines of 1003 bytes: the newest ones.
        assert_eq!(h.len(), 16);
        assert!(h.back(0).unwrap().starts_with("099"));
        assert!(h.back(15).unwrap().starts_with("084"));
        assert_eq!(h.iter().count(), 16);
        assert_eq!(
            (h.text.capacity(), h.lengths.capacity()),
            (text_capacity, lengths_capacity),
            "the history never reallocates"
        );
        assert!(!h.push(&"y".repeat(TEXT_BYTES + 1)));
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut h = History::new(0);
        assert!(!h.push("x"));
        assert!(h.is_empty());
        assert_eq!(h.back(0), None);
    }
}
