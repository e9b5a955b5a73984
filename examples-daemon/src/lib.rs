//! Chapter 2, `examples-daemon`: daemon processes and join.
//!
//! The chapter's guide, a question, a run and a folded answer for each
//! section, is `examples-daemon/README.md` in the repository, read on the
//! forge or in an editor (its links are to files beside it, which these
//! pages do not have). Its sections, in teaching order:
//! `cargo run -q -p testkit --bin side_by_side -- --list daemon`.
