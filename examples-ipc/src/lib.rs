//! Chapter 4, `examples-ipc`: talking between processes.
//!
//! The chapter's guide, a question, a run and a folded answer for each
//! section, is `examples-ipc/README.md` in the repository, read on the
//! forge or in an editor (its links are to files beside it, which these
//! pages do not have). Its sections, in teaching order:
//! `cargo run -q -p testkit --bin side_by_side -- --list ipc`.
