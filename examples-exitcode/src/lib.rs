//! Chapter 3, `examples-exitcode`: terminate, is_alive, exit status.
//!
//! The chapter's guide, a question, a run and a folded answer for each
//! section, is `examples-exitcode/README.md` in the repository, read on the
//! forge or in an editor (its links are to files beside it, which these
//! pages do not have). Its sections, in teaching order:
//! `cargo run -q -p testkit --bin side_by_side -- --list exitcode`.
