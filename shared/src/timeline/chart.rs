//! The terminal chart: one row per process, time across, one character
//! a slice of time. Each part of the run gets its own chart, all at the
//! scale of the longest, so that their lengths compare.

use std::fmt::Write;

use super::model::{Exit, Timeline, What};

/// What a cell shows, strongest last: the cell shows the strongest thing
/// that happened in its slice of time. A pool task's is its call's.
const GONE: u32 = 0;
const ALIVE: u32 = 1;
const TASK: u32 = 5;
/// How each is drawn at a terminal and in plain text: nothing, alive,
/// waiting, joining, a span.
const GLYPHS: [(&str, &str); 5] = [(" ", " "), ("─", "-"), ("·", "."), ("═", "="), ("▓", "+")];
const COLOURS: [u8; 6] = [34, 33, 32, 35, 36, 31];
/// A child's start and exit, and the legend, likewise.
const START: (&str, &str) = ("├", "[");
const EXIT: (&str, &str) = ("┤", "]");
const LEGEND: (&str, &str) = (
    "█ pool task (colour: call)  ▓ span  ═ join  · waiting (a queue, pipe, pool or lock)  \
     ─ alive  ├ ┤ start, exit  x killed  ? end unknown",
    "A-Z pool task (letter: call)  + span  = join  . waiting (a queue, pipe, pool or lock)  \
     - alive  [ ] start, exit  x killed  ? end unknown",
);

/// Columns of a row's name: as many as the longest, between these (a
/// longer one is cut: `ForkServerPoolWorker-NN` fits); of its exit code.
const NAME_WIDTH: (usize, usize) = (18, 24);
const CODE_WIDTH: usize = 5;

/// The chart of a timeline at `width` columns: `fancy` for a terminal
/// (block characters and colours), plain characters otherwise.
pub fn chart(t: &Timeline, width: usize, fancy: bool) -> String {
    let names = t.lanes.iter().map(|lane| lane.name.chars().count()).max();
    let names = names.unwrap_or(0).clamp(NAME_WIDTH.0, NAME_WIDTH.1);
    // The name, a space, the row, a space, the code, and one column spare.
    let columns = width.saturating_sub(names + CODE_WIDTH + 3).max(10);
    let sections = t.sections();
    let longest = sections.iter().map(|(_, a, b)| b - a).max().unwrap_or(1);
    let per_column = longest.div_ceil(columns as u64).max(1);
    let pick = |(at_a_terminal, plain)| if fancy { at_a_terminal } else { plain };
    let mut out = String::new();
    for (title, from, to) in sections {
        let title = if title.is_empty() { "timeline" } else { &title };
        line(&mut out, &format!("{title}, {}", seconds(to - from)), width);
        let used = ((to - from).div_ceil(per_column) as usize).clamp(1, columns);
        let column =
            |ns: u64| ((ns.clamp(from, to) - from) / per_column).min(used as u64 - 1) as usize;
        for lane in t.lanes_alive(from, to) {
            let end = t.lane_end(lane);
            let mut cells = vec![GONE; used];
            let bars = t.bars_of(lane.pid).map(|bar| {
                let cell = match bar.what {
                    What::Wait(_) => 2,
                    What::Join { .. } => 3,
                    What::Span(_) => 4,
                    What::Task { call, .. } => TASK + call,
                };
                (bar.start, bar.start + bar.dur, cell)
            });
            for (start, stop, cell) in [(lane.start, end, ALIVE)].into_iter().chain(bars) {
                if start <= to && stop >= from {
                    for c in &mut cells[column(start)..=column(stop)] {
                        *c = (*c).max(cell);
                    }
                }
            }
            let glyph = |cell: u32| match cell.checked_sub(TASK) {
                Some(call) if fancy => {
                    format!("\x1b[{}m█\x1b[0m", COLOURS[call as usize % COLOURS.len()])
                }
                Some(call) => char::from(b'A' + (call % 26) as u8).to_string(),
                None => pick(GLYPHS[cell as usize]).into(),
            };
            let mut row: Vec<String> = cells.into_iter().map(glyph).collect();
            // Where it began and ended, if inside this part.
            if (from..=to).contains(&lane.start) && lane.parent.is_some() {
                row[column(lane.start)] = pick(START).into();
            }
            let code = match lane.end {
                Some(Exit { code, .. }) if end <= to => {
                    row[column(end)] = (if code < 0 { "x" } else { pick(EXIT) }).into();
                    code.to_string()
                }
                None if lane.parent.is_some() && to == t.end => {
                    row[used - 1] = "?".into();
                    "?".into()
                }
                _ => String::new(),
            };
            let name: String = lane.name.chars().take(names).collect();
            let row = row.concat();
            let _ = writeln!(out, "{name:<names$} {row} {code:>CODE_WIDTH$}");
        }
        out.push('\n');
    }
    for text in wrap(pick(LEGEND), width) {
        let _ = writeln!(out, "{text}");
    }
    let scale = format!("one column: {}", seconds(per_column));
    line(&mut out, &scale, width);
    out
}

/// `ns` as seconds or milliseconds, whichever reads better.
pub(crate) fn seconds(ns: u64) -> String {
    match ns {
        ns if ns >= 1_000_000_000 => format!("{:.2} s", ns as f64 / 1e9),
        ns if ns >= 1_000_000 => format!("{:.1} ms", ns as f64 / 1e6),
        ns => format!("{:.0} µs", ns as f64 / 1e3),
    }
}

/// A line of at most `width` characters of `text`.
fn line(out: &mut String, text: &str, width: usize) {
    out.extend(text.chars().take(width).chain(['\n']));
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
            last.push_str(if len > 0 { "  " } else { "" });
            last.push_str(item);
        }
    }
    lines
}
