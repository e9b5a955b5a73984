//! The events of a run, read back as lanes and bars: what the pictures
//! draw and the tests check. Times are nanoseconds from the start of the
//! recording.

use super::record::{Kind, Name, Record};

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
        let lane = self.lane(pid);
        lane.map_or_else(|| format!("pid {pid}"), |l| l.name.clone())
    }

    /// When a lane's line ends in the pictures: its exit, or the end.
    pub fn lane_end(&self, lane: &Lane) -> u64 {
        lane.end.map_or(self.end, |exit| exit.at)
    }

    /// The lanes of the processes alive at some time from `from` to `to`.
    pub fn lanes_alive(&self, from: u64, to: u64) -> impl Iterator<Item = &Lane> {
        let alive = move |l: &&Lane| l.start <= to && self.lane_end(l) >= from;
        self.lanes.iter().filter(alive)
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

    /// Process `pid` (its latest lane, if its number was reused) ended so.
    /// What a process said of itself as it left comes first.
    fn ended(&mut self, pid: u32, exit: Exit) {
        let lane = self.lanes.iter_mut().rev().find(|l| l.pid == pid);
        if let Some(lane) = lane.filter(|l| !exit.reaped || l.end.is_none()) {
            lane.end = Some(exit);
        }
    }
}

/// Put the records in order and pair them up.
pub(crate) fn build(records: &[Record], torn: usize) -> Timeline {
    let mut sorted = records.to_vec();
    sorted.sort_by_key(|r| r.t);
    // Times count from when recording began (or the first event, if that
    // record was lost).
    let began = sorted.iter().find(|r| matches!(r.kind, Kind::Began(_)));
    let origin = began.or(sorted.first()).map_or(0, |r| r.t);
    let mut t = Timeline::default();
    for r in sorted {
        let at = r.t.saturating_sub(origin);
        t.end = t.end.max(at.saturating_add(r.dur)); // a garbled duration must not panic
        let exit = |code, reaped| Exit { at, code, reaped };
        let bar = |what| Bar {
            pid: r.pid,
            start: at,
            dur: r.dur,
            what,
        };
        match r.kind {
            Kind::Began(name) => t.lanes.insert(0, lane(r.pid, name, None, at)),
            Kind::Started(child, name) => t.lanes.push(lane(child, name, Some(r.pid), at)),
            Kind::Exited(code) => t.ended(r.pid, exit(code, false)),
            Kind::Reaped(child, code) => t.ended(child, exit(code, true)),
            Kind::Part(title) => t.parts.push(Part {
                title: title.text(),
                at,
            }),
            Kind::Ended => {}
            Kind::Joined(child) => t.bars.push(bar(What::Join { child })),
            Kind::Task(call, chunk) => t.bars.push(bar(What::Task { call, chunk })),
            Kind::Waited(on) => t.bars.push(bar(What::Wait(on.words()))),
            Kind::Span(label) => t.bars.push(bar(What::Span(label.text()))),
        }
    }
    Timeline { torn, ..t }
}

fn lane(pid: u32, name: Name, parent: Option<u32>, start: u64) -> Lane {
    Lane {
        pid,
        name: name.text(),
        parent,
        start,
        end: None,
    }
}
