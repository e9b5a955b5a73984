//! The chapters' test machinery, dev-only (no learner's build of `shared`
//! compiles it): run a built section and capture what a learner would see
//! on the terminal, compare it with the Python twin's transcript, check
//! each chapter's guide and headers, and a harness for test files that
//! fork.
//!
//! Each section runs in its own process group, so a test can tell whether
//! it left any process behind, and clean up if it did.

mod run;
mod sections;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub use run::{Run, live_members, run_command};
pub use sections::{Section, chapters, sections};

/// Run `exe` with `args` and `envs` as a section (see [`run_command`]);
/// a run over `limit` panics, so a hang fails the test instead of
/// stalling it.
pub fn run_with(
    exe: impl AsRef<Path>,
    args: &[&str],
    envs: &[(&str, &str)],
    limit: Duration,
) -> Run {
    let mut command = Command::new(exe.as_ref());
    command.args(args).envs(envs.iter().copied());
    run_command(command, limit, true).unwrap_or_else(|why| panic!("{why}"))
}

/// [`run_with`] with no arguments and a 30 s limit.
pub fn run(exe: impl AsRef<Path>) -> Run {
    run_with(exe, &[], &[], Duration::from_secs(30))
}

/// Replace process ids with `[..]`, by the same two rules the transcript
/// script uses: a number after `pid`, `parent` or `process id` (with an
/// optional `=` or `:`), and the last number of a `Starting:`/`Exiting :` line.
pub fn normalize_pids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let mut body = after_markers(body);
        let daemon_line = body.starts_with("Starting:") || body.starts_with("Exiting :");
        if let Some(space) = body.rfind(' ').filter(|_| daemon_line) {
            let last = &body[space + 1..];
            if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
                body = format!("{} [..]", &body[..space]);
            }
        }
        out.push_str(&body);
        out.push_str(end);
    }
    out
}

fn after_markers(line: &str) -> String {
    const MARKERS: [&str; 3] = ["process id", "parent", "pid"];
    let lower = line.to_ascii_lowercase();
    let bytes = line.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    'scan: while i < line.len() {
        for marker in MARKERS {
            let word_start =
                i == 0 || !bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'_';
            if word_start && lower[i..].starts_with(marker) {
                // marker, then spaces with at most one `=` or `:`, then digits
                let mut j = i + marker.len();
                let mut separators = 0;
                while j < line.len() && matches!(bytes[j], b' ' | b'\t' | b'=' | b':') {
                    if bytes[j] != b' ' && bytes[j] != b'\t' {
                        separators += 1;
                    }
                    j += 1;
                }
                let digits = bytes[j..].iter().take_while(|b| b.is_ascii_digit()).count();
                if j > i + marker.len() && separators <= 1 && digits > 0 {
                    out.push_str(&line[i..j]);
                    out.push_str("[..]");
                    i = j + digits;
                    continue 'scan;
                }
            }
        }
        let c = line[i..].chars().next().expect("in bounds");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The lines of `text`, sorted: for output whose order the scheduler decides.
pub fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// The Python twin's transcript `python/<bin>.out` of the crate at
/// `manifest_dir` (pass `env!("CARGO_MANIFEST_DIR")`).
pub fn transcript(manifest_dir: &str, bin: &str) -> String {
    let path = Path::new(manifest_dir)
        .join("python")
        .join(format!("{bin}.out"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Check a chapter's guide (its `README.md`): it has a section for every
/// program in `src/bin`, in the order of the chapter's table in the
/// workspace README (the teaching order), whose first is the chapter's
/// `default-run`; and each section asks, runs and says what to notice, in
/// that order, then asks a "try this", each question linking to its
/// answer, folded away in the guide's `## Answers` part at the end, which
/// links back.
pub fn check_guide(manifest_dir: &str) {
    let dir = Path::new(manifest_dir);
    let chapter = dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a chapter folder");
    let guide = std::fs::read_to_string(dir.join("README.md")).expect("the chapter's README.md");
    let headings: Vec<&str> = guide
        .lines()
        .filter(|l| l.starts_with("## ") && l.contains(". `"))
        .collect();
    let in_guide: Vec<String> = headings
        .iter()
        .filter_map(|h| Some(h.split('`').nth(1)?.to_owned()))
        .collect();
    let mut bins: Vec<String> = std::fs::read_dir(dir.join("src/bin"))
        .expect("src/bin")
        .filter_map(|e| Some(e.ok()?.path().file_stem()?.to_str()?.to_owned()))
        .collect();
    bins.sort();
    let mut sorted = in_guide.clone();
    sorted.sort();
    assert_eq!(
        sorted, bins,
        "{chapter}: the guide's sections against src/bin"
    );
    let top = std::fs::read_to_string(dir.join("../README.md")).expect("the workspace README");
    let order: Vec<String> = sections(&top, chapter)
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(
        in_guide, order,
        "{chapter}: the guide's order against the README's table"
    );
    let (body, answers) = guide
        .split_once("\n## Answers\n")
        .unwrap_or_else(|| panic!("{chapter}: no `## Answers` part at the end"));
    for (i, part) in body
        .split("\n## ")
        .skip(1)
        .filter(|p| p.contains(". `"))
        .enumerate()
    {
        // Ask first, then run, then say where to look; the answers are
        // elsewhere, at the end, each linked from its question and back.
        let (n, bin) = (i + 1, &in_guide[i]);
        let predict = format!("([answer](#{n}-{bin}-predict))");
        let try_this = format!("([answer](#{n}-{bin}-try-this))");
        let steps = [
            "**Predict:**",
            &predict,
            "**Run:**",
            "**Notice:**",
            "**Try this:**",
            &try_this,
        ];
        let mut at = 0;
        for step in steps {
            match part[at..].find(step) {
                Some(found) => at += found + step.len(),
                None => panic!("{chapter}, section {n}: no {step} where it belongs"),
            }
        }
        for link in [&predict, &try_this] {
            assert_eq!(
                part.matches(link.as_str()).count(),
                1,
                "{chapter}, section {n}: {link}"
            );
        }
        assert!(
            !part.contains("<details>"),
            "{chapter}, section {n}: an answer beside its question (answers go in `## Answers`)"
        );
        let back = format!(
            "[Back to the question](#{})",
            anchor_of(headings[i].trim_start_matches("## "))
        );
        for kind in ["predict", "try this"] {
            let heading = format!("\n### {n}. `{bin}`: {kind}\n");
            let answer = answers
                .split_once(&heading)
                .and_then(|(_, rest)| rest.split("\n### ").next())
                .unwrap_or_else(|| {
                    panic!("{chapter}: no answer headed `### {n}. `{bin}`: {kind}`")
                });
            let folded = answer
                .trim_start()
                .starts_with("<details><summary>Answer</summary>")
                && answer.contains("</details>");
            assert!(
                folded,
                "{chapter}, {n}. {bin}, {kind}: the answer is not folded"
            );
            assert!(
                answer.contains(&back),
                "{chapter}, {n}. {bin}, {kind}: no link back: {back}"
            );
        }
    }
    assert!(
        guide.contains("](../README.md#glossary)"),
        "{chapter}: the guide does not link the glossary"
    );
}

/// Check the links of the Markdown file `path`: every relative link names
/// a file that exists and, after `#`, a heading of it (as a forge makes an
/// anchor of a heading: lower case, spaces as `-`, other punctuation
/// dropped). Links to the web are left alone.
pub fn check_links(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dir = path.parent().expect("a file in a folder");
    let mut dead = Vec::new();
    for link in text
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
    {
        if link.contains("://") || link.starts_with("mailto:") || link.contains(' ') {
            continue;
        }
        let (file, anchor) = link.split_once('#').unwrap_or((link, ""));
        let target = if file.is_empty() {
            path.to_owned()
        } else {
            dir.join(file)
        };
        if !target.exists() {
            dead.push(link.to_owned());
            continue;
        }
        let is_markdown = target.extension().is_some_and(|e| e == "md");
        if !anchor.is_empty() && is_markdown {
            let headings = std::fs::read_to_string(&target).unwrap_or_default();
            let found = headings
                .lines()
                .filter_map(|l| {
                    l.trim_start_matches('#')
                        .strip_prefix(' ')
                        .filter(|_| l.starts_with('#'))
                })
                .any(|h| anchor_of(h) == anchor);
            if !found {
                dead.push(link.to_owned());
            }
        }
    }
    assert!(dead.is_empty(), "{}: dead links: {dead:?}", path.display());
}

/// The anchor a forge makes of a heading.
fn anchor_of(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// Replay the console transcript in the header of every program in
/// `src/bin` of the crate at `manifest_dir`, as trycmd does, so that a
/// header never drifts from what its program prints: the `$ cargo run`
/// line must name this crate and the program, and each line shown after it
/// must be a line the program prints (`[..]` stands for any text, a line
/// `…` or `...` for lines left out; the lines may come in any order, as the
/// scheduler decides). A line that only some runs print is given three.
/// The programs named in `skip` are left out (say why where you call it).
pub fn check_headers(manifest_dir: &str, skip: &[&str]) {
    let dir = Path::new(manifest_dir);
    let crate_name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a crate folder");
    let bins_dir = std::env::current_exe().expect("this test's path");
    let bins_dir = bins_dir
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let mut sources: Vec<_> = std::fs::read_dir(dir.join("src/bin"))
        .expect("src/bin")
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    sources.sort();
    for source in sources {
        let bin = source
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a bin name");
        if skip.contains(&bin) {
            continue;
        }
        let text = std::fs::read_to_string(&source).expect("the bin's source");
        let header: Vec<&str> = text
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .map(|l| {
                l.strip_prefix("//! ")
                    .unwrap_or(l.trim_start_matches("//!"))
            })
            .collect();
        let shown: Vec<&str> = header
            .iter()
            .skip_while(|l| **l != "```console")
            .skip(1)
            .take_while(|l| **l != "```")
            .copied()
            .collect();
        let (command, lines) = shown
            .split_first()
            .unwrap_or_else(|| panic!("{bin}: no console block"));
        let words: Vec<&str> = command.split_whitespace().collect();
        let after = |flag: &str| {
            words
                .iter()
                .position(|w| *w == flag)
                .and_then(|i| words.get(i + 1))
        };
        assert_eq!(after("-p"), Some(&crate_name), "{bin}: {command}");
        assert_eq!(after("--bin"), Some(&bin), "{bin}: {command}");
        let args: Vec<&str> = words
            .iter()
            .skip_while(|w| **w != "--")
            .skip(1)
            .copied()
            .collect();
        let wanted: Vec<&str> = lines
            .iter()
            .filter(|l| !matches!(**l, "…" | "..."))
            .copied()
            .collect();
        let mut missing = wanted.clone();
        let mut outputs = Vec::new();
        for _ in 0..3 {
            let run = run_with(bins_dir.join(bin), &args, &[], Duration::from_secs(60));
            missing.retain(|line| !prints(&run.output, line));
            outputs.push(run.output);
            if missing.is_empty() {
                break;
            }
        }
        assert!(
            missing.is_empty(),
            "{crate_name}/{bin}: the header shows lines no run printed: {missing:#?}\nruns: {outputs:#?}"
        );
    }
}

/// Whether `output` has a line matching `pattern`, where `[..]` stands for
/// any text: snapbox's matcher (trycmd's), asked for one line anywhere
/// among the others (`...` before and after it stand for any lines).
fn prints(output: &str, pattern: &str) -> bool {
    let expected = snapbox::Data::text(format!("...\n{pattern}\n...\n"));
    let actual = snapbox::Data::text(output.to_owned());
    snapbox::Assert::new()
        .action(snapbox::assert::Action::Verify)
        .try_eq(None, actual, expected)
        .is_ok()
}

/// Run `exe` (30 s limit) and check what every section must: it exits with
/// 0 and leaves no process behind.
pub fn run_clean(exe: impl AsRef<Path>) -> Run {
    let run = run(exe);
    assert_clean(&run);
    run
}

/// `run` exited with 0 and left no process behind.
pub fn assert_clean(run: &Run) {
    assert!(run.status.success(), "{run:?}");
    assert!(!run.left_behind, "a process outlived the example: {run:?}");
}

/// The transcript of the Python twin of section `bin` of the calling crate,
/// pids already replaced by `[..]`.
#[macro_export]
macro_rules! twin {
    ($bin:expr) => {
        $crate::transcript(env!("CARGO_MANIFEST_DIR"), $bin)
    };
}

/// The two checks every chapter's tests make of the chapter as a whole:
/// its guide teaches every section in order ([`check_guide`]), and every
/// section's header shows what it prints ([`check_headers`], leaving out
/// the programs listed after `skip_headers:`).
#[macro_export]
macro_rules! chapter_checks {
    (skip_headers: [$($skip:expr),* $(,)?]) => {
        #[test]
        fn the_guide_teaches_every_section_in_order() {
            $crate::check_guide(env!("CARGO_MANIFEST_DIR"));
        }

        #[test]
        fn the_guide_has_no_dead_link() {
            $crate::check_links(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"));
        }

        #[test]
        fn every_header_shows_what_its_section_prints() {
            $crate::check_headers(env!("CARGO_MANIFEST_DIR"), &[$($skip),*]);
        }

        #[test]
        fn every_answer_of_the_guide_holds_when_run() {
            $crate::check_answers(env!("CARGO_MANIFEST_DIR"));
        }

        #[test]
        fn every_section_honours_the_timeline_switch() {
            $crate::check_timelines(env!("CARGO_MANIFEST_DIR"));
        }
    };
}

/// A folder removed when this goes, however the check ends.
struct RemovedAtEnd(std::path::PathBuf);

impl Drop for RemovedAtEnd {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sections that start no process of this crate, so have no timeline to
/// draw (`talk_to_python`'s client is a Python program).
const NO_PROCESS: [&str; 2] = ["thread_workers", "talk_to_python"];

/// Run every section of the chapter at `manifest_dir` (but the benchmark,
/// minutes long) with `TIMELINE=1`, all at once: each ends with its chart
/// (no wider than 80 columns: stdout is a pipe) and the line that says
/// where its pictures are, and they are there.
pub fn check_timelines(manifest_dir: &str) {
    let dir = Path::new(manifest_dir);
    let chapter = dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a chapter folder");
    let top = std::fs::read_to_string(dir.join("../README.md")).expect("the workspace README");
    // The chapter's programs are beside this test's `deps/` folder.
    let exe = std::env::current_exe().expect("this test's path");
    let bins = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let out = std::env::temp_dir().join(format!("timelines-{chapter}-{}", std::process::id()));
    let _removed = RemovedAtEnd(out.clone()); // on failure too
    let names: Vec<String> = sections(&top, chapter)
        .into_iter()
        .map(|s| s.name)
        .filter(|n| n != "benchmark" && !NO_PROCESS.contains(&n.as_str()))
        .collect();
    std::thread::scope(|s| {
        for name in &names {
            let (bin, pictures) = (bins.join(name), out.join(name));
            s.spawn(move || {
                let envs = [
                    ("TIMELINE", "1"),
                    ("TIMELINE_DIR", pictures.to_str().unwrap()),
                ];
                let run = run_with(&bin, &[], &envs, Duration::from_secs(120));
                assert!(run.status.success(), "{name}: {run:?}");
                let chart: Vec<&str> = run
                    .output
                    .lines()
                    .skip_while(|l| !l.starts_with("MainProcess "))
                    .collect();
                assert!(!chart.is_empty(), "{name}: no chart: {run:?}");
                let last = chart.last().expect("a line");
                assert!(last.starts_with("timeline: "), "{name}: {run:?}");
                for line in &chart[..chart.len() - 1] {
                    assert!(line.chars().count() <= 80, "{name}: {line:?}");
                }
                let svg = std::fs::read_to_string(pictures.join(format!("{name}.svg")));
                assert!(svg.is_ok_and(|svg| svg.starts_with("<?xml")), "{name}");
                let json = std::fs::read_to_string(pictures.join(format!("{name}.json")));
                assert!(
                    json.is_ok_and(|j| j.starts_with("{\"traceEvents\"")),
                    "{name}"
                );
            });
        }
    });
}

/// `n` threads parked until this goes (dropped, they end and are joined):
/// a process that runs threads, where a fork is refused.
pub struct ParkedThreads {
    stop: Option<std::sync::mpsc::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Park `n` threads: see [`ParkedThreads`].
pub fn parked_threads(n: usize) -> ParkedThreads {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let stopped = std::sync::Arc::new(std::sync::Mutex::new(stopped));
    let threads = (0..n)
        .map(|_| {
            let stopped = std::sync::Arc::clone(&stopped);
            std::thread::spawn(move || {
                let _ = stopped.lock().unwrap_or_else(|p| p.into_inner()).recv();
            })
        })
        .collect();
    ParkedThreads {
        stop: Some(stop),
        threads,
    }
}

impl Drop for ParkedThreads {
    fn drop(&mut self) {
        drop(self.stop.take());
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

mod answers;
mod harness;
pub use answers::check_answers;
pub use harness::{Python, check, python, run_checks, scenario, scenario_with, test_main};
pub use libtest_mimic::Trial;

#[cfg(test)]
mod tests {
    use super::{normalize_pids, prints};

    #[test]
    fn anchors_are_made_as_a_forge_makes_them() {
        let anchor = super::anchor_of;
        assert_eq!(
            anchor("How Rust differs from `multiprocessing`"),
            "how-rust-differs-from-multiprocessing"
        );
        assert_eq!(
            anchor("1. `daemon`: daemon against non-daemon (tutorial 003 §4)"),
            "1-daemon-daemon-against-non-daemon-tutorial-003-4"
        );
    }

    #[test]
    fn a_header_line_matches_as_trycmd_would() {
        let output = "Starting: daemon 42\nExiting : non-daemon 43\n";
        assert!(prints(output, "Starting: daemon [..]"));
        assert!(prints(output, "Exiting : non-daemon [..]"));
        assert!(prints(output, "Exiting : [..] 43"));
        assert!(!prints(output, "Exiting : daemon [..]"));
        assert!(!prints(output, "Starting: daemon"));
    }

    #[test]
    fn pids_are_normalised() {
        let cases = [
            ("parent pid:51  pid:57", "parent pid:[..]  pid:[..]"),
            ("parent pid: 610, pid: 615", "parent pid: [..], pid: [..]"),
            (
                "<Process name='a' pid=1240 parent=1234 started>",
                "<Process name='a' pid=[..] parent=[..] started>",
            ),
            (
                "0 doubled to 0 by process id: 19162",
                "0 doubled to 0 by process id: [..]",
            ),
            ("Starting: daemon 24852", "Starting: daemon [..]"),
            ("Exiting : non-daemon 7", "Exiting : non-daemon [..]"),
            ("Worker: 4", "Worker: 4"),
            ("rapid 12", "rapid 12"),
            (
                "Start name: good_job, pid:5805",
                "Start name: good_job, pid:[..]",
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_pids(raw), want, "{raw}");
        }
    }
}
