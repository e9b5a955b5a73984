#![doc = include_str!("../README.md")]
//!
//! What the sections of this chapter share: printing values the way
//! Python's `print` does, so each program's output reads like its twin's.

/// Python prints a `bool` as `True` or `False`.
pub fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// Python prints a missing exit code as `None`: a child has none until it
/// is reaped (by `join`, `is_alive` or `exitcode` after it has exited).
pub fn py_exitcode(code: Option<i32>) -> String {
    code.map_or_else(|| "None".to_owned(), |code| code.to_string())
}
