//! Command history: a bounded list of past lines, newest last.
//!
//! [`History::push`] keeps what an operator would want to recall with the Up arrow:
//! blank lines and a repeat of the newest entry are not stored, and when the list is
//! full the oldest entry is dropped. Walking the history (and keeping the line being
//! edited as the newest entry while doing so) is the editor's job
//! ([`crate::editor::Editor`]); this module only stores.

use alloc::collections::VecDeque;
use alloc::string::String;

/// A bounded list of past lines, oldest first.
#[derive(Debug, Clone)]
pub struct History {
    entries: VecDeque<String>,
    capacity: usize,
}

impl History {
    /// An empty history that keeps at most `capacity` lines (0: keep none).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity,
        }
    }

    /// Stores `line` as the newest entry. Returns false (and stores nothing) for a
    /// blank line, a repeat of the newest entry, or a zero capacity.
    pub fn push(&mut self, line: &str) -> bool {
        if self.capacity == 0 || line.trim().is_empty() {
            return false;
        }
        if self.entries.back().is_some_and(|newest| newest == line) {
            return false;
        }
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(String::from(line));
        true
    }

    /// The entry `age` steps back from the newest (0 is the newest), if there is one.
    pub fn back(&self, age: usize) -> Option<&str> {
        let index = self.entries.len().checked_sub(age)?.checked_sub(1)?;
        self.entries.get(index).map(String::as_str)
    }

    /// The number of stored lines.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no line is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most lines kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The stored lines, oldest first (for a `history` built-in).
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(String::as_str)
    }

    /// Forgets every stored line.
    pub fn clear(&mut self) {
        self.entries.clear();
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
    fn zero_capacity_keeps_nothing() {
        let mut h = History::new(0);
        assert!(!h.push("x"));
        assert!(h.is_empty());
        assert_eq!(h.back(0), None);
    }
}
