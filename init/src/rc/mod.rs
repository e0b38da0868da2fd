//! The rc language: see DESIGN.md "The rc language".
pub mod ast;
