//! The one reader of the README's section tables: each chapter's table,
//! in teaching order, with its "what to notice" cell, for the guide check
//! and `side_by_side`. Plain std.

/// One row of a chapter's table in the workspace README.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The program's name, which is also its twin's (`daemon` for
    /// `daemon.py` and `daemon.rs`).
    pub name: String,
    /// The row's "what to notice" cell.
    pub notice: String,
}

/// The sections of `chapter` (`examples-daemon`), in the order of its
/// table under `### examples-daemon: …` in `readme`; empty if there is no
/// such chapter.
pub fn sections(readme: &str, chapter: &str) -> Vec<Section> {
    let heading = format!("### {chapter}:");
    let rows = readme
        .lines()
        .skip_while(|l| !l.starts_with(&heading))
        .skip(1);
    let rows = rows.take_while(|l| !l.starts_with("### ") && !l.starts_with("## "));
    rows.filter_map(|row| {
        let cells: Vec<&str> = row.split(" | ").collect();
        let twin = cells.first()?.strip_prefix("| [")?.split(".py]").next()?;
        let notice = cells.get(2)?.trim_end_matches(" |").to_owned();
        Some(Section {
            name: twin.to_owned(),
            notice,
        })
    })
    .collect()
}

/// The chapters the README has tables for, in its order.
pub fn chapters(readme: &str) -> Vec<String> {
    readme
        .lines()
        .filter_map(|l| l.strip_prefix("### examples-"))
        .filter_map(|l| Some(format!("examples-{}", l.split(':').next()?)))
        .collect()
}
