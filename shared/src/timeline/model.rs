//! The events of a run, read back as lanes and spans: what the pictures
//! draw and the tests check. Times are nanoseconds from the start of the
//! recording.

use std::collections::HashMap;

use super::record::{Kind, Record};

/// A recorded run.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// One per process, the main process first, then in the order they
    /// started.
    pub lanes: Vec<Lane>,
    /// Pool tasks, by the time they began.
    pub tasks: Vec<Task>,
    /// `join`s that waited, by the time they began.
    pub joins: Vec<Join>,
    /// Waits on queues and pipes of half a millisecond or more.
    pub waits: Vec<Wait>,
    /// The program's own spans.
    pub spans: Vec<Span>,
    /// The parts the main process began.
    pub parts: Vec<Part>,
    /// When the recording ended (or its last event, if it never did).
    pub end: u64,
    /// Records that were not whole (cut short, overwritten): skipped.
    pub torn: usize,
}

/// One process's life.
#[derive(Clone, Debug)]
pub struct Lane {
    /// Its process id.
    pub pid: u32,
    /// Its name (`MainProcess`, `Process-1`, …; cut at 24 bytes).
    pub name: String,
    /// The pid of the process that started it; `None` for the main one.
    pub parent: Option<u32>,
    /// When it was started (the main process: when recording began).
    pub start: u64,
    /// How it ended.
    pub end: End,
}

/// How a process's life ended, as far as the recording knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// It said so itself, as it left.
    Exited {
        /// When.
        at: u64,
        /// Its exit code.
        code: i32,
    },
    /// Its parent reaped it, and it had not said so: killed, or a signal.
    Reaped {
        /// When.
        at: u64,
        /// Its exit code: `-N` for signal N.
        code: i32,
    },
    /// No exit was recorded: nobody reaped it (its parent died first), or
    /// the main process itself, whose end is the recording's.
    Unknown,
}

impl End {
    /// The exit code, if known.
    pub fn code(&self) -> Option<i32> {
        match *self {
            End::Exited { code, .. } | End::Reaped { code, .. } => Some(code),
            End::Unknown => None,
        }
    }
}

/// One chunk of a pool's call, run by a worker.
#[derive(Clone, Debug)]
pub struct Task {
    /// The worker's process id.
    pub pid: u32,
    /// The pool's call (`map`, `apply_async`, …), numbered from 0.
    pub call: u32,
    /// The chunk of the call, numbered from 0.
    pub chunk: u32,
    /// When it began.
    pub start: u64,
    /// How long it ran.
    pub dur: u64,
}

/// A `join` that waited.
#[derive(Clone, Debug)]
pub struct Join {
    /// Who waited.
    pub waiter: u32,
    /// For whom.
    pub child: u32,
    /// When it began.
    pub start: u64,
    /// How long it waited.
    pub dur: u64,
}

/// A wait on a queue (`get`) or a pipe (`recv`).
#[derive(Clone, Debug)]
pub struct Wait {
    /// Who waited.
    pub pid: u32,
    /// `queue get`, `pipe recv` or `pool's results`.
    pub on: &'static str,
    /// When it began.
    pub start: u64,
    /// How long it waited.
    pub dur: u64,
}

/// A stretch of a program's own work (`timeline::span`).
#[derive(Clone, Debug)]
pub struct Span {
    /// Whose work.
    pub pid: u32,
    /// What the program called it.
    pub label: String,
    /// When it began.
    pub start: u64,
    /// How long it lasted.
    pub dur: u64,
}

/// The start of a part of the run (`timeline::part`).
#[derive(Clone, Debug)]
pub struct Part {
    /// Its title.
    pub title: String,
    /// When it began.
    pub at: u64,
}

impl Timeline {
    /// The lane of process `pid`.
    pub fn lane(&self, pid: u32) -> Option<&Lane> {
        self.lanes.iter().find(|l| l.pid == pid)
    }

    /// The name of process `pid`, or its number.
    pub fn name_of(&self, pid: u32) -> String {
        self.lane(pid)
            .map_or_else(|| format!("pid {pid}"), |l| l.name.clone())
    }

    /// When a lane's line ends in the pictures: its exit, or the end.
    pub fn lane_end(&self, lane: &Lane) -> u64 {
        match lane.end {
            End::Exited { at, .. } | End::Reaped { at, .. } => at,
            End::Unknown => self.end,
        }
    }

    /// The parts to draw, as (title, from, to): the recorded ones, or
    /// the whole run as one.
    pub fn sections(&self) -> Vec<(String, u64, u64)> {
        if self.parts.is_empty() {
            return vec![(String::new(), 0, self.end)];
        }
        let ends = self.parts.iter().skip(1).map(|p| p.at).chain([self.end]);
        self.parts
            .iter()
            .zip(ends)
            .map(|(p, to)| (p.title.clone(), p.at, to))
            .collect()
    }
}

/// Put the records in order and pair them up.
pub(crate) fn build(records: &[Record], torn: usize) -> Timeline {
    let origin = records
        .iter()
        .filter(|r| r.kind == Kind::Began)
        .map(|r| r.t)
        .min()
        .or_else(|| records.iter().map(|r| r.t).min())
        .unwrap_or(0);
    let at = |t: u64| t.saturating_sub(origin);
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by_key(|r| r.t);
    let mut t = Timeline {
        torn,
        ..Timeline::default()
    };
    let mut exited: HashMap<u32, (u64, i32)> = HashMap::new();
    let mut reaped: HashMap<u32, (u64, i32)> = HashMap::new();
    for r in &sorted {
        t.end = t.end.max(at(r.t + r.dur));
        match r.kind {
            Kind::Began => t.lanes.insert(0, lane(r.pid, r.name(), None, at(r.t))),
            Kind::Started => t.lanes.push(lane(r.other, r.name(), Some(r.pid), at(r.t))),
            Kind::Exited => drop(exited.insert(r.pid, (at(r.t), r.a))),
            Kind::Reaped => drop(reaped.insert(r.other, (at(r.t), r.a))),
            Kind::Joined => t.joins.push(Join {
                waiter: r.pid,
                child: r.other,
                start: at(r.t),
                dur: r.dur,
            }),
            Kind::Task => t.tasks.push(Task {
                pid: r.pid,
                call: r.a as u32,
                chunk: r.b,
                start: at(r.t),
                dur: r.dur,
            }),
            Kind::Waited => t.waits.push(Wait {
                pid: r.pid,
                on: match r.b {
                    1 => "queue get",
                    2 => "pipe recv",
                    _ => "pool's results",
                },
                start: at(r.t),
                dur: r.dur,
            }),
            Kind::Span => t.spans.push(Span {
                pid: r.pid,
                label: r.name(),
                start: at(r.t),
                dur: r.dur,
            }),
            Kind::Part => t.parts.push(Part {
                title: r.name(),
                at: at(r.t),
            }),
            Kind::Ended => {}
        }
    }
    for lane in &mut t.lanes {
        lane.end = match (exited.get(&lane.pid), reaped.get(&lane.pid)) {
            (Some(&(at, code)), _) => End::Exited { at, code },
            (None, Some(&(at, code))) => End::Reaped { at, code },
            (None, None) => End::Unknown,
        };
    }
    t
}

fn lane(pid: u32, name: String, parent: Option<u32>, start: u64) -> Lane {
    Lane {
        pid,
        name,
        parent,
        start,
        end: End::Unknown,
    }
}
