//! One event, as 64 bytes in the events file.
//!
//! Every process of a recorded run appends its events to one file, opened
//! with `O_APPEND`: each event is one `write(2)` of one fixed-size record,
//! which the kernel puts whole at the end of the file, whoever else writes
//! at the same moment. No lock, no buffer, nothing allocated: a child that
//! is killed has lost nothing it had written, and loses at most the event
//! it was making.
//!
//! A record is a magic byte, a checksum, then the [`Record`] in postcard's
//! encoding (the crate's one, as in `codec.rs`; written into the 64 bytes
//! on the stack, not allocated), then zeros. The checksum makes a record cut short or overwritten skipped
//! and counted, not misread, and the records after it found again.

use serde::{Deserialize, Serialize};

/// One event: process `pid` did `kind` at `t` (when it began, for a
/// stretch of `dur`), on the system's monotonic clock, in nanoseconds,
/// the same in every process.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct Record {
    pub pid: u32,
    pub t: u64,
    pub dur: u64,
    pub kind: Kind,
}

/// What happened.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) enum Kind {
    /// Recording began in the main process, named so.
    Began(Name),
    /// The process started a child: its pid and name.
    Started(u32, Name),
    /// The process, a child, is leaving with this exit code.
    Exited(i32),
    /// The process reaped a child: its pid and exit code.
    Reaped(u32, i32),
    /// The process waited for a child (a `join`): its pid.
    Joined(u32),
    /// The process, a pool worker, ran a chunk of one of the pool's calls:
    /// the call's number, then the chunk's.
    Task(u32, u32),
    /// The process waited on this.
    Waited(On),
    /// The process ran a span of its own code, labelled so.
    Span(Name),
    /// The main process began a part of the run, titled so.
    Part(Name),
    /// Recording ended: the main process is leaving.
    Ended,
}

/// What a process waited on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum On {
    Queue,
    Pipe,
    /// The pool's results, in the process that called it.
    Pool,
    Lock,
    RLock,
    Semaphore,
    Condition,
    Barrier,
    Event,
}

impl On {
    /// What a wait on it is called in the pictures.
    pub fn words(self) -> &'static str {
        match self {
            On::Queue => "waiting on a queue (get)",
            On::Pipe => "waiting on a pipe (recv)",
            On::Pool => "waiting for the pool's results",
            On::Lock => "waiting for a Lock",
            On::RLock => "waiting for an RLock",
            On::Semaphore => "waiting for a Semaphore",
            On::Condition => "waiting on a Condition",
            On::Barrier => "waiting at a Barrier",
            On::Event => "waiting for an Event",
        }
    }
}

/// A name or label: its first 24 bytes (cut at a character's boundary),
/// then zeros. A longer one is cut, so that a record has a size.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct Name([u8; NAME]);

/// Bytes kept of a name or label.
const NAME: usize = 24;

impl From<&str> for Name {
    fn from(name: &str) -> Name {
        let mut end = name.len().min(NAME);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0; NAME];
        bytes[..end].copy_from_slice(&name.as_bytes()[..end]);
        Name(bytes)
    }
}

impl Name {
    pub fn text(&self) -> String {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(NAME);
        String::from_utf8_lossy(&self.0[..end]).into_owned()
    }
}

pub(crate) const SIZE: usize = 64;
const MAGIC: u8 = 0xA7;

impl Record {
    /// The record as the file holds it. It fits: postcard writes a number
    /// in at most 10 bytes, so the largest record (`Started`) takes 55.
    pub fn to_bytes(self) -> Option<[u8; SIZE]> {
        let mut out = [0u8; SIZE];
        out[0] = MAGIC;
        postcard::to_slice(&self, &mut out[2..]).ok()?;
        out[1] = checksum(&out);
        Some(out)
    }

    /// The record in `bytes`, or `None` if they are not a whole one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Record> {
        let bytes: &[u8; SIZE] = bytes.try_into().ok()?;
        if bytes[0] != MAGIC || bytes[1] != checksum(bytes) {
            return None;
        }
        postcard::from_bytes(&bytes[2..]).ok()
    }
}

/// A sum of the bytes after the checksum, position-weighted so that
/// swapped bytes show too, and offset so that the magic byte followed by
/// zeros (a stretch of garbage, or of a file's hole) is no record.
fn checksum(bytes: &[u8; SIZE]) -> u8 {
    let weighted = bytes[2..]
        .iter()
        .zip(1u32..)
        .map(|(&b, i)| i * u32::from(b));
    ((weighted.sum::<u32>() + 0x5A) % 251) as u8
}

/// Every whole record in `bytes`, and how many stretches were not (a
/// record cut short by a full disk, a few bytes of something else). After
/// such a stretch, reading goes on at the next byte where a whole record
/// starts (its magic byte and checksum hold), so one bad write loses only
/// itself, never the records after it.
pub(crate) fn parse(bytes: &[u8]) -> (Vec<Record>, usize) {
    let (mut records, mut torn) = (Vec::with_capacity(bytes.len() / SIZE), 0);
    let (mut at, mut lost) = (0, false);
    while at < bytes.len() {
        let record = bytes.get(at..at + SIZE).and_then(Record::from_bytes);
        match record {
            Some(record) => {
                records.push(record);
                (at, lost) = (at + SIZE, false);
            }
            None => {
                torn += usize::from(!lost); // one stretch, one torn record
                (at, lost) = (at + 1, true);
            }
        }
    }
    (records, torn)
}

/// The largest record fits in its 64 bytes, and reads back.
#[test]
fn the_largest_record_fits() {
    let kind = Kind::Started(u32::MAX, Name::from("a name longer than twenty-four bytes"));
    let (pid, t, dur) = (u32::MAX, u64::MAX, u64::MAX);
    let bytes = Record { pid, t, dur, kind }.to_bytes().expect("it fits");
    let back = Record::from_bytes(&bytes).map(|r| r.kind);
    assert!(matches!(back, Some(Kind::Started(u32::MAX, _))), "{back:?}");
}
