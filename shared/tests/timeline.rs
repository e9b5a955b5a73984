//! The timeline (`shared::timeline`): what a recorded run's events say,
//! and the pictures drawn from them. Each check re-runs this executable as
//! a scenario that records into a directory of its own, and reads that
//! directory back. On the main thread (`harness = false`): it forks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use serde_json::Value;
use shared::pool::Pool;
use shared::sync::Block;
use shared::timeline::{self, Exit, Timeline, What};
use shared::{Error, Event, Lock, Process, Semaphore, StartMethod, get_context};
use testkit::{Run, scenario_with};

const LIMIT: Duration = Duration::from_secs(60);

/// A fresh directory for a run's files, removed when dropped (a failed
/// check included): no `/tmp/timeline-test-*` is left behind.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("timeline-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }

    /// Its files ending in `.extension`.
    fn files(&self, extension: &str) -> Vec<PathBuf> {
        files_in(&self.0, extension)
    }
}

/// The files of `dir` ending in `.extension`, in order.
fn files_in(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .collect();
    files.sort();
    files
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run scenario `name`, recording into a fresh directory; the run, the
/// events file it left, and the directory (removed when dropped).
fn recorded(name: &str) -> (Run, PathBuf, Scratch) {
    let dir = Scratch::new(name);
    let run = scenario_with(name, &[("TIMELINE_DIR", dir.0.to_str().unwrap())], LIMIT);
    let events = dir
        .files("events")
        .pop()
        .unwrap_or_else(|| panic!("no events file: {run:?}"));
    (run, events, dir)
}

/// The bars of one kind: tasks (pid, call, chunk, start, dur), …
fn tasks(t: &Timeline) -> Vec<(u32, u32, u32, u64, u64)> {
    let task = |b: &timeline::Bar| match b.what {
        What::Task { call, chunk } => Some((b.pid, call, chunk, b.start, b.dur)),
        _ => None,
    };
    t.bars.iter().filter_map(task).collect()
}

fn joins(t: &Timeline) -> Vec<(u32, u32)> {
    let join = |b: &timeline::Bar| match b.what {
        What::Join { child } => Some((b.pid, child)),
        _ => None,
    };
    t.bars.iter().filter_map(join).collect()
}

fn spans(t: &Timeline) -> Vec<(u32, String)> {
    let span = |b: &timeline::Bar| match &b.what {
        What::Span(label) => Some((b.pid, label.clone())),
        _ => None,
    };
    t.bars.iter().filter_map(span).collect()
}

fn waits(t: &Timeline) -> Vec<(u32, &'static str)> {
    let wait = |b: &timeline::Bar| match b.what {
        What::Wait(on) => Some((b.pid, on)),
        _ => None,
    };
    t.bars.iter().filter_map(wait).collect()
}

fn lanes_by_name(t: &Timeline) -> BTreeMap<String, &timeline::Lane> {
    t.lanes.iter().map(|l| (l.name.clone(), l)).collect()
}

/// A known program: every process, exit code, parent, task and join it
/// made is in the events, and nothing else.
fn the_events_are_those_that_happened() {
    let (run, events, _dir) = recorded("known");
    assert!(run.status.success(), "{run:?}");
    let t = timeline::read(&events).unwrap();
    assert_eq!(t.torn, 0);
    let lanes = lanes_by_name(&t);
    let names: BTreeSet<&str> = lanes.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = [
        "MainProcess",
        "a",
        "b",
        "c",
        "d",
        "s",
        "ForkPoolWorker-4",
        "ForkPoolWorker-5",
    ]
    .into();
    assert_eq!(names, want, "{t:#?}");
    assert_eq!(t.lanes.len(), want.len(), "one lane per process");
    let main = lanes["MainProcess"].pid;
    let code = |name: &str| match lanes[name].end {
        Some(Exit {
            reaped: false,
            code,
            ..
        }) => code,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(
        ["a", "b", "c", "d", "s"].map(code),
        [0, 3, 0, 0, 0],
        "exit codes"
    );
    assert_eq!(code("ForkPoolWorker-4"), 0);
    assert_eq!(lanes["MainProcess"].end, None, "its end is the recording's");
    // Nesting: d is c's child; the rest are the main process's.
    assert_eq!(lanes["d"].parent, Some(lanes["c"].pid));
    for name in ["a", "b", "c", "s", "ForkPoolWorker-4", "ForkPoolWorker-5"] {
        assert_eq!(lanes[name].parent, Some(main), "{name}");
    }
    // The pool: one call of four chunks, each run once, by its workers.
    let workers = [lanes["ForkPoolWorker-4"].pid, lanes["ForkPoolWorker-5"].pid];
    let tasks = tasks(&t);
    let chunks: BTreeSet<u32> = tasks.iter().map(|k| k.2).collect();
    assert_eq!(tasks.len(), 4, "{tasks:?}");
    assert_eq!(chunks, [0, 1, 2, 3].into());
    assert!(tasks.iter().all(|k| k.1 == 0 && workers.contains(&k.0)));
    // The joins that waited, and no other: main's for a and b (each held on
    // an event until main is in its `join`) and c's for d (the pool's for
    // its workers aside); not main's for c and s, which had ended before.
    let pid = |name: &str| lanes[name].pid;
    let joins: BTreeSet<(u32, u32)> = joins(&t)
        .into_iter()
        .filter(|&(_, child)| !workers.contains(&child))
        .collect();
    let want: BTreeSet<(u32, u32)> =
        [(main, pid("a")), (main, pid("b")), (pid("c"), pid("d"))].into();
    assert_eq!(joins, want, "{:?}", t.bars);
    // Each lane begins before its tasks and its end.
    for lane in &t.lanes {
        let end = t.lane_end(lane);
        assert!(lane.start <= end, "{lane:?}");
        for k in tasks.iter().filter(|k| k.0 == lane.pid) {
            assert!(lane.start <= k.3 && k.3 + k.4 <= end, "{k:?} in {lane:?}");
        }
    }
    // The spawned child's own span reached the same file.
    let spans = spans(&t);
    assert!(
        spans.contains(&(pid("s"), "spawned work".to_owned())),
        "{spans:?}"
    );
}

/// The terminal chart: every line fits 80 columns (stdout was a pipe:
/// plain characters), a row per process, and where the files are.
fn the_chart_reads_at_80_columns() {
    let (run, events, _dir) = recorded("known");
    let chart: Vec<&str> = run
        .lines()
        .into_iter()
        .skip_while(|l| !l.starts_with("timeline, "))
        .collect();
    assert!(!chart.is_empty(), "no chart: {run:?}");
    for line in &chart[..chart.len() - 1] {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line:?}",
            line.len()
        );
        assert!(line.is_ascii(), "not plain: {line:?}");
    }
    for name in ["MainProcess", "ForkPoolWorker-4", "d "] {
        assert!(
            chart.iter().any(|l| l.starts_with(name)),
            "{name}: {chart:#?}"
        );
    }
    let last = chart.last().unwrap();
    let svg = events.with_extension("svg");
    assert!(last.contains(&svg.display().to_string()), "{last}");
    // And a terminal's: as wide as asked, no wider (colours aside), with
    // a fork server's long names whole.
    let mut t = timeline::read(&events).unwrap();
    let long = "ForkServerPoolWorker-12";
    t.lanes[1].name = long.into();
    for width in [60, 80, 132] {
        let chart = timeline::chart(&t, width, true);
        for line in chart.lines() {
            let plain = strip_colours(line);
            assert!(plain.chars().count() <= width, "{width}: {plain:?}");
        }
        let whole = format!("{long} ");
        assert!(chart.lines().any(|l| l.starts_with(&whole)), "{chart}");
    }
}

fn strip_colours(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The SVG is XML (parsed by `roxmltree`), self-contained, with a hover
/// title on every shape; the trace is trace-event JSON (parsed by
/// `serde_json`, each event checked against the format).
fn the_svg_and_the_trace_parse() {
    let (_, events, _dir) = recorded("known");
    let t = timeline::read(&events).unwrap();
    check_svg(&events.with_extension("svg"), &t);
    check_trace(&events.with_extension("json"), &t);
}

fn check_svg(path: &Path, t: &Timeline) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let nodes: Vec<_> = root.descendants().filter(|n| n.is_element()).collect();
    assert!(
        nodes.iter().all(|n| n.tag_name().name() != "script"),
        "no script"
    );
    assert!(!text.contains("href=\"http"), "nothing fetched");
    for shape in nodes.iter().filter(|n| {
        matches!(n.tag_name().name(), "rect" | "circle") && n.parent_element() != Some(root)
            || n.has_attribute("fill")
                && n.tag_name().name() == "rect"
                && n.attribute("width") != Some("100%")
    }) {
        if shape
            .parent_element()
            .is_some_and(|p| p.tag_name().name() == "pattern")
        {
            continue;
        }
        assert!(
            shape.children().any(|c| c.tag_name().name() == "title"),
            "a shape without a hover title: {shape:?}"
        );
    }
    for lane in &t.lanes {
        let shown = nodes
            .iter()
            .any(|n| n.tag_name().name() == "text" && n.text() == Some(&lane.name));
        assert!(shown, "{} has no lane", lane.name);
    }
    let tasks = nodes
        .iter()
        .filter(|n| {
            n.tag_name().name() == "rect" && n.attribute("fill").is_some_and(|f| f.starts_with('#'))
        })
        .count();
    let want = self::tasks(t).len();
    assert!(tasks >= want, "{tasks} task bars for {want} tasks");
}

fn check_trace(path: &Path, t: &Timeline) {
    let json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let events = json["traceEvents"]
        .as_array()
        .expect("traceEvents: an array");
    let mut names = BTreeMap::new();
    for e in events {
        let ph = e["ph"].as_str().expect("ph: a string");
        assert!(e["name"].is_string(), "{e}");
        assert!(e["pid"].is_u64() && e["tid"].is_u64(), "{e}");
        match ph {
            "M" => {
                assert_eq!(e["name"], "process_name");
                names.insert(e["pid"].as_u64().unwrap(), e["args"]["name"].clone());
            }
            "X" => {
                assert!(e["ts"].as_f64().is_some_and(|ts| ts >= 0.0), "{e}");
                assert!(e["dur"].as_f64().is_some_and(|d| d >= 0.0), "{e}");
            }
            "i" => {
                assert!(e["ts"].as_f64().is_some_and(|ts| ts >= 0.0), "{e}");
                assert!(matches!(e["s"].as_str(), Some("g" | "p" | "t")), "{e}");
            }
            other => panic!("phase {other}: {e}"),
        }
    }
    assert_eq!(names.len(), t.lanes.len(), "a process_name per process");
    let tasks = events.iter().filter(|e| e["cat"] == "task").count();
    assert_eq!(tasks, self::tasks(t).len());
}

/// 200 processes recording at once: every event is there, whole.
fn two_hundred_processes_lose_nothing() {
    let (run, events, _dir) = recorded("many");
    assert!(run.status.success(), "{run:?}");
    let t = timeline::read(&events).unwrap();
    assert_eq!(t.torn, 0, "torn records");
    assert_eq!(t.lanes.len(), 201);
    let pids: BTreeSet<u32> = t.lanes.iter().map(|l| l.pid).collect();
    assert_eq!(pids.len(), 201);
    let exited = t
        .lanes
        .iter()
        .filter(|l| {
            matches!(
                l.end,
                Some(Exit {
                    code: 0,
                    reaped: false,
                    ..
                })
            )
        })
        .count();
    assert_eq!(exited, 200);
    let spans = spans(&t);
    assert_eq!(spans.len(), 200 * SPANS);
    for lane in &t.lanes[1..] {
        let own = spans.iter().filter(|s| s.0 == lane.pid).count();
        assert_eq!(own, SPANS, "{}", lane.name);
    }
}

const SPANS: usize = 5;

/// A child SIGKILLed while it records, and its daemon child, whom nobody
/// is left to reap: the timeline still renders, the child's end is the
/// kill its parent saw, the grandchild's is unknown. A record cut short at
/// the end of the file is skipped and counted.
fn a_killed_recorder_leaves_a_timeline_that_renders() {
    let (run, events, _dir) = recorded("killed");
    assert!(run.status.success(), "{run:?}");
    assert!(!run.left_behind, "{run:?}");
    let t = timeline::read(&events).unwrap();
    let lanes = lanes_by_name(&t);
    assert_eq!(
        lanes["recorder"].end.map(|e| e.code),
        Some(-9),
        "{:?}",
        lanes["recorder"]
    );
    assert_eq!(lanes["orphan"].end, None);
    let recorder = lanes["recorder"].pid;
    assert!(spans(&t).iter().filter(|s| s.0 == recorder).count() > 10);
    // Cut a record short, as a writer killed in the middle of one would.
    let mut bytes = std::fs::read(&events).unwrap();
    let whole = bytes.len();
    let head: Vec<u8> = bytes[..30].into();
    bytes.extend_from_slice(&head);
    std::fs::write(&events, &bytes).unwrap();
    let t = timeline::render(&events).unwrap();
    assert_eq!(t.torn, 1);
    assert_eq!(t.lanes.len(), lanes.len());
    check_svg(&events.with_extension("svg"), &t);
    check_trace(&events.with_extension("json"), &t);
    let svg = std::fs::read_to_string(events.with_extension("svg")).unwrap();
    assert!(svg.contains("end unknown"), "the orphan's end is marked");
    assert!(svg.contains("killed by signal 9"));
    assert!(whole % 64 == 0);
}

/// Without `TIMELINE` (or `timeline::record`) nothing is recorded; nor
/// with `TIMELINE` set to 0, no, false or nothing; a value it does not
/// know is off too, and said so.
fn off_records_nothing() {
    for value in [
        None,
        Some("0"),
        Some("no"),
        Some("FALSE"),
        Some(""),
        Some("perhaps"),
    ] {
        let dir = Scratch::new("off");
        let mut envs = vec![("TIMELINE_DIR", dir.0.to_str().unwrap())];
        envs.extend(value.map(|v| ("TIMELINE", v)));
        let run = scenario_with("off", &envs, LIMIT);
        assert!(run.status.success(), "{run:?}");
        assert!(!dir.0.exists(), "{value:?}: {run:?}");
        let warned = run
            .output
            .contains("timeline: TIMELINE=\"perhaps\" is not 1, yes, true");
        assert_eq!(warned, value == Some("perhaps"), "{run:?}");
        assert_eq!(run.output.contains("timeline: "), warned, "{run:?}");
    }
}

/// `TIMELINE=1` (or yes, or true) does what `record` does, from the first
/// start; an empty `TIMELINE_DIR` counts as unset.
fn the_switch_is_the_environment() {
    for value in ["1", "yes", "True"] {
        let dir = Scratch::new("env");
        let envs = [
            ("TIMELINE", value),
            ("TIMELINE_DIR", dir.0.to_str().unwrap()),
        ];
        let run = scenario_with("off", &envs, LIMIT);
        assert!(run.status.success(), "{run:?}");
        assert!(run.output.contains("timeline: "), "{run:?}");
        let events = dir.files("events").pop().expect("an events file");
        let t = timeline::read(&events).unwrap();
        assert_eq!(t.lanes.len(), 3, "{t:#?}");
    }
    // Where the program is: this test's own folder.
    let exe = std::env::current_exe().unwrap();
    let beside = Scratch(exe.parent().unwrap().join("timeline"));
    let run = scenario_with("off", &[("TIMELINE", "1"), ("TIMELINE_DIR", "")], LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert!(
        beside.files("svg").iter().any(|p| p.starts_with(&beside.0)),
        "{run:?}"
    );
}

/// `stop` and then `record` again: only the stretches recorded, into one
/// file, and drawn at exit after all.
fn stop_then_record_again_records_the_stretches() {
    let (run, events, dir) = recorded("stretches");
    assert!(run.status.success(), "{run:?}");
    assert!(run.output.contains("timeline: "), "{run:?}");
    let t = timeline::read(&events).unwrap();
    let names: Vec<&str> = t.lanes.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["MainProcess", "in", "again"], "{t:#?}");
    assert_eq!(dir.files("events").len(), 1);
    assert_eq!(dir.files("svg").len(), 1);
}

/// A folder it cannot write to: not recorded, one line naming the folder
/// and the way out, and the program runs on to its own exit code.
fn a_folder_it_cannot_write_is_said_plainly() {
    let run = scenario_with(
        "off",
        &[("TIMELINE", "1"), ("TIMELINE_DIR", "/proc/no-such")],
        LIMIT,
    );
    assert!(run.status.success(), "{run:?}");
    assert!(run.output.contains("timeline: not recorded: "), "{run:?}");
    assert!(run.output.contains("/proc/no-such"), "{run:?}");
    assert!(
        run.output.contains("TIMELINE_DIR chooses another folder"),
        "{run:?}"
    );
}

/// Under a file-size limit (`ulimit -f`) a record that would pass it is
/// never written (SIGXFSZ would kill the program): recording stops, one
/// line says so, and the program ends with its own exit code.
fn a_file_size_limit_stops_recording_not_the_program() {
    let dir = Scratch::new("fsize");
    let run = scenario_with("fsize", &[("TIMELINE_DIR", dir.0.to_str().unwrap())], LIMIT);
    assert_eq!(run.status.code(), Some(7), "its own exit code: {run:?}");
    let said = run.output.matches("timeline: recording stopped").count();
    assert_eq!(said, 1, "one line: {run:?}");
    let events = dir.files("events").pop().expect("an events file");
    assert!(std::fs::metadata(&events).unwrap().len() <= 4096);
}

/// Garbage in the middle of the file, and a record cut short there (a full
/// disk mid-write): each is skipped and counted, and every record after it
/// read again: no lane is lost.
fn a_bad_write_loses_only_itself() {
    let (run, events, _dir) = recorded("known");
    assert!(run.status.success(), "{run:?}");
    let bytes = std::fs::read(&events).unwrap();
    let whole = timeline::read(&events).unwrap();
    let half = bytes.len() / 64 / 2 * 64;
    let mut spoiled = bytes[..half].to_vec();
    spoiled.extend_from_slice(b"0123456789"); // 10 bytes of garbage
    spoiled.push(0xA7); // a record's magic byte, then zeros (a hole): no record
    spoiled.extend_from_slice(&[0; 64]);
    spoiled.extend_from_slice(&bytes[half..half + 64]);
    spoiled.extend_from_slice(&bytes[half + 64..half + 84]); // a record cut to 20 bytes
    spoiled.extend_from_slice(&bytes[half + 64..]);
    std::fs::write(&events, &spoiled).unwrap();
    let t = timeline::read(&events).unwrap();
    assert_eq!(t.torn, 2, "two bad stretches");
    let names = |t: &Timeline| {
        t.lanes
            .iter()
            .map(|l| (l.pid, l.name.clone(), l.end))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&t), names(&whole), "every lane, as before");
    assert_eq!(t.bars.len(), whole.bars.len());
}

/// Two runs of one program at once, into one folder: each records into a
/// file of its own, and draws its own pictures, whole.
fn two_runs_at_once_draw_two_clean_pictures() {
    let dir = Scratch::new("twice");
    let envs = [
        ("TIMELINE_DIR", dir.0.to_str().unwrap()),
        ("TWICE", dir.0.to_str().unwrap()),
    ];
    let runs = std::thread::scope(|s| {
        let first = s.spawn(|| scenario_with("twice", &envs, LIMIT));
        let second = s.spawn(|| scenario_with("twice", &envs, LIMIT));
        [first.join().unwrap(), second.join().unwrap()]
    });
    for run in runs {
        assert!(run.status.success(), "{run:?}");
    }
    let svgs = dir.files("svg");
    assert_eq!(svgs.len(), 2, "{svgs:?}");
    let mains: BTreeSet<u32> = dir
        .files("events")
        .iter()
        .map(|events| {
            let t = timeline::read(events).unwrap();
            assert_eq!((t.torn, t.lanes.len()), (0, 2), "one run's: {t:#?}");
            check_svg(&events.with_extension("svg"), &t);
            t.lanes[0].pid
        })
        .collect();
    assert_eq!(mains.len(), 2, "two runs, two main processes");
}

/// The chart into a closed pipe, or into `/dev/full`: no panic, and the
/// program's own exit code.
fn the_chart_into_a_closed_or_full_stdout_is_given_up() {
    use std::process::{Command, Stdio};
    let dir = Scratch::new("closed");
    let exe = std::env::current_exe().unwrap();
    let run = |stdout: Stdio| {
        let mut child = Command::new(&exe)
            .env("SHARED_TEST_SCENARIO", "off")
            .env("TIMELINE", "1")
            .env("TIMELINE_DIR", &dir.0)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // a closed pipe, if it is one
        child.wait_with_output().unwrap()
    };
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    for out in [run(Stdio::piped()), run(Stdio::from(full))] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// Waits on a lock and on a semaphore are drawn, labelled with what was
/// waited on, as waits on queues are.
fn lock_and_semaphore_waits_are_drawn() {
    let (run, events, _dir) = recorded("sync");
    assert!(run.status.success(), "{run:?}");
    let t = timeline::read(&events).unwrap();
    let lanes = lanes_by_name(&t);
    let waits = waits(&t);
    assert!(
        waits.contains(&(lanes["waits for the lock"].pid, "waiting for a Lock")),
        "{waits:?}"
    );
    assert!(
        waits.contains(&(lanes["waits for a unit"].pid, "waiting for a Semaphore")),
        "{waits:?}"
    );
    let svg = std::fs::read_to_string(events.with_extension("svg")).unwrap();
    assert!(svg.contains("waiting for a Lock"), "drawn with its label");
}

/// In a scenario: the events file its run records into.
fn events_file() -> PathBuf {
    let dir = std::env::var_os("TIMELINE_DIR").expect("a test's run sets it");
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "events"))
        .expect("an events file")
}

fn held_then_exit(go: Event, code: i32) -> impl Fn() + Clone {
    move || {
        assert!(go.wait_timeout(LIMIT));
        if code != 0 {
            shared::exit(code);
        }
    }
}

/// The number of the system call `pid` is in (`/proc/<pid>/syscall`).
fn syscall_of(pid: u32) -> Option<i64> {
    let call = std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    call.split_whitespace().next()?.parse().ok()
}

/// Whether the main thread of `pid` sleeps in `waitpid` for `child`.
fn in_waitpid_for(pid: u32, child: u32) -> bool {
    let call = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    let mut words = call.split_whitespace();
    let number = words.next().and_then(|n| n.parse::<i64>().ok());
    let first = words
        .next()
        .and_then(|a| i64::from_str_radix(a.trim_start_matches("0x"), 16).ok());
    number == Some(libc::SYS_wait4) && first == Some(i64::from(child))
}

/// Whether `pid` sleeps on a futex (a lock's or a semaphore's wait).
fn in_futex_wait(pid: u32) -> bool {
    syscall_of(pid) == Some(libc::SYS_futex)
}

fn nap_then_exit(code: i32, ms: u64) -> impl Fn() + Clone {
    move || {
        sleep(Duration::from_millis(ms));
        if code != 0 {
            shared::exit(code);
        }
    }
}

fn double(x: u64) -> u64 {
    x * 2
}

fn spawned_work(_: ()) {
    let _work = timeline::span("spawned work");
    sleep(Duration::from_millis(50));
}

fn run_scenario(name: &str) -> Result<(), Error> {
    match name {
        "known" => {
            timeline::record()?;
            // a and b each wait for their event, set once main is in its
            // join of them; c and s end by themselves, and are joined once
            // they have (their sentinels say so).
            let (go_a, go_b) = (Event::new()?, Event::new()?);
            let mut a = Process::new(held_then_exit(go_a.clone(), 0)).named("a");
            let mut b = Process::new(held_then_exit(go_b.clone(), 3)).named("b");
            let mut c = Process::new(|| {
                let mut d = Process::new(nap_then_exit(0, 50)).named("d");
                d.start().unwrap();
                d.join().unwrap();
            })
            .named("c");
            for p in [&mut a, &mut b, &mut c] {
                p.start()?;
            }
            let pool = Pool::new(2)?;
            assert_eq!(pool.map_chunked(double, 0..8u64, 2)?.len(), 8);
            pool.close();
            pool.join()?;
            let mut s = get_context(StartMethod::Spawn)
                .process(spawned_work, ())
                .named("s");
            s.start()?;
            for p in [&c, &s] {
                let sentinel = p.sentinel()?;
                shared::ipc::wait(&[std::os::fd::AsFd::as_fd(&sentinel)], LIMIT)?;
                p.join()?;
            }
            let main = std::process::id();
            let held = [(go_a, a.pid().unwrap()), (go_b, b.pid().unwrap())];
            let letting_go = std::thread::spawn(move || {
                for (go, child) in held {
                    while !in_waitpid_for(main, child) {
                        std::thread::yield_now();
                    }
                    std::thread::sleep(Duration::from_millis(1)); // a wait long enough to draw
                    go.set();
                }
            });
            a.join()?;
            b.join()?;
            letting_go.join().expect("the thread that lets them go");
        }
        "fsize" => {
            use nix::sys::resource::{Resource, getrlimit, setrlimit};
            let (_, hard) = getrlimit(Resource::RLIMIT_FSIZE)?;
            setrlimit(Resource::RLIMIT_FSIZE, 4096, hard)?;
            timeline::record()?;
            let mut all: Vec<Process> = (0..40).map(|_| Process::new(|| ())).collect();
            for p in &mut all {
                p.start()?;
            }
            for p in &all {
                p.join()?;
            }
            std::process::exit(7);
        }
        "twice" => {
            timeline::record()?;
            // Both runs record at once: each waits, bounded, for the other's
            // events file to be there too.
            let dir = PathBuf::from(std::env::var_os("TWICE").expect("set"));
            let began = std::time::Instant::now();
            while files_in(&dir, "events").len() < 2 && began.elapsed() < LIMIT {
                std::thread::yield_now();
            }
            let mut p = Process::new(|| ());
            p.start()?;
            p.join()?;
        }
        "sync" => {
            timeline::record()?;
            let (lock, sem) = (Lock::new()?, Semaphore::new(0)?);
            lock.acquire(Block::Forever);
            let (l, s) = (lock.clone(), sem.clone());
            let mut waiter = Process::new(move || {
                l.acquire(Block::Forever);
                l.release().unwrap();
            })
            .named("waits for the lock");
            let mut taker = Process::new(move || {
                s.acquire(Block::Forever);
            })
            .named("waits for a unit");
            waiter.start()?;
            taker.start()?;
            for p in [&waiter, &taker] {
                while !in_futex_wait(p.pid().unwrap()) {
                    std::thread::yield_now();
                }
            }
            std::thread::sleep(Duration::from_millis(2)); // waits long enough to draw
            lock.release()?;
            sem.release()?;
            waiter.join()?;
            taker.join()?;
        }
        "many" => {
            timeline::record()?;
            let mut all: Vec<Process> = (0..200)
                .map(|_| {
                    Process::new(|| {
                        for _ in 0..SPANS {
                            let _work = timeline::span("work");
                        }
                    })
                })
                .collect();
            for p in &mut all {
                p.start()?;
            }
            for p in &all {
                p.join()?;
            }
        }
        "killed" => {
            timeline::record()?;
            let orphan_started = Event::new()?;
            let started = orphan_started.clone();
            let mut recorder = Process::new(move || {
                let mut orphan = Process::new(|| sleep(LIMIT)).named("orphan").daemon(true);
                orphan.start().unwrap();
                started.set();
                loop {
                    let _work = timeline::span("recording");
                    if !LIMIT.is_zero() {
                        continue;
                    }
                    break; // never: the loop runs until the process is killed
                }
            })
            .named("recorder");
            recorder.start()?;
            assert!(orphan_started.wait_timeout(LIMIT));
            // Kill it once it has recorded a while, wherever it then is.
            let events = events_file();
            while std::fs::metadata(&events)?.len() < 64 * 100 {
                std::thread::yield_now();
            }
            recorder.kill()?;
            recorder.join()?;
        }
        "stretches" => {
            for (name, recording) in [("in", true), ("out", false), ("again", true)] {
                if recording {
                    timeline::record()?;
                }
                let mut p = Process::new(|| ()).named(name);
                p.start()?;
                p.join()?;
                timeline::stop();
            }
            timeline::record()?; // and drawn at exit after all
        }
        "off" => {
            let mut a = Process::new(nap_then_exit(0, 50));
            let mut b = get_context(StartMethod::Spawn).process(spawned_work, ());
            a.start()?;
            b.start()?;
            a.join()?;
            b.join()?;
        }
        other => panic!("no scenario {other}"),
    }
    Ok(())
}

fn main() {
    shared::freeze_support();
    let checks = testkit::checks![
        the_events_are_those_that_happened,
        the_chart_reads_at_80_columns,
        the_svg_and_the_trace_parse,
        two_hundred_processes_lose_nothing,
        a_killed_recorder_leaves_a_timeline_that_renders,
        off_records_nothing,
        the_switch_is_the_environment,
        a_folder_it_cannot_write_is_said_plainly,
        a_file_size_limit_stops_recording_not_the_program,
        a_bad_write_loses_only_itself,
        two_runs_at_once_draw_two_clean_pictures,
        the_chart_into_a_closed_or_full_stdout_is_given_up,
        lock_and_semaphore_waits_are_drawn,
        stop_then_record_again_records_the_stretches,
    ];
    testkit::test_main(checks, run_scenario);
}
