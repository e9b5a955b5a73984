//! An instructor's run of a chapter: each section's Rust program, then its
//! Python twin, clearly labelled, with the "what to notice" line from the
//! README.
//!
//! ```console
//! $ cargo run -q -p shared --bin side_by_side -- examples-daemon
//! $ cargo run -q -p shared --bin side_by_side -- examples-daemon daemon_join
//! $ cargo run -q -p shared --bin side_by_side -- ipc --pause
//! $ cargo run -q -p shared --bin side_by_side -- pool factorize --timeline
//! $ cargo run -q -p shared --bin side_by_side -- --list daemon
//! ```
//! The sections come in the README's order, which is the teaching order;
//! `--pause` waits for Enter between them, `--list` only names them,
//! `--timeline` runs the Rust program with `TIMELINE=1`, so that its
//! output ends with its timeline's chart and where its pictures are. A
//! chapter may be named without its `examples-`. Without `python3` (or the
//! interpreter named by `PYTHON=`), it shows the twin's stored transcript
//! (`python/NAME.out`, what CPython 3.11 printed), and says so.
//! The twins run line-buffered, as at a terminal, so their lines from
//! several processes come out whole and in order. The benchmark takes
//! minutes: a whole-chapter run skips it unless it is named.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const USAGE: &str = "usage: side_by_side CHAPTER [SECTION] [--pause] [--timeline]
       side_by_side --list [CHAPTER]
  CHAPTER   examples-basic, examples-daemon, examples-exitcode, examples-ipc or
            examples-pool (or basic, daemon, ...)
  SECTION   one section of it (default: all of them, in teaching order)
  --pause   wait for Enter after each section
  --timeline  show the Rust program's timeline after its output (TIMELINE=1)
  --list    name the sections, in teaching order, and run nothing";

/// Sections whose figures mean something only in an optimised build.
const RELEASE: [&str; 2] = ["factorize", "benchmark"];

// The one reader of the README's tables and the one way to run a
// section, shared with the chapter tests' kit (dev-only, so compiled in here
// by path: see `run.rs`).
#[path = "../../testkit/src/run.rs"]
#[allow(dead_code)] // the kit uses more of it than this tool
mod run;
#[path = "../../testkit/src/sections.rs"]
#[allow(dead_code)]
mod sections;

use sections::{Section, chapters, sections};

/// How long a section may run here: the benchmark takes minutes.
const LIMIT: Duration = Duration::from_secs(900);

/// What `command` printed, stdout and stderr interleaved as a terminal
/// shows them, and a line if it failed.
fn output_of(command: Command) -> String {
    // In our process group, as at a terminal: Ctrl-C stops the section too.
    match run::run_command(command, LIMIT, false) {
        Ok(run) if run.status.success() => run.output,
        Ok(run) => format!("{}({})\n", run.output, run.status),
        Err(why) => format!("({why})\n"),
    }
}

fn show(root: &Path, chapter: &str, section: &Section, python: Option<&str>, timeline: bool) {
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
    if timeline {
        cargo.env("TIMELINE", "1"); // the program draws it as it leaves
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
        None => {
            let stored = root.join(&twin).with_extension("out");
            println!(
                "── Python: not run (no Python here); what CPython 3.11 printed, from {}:",
                Path::new(chapter)
                    .join("python")
                    .join(format!("{}.out", section.name))
                    .display()
            );
            print!(
                "{}",
                std::fs::read_to_string(stored).unwrap_or_else(|e| format!("({e})\n"))
            );
        }
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
    let list = args.iter().any(|a| a == "--list");
    let timeline = args.iter().any(|a| a == "--timeline");
    let words: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let fail = |why: String| -> ! {
        eprintln!("side_by_side: {why}\n{USAGE}");
        std::process::exit(2);
    };
    if let Some(flag) = args
        .iter()
        .find(|a| a.starts_with("--") && !["--pause", "--list", "--timeline"].contains(&a.as_str()))
    {
        fail(format!("unknown option {flag}"));
    }
    let root: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap_or_default();
    // `daemon` is `examples-daemon`.
    let full = |name: &str| match name.starts_with("examples-") {
        true => name.to_owned(),
        false => format!("examples-{name}"),
    };
    if list {
        let chapters = match words[..] {
            [] => chapters(&readme),
            [chapter] => vec![full(chapter)],
            _ => fail("--list takes at most a chapter".to_owned()),
        };
        for chapter in chapters {
            let all = sections(&readme, &chapter);
            if all.is_empty() {
                fail(format!("no chapter '{chapter}' in the README"));
            }
            println!("{chapter}:");
            all.iter()
                .for_each(|s| println!("  {:<22} {}", s.name, s.notice));
        }
        return;
    }
    let (chapter, only) = match words[..] {
        [chapter] => (full(chapter), None),
        [chapter, section] => (full(chapter), Some(section.as_str())),
        _ => fail("name a chapter, and at most one section".to_owned()),
    };
    let chapter = chapter.as_str();
    let all = sections(&readme, chapter);
    if all.is_empty() {
        let known = chapters(&readme).join(", ");
        fail(format!(
            "no chapter '{chapter}' in the README (there are: {known})"
        ));
    }
    let chosen: Vec<&Section> = match only {
        Some(name) => match all.iter().find(|s| s.name == name) {
            Some(section) => vec![section],
            None => {
                let known: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
                fail(format!(
                    "no section '{name}' in {chapter}; its sections: {}",
                    known.join(", ")
                ))
            }
        },
        None => all.iter().filter(|s| s.name != "benchmark").collect(),
    };
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let found = Command::new(&python)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        println!("({python} not found: showing the twins' stored transcripts)\n");
    }
    for (i, section) in chosen.iter().enumerate() {
        show(
            &root,
            chapter,
            section,
            found.then_some(python.as_str()),
            timeline,
        );
        if pause && i + 1 < chosen.len() {
            println!("(Enter for the next section)");
            let _ = std::io::stdin().lock().read_line(&mut String::new());
        }
    }
}
