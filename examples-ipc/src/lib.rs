#![doc = include_str!("../README.md")]
//!
//! What the sections of this chapter share: printing values the way
//! Python's `print` does, so each program's output reads like its twin's.

/// Python prints a `bool` as `True` or `False`.
pub fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// Python prints a list of exit codes as `[0, 0]`, and a code not known
/// yet (the child not reaped) as `None`.
pub fn py_exitcodes(codes: impl IntoIterator<Item = Option<i32>>) -> String {
    let codes: Vec<String> = codes
        .into_iter()
        .map(|code| code.map_or_else(|| "None".to_owned(), |code| code.to_string()))
        .collect();
    format!("[{}]", codes.join(", "))
}
