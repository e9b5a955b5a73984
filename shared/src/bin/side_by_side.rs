//! An instructor's run of a chapter: each section's Rust program, then its
//! Python twin, clearly labelled, with the "what to notice" line from the
//! README.
//!
//! ```console
//! $ cargo run -q -p shared --bin side_by_side -- examples-daemon
//! $ cargo run -q -p shared --bin side_by_side -- examples-daemon daemon_join
//! $ cargo run -q -p shared --bin side_by_side -- examples-ipc --pause
//! ```
//! The sections come in the README's order, which is the teaching order;
//! `--pause` waits for Enter between them. Without `python3` (or the
//! interpreter named by `PYTHON=`), it shows the Rust side only, and says so.
//! The twins run line-buffered, as at a terminal, so their lines from
//! several processes come out whole and in order. The benchmark takes
//! minutes: a whole-chapter run skips it unless it is named.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const USAGE: &str = "usage: side_by_side CHAPTER [SECTION] [--pause]
  CHAPTER   examples-basic, examples-daemon, examples-exitcode, examples-ipc or examples-pool
  SECTION   one section of it (default: all of them, in teaching order)
  --pause   wait for Enter after each section";

/// Sections whose figures mean something only in an optimised build.
const RELEASE: [&str; 2] = ["factorize", "benchmark"];

/// One row of a chapter's table in the README.
struct Section {
    name: String,
    notice: String,
}

/// The sections of `chapter`, in the order of its README table.
fn sections(readme: &str, chapter: &str) -> Vec<Section> {
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

/// Run `command` with stdout and stderr in one pipe, as a terminal shows
/// them interleaved, and return what it wrote (and a line if it failed).
fn output_of(mut command: Command) -> String {
    let (mut reader, writer) = match std::io::pipe() {
        Ok(pipe) => pipe,
        Err(e) => return format!("(cannot make a pipe: {e})\n"),
    };
    let Ok(err_writer) = writer.try_clone() else {
        return "(cannot make a pipe)\n".to_owned();
    };
    command
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(err_writer);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return format!("(cannot run it: {e})\n"),
    };
    drop(command); // and with it our copies of the pipe's writer: end-of-file comes when the child ends
    let mut text = String::new();
    let _ = reader.read_to_string(&mut text);
    match child.wait() {
        Ok(status) if !status.success() => text.push_str(&format!("({status})\n")),
        _ => {}
    }
    text
}

fn show(root: &Path, chapter: &str, section: &Section, python: Option<&str>) {
    println!("━━ {chapter} · {} ━━", section.name);
    println!("what to notice: {}", section.notice);
    let release = RELEASE.contains(&section.name.as_str());
    let profile = if release { " --release" } else { "" };
    println!(
        "── Rust: cargo run{profile} -p {chapter} --bin {}",
        section.name
    );
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(root)
        .args(["run", "-q", "-p", chapter, "--bin", &section.name]);
    if release {
        cargo.arg("--release");
    }
    print!("{}", output_of(cargo));
    let twin = Path::new(chapter)
        .join("python")
        .join(format!("{}.py", section.name));
    match python {
        Some(python) => {
            println!("── Python: {python} {}", twin.display());
            // Line-buffered stdout, as at a terminal (see the README): a
            // pipe would otherwise hold lines back, or lose them.
            let script = "import runpy, sys; sys.stdout.reconfigure(line_buffering=True); \
                          sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')";
            let mut command = Command::new(python);
            command
                .current_dir(root)
                .env_remove("PYTHONUNBUFFERED")
                .args(["-c", script])
                .arg(&twin);
            print!("{}", output_of(command));
        }
        None => println!("── Python: {} (not run: no Python here)", twin.display()),
    }
    println!();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let pause = args.iter().any(|a| a == "--pause");
    let words: Vec<&String> = args.iter().filter(|a| *a != "--pause").collect();
    let fail = |why: String| -> ! {
        eprintln!("side_by_side: {why}\n{USAGE}");
        std::process::exit(2);
    };
    let (chapter, only) = match words[..] {
        [chapter] => (chapter.as_str(), None),
        [chapter, section] => (chapter.as_str(), Some(section.as_str())),
        _ => fail("name a chapter, and at most one section".to_owned()),
    };
    let root: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap_or_default();
    let all = sections(&readme, chapter);
    if all.is_empty() {
        fail(format!("no chapter '{chapter}' in the README"));
    }
    let chosen: Vec<&Section> = match only {
        Some(name) => match all.iter().find(|s| s.name == name) {
            Some(section) => vec![section],
            None => fail(format!("no section '{name}' in {chapter}")),
        },
        None => all.iter().filter(|s| s.name != "benchmark").collect(),
    };
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let found = Command::new(&python)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        println!("({python} not found: showing the Rust side only)\n");
    }
    for (i, section) in chosen.iter().enumerate() {
        show(&root, chapter, section, found.then_some(python.as_str()));
        if pause && i + 1 < chosen.len() {
            println!("(Enter for the next section)");
            let _ = std::io::stdin().lock().read_line(&mut String::new());
        }
    }
}
