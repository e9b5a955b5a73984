//! The events of a run, read back as lanes and bars: what the pictures
//! draw and the tests check. Times are nanoseconds from the start of the
//! recording.

use std::collections::HashMap;

use super::WAITED_ON;
use super::record::{Kind, Record};

/// A recorded run.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// One per process, the main process first, then in the order they
    /// started.
    pub lanes: Vec<Lane>,
    /// What the processes did for a while (tasks, joins, waits, spans), by
    /// the time each began.
    pub bars: Vec<Bar>,
    /// The parts the main process began.
    pub parts: Vec<Part>,
    /// When the recording ended (or its last event, if it never did).
    pub end: u64,
    /// Stretches of the file that were not whole records (cut short,
    /// overwritten): skipped.
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
    /// How it ended; `None` if no exit was recorded: nobody reaped it
    /// (its parent died first), or the main process, whose end is the
    /// recording's.
    pub end: Option<Exit>,
}

/// How a process's life ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    /// When.
    pub at: u64,
    /// Its exit code: `-N` for signal N.
    pub code: i32,
    /// Whether only its parent saw it, reaping it (killed, or a signal),
    /// rather than the process itself as it left.
    pub reaped: bool,
}

/// Something a process did for a while, drawn as a bar in its lane.
#[derive(Clone, Debug)]
pub struct Bar {
    /// Whose lane.
    pub pid: u32,
    /// When it began.
    pub start: u64,
    /// How long it lasted.
    pub dur: u64,
    /// What it was.
    pub what: What,
}

/// What a [`Bar`] was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// A pool's task: chunk `chunk` of the pool's call `call` (`map`,
    /// `apply_async`, …), both numbered from 0.
    Task {
        /// The call.
        call: u32,
        /// Its chunk.
        chunk: u32,
    },
    /// A `join` that waited for the process `child`.
    Join {
        /// For whom.
        child: u32,
    },
    /// A wait of half a millisecond or more, and on what: `waiting on a
    /// queue (get)`, `waiting for a Lock`, ….
    Wait(&'static str),
    /// A stretch of the program's own work (`timeline::span`), its label.
    Span(String),
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
        lane.end.map_or(self.end, |exit| exit.at)
    }

    /// The bars of process `pid`.
    pub fn bars_of(&self, pid: u32) -> impl Iterator<Item = &Bar> {
        self.bars.iter().filter(move |b| b.pid == pid)
    }

    /// What a bar was, in words: `call 0, chunk 3`, `join() for d`, ….
    pub fn describe(&self, what: &What) -> String {
        match what {
            What::Task { call, chunk } => format!("call {call}, chunk {chunk}"),
            What::Join { child } => format!("join() for {}", self.name_of(*child)),
            What::Wait(on) => (*on).to_owned(),
            What::Span(label) => label.clone(),
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
    let mut ends: HashMap<u32, Exit> = HashMap::new();
    for r in &sorted {
        t.end = t.end.max(at(r.t + r.dur));
        let what = match r.kind {
            Kind::Began => {
                t.lanes.insert(0, lane(r.pid, r.named(), None, at(r.t)));
                continue;
            }
            Kind::Started => {
                t.lanes.push(lane(r.other, r.named(), Some(r.pid), at(r.t)));
                continue;
            }
            Kind::Exited => {
                ends.insert(
                    r.pid,
                    Exit {
                        at: at(r.t),
                        code: r.a,
                        reaped: false,
                    },
                );
                continue;
            }
            // What a process said of itself comes first.
            Kind::Reaped => {
                let reaped = Exit {
                    at: at(r.t),
                    code: r.a,
                    reaped: true,
                };
                ends.entry(r.other).or_insert(reaped);
                continue;
            }
            Kind::Part => {
                t.parts.push(Part {
                    title: r.named(),
                    at: at(r.t),
                });
                continue;
            }
            Kind::Ended => continue,
            Kind::Joined => What::Join { child: r.other },
            Kind::Task => What::Task {
                call: r.a as u32,
                chunk: r.b,
            },
            Kind::Waited => What::Wait(WAITED_ON.get(r.b as usize).unwrap_or(&WAITED_ON[0])),
            Kind::Span => What::Span(r.named()),
        };
        t.bars.push(Bar {
            pid: r.pid,
            start: at(r.t),
            dur: r.dur,
            what,
        });
    }
    for lane in &mut t.lanes {
        lane.end = ends.get(&lane.pid).copied();
    }
    t
}

fn lane(pid: u32, name: String, parent: Option<u32>, start: u64) -> Lane {
    let end = None;
    Lane {
        pid,
        name,
        parent,
        start,
        end,
    }
}
