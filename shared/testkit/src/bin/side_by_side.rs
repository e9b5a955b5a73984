//! An instructor's run of a chapter: each section's Rust program, then its
//! Python twin, clearly labelled, with the "what to notice" line from the
//! README.
//!
//! ```console
//! $ cargo run -q -p testkit --bin side_by_side -- examples-daemon
//! $ cargo run -q -p testkit --bin side_by_side -- daemon daemon_join
//! $ cargo run -q -p testkit --bin side_by_side -- ipc --pause
//! $ cargo run -q -p testkit --bin side_by_side -- pool factorize --timeline
//! $ cargo run -q -p testkit --bin side_by_side -- --list daemon
//! ```
//! The sections come in the README's order, which is the teaching order;
//! `--pause` waits for Enter between them (`q` and Enter stops), `--list`
//! only names them, `--timeline` runs the Rust program with `TIMELINE=1`,
//! so that its output ends with its timeline's chart and where its
//! pictures are. A chapter may be named without its `examples-`, in any
//! case. Without `python3` (or the interpreter named by `PYTHON=`), it
//! shows the twin's stored transcript (`python/NAME.out`, what CPython
//! 3.11 printed), and says so. The twins run line-buffered, as at a
//! terminal, so their lines from several processes come out whole and in
//! order. The benchmark takes minutes: a whole-chapter run skips it unless
//! it is named. Piped into `head` or `less` and cut short, it stops
//! quietly, as a Unix tool does.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clap::{CommandFactory, Parser, error::ErrorKind};
use testkit::{Section, chapters, run_command, sections};

/// Each section of a chapter, its Rust program then its Python twin.
#[derive(Parser)]
#[command(name = "side_by_side")]
struct Args {
    /// examples-basic, examples-daemon, examples-exitcode, examples-ipc or
    /// examples-pool (or basic, daemon, …, in any case)
    chapter: Option<String>,
    /// One section of the chapter (default: all of them, in teaching order)
    section: Option<String>,
    /// Wait for Enter after each section (q and Enter stops)
    #[arg(long)]
    pause: bool,
    /// Show the Rust program's timeline after its output (TIMELINE=1)
    #[arg(long)]
    timeline: bool,
    /// Name the sections of the chapter (or of every chapter), and run nothing
    #[arg(long)]
    list: bool,
}

/// Sections whose figures mean something only in an optimised build.
const RELEASE: [&str; 2] = ["factorize", "benchmark"];

/// How long a section may run here: the benchmark takes minutes.
const LIMIT: Duration = Duration::from_secs(900);

/// Print to stdout; a reader that has gone (`| head` done, `less`
/// quit) ends the run quietly, as a Unix tool ends.
macro_rules! say {
    ($($arg:tt)*) => {
        if let Err(e) = write!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    };
}

/// What `command` printed, stdout and stderr interleaved as a terminal
/// shows them, and a line if it failed.
fn output_of(command: Command) -> String {
    // In our process group, as at a terminal: Ctrl-C stops the section too.
    match run_command(command, LIMIT, false) {
        Ok(run) if run.status.success() => run.output,
        Ok(run) => format!("{}({})\n", run.output, run.status),
        Err(why) => format!("({why})\n"),
    }
}

fn show(root: &Path, chapter: &str, section: &Section, python: Option<&str>, timeline: bool) {
    say!("━━ {chapter} · {} ━━\n", section.name);
    say!("what to notice: {}\n", section.notice);
    let release = RELEASE.contains(&section.name.as_str());
    let profile = if release { " --release" } else { "" };
    say!(
        "── Rust: cargo run{profile} -p {chapter} --bin {}\n",
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
    say!("{}", output_of(cargo));
    let twin = Path::new(chapter)
        .join("python")
        .join(format!("{}.py", section.name));
    match python {
        Some(python) => {
            say!("── Python: {python} {}\n", twin.display());
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
            say!("{}", output_of(command));
        }
        None => {
            let stored = twin.with_extension("out");
            say!(
                "── Python: not run (no Python here); what CPython 3.11 printed, from {}:\n",
                stored.display()
            );
            let text = std::fs::read_to_string(root.join(&stored));
            say!("{}", text.unwrap_or_else(|e| format!("({e})\n")));
        }
    }
    say!("\n");
}

/// A usage error, as clap reports its own: the message, the usage, exit 2.
fn refuse(kind: ErrorKind, why: String) -> ! {
    Args::command().error(kind, why).exit()
}

fn main() {
    let args = Args::parse();
    let root: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap_or_default();
    // `daemon`, `Daemon` and `EXAMPLES-DAEMON` are `examples-daemon`.
    let full = |name: &str| {
        let name = name.to_lowercase();
        match name.starts_with("examples-") {
            true => name,
            false => format!("examples-{name}"),
        }
    };
    let known = || chapters(&readme).join(", ");
    let sections_of = |chapter: &str| {
        let all = sections(&readme, chapter);
        if all.is_empty() {
            let why = format!(
                "no chapter '{chapter}' in the README (there are: {})",
                known()
            );
            refuse(ErrorKind::InvalidValue, why);
        }
        all
    };
    if args.list {
        if args.section.is_some() {
            refuse(
                ErrorKind::TooManyValues,
                "--list takes at most a chapter".into(),
            );
        }
        let all = args
            .chapter
            .as_deref()
            .map_or_else(|| chapters(&readme), |c| vec![full(c)]);
        for chapter in all {
            say!("{chapter}:\n");
            for s in sections_of(&chapter) {
                say!("  {:<22} {}\n", s.name, s.notice);
            }
        }
        return;
    }
    let Some(chapter) = args.chapter.as_deref().map(full) else {
        let why = format!("name a chapter (there are: {})", known());
        refuse(ErrorKind::MissingRequiredArgument, why);
    };
    let all = sections_of(&chapter);
    let chosen: Vec<&Section> = match args.section.as_deref() {
        Some(name) => match all.iter().find(|s| s.name == name) {
            Some(section) => vec![section],
            None => {
                let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
                let why = format!(
                    "no section '{name}' in {chapter}; its sections: {}",
                    names.join(", ")
                );
                refuse(ErrorKind::InvalidValue, why)
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
        say!("({python} not found: showing the twins' stored transcripts)\n\n");
    }
    for (i, section) in chosen.iter().enumerate() {
        show(
            &root,
            &chapter,
            section,
            found.then_some(python.as_str()),
            args.timeline,
        );
        if args.pause && i + 1 < chosen.len() {
            say!("(Enter for the next section, q and Enter to stop)\n");
            let mut answer = String::new();
            let read = std::io::stdin().lock().read_line(&mut answer);
            if read.is_ok_and(|n| n == 0) || answer.trim().eq_ignore_ascii_case("q") {
                return; // the end of the input, or q
            }
        }
    }
}
