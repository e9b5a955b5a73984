//! Every relative link in the rendered docs resolves: run after `cargo doc`
//! (CI does), it scans the pages `target/doc` holds for this workspace's
//! crates and fails, naming each, on a link to a file that is not there.
//!
//! ```console
//! $ cargo doc --workspace --no-deps && cargo run -q -p testkit --bin doc_links
//! ```

use std::path::{Path, PathBuf};

/// The crates whose pages are checked (the others are not ours).
const CRATES: [&str; 6] = [
    "shared",
    "examples_basic",
    "examples_daemon",
    "examples_exitcode",
    "examples_ipc",
    "examples_pool",
];

fn pages(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            pages(&path, found);
        } else if path.extension().is_some_and(|e| e == "html") {
            found.push(path);
        }
    }
}

fn main() {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let root = target.join("doc");
    let mut all = Vec::new();
    for name in CRATES {
        let dir = root.join(name);
        assert!(
            dir.is_dir(),
            "{}: not there; run `cargo doc --workspace --no-deps` first",
            dir.display()
        );
        pages(&dir, &mut all);
    }
    let mut dead = Vec::new();
    for page in &all {
        let html = std::fs::read_to_string(page).unwrap_or_default();
        for link in html
            .split("href=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
        {
            // Not ours to check: the web, anchors in the page, and the
            // templates of rustdoc's own scripts (`${f}`).
            let local = !link.contains("://")
                && !link.starts_with('#')
                && !link.starts_with("javascript:")
                && !link.contains("${");
            let file = link.split(['#', '?']).next().unwrap_or("");
            if local && !file.is_empty() && !page.parent().unwrap_or(&root).join(file).exists() {
                dead.push(format!(
                    "{}: {link}",
                    page.strip_prefix(&root).unwrap_or(page).display()
                ));
            }
        }
    }
    if !dead.is_empty() {
        eprintln!("dead links in the rendered docs:\n  {}", dead.join("\n  "));
        std::process::exit(1);
    }
    println!("{} pages, every relative link resolves", all.len());
}
