//! A timeline of a run: which process lived when, who waited for whom,
//! which worker ran which task. Off unless asked for; then, as the main
//! process leaves, a chart in the terminal and two files for a browser.
//!
//! ```console
//! $ TIMELINE=1 cargo run -p examples-pool --bin factorize
//! ```
//!
//! or [`record`] at the top of `main`. Every process the run starts
//! (children, grandchildren, pool workers, spawned children) records into
//! one file: process start and exit (pid, name, exit code), pool tasks
//! (worker, call, chunk), `join`s and waits on a queue, a pipe or a pool's
//! results that last half a millisecond or more, and the program's own
//! [`span`]s and [`part`]s.
//! When the main process leaves (after its exit steps), it reads the file
//! back and writes, beside it:
//!
//! - a chart on stdout, one row per process, scaled to the terminal's
//!   width (plain characters when stdout is not a terminal);
//! - `<program>.svg`, one lane per process, tasks coloured by call, each
//!   event's details in its hover title: open it in a browser;
//! - `<program>.json`, the same run as Chrome's trace-event format, which
//!   Perfetto (<https://ui.perfetto.dev>) and `chrome://tracing` open.
//!
//! The files go to `$TIMELINE_DIR`, or to `timeline/` beside the program
//! (under `target/`, which git ignores).
//!
//! **How it records.** The main process opens the events file before its
//! first child starts, with `O_APPEND`. A forked child has the same
//! descriptor; a spawned child is told the file's path and opens it. Each
//! event is one fixed-size record written with one `write(2)`, which the
//! kernel appends whole whoever writes at once (`record.rs`). So nothing
//! is locked or allocated in a child, and a child killed at any moment
//! leaves every record it finished. Its exit is then what its parent saw
//! when it reaped it; a process nobody reaped (its parent was killed
//! first) ends "unknown" in the pictures.
//!
//! **Its cost.** With recording off, each place that could record tests
//! one number ([`on`]); the benchmark's figures are measured so. On, an
//! event costs one system call.

mod chart;
mod model;
mod record;
mod svg;
mod trace;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

pub use model::{End, Join, Lane, Part, Span, Task, Timeline, Wait};
use record::{Kind, Record};

use crate::error::Error;

/// The events file's descriptor while recording; -1 when not.
static FD: AtomicI32 = AtomicI32::new(-1);
/// The process that began recording, which draws the pictures at its exit.
static ROOT: AtomicU32 = AtomicU32::new(0);
/// This process records no waits (a pool worker's wait for work is not
/// the program's).
static QUIET: AtomicU32 = AtomicU32::new(0);
/// The events file's path, for spawned children.
static PATH: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The environment variable that asks for a timeline.
const SWITCH: &str = "TIMELINE";
/// Where its files go, if not beside the program.
const DIR: &str = "TIMELINE_DIR";

/// Whether this process records (one load: the cost with recording off).
#[inline]
pub fn on() -> bool {
    FD.load(Ordering::Relaxed) >= 0
}

/// Record a timeline of this run from now on (what `TIMELINE=1` does at
/// the first start), and draw it when `main` returns. Call it in the main
/// process before anything else of `shared` (the first line of `main`, or
/// after `freeze_support`): called later, the exit steps may run after
/// the drawing. Elsewhere, or a second time, it does nothing.
pub fn record() -> Result<(), Error> {
    if on() || crate::current::is_child() {
        return Ok(());
    }
    let dir = match std::env::var_os(DIR) {
        Some(dir) => PathBuf::from(dir),
        None => beside_the_program(),
    };
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{}.events", program_name()));
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .custom_flags(libc::O_APPEND)
        .open(&path)?;
    *PATH.lock().unwrap_or_else(|p| p.into_inner()) = Some(path);
    ROOT.store(std::process::id(), Ordering::Relaxed);
    FD.store(file.into_raw_fd(), Ordering::Relaxed);
    write(Record::new(Kind::Began, std::process::id(), now()).named("MainProcess"));
    // Registered before the exit steps are (`child::ensure_exit_hook`
    // calls `from_env` first), so it runs after them: `atexit` runs the
    // last registered first. The pictures then show the exit steps' joins.
    static HOOK: std::sync::Once = std::sync::Once::new();
    extern "C" fn at_exit() {
        let _ = std::panic::catch_unwind(finish); // no unwinding out of C
    }
    HOOK.call_once(|| crate::sys::at_exit(at_exit));
    Ok(())
}

/// Stop recording in this process (and in children started from now on),
/// drawing nothing: for a program that records only a stretch of itself.
pub fn stop() {
    let fd = FD.swap(-1, Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: `record` gave up ownership of this descriptor to `FD`,
        // which no longer holds it.
        drop(unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    }
}

/// Begin recording if the environment asks for it (`TIMELINE=1`), at the
/// first start of a process or pool.
pub(crate) fn from_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os(SWITCH).is_some_and(|v| !v.is_empty() && v != "0")
            && let Err(e) = record()
        {
            eprintln!("timeline: not recorded: {e}");
        }
    });
}

/// Start a new part of the chart here, titled `title` (for a program that
/// runs several variants one after another, as `factorize` does). Each part
/// is drawn on its own, all at one scale.
pub fn part(title: &str) {
    from_env(); // the run may not have started a process yet
    if on() {
        write(Record::new(Kind::Part, std::process::id(), now()).named(title));
    }
}

/// A stretch of this process's own work, drawn in its lane, labelled
/// `label`, until the guard is dropped.
pub fn span(label: &'static str) -> SpanGuard {
    from_env();
    SpanGuard {
        label,
        began: on().then(now),
    }
}

/// What [`span`] returns: dropping it ends the span.
#[must_use = "the span ends when this is dropped"]
pub struct SpanGuard {
    label: &'static str,
    began: Option<u64>,
}

impl Drop for SpanGuard {
    fn drop(&mut self) {
        if let Some(began) = self.began {
            let mut r = Record::new(Kind::Span, std::process::id(), began).named(self.label);
            r.dur = now().saturating_sub(began);
            write(r);
        }
    }
}

/// Read a run's events file back.
pub fn read(events: &Path) -> Result<Timeline, Error> {
    let (records, torn) = record::parse(&std::fs::read(events)?);
    Ok(model::build(&records, torn))
}

/// Draw a run's events file as `<stem>.svg` and `<stem>.json` beside it,
/// and return the timeline.
pub fn render(events: &Path) -> Result<Timeline, Error> {
    let timeline = read(events)?;
    std::fs::write(events.with_extension("svg"), svg::svg(&timeline))?;
    std::fs::write(events.with_extension("json"), trace::trace(&timeline))?;
    Ok(timeline)
}

/// The chart of a timeline at `width` columns: `fancy` for a terminal
/// (block characters and colours), plain characters otherwise.
pub fn chart(timeline: &Timeline, width: usize, fancy: bool) -> String {
    chart::chart(timeline, width, fancy)
}

/// In the main process, as it leaves (after the exit steps): end the
/// recording, draw the files and print the chart.
fn finish() {
    if !on() || ROOT.load(Ordering::Relaxed) != std::process::id() {
        return;
    }
    write(Record::new(Kind::Ended, std::process::id(), now()));
    stop();
    let Some(path) = PATH.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
        return;
    };
    match render(&path) {
        Ok(timeline) => {
            use std::io::IsTerminal;
            let fancy = io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let width = if fancy { terminal_width() } else { 80 };
            print!("{}", chart(&timeline, width, fancy));
            println!(
                "timeline: {} (a browser), {} (ui.perfetto.dev or chrome://tracing)",
                path.with_extension("svg").display(),
                path.with_extension("json").display()
            );
        }
        Err(e) => eprintln!("timeline: {}: {e}", path.display()),
    }
    crate::current::flush_stdout(); // Rust flushed stdout before `atexit` ran
}

/// In a spawned child: record into the parent's file, at `path`.
pub(crate) fn join(path: Option<String>) {
    let Some(path) = path else { return };
    let file = OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path);
    if let Ok(file) = file {
        FD.store(file.into_raw_fd(), Ordering::Relaxed);
        *PATH.lock().unwrap_or_else(|p| p.into_inner()) = Some(path.into());
    }
}

/// The events file's path, for a child to be spawned; `None` when not
/// recording.
pub(crate) fn path() -> Option<String> {
    if !on() {
        return None;
    }
    let path = PATH.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
    path.into_os_string().into_string().ok()
}

/// In a pool worker: its waits for work are not the program's.
pub(crate) fn quiet() {
    QUIET.store(1, Ordering::Relaxed);
}

/// This process started child `pid`, named `name`, at `began` (taken
/// before the fork: see [`now_if_on`]).
pub(crate) fn started(pid: u32, name: &str, began: Option<u64>) {
    if let Some(began) = began.filter(|_| on()) {
        let mut r = Record::new(Kind::Started, std::process::id(), began).named(name);
        r.other = pid;
        write(r);
    }
}

/// This process, a child, leaves with `code`.
pub(crate) fn exited(code: i32) {
    if on() {
        let mut r = Record::new(Kind::Exited, std::process::id(), now());
        r.a = code;
        write(r);
    }
}

/// This process reaped child `pid`, whose exit code was `code`.
pub(crate) fn reaped(pid: i32, code: i32) {
    if on() {
        let mut r = Record::new(Kind::Reaped, std::process::id(), now());
        (r.other, r.a) = (pid as u32, code);
        write(r);
    }
}

/// This process waited for child `pid` since `began` (see [`now_if_on`]):
/// recorded if it was longer than half a millisecond.
pub(crate) fn joined(pid: i32, began: Option<u64>) {
    // As for waits: a join that found its child gone did not wait.
    const SHORTEST: u64 = 500_000;
    if let Some(began) = began.filter(|_| on()) {
        let mut r = Record::new(Kind::Joined, std::process::id(), began);
        (r.other, r.dur) = (pid as u32, now().saturating_sub(began));
        if r.dur >= SHORTEST {
            write(r);
        }
    }
}

/// This worker ran chunk `chunk` of call `call` since `began`.
pub(crate) fn task(call: u32, chunk: u32, began: Option<u64>) {
    if let Some(began) = began.filter(|_| on()) {
        let mut r = Record::new(Kind::Task, std::process::id(), began);
        (r.a, r.b, r.dur) = (call as i32, chunk, now().saturating_sub(began));
        write(r);
    }
}

/// What a process waited on.
#[derive(Clone, Copy)]
pub(crate) enum On {
    Queue = 1,
    Pipe = 2,
    /// The pool's results, in the process that called it.
    Pool = 3,
}

/// This process waited on a queue or pipe since `began`: recorded if it
/// was longer than half a millisecond.
pub(crate) fn waited(on: On, began: Option<u64>) {
    const SHORTEST: u64 = 500_000;
    if let Some(began) = began.filter(|_| QUIET.load(Ordering::Relaxed) == 0) {
        let dur = now().saturating_sub(began);
        if dur >= SHORTEST {
            let mut r = Record::new(Kind::Waited, std::process::id(), began);
            (r.b, r.dur) = (on as u32, dur);
            write(r);
        }
    }
}

/// The time now, if recording: what a span's end is measured from.
#[inline]
pub(crate) fn now_if_on() -> Option<u64> {
    on().then(now)
}

/// The system's monotonic clock, in nanoseconds: the same clock in every
/// process.
fn now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Append one record: one `write(2)`, from the stack.
fn write(record: Record) {
    let fd = FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let bytes = record.to_bytes();
    loop {
        // SAFETY: `bytes` is valid for its length; `fd` is the events file
        // (or, if `stop` raced us, a closed number: `EBADF`, ignored).
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// `timeline/` in the program's own folder (`target/debug/` under Cargo).
fn beside_the_program() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("timeline")))
        .unwrap_or_else(|| std::env::temp_dir().join("timeline"))
}

/// The program's file name (a test's has Cargo's hash in it).
fn program_name() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe
        .as_deref()
        .and_then(Path::file_stem)
        .and_then(|s| s.to_str())
        .unwrap_or("program");
    stem.to_owned()
}

/// The terminal's width in columns (`TIOCGWINSZ` on stdout), or 80.
fn terminal_width() -> usize {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `size` is a valid winsize for the ioctl to fill.
    let ok = unsafe { libc::ioctl(io::stdout().as_raw_fd(), libc::TIOCGWINSZ, &mut size) } == 0;
    match ok && size.ws_col >= 40 {
        true => size.ws_col as usize,
        false => 80,
    }
}
