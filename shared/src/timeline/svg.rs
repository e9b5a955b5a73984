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
.tick { fill: #777; font-size: 10px; }
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

pub(crate) fn svg(t: &Timeline) -> String {
    let sections = t.sections();
    let longest = sections.iter().map(|(_, a, b)| b - a).max().unwrap_or(1);
    let scale = (WIDTH - NAMES - CODES - 10.0) / longest.max(1) as f64;
    let mut body = String::new();
    let mut y = 10.0;
    for (title, from, to) in sections {
        let panel = Panel { from, to, scale };
        let heading = match title.is_empty() {
            true => format!("the whole run, {}", seconds(to - from)),
            false => format!("{}, {}", escape(&title), seconds(to - from)),
        };
        let _ = writeln!(
            body,
            r#"<text class="part" x="4" y="{}">{heading}</text>"#,
            y + 14.0
        );
        axis(&mut body, y + 28.0, to - from, scale);
        y += HEADER;
        for lane in &t.lanes {
            if lane.start <= to && t.lane_end(lane) >= from {
                self::lane(&mut body, t, lane, &panel, y + LANE / 2.0);
                y += LANE;
            }
        }
        y += 12.0;
    }
    y = legend(&mut body, y);
    let height = y + 10.0;
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" font-size="12">
<title>timeline of a run: one lane per process</title>
{STYLE}{body}</svg>
"#
    )
}

/// A shape with its hover title: `<tag attributes><title>…</title></tag>`.
fn shape(out: &mut String, tag: &str, attributes: String, title: &str) {
    let _ = writeln!(
        out,
        "<{tag} {attributes}><title>{}</title></{tag}>",
        escape(title)
    );
}

/// One process's lane, centred on `mid`: its name, its life, its bars,
/// its start and its end.
fn lane(out: &mut String, t: &Timeline, lane: &Lane, panel: &Panel, mid: f64) {
    let (name, end) = (&lane.name, t.lane_end(lane));
    let _ = writeln!(
        out,
        r#"<text class="name" x="4" y="{}">{}</text>"#,
        mid + 4.0,
        escape(name)
    );
    let life = match lane.end {
        Some(Exit {
            reaped: false,
            code,
            ..
        }) => format!("exited with code {code}"),
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
    let (x, width) = (panel.x(lane.start), panel.width(lane.start, end));
    let (from, to) = (panel.time(lane.start), panel.time(end));
    let title = format!(
        "{name} (pid {}{parent}), from {from} to {to}: {life}",
        lane.pid
    );
    let attributes = format!(
        r#"class="life" x="{x:.1}" y="{:.1}" width="{width:.1}" height="4""#,
        mid - 2.0
    );
    shape(out, "rect", attributes, &title);
    for bar in t
        .bars_of(lane.pid)
        .filter(|b| b.start <= panel.to && b.start + b.dur >= panel.from)
    {
        let (paint, height) = match bar.what {
            What::Wait(_) => (r#"class="wait""#.to_owned(), 8.0),
            What::Join { .. } => (r#"class="join""#.to_owned(), 10.0),
            What::Span(_) => (r#"class="span""#.to_owned(), 14.0),
            What::Task { call, .. } => (
                format!(r#"fill="{}""#, CALLS[call as usize % CALLS.len()]),
                16.0,
            ),
        };
        let (x, width) = (
            panel.x(bar.start),
            panel.width(bar.start, bar.start + bar.dur),
        );
        let y = mid - height / 2.0;
        let attributes =
            format!(r#"{paint} x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{height}""#);
        let (what, long) = (t.describe(&bar.what), seconds(bar.dur));
        shape(
            out,
            "rect",
            attributes,
            &format!("{name}: {what} for {long}, from {}", panel.time(bar.start)),
        );
    }
    // Its start, a triangle; its end, a dot or a `?`, never on the triangle.
    let started_here = lane.parent.is_some() && (panel.from..=panel.to).contains(&lane.start);
    // (At the panel's right edge, the triangle steps left to make room.)
    let start = panel.x(lane.start).min(panel.x(panel.to) - 10.0);
    if started_here {
        let d = format!(
            r#"class="start" d="M{start:.1} {:.1} l6 6 l-6 6 z""#,
            mid - 6.0
        );
        shape(out, "path", d, &format!("{name} started at {from}"));
    }
    let after_start = |x: f64| if started_here { x.max(start + 10.0) } else { x };
    let code = match lane.end {
        Some(Exit { code, .. }) if end <= panel.to => {
            let class = if code == 0 { "ok" } else { "bad" };
            let dot = format!(
                r#"class="{class}" cx="{:.1}" cy="{mid:.1}" r="4""#,
                after_start(panel.x(end))
            );
            shape(out, "circle", dot, &format!("{name}: {life} at {to}"));
            code.to_string()
        }
        None if lane.parent.is_some() && panel.to == t.end => {
            let mark = format!(
                r#"class="unknown" x="{:.1}" y="{:.1}""#,
                after_start(panel.x(end) - 8.0),
                mid + 5.0
            );
            let _ = writeln!(
                out,
                "<text {mark}>?<title>{}</title></text>",
                escape(&format!("{name}: {life}"))
            );
            "?".into()
        }
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        r#"<text class="code" x="{:.1}" y="{:.1}">{code}</text>"#,
        WIDTH - CODES + 4.0,
        mid + 4.0
    );
}

/// The legend, two lines from `y`; the `y` under it.
fn legend(out: &mut String, mut y: f64) -> f64 {
    let lines = [
        "coloured bar: a pool task (colour: its call) · grey block: a span of the program's own",
        "hatched: join() waiting · dark: waiting on a queue, pipe, pool or lock · ▶ start · \
         ● exit (red: not 0) · ? end unknown · hover for details",
    ];
    for line in lines {
        y += 16.0;
        let _ = writeln!(
            out,
            r#"<text class="legend" x="4" y="{y:.1}">{}</text>"#,
            escape(line)
        );
    }
    y
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
        let _ = writeln!(
            out,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            NAMES + ns as f64 * scale,
            y - 3.0
        );
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
