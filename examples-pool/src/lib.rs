//! Chapter 5, `examples-pool`: pools and the CPU-bound race.
//!
//! The chapter's guide, a question, a run and a folded answer for each
//! section, is `examples-pool/README.md` in the repository, read on the
//! forge or in an editor (its links are to files beside it, which these
//! pages do not have). Its sections, in teaching order:
//! `cargo run -q -p testkit --bin side_by_side -- --list pool`.
//!
//! What the sections of this chapter share: tutorial 002's CPU-bound work,
//! which both `factorize` and `benchmark` race. (Printing values the way
//! Python's `print` does is `shared::py`.)

/// Tutorial 002's numbers: the largest takes about half of the total time.
pub const NUMBERS: [u64; 4] = [53541233, 21235343, 11421443, 5423123];

/// Every divisor of `number`, by trying them all (slow on purpose: this is
/// the tutorial's loop, kept so the race against Python is fair).
#[allow(clippy::manual_is_multiple_of)] // the tutorial's own test, kept as written
pub fn factorize(number: u64) -> Vec<u64> {
    (1..=number).filter(|i| number % i == 0).collect()
}
