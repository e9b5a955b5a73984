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
use shared::timeline::{self, End, Timeline};
use shared::{Error, Event, Process, StartMethod, get_context};
use testkit::{Run, scenario_with};

const LIMIT: Duration = Duration::from_secs(60);

/// Run scenario `name`, recording into a fresh directory; the run, and
/// the events file it left.
fn recorded(name: &str) -> (Run, PathBuf) {
    let dir = std::env::temp_dir().join(format!("timeline-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = scenario_with(name, &[("TIMELINE_DIR", dir.to_str().unwrap())], LIMIT);
    let events = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}; {run:?}", dir.display()))
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "events"))
        .unwrap_or_else(|| panic!("no events file: {run:?}"));
    (run, events)
}

fn lanes_by_name(t: &Timeline) -> BTreeMap<String, &timeline::Lane> {
    t.lanes.iter().map(|l| (l.name.clone(), l)).collect()
}

/// A known program: every process, exit code, parent, task and join it
/// made is in the events, and nothing else.
fn the_events_are_those_that_happened() {
    let (run, events) = recorded("known");
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
        End::Exited { code, .. } => code,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(
        ["a", "b", "c", "d", "s"].map(code),
        [0, 3, 0, 0, 0],
        "exit codes"
    );
    assert_eq!(code("ForkPoolWorker-4"), 0);
    assert_eq!(
        lanes["MainProcess"].end,
        End::Unknown,
        "its end is the recording's"
    );
    // Nesting: d is c's child; the rest are the main process's.
    assert_eq!(lanes["d"].parent, Some(lanes["c"].pid));
    for name in ["a", "b", "c", "s", "ForkPoolWorker-4", "ForkPoolWorker-5"] {
        assert_eq!(lanes[name].parent, Some(main), "{name}");
    }
    // The pool: one call of four chunks, each run once, by its workers.
    let workers = [lanes["ForkPoolWorker-4"].pid, lanes["ForkPoolWorker-5"].pid];
    let chunks: BTreeSet<u32> = t.tasks.iter().map(|k| k.chunk).collect();
    assert_eq!(t.tasks.len(), 4, "{:?}", t.tasks);
    assert_eq!(chunks, [0, 1, 2, 3].into());
    assert!(
        t.tasks
            .iter()
            .all(|k| k.call == 0 && workers.contains(&k.pid))
    );
    // The joins that waited, and no other: main's for a and b (still
    // napping when joined) and c's for d (the pool's for its workers aside);
    // not main's for c and s, which had ended long before.
    let pid = |name: &str| lanes[name].pid;
    let joins: BTreeSet<(u32, u32)> = t
        .joins
        .iter()
        .map(|j| (j.waiter, j.child))
        .filter(|&(_, child)| !workers.contains(&child))
        .collect();
    let want: BTreeSet<(u32, u32)> =
        [(main, pid("a")), (main, pid("b")), (pid("c"), pid("d"))].into();
    assert_eq!(joins, want, "{:?}", t.joins);
    // Each lane begins before its tasks, joins and end.
    for lane in &t.lanes {
        let end = t.lane_end(lane);
        assert!(lane.start <= end, "{lane:?}");
        for k in t.tasks.iter().filter(|k| k.pid == lane.pid) {
            assert!(
                lane.start <= k.start && k.start + k.dur <= end,
                "{k:?} in {lane:?}"
            );
        }
    }
    // The spawned child's own span reached the same file.
    assert!(
        t.spans
            .iter()
            .any(|s| s.pid == lanes["s"].pid && s.label == "spawned work"),
        "{:?}",
        t.spans
    );
}

/// The terminal chart: every line fits 80 columns (stdout was a pipe:
/// plain characters), a row per process, and where the files are.
fn the_chart_reads_at_80_columns() {
    let (run, events) = recorded("known");
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
    // And a terminal's: as wide as asked, no wider (colours aside).
    let t = timeline::read(&events).unwrap();
    for width in [60, 80, 132] {
        for line in timeline::chart(&t, width, true).lines() {
            let plain = strip_colours(line);
            assert!(plain.chars().count() <= width, "{width}: {plain:?}");
        }
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
    let (_, events) = recorded("known");
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
    assert!(
        tasks >= t.tasks.len(),
        "{tasks} task bars for {} tasks",
        t.tasks.len()
    );
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
    assert_eq!(tasks, t.tasks.len());
}

/// 200 processes recording at once: every event is there, whole.
fn two_hundred_processes_lose_nothing() {
    let (run, events) = recorded("many");
    assert!(run.status.success(), "{run:?}");
    let t = timeline::read(&events).unwrap();
    assert_eq!(t.torn, 0, "torn records");
    assert_eq!(t.lanes.len(), 201);
    let pids: BTreeSet<u32> = t.lanes.iter().map(|l| l.pid).collect();
    assert_eq!(pids.len(), 201);
    let exited = t
        .lanes
        .iter()
        .filter(|l| matches!(l.end, End::Exited { code: 0, .. }))
        .count();
    assert_eq!(exited, 200);
    assert_eq!(t.spans.len(), 200 * SPANS);
    for lane in &t.lanes[1..] {
        let own = t.spans.iter().filter(|s| s.pid == lane.pid).count();
        assert_eq!(own, SPANS, "{}", lane.name);
    }
}

const SPANS: usize = 5;

/// A child SIGKILLed while it records, and its daemon child, whom nobody
/// is left to reap: the timeline still renders, the child's end is the
/// kill its parent saw, the grandchild's is unknown. A record cut short at
/// the end of the file is skipped and counted.
fn a_killed_recorder_leaves_a_timeline_that_renders() {
    let (run, events) = recorded("killed");
    assert!(run.status.success(), "{run:?}");
    assert!(!run.left_behind, "{run:?}");
    let t = timeline::read(&events).unwrap();
    let lanes = lanes_by_name(&t);
    assert_eq!(
        lanes["recorder"].end.code(),
        Some(-9),
        "{:?}",
        lanes["recorder"]
    );
    assert_eq!(lanes["orphan"].end, End::Unknown);
    assert!(
        t.spans
            .iter()
            .filter(|s| s.pid == lanes["recorder"].pid)
            .count()
            > 10
    );
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

/// Without `TIMELINE` (or `timeline::record`) nothing is recorded.
fn off_records_nothing() {
    let dir = std::env::temp_dir().join(format!("timeline-test-off-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = scenario_with("off", &[("TIMELINE_DIR", dir.to_str().unwrap())], LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert!(!dir.exists(), "{run:?}");
    assert!(!run.output.contains("timeline"), "{run:?}");
}

/// `TIMELINE=1` does what `record` does, from the first start.
fn the_switch_is_the_environment() {
    let dir = std::env::temp_dir().join(format!("timeline-test-env-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let envs = [("TIMELINE", "1"), ("TIMELINE_DIR", dir.to_str().unwrap())];
    let run = scenario_with("off", &envs, LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert!(run.output.contains("timeline: "), "{run:?}");
    let events = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "events"))
        .expect("an events file");
    let t = timeline::read(&events).unwrap();
    assert_eq!(t.lanes.len(), 3, "{t:#?}");
    let _ = std::fs::remove_dir_all(&dir);
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
            // Joined in turn: a and b are still napping then, c is not.
            let mut a = Process::new(nap_then_exit(0, 100)).named("a");
            let mut b = Process::new(nap_then_exit(3, 300)).named("b");
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
            for p in [&a, &b, &c, &s] {
                p.join()?;
            }
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
    ];
    testkit::test_main(checks, run_scenario);
}
