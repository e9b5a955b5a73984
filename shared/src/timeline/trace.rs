//! The run as Chrome's trace-event format (JSON), which Perfetto and
//! `chrome://tracing` open: `{"traceEvents": [...]}`, each event with a
//! phase `ph` (`X` a complete span with its `dur`, `i` an instant, `M` a
//! name), a `pid` and `tid`, and `ts` in microseconds. Each process is a
//! process of the trace, named by a `process_name` event, and its life a
//! span that the rest nest in.

use std::fmt::Write;

use super::model::{End, Timeline};

pub(crate) fn trace(t: &Timeline) -> String {
    let mut events: Vec<String> = Vec::new();
    let us = |ns: u64| ns as f64 / 1e3;
    for lane in &t.lanes {
        let (pid, name) = (lane.pid, string(&lane.name));
        events.push(format!(
            r#"{{"name":"process_name","ph":"M","pid":{pid},"tid":{pid},"args":{{"name":{name}}}}}"#
        ));
        let end = t.lane_end(lane);
        let exit = match lane.end {
            End::Exited { code, .. } => format!(r#""exitcode":{code},"end":"exited""#),
            End::Reaped { code, .. } => format!(r#""exitcode":{code},"end":"reaped""#),
            End::Unknown => r#""end":"unknown""#.to_owned(),
        };
        let parent = lane.parent.map_or("null".to_owned(), |p| p.to_string());
        events.push(format!(
            r#"{{"name":{name},"cat":"process","ph":"X","pid":{pid},"tid":{pid},"ts":{:.3},"dur":{:.3},"args":{{"parent":{parent},{exit}}}}}"#,
            us(lane.start),
            us(end.saturating_sub(lane.start))
        ));
    }
    for k in &t.tasks {
        events.push(complete(
            &format!("call {} chunk {}", k.call, k.chunk),
            "task",
            k.pid,
            k.start,
            k.dur,
            &format!(r#""call":{},"chunk":{}"#, k.call, k.chunk),
        ));
    }
    for j in &t.joins {
        let child = t.name_of(j.child);
        events.push(complete(
            &format!("join {child}"),
            "join",
            j.waiter,
            j.start,
            j.dur,
            &format!(r#""child":{},"child_pid":{}"#, string(&child), j.child),
        ));
    }
    for w in &t.waits {
        events.push(complete(w.on, "wait", w.pid, w.start, w.dur, ""));
    }
    for s in &t.spans {
        events.push(complete(&s.label, "span", s.pid, s.start, s.dur, ""));
    }
    let root = t.lanes.first().map_or(0, |l| l.pid);
    for p in &t.parts {
        events.push(format!(
            r#"{{"name":{},"cat":"part","ph":"i","s":"g","pid":{root},"tid":{root},"ts":{:.3}}}"#,
            string(&p.title),
            us(p.at)
        ));
    }
    let mut out = String::from("{\"traceEvents\":[\n");
    out.push_str(&events.join(",\n"));
    let _ = write!(out, "\n],\"displayTimeUnit\":\"ms\"}}\n");
    out
}

fn complete(name: &str, cat: &str, pid: u32, start: u64, dur: u64, args: &str) -> String {
    format!(
        r#"{{"name":{},"cat":"{cat}","ph":"X","pid":{pid},"tid":{pid},"ts":{:.3},"dur":{:.3},"args":{{{args}}}}}"#,
        string(name),
        start as f64 / 1e3,
        dur as f64 / 1e3
    )
}

/// `text` as a JSON string.
fn string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
