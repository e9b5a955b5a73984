//! Chapter 1, `examples-basic`: starting processes, names, logging.
//!
//! The chapter's guide, a question, a run and a folded answer for each
//! section, is `examples-basic/README.md` in the repository, read on the
//! forge or in an editor (its links are to files beside it, which these
//! pages do not have). Its sections, in teaching order:
//! `cargo run -q -p testkit --bin side_by_side -- --list basic`.
//!
//! The library half of the `examples-basic` chapter: targets that live
//! outside the program that starts them.
//!
//! Tutorial 003, section 2, puts its `worker` in a module of its own,
//! `multiprocessing_import_worker.py`, because of how Python starts a child
//! with the `spawn` method (the default on Windows and macOS): the child is
//! a fresh interpreter that must *import* the target by name, so the target
//! must live where an import can find it. Under `fork` it makes no
//! difference, and in Rust it never does: there is no import at run time,
//! the compiler links the function into the program, and `fork` copies the
//! whole program, this library included, into the child. A target from
//! another module is just a path, `importable_worker::worker`.
//!
//! See `src/bin/importable_target.rs` for the program that starts it.

/// The twin of `python/importable_worker.py`.
pub mod importable_worker {
    /// Print `Worker`: the target each child of `importable_target` runs.
    pub fn worker() {
        println!("Worker");
    }
}
