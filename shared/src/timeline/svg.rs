//! The picture for a browser: one self-contained SVG (no script, nothing
//! fetched), a lane per process, a panel per part of the run, all at one
//! scale. Each shape's `<title>` is what a browser shows on hover; its
//! times, as the panel's axis, count from the panel's start.

use std::fmt::Write;

use super::chart::seconds;
use super::model::{Exit, Lane, Timeline, What};

const WIDTH: f64 = 960.0;
const NAMES: f64 = 170.0;
const CODES: f64 = 40.0;
const LANE: f64 = 22.0;
const HEADER: f64 = 34.0;
/// Colours of the calls of a pool, in turn.
const CALLS: [&str; 6] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#e15759",
];

const STYLE: &str = r##"<defs><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="2" height="4" fill="#9c755f"/></pattern></defs>
<style>
.part { font-weight: bold; font-size: 13px; }
.name, .code { fill: #222; }
.axis { stroke: #bbb; }
.tick { fill: #777; font-size: 10px; text-anchor: middle; }
.life { fill: #c8c8c8; }
.wait { fill: #555; }
.join { fill: url(#hatch); stroke: #9c755f; }
.span { fill: #8c8c8c; }
.start { fill: #333; }
.ok { fill: #59a14f; }
.bad { fill: #e15759; }
.unknown { fill: #e15759; font-weight: bold; font-size: 14px; }
.legend { fill: #555; font-size: 11px; }
</style>
<rect width="100%" height="100%" fill="white"/>
"##;

/// One panel's place in the picture: the part it draws, and the scale.
struct Panel {
    from: u64,
    to: u64,
    /// Pixels per nanosecond.
    scale: f64,
}

impl Panel {
    fn x(&self, ns: u64) -> f64 {
        NAMES + ns.clamp(self.from, self.to).saturating_sub(self.from) as f64 * self.scale
    }

    fn width(&self, start: u64, end: u64) -> f64 {
        (self.x(end) - self.x(start)).max(1.0)
    }

    /// A time of the run, as this panel's axis counts it.
    fn time(&self, ns: u64) -> String {
        seconds(ns.saturating_sub(self.from))
    }
}

/// The legend, under the panels.
const LEGEND: [&str; 2] = [
    "coloured bar: a pool task (colour: its call) · grey block: a span of the program's own",
    "hatched: join() waiting · dark: waiting on a queue, pipe, pool or lock · ▶ start · \
     ● exit (red: not 0) · ? end unknown · hover for details",
];

pub(crate) fn svg(t: &Timeline) -> String {
    let sections = t.sections();
    let longest = sections.iter().map(|(_, a, b)| b - a).max().unwrap_or(1);
    let scale = (WIDTH - NAMES - CODES - 10.0) / longest.max(1) as f64;
    let (mut body, mut y) = (String::new(), 10.0);
    for (title, from, to) in sections {
        let panel = Panel { from, to, scale };
        let title = if title.is_empty() {
            "the whole run"
        } else {
            &title
        };
        let heading = format!("{title}, {}", seconds(to - from));
        text(&mut body, "part", 4.0, y + 14.0, &heading);
        axis(&mut body, y + 28.0, to - from, scale);
        y += HEADER;
        for lane in t.lanes_alive(from, to) {
            self::lane(&mut body, t, lane, &panel, y + LANE / 2.0);
            y += LANE;
        }
        y += 12.0;
    }
    for line in LEGEND {
        y += 16.0;
        text(&mut body, "legend", 4.0, y, line);
    }
    let height = y + 10.0;
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" font-size="12">
<title>timeline of a run: one lane per process</title>
{STYLE}{body}</svg>
"#
    )
}

/// An element, `<tag attributes>content<title>…</title></tag>`: its
/// title is what a browser shows on hover (none if empty).
fn element(out: &mut String, tag: &str, attributes: &str, content: &str, title: &str) {
    let title = match title {
        "" => String::new(),
        title => format!("<title>{}</title>", escape(title)),
    };
    let content = escape(content);
    let _ = writeln!(out, "<{tag} {attributes}>{content}{title}</{tag}>");
}

/// A line of text, of CSS class `class`, at `x`, `y`.
fn text(out: &mut String, class: &str, x: f64, y: f64, content: &str) {
    let attributes = format!(r#"class="{class}" x="{x:.1}" y="{y:.1}""#);
    element(out, "text", &attributes, content, "");
}

/// One process's lane, centred on `mid`: its name, its life and its bars,
/// its start and its end.
fn lane(out: &mut String, t: &Timeline, lane: &Lane, panel: &Panel, mid: f64) {
    let (name, pid, end) = (&lane.name, lane.pid, t.lane_end(lane));
    text(out, "name", 4.0, mid + 4.0, name);
    let life = match lane.end {
        Some(exit) if !exit.reaped => format!("exited with code {}", exit.code),
        Some(Exit { code, .. }) if code < 0 => {
            format!("killed by signal {} (exit code {code})", -code)
        }
        Some(Exit { code, .. }) => format!("exit code {code}, seen when reaped"),
        None if lane.parent.is_none() => "the main process".into(),
        None => "end unknown: no exit was recorded (its parent died first)".into(),
    };
    let parent = lane
        .parent
        .map(|p| format!(", started by {}", t.name_of(p)))
        .unwrap_or_default();
    let (from, to) = (panel.time(lane.start), panel.time(end));
    let whole = format!("{name} (pid {pid}{parent}), from {from} to {to}: {life}");
    let bars = t.bars_of(pid).map(|bar| {
        let (paint, height) = match bar.what {
            What::Wait(_) => (r#"class="wait""#.to_owned(), 8.0),
            What::Join { .. } => (r#"class="join""#.to_owned(), 10.0),
            What::Span(_) => (r#"class="span""#.to_owned(), 14.0),
            What::Task { call, .. } => (
                format!(r#"fill="{}""#, CALLS[call as usize % CALLS.len()]),
                16.0,
            ),
        };
        let (what, long) = (t.describe(&bar.what), seconds(bar.dur));
        let title = format!("{name}: {what} for {long}, from {}", panel.time(bar.start));
        (bar.start, bar.start + bar.dur, paint, height, title)
    });
    let alive = (lane.start, end, r#"class="life""#.to_owned(), 4.0, whole);
    for (start, stop, paint, height, title) in [alive].into_iter().chain(bars) {
        if start <= panel.to && stop >= panel.from {
            let (x, width) = (panel.x(start), panel.width(start, stop));
            let y = mid - height / 2.0;
            let attributes =
                format!(r#"{paint} x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{height}""#);
            element(out, "rect", &attributes, "", &title);
        }
    }
    // Its start, a triangle; its end, a dot or a `?`, never on the triangle.
    let started_here = lane.parent.is_some() && (panel.from..=panel.to).contains(&lane.start);
    // (At the panel's right edge, the triangle steps left to make room.)
    let start = panel.x(lane.start).min(panel.x(panel.to) - 10.0);
    if started_here {
        let (x, y) = (start, mid - 6.0);
        let d = format!(r#"class="start" d="M{x:.1} {y:.1} l6 6 l-6 6 z""#);
        element(out, "path", &d, "", &format!("{name} started at {from}"));
    }
    let after_start = |x: f64| if started_here { x.max(start + 10.0) } else { x };
    let code = match lane.end {
        Some(Exit { code, .. }) if end <= panel.to => {
            let class = if code == 0 { "ok" } else { "bad" };
            let x = after_start(panel.x(end));
            let dot = format!(r#"class="{class}" cx="{x:.1}" cy="{mid:.1}" r="4""#);
            element(out, "circle", &dot, "", &format!("{name}: {life} at {to}"));
            code.to_string()
        }
        None if lane.parent.is_some() && panel.to == t.end => {
            let (x, y) = (after_start(panel.x(end) - 8.0), mid + 5.0);
            let mark = format!(r#"class="unknown" x="{x:.1}" y="{y:.1}""#);
            element(out, "text", &mark, "?", &format!("{name}: {life}"));
            "?".into()
        }
        _ => String::new(),
    };
    text(out, "code", WIDTH - CODES + 4.0, mid + 4.0, &code);
}

/// A time axis at `y`: five ticks across `span` nanoseconds.
fn axis(out: &mut String, y: f64, span: u64, scale: f64) {
    let right = NAMES + span as f64 * scale;
    let _ = writeln!(
        out,
        r#"<line class="axis" x1="{NAMES}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}"/>"#
    );
    for i in 0..=4 {
        let ns = span * i / 4;
        let label = if ns == 0 { "0".to_owned() } else { seconds(ns) };
        text(out, "tick", NAMES + ns as f64 * scale, y - 3.0, &label);
    }
}

/// `text` made safe inside an XML element or attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
