//! The terminal chart: one row per process, time across, one character
//! a slice of time. Each part of the run gets its own chart, all at the
//! scale of the longest, so that their lengths compare.

use std::fmt::Write;

use super::model::{End, Timeline};

/// What a cell shows, strongest first: the cell shows the strongest thing
/// that happened in its slice of time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cell {
    Gone,
    Alive,
    Waiting,
    Joining,
    Span,
    Task(u32),
}

const NAME_WIDTH: usize = 18;
const CODE_WIDTH: usize = 6;

pub(crate) fn chart(t: &Timeline, width: usize, fancy: bool) -> String {
    let columns = width.saturating_sub(NAME_WIDTH + CODE_WIDTH + 2).max(10);
    let sections = t.sections();
    let longest = sections.iter().map(|(_, a, b)| b - a).max().unwrap_or(1);
    let per_column = longest.div_ceil(columns as u64).max(1);
    let mut out = String::new();
    for (title, from, to) in &sections {
        let header = match title.is_empty() {
            true => format!("timeline, {}", seconds(to - from)),
            false => format!("{title}, {}", seconds(to - from)),
        };
        let _ = writeln!(out, "{}", cut(&header, width));
        let used = ((to - from).div_ceil(per_column) as usize).clamp(1, columns);
        for lane in &t.lanes {
            let end = t.lane_end(lane);
            if lane.start > *to || end < *from {
                continue; // not alive in this part
            }
            let mut cells = vec![Cell::Gone; used];
            let mut paint = |start: u64, stop: u64, cell: Cell| {
                let (start, stop) = (start.max(*from), stop.min(*to));
                if start > stop {
                    return;
                }
                let first = ((start - from) / per_column) as usize;
                let last = ((stop - from) / per_column) as usize;
                for c in &mut cells[first.min(used - 1)..=last.min(used - 1)] {
                    *c = (*c).max(cell);
                }
            };
            paint(lane.start, end, Cell::Alive);
            let pid = lane.pid;
            for w in t.waits.iter().filter(|w| w.pid == pid) {
                paint(w.start, w.start + w.dur, Cell::Waiting);
            }
            for j in t.joins.iter().filter(|j| j.waiter == pid) {
                paint(j.start, j.start + j.dur, Cell::Joining);
            }
            for s in t.spans.iter().filter(|s| s.pid == pid) {
                paint(s.start, s.start + s.dur, Cell::Span);
            }
            for k in t.tasks.iter().filter(|k| k.pid == pid) {
                paint(k.start, k.start + k.dur, Cell::Task(k.call));
            }
            let mut row: Vec<String> = cells.iter().map(|&c| glyph(c, fancy)).collect();
            // Where it began and ended, if inside this part.
            if (*from..=*to).contains(&lane.start) && lane.parent.is_some() {
                row[(((lane.start - from) / per_column) as usize).min(used - 1)] =
                    (if fancy { "├" } else { "[" }).into();
            }
            let code = match lane.end {
                End::Exited { code, .. } | End::Reaped { code, .. } if end <= *to => {
                    let last = ((end - from) / per_column) as usize;
                    let mark = if code < 0 {
                        "x"
                    } else if fancy {
                        "┤"
                    } else {
                        "]"
                    };
                    row[last.min(used - 1)] = mark.into();
                    code.to_string()
                }
                End::Unknown if lane.parent.is_some() && *to == t.end => {
                    row[used - 1] = "?".into();
                    "?".into()
                }
                _ => String::new(),
            };
            let name = cut(&lane.name, NAME_WIDTH);
            let _ = writeln!(
                out,
                "{name:<NAME_WIDTH$} {} {code:>w$}",
                row.concat(),
                w = CODE_WIDTH - 1
            );
        }
        out.push('\n');
    }
    let legend = if fancy {
        "█ pool task (colour: call)  ▓ span  ═ join  · waiting on a queue, pipe or pool  ─ alive  \
         ├ ┤ start, exit  x killed  ? end unknown"
    } else {
        "A-Z pool task (letter: call)  + span  = join  . waiting on a queue, pipe or pool  - alive  \
         [ ] start, exit  x killed  ? end unknown"
    };
    for line in wrap(legend, width) {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "{}",
        cut(&format!("one column: {}", seconds(per_column)), width)
    );
    out
}

fn glyph(cell: Cell, fancy: bool) -> String {
    const COLOURS: [u8; 6] = [34, 33, 32, 35, 36, 31];
    match (cell, fancy) {
        (Cell::Gone, _) => " ".into(),
        (Cell::Alive, true) => "─".into(),
        (Cell::Alive, false) => "-".into(),
        (Cell::Waiting, true) => "·".into(),
        (Cell::Waiting, false) => ".".into(),
        (Cell::Joining, true) => "═".into(),
        (Cell::Joining, false) => "=".into(),
        (Cell::Span, true) => "▓".into(),
        (Cell::Span, false) => "+".into(),
        (Cell::Task(call), true) => {
            let colour = COLOURS[call as usize % COLOURS.len()];
            format!("\x1b[{colour}m█\x1b[0m")
        }
        (Cell::Task(call), false) => char::from(b'A' + (call % 26) as u8).to_string(),
    }
}

/// `ns` as seconds or milliseconds, whichever reads better.
pub(crate) fn seconds(ns: u64) -> String {
    match ns {
        ns if ns >= 1_000_000_000 => format!("{:.2} s", ns as f64 / 1e9),
        ns if ns >= 1_000_000 => format!("{:.1} ms", ns as f64 / 1e6),
        ns => format!("{:.0} µs", ns as f64 / 1e3),
    }
}

/// At most `width` characters of `text`.
fn cut(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

/// `text` in lines of at most `width` characters, broken at double spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for item in text.split("  ") {
        let last = lines.last_mut().expect("one line at least");
        let len = last.chars().count();
        if len > 0 && len + 2 + item.chars().count() > width {
            lines.push(item.to_owned());
        } else {
            if len > 0 {
                last.push_str("  ");
            }
            last.push_str(item);
        }
    }
    lines
}
