//! The picture for a browser: one self-contained SVG (no script, nothing
//! fetched), a lane per process, a panel per part of the run, all at one
//! scale. Each shape's `<title>` is what a browser shows on hover.

use std::fmt::Write;

use super::chart::seconds;
use super::model::{End, Timeline};

const WIDTH: f64 = 960.0;
const NAMES: f64 = 170.0;
const CODES: f64 = 40.0;
const LANE: f64 = 22.0;
const HEADER: f64 = 34.0;
/// Colours of the calls of a pool, in turn.
const CALLS: [&str; 6] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#e15759",
];

pub(crate) fn svg(t: &Timeline) -> String {
    let sections = t.sections();
    let longest = sections
        .iter()
        .map(|(_, a, b)| b - a)
        .max()
        .unwrap_or(1)
        .max(1);
    let scale = (WIDTH - NAMES - CODES - 10.0) / longest as f64; // px per ns
    let mut body = String::new();
    let mut y = 10.0;
    for (title, from, to) in &sections {
        let heading = match title.is_empty() {
            true => format!("the whole run, {}", seconds(to - from)),
            false => format!("{}, {}", escape(title), seconds(to - from)),
        };
        let _ = writeln!(
            body,
            r#"<text class="part" x="4" y="{}">{heading}</text>"#,
            y + 14.0
        );
        axis(&mut body, y + 28.0, to - from, scale);
        y += HEADER;
        let x = |ns: u64| NAMES + (ns.saturating_sub(*from)) as f64 * scale;
        let w =
            |a: u64, b: u64| ((b.min(*to).saturating_sub(a.max(*from))) as f64 * scale).max(1.0);
        for lane in &t.lanes {
            let end = t.lane_end(lane);
            if lane.start > *to || end < *from {
                continue;
            }
            let mid = y + LANE / 2.0;
            let _ = writeln!(
                body,
                r#"<text class="name" x="4" y="{}">{}</text>"#,
                mid + 4.0,
                escape(&lane.name)
            );
            let life = match lane.end {
                End::Exited { code, .. } => format!("exited with code {code}"),
                End::Reaped { code, .. } if code < 0 => {
                    format!("killed by signal {} (exit code {code})", -code)
                }
                End::Reaped { code, .. } => format!("exit code {code}, seen when reaped"),
                End::Unknown if lane.parent.is_none() => "the main process".into(),
                End::Unknown => "end unknown: no exit was recorded (its parent died first)".into(),
            };
            let parent = lane
                .parent
                .map(|p| format!(", started by {}", t.name_of(p)))
                .unwrap_or_default();
            let _ = writeln!(
                body,
                r#"<rect class="life" x="{:.1}" y="{:.1}" width="{:.1}" height="4"><title>{} (pid {}{}), from {} to {}: {}</title></rect>"#,
                x(lane.start.max(*from)),
                mid - 2.0,
                w(lane.start, end),
                escape(&lane.name),
                lane.pid,
                escape(&parent),
                seconds(lane.start),
                seconds(end),
                escape(&life)
            );
            let pid = lane.pid;
            let visible = |start: u64, dur: u64| start <= *to && start + dur >= *from;
            // A bar across `start..start + dur`, `height` high, centred on
            // the lane; `paint` is its class or fill.
            let mut bar = |paint: String, start: u64, dur: u64, height: f64, title: String| {
                if visible(start, dur) {
                    let _ = writeln!(
                        body,
                        r#"<rect {paint} x="{:.1}" y="{:.1}" width="{:.1}" height="{height}"><title>{}: {}</title></rect>"#,
                        x(start.max(*from)),
                        mid - height / 2.0,
                        w(start, start + dur),
                        escape(&lane.name),
                        escape(&title)
                    );
                }
            };
            for wt in t.waits.iter().filter(|wt| wt.pid == pid) {
                let title = format!(
                    "waited {} for {} at {}",
                    seconds(wt.dur),
                    wt.on,
                    seconds(wt.start)
                );
                bar(r#"class="wait""#.into(), wt.start, wt.dur, 8.0, title);
            }
            for j in t.joins.iter().filter(|j| j.waiter == pid) {
                let child = t.name_of(j.child);
                let title = format!(
                    "waited {} in join() for {child}, from {}",
                    seconds(j.dur),
                    seconds(j.start)
                );
                bar(r#"class="join""#.into(), j.start, j.dur, 10.0, title);
            }
            for s in t.spans.iter().filter(|s| s.pid == pid) {
                let title = format!(
                    "{} for {}, from {}",
                    s.label,
                    seconds(s.dur),
                    seconds(s.start)
                );
                bar(r#"class="span""#.into(), s.start, s.dur, 14.0, title);
            }
            for k in t.tasks.iter().filter(|k| k.pid == pid) {
                let fill = format!(r#"fill="{}""#, CALLS[k.call as usize % CALLS.len()]);
                let title = format!(
                    "call {}, chunk {}, for {}, from {}",
                    k.call,
                    k.chunk,
                    seconds(k.dur),
                    seconds(k.start)
                );
                bar(fill, k.start, k.dur, 16.0, title);
            }
            if lane.parent.is_some() && (*from..=*to).contains(&lane.start) {
                let sx = x(lane.start);
                let _ = writeln!(
                    body,
                    r#"<path class="start" d="M{sx:.1} {:.1} l6 6 l-6 6 z"><title>{} started at {}</title></path>"#,
                    mid - 6.0,
                    escape(&lane.name),
                    seconds(lane.start)
                );
            }
            let (mark, code) = match lane.end {
                End::Exited { code, .. } | End::Reaped { code, .. } if end <= *to => {
                    let class = if code == 0 { "ok" } else { "bad" };
                    (
                        format!(
                            r#"<circle class="{class}" cx="{:.1}" cy="{mid:.1}" r="4"><title>{}: {}</title></circle>"#,
                            x(end),
                            escape(&lane.name),
                            escape(&life)
                        ),
                        code.to_string(),
                    )
                }
                End::Unknown if lane.parent.is_some() && *to == t.end => (
                    format!(
                        r#"<text class="unknown" x="{:.1}" y="{:.1}">?<title>{}: {}</title></text>"#,
                        x(end) - 8.0,
                        mid + 5.0,
                        escape(&lane.name),
                        escape(&life)
                    ),
                    "?".into(),
                ),
                _ => (String::new(), String::new()),
            };
            body.push_str(&mark);
            let _ = writeln!(
                body,
                r#"<text class="code" x="{:.1}" y="{:.1}">{code}</text>"#,
                WIDTH - CODES + 4.0,
                mid + 4.0
            );
            y += LANE;
        }
        y += 12.0;
    }
    let legend = [
        "coloured bar: a pool task (colour: its call) · grey block: a span of the program's own",
        "hatched: join() waiting · dark: waiting on a queue, pipe or pool · ▶ start · ● exit \
         (red: not 0) · ? end unknown · hover over any of them for details",
    ];
    for line in legend {
        y += 16.0;
        let _ = writeln!(
            body,
            r#"<text class="legend" x="4" y="{y:.1}">{}</text>"#,
            escape(line)
        );
    }
    let height = y + 10.0;
    format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" font-size="12">
<title>timeline of a run: one lane per process</title>
<defs><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="2" height="4" fill="#9c755f"/></pattern></defs>
<style>
.part {{ font-weight: bold; font-size: 13px; }}
.name, .code {{ fill: #222; }}
.axis {{ stroke: #bbb; }}
.tick {{ fill: #777; font-size: 10px; }}
.life {{ fill: #c8c8c8; }}
.wait {{ fill: #555; }}
.join {{ fill: url(#hatch); stroke: #9c755f; }}
.span {{ fill: #8c8c8c; }}
.start {{ fill: #333; }}
.ok {{ fill: #59a14f; }}
.bad {{ fill: #e15759; }}
.unknown {{ fill: #e15759; font-weight: bold; font-size: 14px; }}
.legend {{ fill: #555; font-size: 11px; }}
</style>
<rect width="100%" height="100%" fill="white"/>
{body}</svg>
"##
    )
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
        let _ = writeln!(
            out,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            NAMES + ns as f64 * scale,
            y - 3.0,
            if ns == 0 { "0".to_owned() } else { seconds(ns) }
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
