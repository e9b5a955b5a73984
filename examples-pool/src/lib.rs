#![doc = include_str!("../README.md")]
//!
//! What the sections of this chapter share: printing values the way
//! Python's `print` does, and tutorial 002's CPU-bound work, which both
//! `factorize` and `benchmark` race.

/// Tutorial 002's numbers: the largest takes about half of the total time.
pub const NUMBERS: [u64; 4] = [53541233, 21235343, 11421443, 5423123];

/// Every divisor of `number`, by trying them all (slow on purpose: this is
/// the tutorial's loop, kept so the race against Python is fair).
#[allow(clippy::manual_is_multiple_of)] // the tutorial's own test, kept as written
pub fn factorize(number: u64) -> Vec<u64> {
    (1..=number).filter(|i| number % i == 0).collect()
}

/// Python prints a `bool` as `True` or `False`.
pub fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// Python prints a list of `bool`s as `[True, False]`.
pub fn py_bools(bools: impl IntoIterator<Item = bool>) -> String {
    let words: Vec<&str> = bools.into_iter().map(py_bool).collect();
    format!("[{}]", words.join(", "))
}
