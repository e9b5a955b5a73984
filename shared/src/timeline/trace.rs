//! The run as Chrome's trace-event format (JSON), which Perfetto and
//! `chrome://tracing` open: `{"traceEvents": [...]}`, each event with a
//! phase `ph` (`X` a complete span with its `dur`, `i` an instant, `M` a
//! name), a `pid` and `tid`, and `ts` in microseconds. Each process is a
//! process of the trace, named by a `process_name` event, and its life a
//! span that the rest nest in.

use serde_json::{Value, json};

use super::model::{Timeline, What};

/// The file: its events, and how to show their times. A struct, not
/// `json!`: serde_json's maps sort their keys, and the file is to begin
/// `{"traceEvents"` (the chapter tests check it).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Trace {
    trace_events: Vec<Value>,
    display_time_unit: &'static str,
}

/// A complete event (`X`): `pid` did `name` from `start` for `dur`.
fn complete(name: &str, cat: &str, pid: u32, start: u64, dur: u64, args: Value) -> Value {
    let (ts, dur) = (start as f64 / 1e3, dur as f64 / 1e3);
    json!({"name": name, "cat": cat, "ph": "X", "pid": pid, "tid": pid, "ts": ts, "dur": dur, "args": args})
}

pub(crate) fn trace(t: &Timeline) -> String {
    let mut events = Vec::new();
    for lane in &t.lanes {
        let pid = lane.pid;
        events.push(json!({"name": "process_name", "ph": "M", "pid": pid, "tid": pid, "args": {"name": lane.name}}));
        let end = lane
            .end
            .map_or("unknown", |e| if e.reaped { "reaped" } else { "exited" });
        let code = lane.end.map(|e| e.code);
        let args = json!({"parent": lane.parent, "exitcode": code, "end": end});
        let dur = t.lane_end(lane).saturating_sub(lane.start);
        events.push(complete(&lane.name, "process", pid, lane.start, dur, args));
    }
    for bar in &t.bars {
        let (cat, args) = match bar.what {
            What::Task { call, chunk } => ("task", json!({"call": call, "chunk": chunk})),
            What::Join { child } => (
                "join",
                json!({"child": t.name_of(child), "child_pid": child}),
            ),
            What::Wait(_) => ("wait", json!({})),
            What::Span(_) => ("span", json!({})),
        };
        let name = t.describe(&bar.what);
        events.push(complete(&name, cat, bar.pid, bar.start, bar.dur, args));
    }
    let root = t.lanes.first().map_or(0, |l| l.pid);
    for part in &t.parts {
        let ts = part.at as f64 / 1e3;
        events.push(json!({"name": part.title, "cat": "part", "ph": "i", "s": "g", "pid": root, "tid": root, "ts": ts}));
    }
    let trace = Trace {
        trace_events: events,
        display_time_unit: "ms",
    };
    serde_json::to_string(&trace).unwrap_or_default() + "\n"
}
