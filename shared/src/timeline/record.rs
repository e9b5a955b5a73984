//! One event, as 64 bytes in the events file.
//!
//! Every process of a recorded run appends its events to one file, opened
//! with `O_APPEND`: each event is one `write(2)` of one fixed-size record,
//! which the kernel puts whole at the end of the file, whoever else writes
//! at the same moment. No lock, no buffer, nothing allocated: a child that
//! is killed has lost nothing it had written, and loses at most the event
//! it was making.
//!
//! A record is checked when read: it starts with a magic byte and carries
//! a checksum, so a record cut short or overwritten is skipped and
//! counted, not misread, and the records after it are found again.

/// What happened. The numbers are the file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Recording began in the main process (`name`: its name).
    Began = 1,
    /// `pid` started child `other`, named `name`.
    Started = 2,
    /// `pid` is leaving with exit code `a` (written by the child itself).
    Exited = 3,
    /// `pid` reaped child `other`, whose exit code was `a`.
    Reaped = 4,
    /// `pid` waited `dur` for child `other` (a `join`).
    Joined = 5,
    /// Worker `pid` ran chunk `b` of the pool's call `a` for `dur`.
    Task = 6,
    /// `pid` waited `dur` on what `b` says (`timeline::On`).
    Waited = 7,
    /// `pid` ran a span of its own code, labelled `name`, for `dur`.
    Span = 8,
    /// The main process began a part of the run, titled `name`.
    Part = 9,
    /// Recording ended: the main process is leaving.
    Ended = 10,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        use Kind::*;
        let kinds = [
            Began, Started, Exited, Reaped, Joined, Task, Waited, Span, Part, Ended,
        ];
        kinds.get(usize::from(b).checked_sub(1)?).copied()
    }
}

/// One event. `t` is when it happened (or began) on the system's
/// monotonic clock, in nanoseconds, the same in every process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Record {
    pub kind: Kind,
    pub pid: u32,
    pub t: u64,
    pub dur: u64,
    pub other: u32,
    pub a: i32,
    pub b: u32,
    pub name: [u8; NAME],
}

/// Bytes kept of a name or label: longer ones are cut.
pub(crate) const NAME: usize = 24;
pub(crate) const SIZE: usize = 64;
const MAGIC: u8 = 0xA7;

impl Record {
    pub fn new(kind: Kind, pid: u32, t: u64) -> Record {
        Record {
            kind,
            pid,
            t,
            dur: 0,
            other: 0,
            a: 0,
            b: 0,
            name: [0; NAME],
        }
    }

    /// Give it `name`'s first bytes (cut at a character's boundary).
    pub fn name(&mut self, name: &str) {
        let mut end = name.len().min(NAME);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        self.name[..end].copy_from_slice(&name.as_bytes()[..end]);
    }

    /// Its name or label.
    pub fn named(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(NAME);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }

    pub fn to_bytes(self) -> [u8; SIZE] {
        let mut out = [0u8; SIZE];
        out[0] = MAGIC;
        out[1] = self.kind as u8;
        out[4..8].copy_from_slice(&self.pid.to_le_bytes());
        out[8..16].copy_from_slice(&self.t.to_le_bytes());
        out[16..24].copy_from_slice(&self.dur.to_le_bytes());
        out[24..28].copy_from_slice(&self.other.to_le_bytes());
        out[28..32].copy_from_slice(&self.a.to_le_bytes());
        out[32..36].copy_from_slice(&self.b.to_le_bytes());
        out[40..].copy_from_slice(&self.name);
        out[2] = checksum(&out);
        out
    }

    /// The record in `bytes`, or `None` if they are not a whole one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Record> {
        let bytes: &[u8; SIZE] = bytes.try_into().ok()?;
        if bytes[0] != MAGIC || bytes[2] != checksum(bytes) {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        Some(Record {
            kind: Kind::from_byte(bytes[1])?,
            pid: u32_at(4),
            t: u64_at(8),
            dur: u64_at(16),
            other: u32_at(24),
            a: u32_at(28) as i32,
            b: u32_at(32),
            name: bytes[40..].try_into().expect("24 bytes"),
        })
    }
}

/// A sum of every byte but the checksum's own, position-weighted so that
/// swapped bytes show too.
fn checksum(bytes: &[u8; SIZE]) -> u8 {
    let sum = bytes
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 2)
        .fold(0u32, |sum, (i, &b)| {
            sum.wrapping_add((i as u32 + 1) * b as u32)
        });
    (sum % 251) as u8
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
        let record = (bytes[at] == MAGIC)
            .then(|| bytes.get(at..at + SIZE).and_then(Record::from_bytes))
            .flatten();
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
