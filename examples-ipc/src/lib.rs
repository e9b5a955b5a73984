//! Chapter 4, `examples-ipc`: talking between processes.
//!
//! The chapter's guide, a question, a run and a folded answer for each
//! section, is `examples-ipc/README.md` in the repository, read on the
//! forge or in an editor (its links are to files beside it, which these
//! pages do not have). Its sections, in teaching order:
//! `cargo run -q -p testkit --bin side_by_side -- --list ipc`.

/// Where the chapter's Python twins are: `talk_to_python` runs one of them
/// (from here, so that an edited copy of the section, built elsewhere,
/// finds it too).
pub const TWINS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python");

/// What `talk_to_python`'s two ends printed when its transcript was made,
/// shown by the section where there is no `python3` to run.
pub const TALK_TO_PYTHON_TRANSCRIPT: &str = include_str!("../python/talk_to_python.out");
