//! The crate's layout, held against its source: the reading order its
//! docs give ("Reading the source", in `lib.rs`) names every file, and each
//! file uses only those listed before it. A folder is one entry, unless the
//! order names its files one by one (`process/current.rs`, …).

use std::collections::BTreeMap;
use std::path::Path;

/// The source of the crate: each file's path under `src/`, and its text.
fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, found: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                found.insert(name, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = BTreeMap::new();
    walk(&root, &root, &mut found);
    found
}

/// The entry of the reading order a file belongs to: the file itself if
/// the order names it (`process/current.rs`), else its folder (`ipc/` for
/// `ipc/queue.rs`, `pool/` for `pool.rs` and `pool/parent_side.rs`).
fn entry_of(file: &str, order: &[String]) -> String {
    if order.iter().any(|e| e == file) {
        return file.to_owned();
    }
    match file.split_once('/') {
        Some((dir, _)) => format!("{dir}/"),
        None if file == "pool.rs" => "pool/".to_owned(),
        None => file.to_owned(),
    }
}

/// The files the order names, in order: each backticked `name.rs` or
/// `dir/` of the numbered list under "Reading the source".
fn reading_order(lib: &str) -> Vec<String> {
    let docs: Vec<&str> = lib
        .lines()
        .skip_while(|l| !l.starts_with("//! # Reading the source"))
        .take_while(|l| l.starts_with("//!"))
        .collect();
    let mut order = Vec::new();
    for line in docs {
        let text = line.trim_start_matches("//!").trim_start();
        let starts_entry = text
            .split_once(". ")
            .is_some_and(|(n, _)| n.parse::<u32>().is_ok());
        if !starts_entry {
            continue;
        }
        let names = text.split('`').skip(1).step_by(2);
        for name in names.filter(|n| n.ends_with(".rs") || n.ends_with('/')) {
            if !order.iter().any(|e| e == name) {
                order.push(name.to_owned());
            }
        }
    }
    order
}

/// The modules a file's code (not its comments) names: `crate::ipc`,
/// `crate::{Error, Process}` (names the crate's root re-exports, mapped
/// to the module they come from), `super::` inside a folder.
fn uses(text: &str, reexports: &BTreeMap<String, String>) -> Vec<String> {
    let mut found = Vec::new();
    for line in text
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with("//"))
    {
        for (i, _) in line.match_indices("crate::") {
            let rest = &line[i + "crate::".len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .collect(),
                None => vec![rest],
            };
            for name in names {
                let path: String = name
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let path = path.trim_end_matches(':');
                let first = path.split("::").next().unwrap_or_default();
                match reexports.get(first) {
                    Some(module) => found.push(module.clone()),
                    None if !path.is_empty() => found.push(path.to_owned()),
                    None => {}
                }
            }
        }
    }
    found
}

#[test]
fn the_reading_order_names_every_file_and_each_uses_only_those_before_it() {
    let sources = sources();
    let lib = &sources["lib.rs"];
    let order = reading_order(lib);
    // The root's re-exports (`pub use current::{CurrentProcess, …};`): which
    // module each name is.
    let mut reexports = BTreeMap::new();
    for line in lib.lines().filter(|l| l.starts_with("pub use ")) {
        let (module, names) = line["pub use ".len()..].rsplit_once("::").unwrap();
        for name in names.trim_matches(|c| "{};".contains(c)).split(',') {
            reexports.insert(name.trim().to_owned(), module.to_owned());
        }
    }
    // Lines of a `pub use …{…}` spread over several lines.
    let mut module = None;
    for line in lib.lines() {
        if let Some(rest) = line.strip_prefix("pub use ").filter(|r| r.ends_with("::{")) {
            module = Some(rest.trim_end_matches("::{").to_owned());
        } else if line.starts_with('}') {
            module = None;
        } else if let Some(module) = &module {
            for name in line.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                reexports.insert(name.to_owned(), module.clone());
            }
        }
    }
    let position = |entry: &str| order.iter().position(|e| e == entry);
    // The entry of the file a module path names (`sys`, `process::current`,
    // `ipc::Queue`): its longest prefix that is a file.
    let file_of = |path: &str| -> String {
        let segments: Vec<&str> = path.split("::").collect();
        for n in (1..=segments.len()).rev() {
            let stem = segments[..n].join("/");
            for file in [format!("{stem}.rs"), format!("{stem}/mod.rs")] {
                if sources.contains_key(&file) {
                    return entry_of(&file, &order);
                }
            }
        }
        format!("{}/", segments[0])
    };
    // Modules written inside `lib.rs` itself (`mod sealed { … }`): any file
    // may use them.
    let inline: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(" {"))
        .collect();
    let mut wrong = Vec::new();
    for (file, text) in sources.iter().filter(|(f, _)| *f != "lib.rs") {
        // `super::` in a folder's file is the folder.
        let text = match file.rsplit_once('/') {
            Some((dir, name)) if name != "mod.rs" => {
                text.replace("super::", &format!("crate::{dir}::"))
            }
            _ => text.clone(),
        };
        let text = &text;
        let entry = entry_of(file, &order);
        let Some(at) = position(&entry) else {
            wrong.push(format!("{file} is not in the reading order"));
            continue;
        };
        for module in uses(text, &reexports) {
            if inline.contains(&module.split("::").next().unwrap_or_default()) {
                continue;
            }
            let used = file_of(&module);
            match position(&used) {
                Some(before) if before <= at => {}
                Some(_) => wrong.push(format!("{file} uses {used}, listed after it")),
                None => wrong.push(format!("{file} uses {used}, which the order does not name")),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the reading order {order:?}:\n{}",
        wrong.join("\n")
    );
}

/// One name per idea: no two types, traits or type aliases anywhere in the
/// crate share a name, so a reader never wonders which `State` is meant.
#[test]
fn no_two_items_share_a_name() {
    fn collect(items: &[syn::Item], file: &str, found: &mut BTreeMap<String, Vec<String>>) {
        for item in items {
            let name = match item {
                syn::Item::Struct(item) => &item.ident,
                syn::Item::Enum(item) => &item.ident,
                syn::Item::Trait(item) => &item.ident,
                syn::Item::Type(item) => &item.ident,
                syn::Item::Union(item) => &item.ident,
                syn::Item::Mod(syn::ItemMod {
                    content: Some((_, inner)),
                    ..
                }) => {
                    collect(inner, file, found);
                    continue;
                }
                _ => continue,
            };
            found
                .entry(name.to_string())
                .or_default()
                .push(file.to_owned());
        }
    }
    let mut found = BTreeMap::new();
    for (file, text) in sources() {
        let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        collect(&parsed.items, &file, &mut found);
    }
    let twice: Vec<String> = found
        .iter()
        .filter(|(_, files)| files.len() > 1)
        .map(|(name, files)| format!("{name}: {}", files.join(", ")))
        .collect();
    assert!(twice.is_empty(), "names used twice:\n{}", twice.join("\n"));
    assert!(found.contains_key("Pool"), "the items were read");
}
