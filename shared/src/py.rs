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

/// A float as Python writes it: the shortest digits that read back the
/// same, a whole one with its `.0`, an exponent past 1e16 or under 1e-4
/// (`1e+16`, `1.5e-07`), and `nan`, `inf`.
pub(crate) fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if x == 0.0 || (1e-4..1e16).contains(&x.abs()) {
        let plain = format!("{x}");
        return if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        };
    }
    let exp = format!("{x:e}"); // `1.5e-7`
    let (mantissa, power) = exp.split_once('e').expect("an exponent");
    let power: i32 = power.parse().expect("a number");
    let sign = if power < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", power.abs())
}

/// Bytes as Python writes them: in single quotes, or double ones if they
/// hold a `'` and no `"`; `\t`, `\n`, `\r`, `\\` and `\xNN` escapes.
pub(crate) fn py_bytes(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = format!("b{quote}");
    for &b in bytes {
        match b {
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\\' => out.push_str("\\\\"),
            _ if char::from(b) == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push(quote);
    out
}
