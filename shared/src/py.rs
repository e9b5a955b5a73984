//! Printing values the way Python's `print` does, so that a section's
//! output reads like its twin's: `True`, `[0, 1]`, `None`.

/// Python prints a `bool` as `True` or `False`.
pub fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// Python prints a list of `bool`s as `[True, False]`.
pub fn py_bools(bools: impl IntoIterator<Item = bool>) -> String {
    let words: Vec<&str> = bools.into_iter().map(py_bool).collect();
    format!("[{}]", words.join(", "))
}

/// Python prints a missing exit code as `None`: a child has none until it
/// has exited and been reaped.
pub fn py_exitcode(code: Option<i32>) -> String {
    code.map_or_else(|| "None".to_owned(), |code| code.to_string())
}

/// Python prints a list of exit codes as `[0, None]`.
pub fn py_exitcodes(codes: impl IntoIterator<Item = Option<i32>>) -> String {
    let codes: Vec<String> = codes.into_iter().map(py_exitcode).collect();
    format!("[{}]", codes.join(", "))
}

/// A string as Python's `repr` quotes it (enough for process names).
pub(crate) fn py_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}
