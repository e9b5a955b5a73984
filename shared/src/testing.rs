//! What the chapter tests share: run a built example, capture what a learner
//! would see on the terminal, and compare it with the Python twin's
//! transcript.
//!
//! Each example runs in its own process group, so a test can tell whether it
//! left any process behind, and clean up if it did.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// What a run of an example showed.
#[derive(Debug)]
pub struct Run {
    /// How the example exited.
    pub status: ExitStatus,
    /// stdout and stderr interleaved as written, as a terminal shows them.
    pub output: String,
    /// Whether a process of the example's group outlived it.
    pub left_behind: bool,
}

impl Run {
    /// The output's lines.
    pub fn lines(&self) -> Vec<&str> {
        self.output.lines().collect()
    }
}

/// Run `exe` with `args`, stdout and stderr into one pipe, for at most
/// `limit`; a run over the limit has its whole process group killed and
/// panics, so a hang fails the test instead of stalling it.
pub fn run_with(
    exe: impl AsRef<Path>,
    args: &[&str],
    envs: &[(&str, &str)],
    limit: Duration,
) -> Run {
    let exe = exe.as_ref();
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    let mut command = Command::new(exe);
    command
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(writer.try_clone().expect("pipe"))
        .stderr(writer)
        .process_group(0);
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
    drop(command); // closes our copy of the pipe's write end
    let group = Pid::from_raw(child.id() as i32);

    let (tx, rx) = mpsc::channel();
    let reading = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    let output = rx.recv_timeout(limit);
    if output.is_err() {
        let _ = killpg(group, Signal::SIGKILL);
    }
    let status = child.wait().expect("wait for example");
    reading.join().expect("reader thread");
    let output = output.unwrap_or_else(|_| panic!("{} ran over {limit:?}", exe.display()));
    // The pipe closes when the last process holding it exits; a straggler
    // may need a moment more to die. Wait (at most 2 s) for each to end, on
    // a pidfd, which turns readable when its process exits, then look again.
    for pid in live_members(group) {
        if let Ok(pidfd) = crate::sys::pidfd_open(pid.as_raw()) {
            let _ = crate::ipc::wait(&[pidfd.as_fd()], Duration::from_secs(2));
        }
    }
    let left_behind = !live_members(group).is_empty();
    if left_behind {
        let _ = killpg(group, Signal::SIGKILL);
    }
    Run {
        status,
        output,
        left_behind,
    }
}

/// The processes of `group` that are still running (zombies, already dead
/// and waiting to be reaped by whoever adopted them, do not count).
pub fn live_members(group: Pid) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            // /proc/<pid>/stat: `pid (comm) state ppid pgrp ...`; comm may hold spaces.
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            let fields: Vec<&str> = after.split_whitespace().collect();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == group.as_raw().to_string()
        })
        .map(Pid::from_raw)
        .collect()
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
/// `default-run`; and each section has its command, its notice, its
/// "predict, then run" question and its "try this".
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
    let heading = format!("### {chapter}:");
    let table = top.lines().skip_while(|l| !l.starts_with(&heading)).skip(1);
    let order: Vec<String> = table
        .take_while(|l| !l.starts_with('#'))
        .filter_map(|row| Some(row.strip_prefix("| [")?.split(".py]").next()?.to_owned()))
        .collect();
    assert_eq!(
        in_guide, order,
        "{chapter}: the guide's order against the README's table"
    );
    for (i, part) in guide
        .split("\n## ")
        .skip(1)
        .filter(|p| p.contains(". `"))
        .enumerate()
    {
        for needed in [
            "**Run:**",
            "**Notice:**",
            "**Predict, then run:**",
            "**Try this:**",
        ] {
            assert!(
                part.contains(needed),
                "{chapter}, section {}: no {needed}",
                i + 1
            );
        }
    }
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
            outputs.push(run.output.clone());
            missing = unmatched(&missing, &run.output);
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

/// The lines of `wanted` that `output` does not print, each output line
/// standing for one wanted line at most.
fn unmatched<'a>(wanted: &[&'a str], output: &str) -> Vec<&'a str> {
    let mut left: Vec<&str> = output.lines().collect();
    let mut missing = Vec::new();
    for line in wanted {
        match left.iter().position(|o| matches_pattern(line, o)) {
            Some(i) => drop(left.remove(i)),
            None => missing.push(*line),
        }
    }
    missing
}

/// `line` matches `pattern`, where each `[..]` in the pattern stands for any
/// text (as in trycmd and in the transcripts).
fn matches_pattern(pattern: &str, line: &str) -> bool {
    let mut parts = pattern.split("[..]");
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
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
#[doc(hidden)] // test machinery, not the learner's API
#[macro_export]
macro_rules! twin {
    ($bin:expr) => {
        $crate::testing::transcript(env!("CARGO_MANIFEST_DIR"), $bin)
    };
}

/// The two checks every chapter's tests make of the chapter as a whole:
/// its guide teaches every section in order ([`check_guide`]), and every
/// section's header shows what it prints ([`check_headers`], leaving out
/// the programs listed after `skip_headers:`).
#[doc(hidden)] // test machinery, not the learner's API
#[macro_export]
macro_rules! chapter_checks {
    (skip_headers: [$($skip:expr),* $(,)?]) => {
        #[test]
        fn the_guide_teaches_every_section_in_order() {
            $crate::testing::check_guide(env!("CARGO_MANIFEST_DIR"));
        }

        #[test]
        fn every_header_shows_what_its_section_prints() {
            $crate::testing::check_headers(env!("CARGO_MANIFEST_DIR"), &[$($skip),*]);
        }
    };
}

/// Set by [`scenario`]: the test executable runs that one scenario.
const SCENARIO: &str = "SHARED_TEST_SCENARIO";

/// Run this test executable again as scenario `name` (see [`test_main`]),
/// for at most `limit`: a check that needs a fresh process of its own (to
/// be killed, starved of descriptors, or to exit) runs it there.
pub fn scenario(name: &str, limit: Duration) -> Run {
    let exe = std::env::current_exe().expect("this test's own path");
    run_with(exe, &[], &[(SCENARIO, name)], limit)
}

/// The `main` of a `harness = false` test with scenarios: as a
/// [`scenario`], run `run_scenario(name)` and exit, printing an error as a
/// `main` returning `Err` does (`Error: …`, exit code 1); otherwise run the
/// checks ([`run_checks`]).
pub fn test_main(checks: &[(&str, fn())], run_scenario: fn(&str) -> Result<(), crate::Error>) {
    let Ok(name) = std::env::var(SCENARIO) else {
        return run_checks(checks);
    };
    if let Err(e) = run_scenario(&name) {
        eprintln!("Error: {e:?}");
        std::process::exit(1);
    }
}

/// The `main` of a `harness = false` test: run each named check in turn on
/// this, the only, thread (so each may fork), print libtest's lines, and
/// exit with 101 if any failed, as libtest does.
///
/// The command line means what it means to libtest: names to filter by
/// (`cargo test --test ipc -- queue pipe`), `--exact`, `--skip NAME`
/// (again and again), `--list`; `--test-threads N`, `--nocapture` and the
/// output options are accepted, and every check still runs on this thread.
/// Anything else is an error.
pub fn run_checks(checks: &[(&str, fn())]) {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("error: {why}");
            std::process::exit(101);
        }
    };
    let chosen: Vec<&(&str, fn())> = checks
        .iter()
        .filter(|(name, _)| options.runs(name))
        .collect();
    if options.list {
        chosen.iter().for_each(|(name, _)| println!("{name}: test"));
        println!("\n{} tests, 0 benchmarks", chosen.len());
        return;
    }
    let plural = if chosen.len() == 1 { "" } else { "s" };
    println!("\nrunning {} test{plural}", chosen.len());
    let mut failed = 0;
    for (name, check) in &chosen {
        let ok = std::panic::catch_unwind(check).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        failed += usize::from(!ok);
    }
    println!(
        "\ntest result: {}. {} passed; {failed} failed; 0 ignored; 0 measured; {} filtered out\n",
        if failed == 0 { "ok" } else { "FAILED" },
        chosen.len() - failed,
        checks.len() - chosen.len()
    );
    if failed > 0 {
        std::process::exit(101);
    }
}

/// The part of libtest's command line that chooses and lists tests.
#[derive(Default)]
struct Options {
    filters: Vec<String>,
    skip: Vec<String>,
    exact: bool,
    list: bool,
    /// `--ignored`: only ignored tests, and no check here is.
    ignored_only: bool,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut options = Options::default();
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
            match arg.as_str() {
                "--list" => options.list = true,
                "--exact" => options.exact = true,
                "--ignored" => options.ignored_only = true,
                "--skip" => options.skip.push(value("--skip")?),
                // Accepted, and meaningless here: every check runs on this
                // thread, its output goes straight to the terminal.
                "--include-ignored"
                | "--nocapture"
                | "--show-output"
                | "-q"
                | "--quiet"
                | "--test"
                | "--report-time"
                | "--force-run-in-process" => {}
                "--test-threads" | "--color" | "--format" | "-Z" => drop(value(&arg)?),
                flag if flag.starts_with('-') => {
                    let known = ["--test-threads=", "--color=", "--format=", "--skip="];
                    match known.iter().find(|k| flag.starts_with(*k)) {
                        Some(&"--skip=") => options.skip.push(flag["--skip=".len()..].to_owned()),
                        Some(_) => {}
                        None => return Err(format!("Unrecognized option: '{flag}'")),
                    }
                }
                filter => options.filters.push(filter.to_owned()),
            }
        }
        Ok(options)
    }

    /// Whether the check called `name` is chosen.
    fn runs(&self, name: &str) -> bool {
        let matches = |pattern: &String| {
            if self.exact {
                name == pattern
            } else {
                name.contains(pattern.as_str())
            }
        };
        !self.ignored_only
            && (self.filters.is_empty() || self.filters.iter().any(matches))
            && !self.skip.iter().any(matches)
    }
}

/// `checks![a, b]` is `&[("a", a as fn()), ("b", b as fn())]`, for [`run_checks`].
#[doc(hidden)] // test machinery, not the learner's API
#[macro_export]
macro_rules! checks {
    ($($check:ident),* $(,)?) => {
        &[$((stringify!($check), $check as fn())),*]
    };
}

#[cfg(test)]
mod tests {
    use super::{Options, normalize_pids};

    #[test]
    fn libtest_arguments_choose_as_libtest_does() {
        let parse = |args: &[&str]| Options::parse(args.iter().map(|a| a.to_string())).unwrap();
        let all = parse(&[]);
        assert!(all.runs("exit_codes") && all.runs("kill_gives_minus_nine"));
        let skip = parse(&["--skip", "exit_codes"]);
        assert!(!skip.runs("exit_codes") && skip.runs("kill_gives_minus_nine"));
        let threads = parse(&["--test-threads", "1"]);
        assert!(
            threads.runs("exit_codes"),
            "1 is the thread count, not a filter"
        );
        let filters = parse(&["exit", "kill", "--exact"]);
        assert!(!filters.runs("exit_codes"));
        let filters = parse(&["exit", "kill"]);
        assert!(filters.runs("exit_codes") && filters.runs("kill_gives_minus_nine"));
        assert!(!filters.runs("names_and_counters"));
        assert!(parse(&["--list"]).list);
        assert!(
            !parse(&["--ignored"]).runs("exit_codes"),
            "no check is ignored"
        );
        let bad = Options::parse(["--frobnicate".to_string()].into_iter());
        assert!(bad.is_err());
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
