//! A timeline of a run: which process lived when, who waited for whom,
//! which worker ran which task. Off unless asked for; then, as the main
//! process leaves, a chart in the terminal and two files for a browser.
//!
//! ```console
//! $ TIMELINE=1 cargo run -p examples-pool --bin factorize
//! ```
//!
//! or [`record`] at the top of `main`. (`TIMELINE` is on for `1`, `yes`
//! or `true`, off for `0`, `no`, `false` or nothing; anything else is off,
//! with a warning.) Every process the run starts (children,
//! grandchildren, pool workers, spawned children) records into one file:
//! process start and exit (pid, name, exit code), pool tasks (worker,
//! call, chunk), `join`s and waits that last half a millisecond or more
//! (on a queue, a pipe, a pool's results, a lock, a semaphore, a
//! condition, a barrier or an event), and the program's own [`span`]s and
//! [`part`]s. When the main process leaves (after its exit steps), it
//! reads the file back and writes, beside it:
//!
//! - a chart on stdout, one row per process, scaled to the terminal's
//!   width (plain characters when stdout is not a terminal);
//! - `<program>.svg`, one lane per process, tasks coloured by call, each
//!   event's details in its hover title: open it in a browser;
//! - `<program>.json`, the same run as Chrome's trace-event format, which
//!   Perfetto (<https://ui.perfetto.dev>) and `chrome://tracing` open.
//!
//! The files go to `$TIMELINE_DIR`, or to `timeline/` beside the program
//! (under `target/`, which git ignores), with the events they were drawn
//! from, `<program>.events` (which [`render`] draws again). Each run
//! records into a file of its own (`<program>.<pid>.events`, renamed as
//! it ends); a run that ends while another of the same program still
//! records keeps its pid in its files' names, so two runs never mix or
//! overwrite each other.
//!
//! **How it records.** The main process opens the events file before its
//! first child starts, with `O_APPEND`, and keeps it open for good (a
//! descriptor closed under a writer could be reused by the next file
//! opened, and a record land there). A forked child has the same
//! descriptor; a spawned child is told the file's path and opens it. Each
//! event is one fixed-size record written with one `write(2)`, which the
//! kernel appends whole whoever writes at once (`record.rs`). So nothing
//! is locked or allocated in a child, and a child killed at any moment
//! leaves every record it finished. Its exit is then what its parent saw
//! when it reaped it; a process nobody reaped (its parent was killed
//! first) ends "unknown" in the pictures.
//!
//! **It never harms the program.** Past a file-size limit (`ulimit -f`),
//! where a write would be killed by SIGXFSZ, it stops recording with one
//! line on stderr; a picture is written to a temporary name and renamed
//! into place, so a full disk leaves no half picture, and says which
//! file; the chart into a closed or full stdout is given up quietly.
//!
//! **Its cost.** With recording off, each place that could record tests
//! one number ([`on`]); the benchmark's figures are measured so. On, an
//! event costs one system call (two under a file-size limit).

mod chart;
mod model;
mod record;
mod svg;
mod trace;

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

pub use chart::chart;
pub use model::{Bar, Exit, Lane, Part, Timeline, What};
pub(crate) use record::On;
use record::{Kind, Record};

use crate::Error;

/// The events file, open until the process ends (see the module docs),
/// and its path.
static FILE: OnceLock<(File, PathBuf)> = OnceLock::new();
/// Whether this process records.
static ON: AtomicBool = AtomicBool::new(false);
/// The process that began recording, which draws the pictures at its exit.
static ROOT: AtomicU32 = AtomicU32::new(0);
/// This process records no waits on a pipe (a pool worker's wait for work
/// is not the program's).
static QUIET: AtomicBool = AtomicBool::new(false);
/// The file-size limit (`RLIMIT_FSIZE`) when recording began; `u64::MAX`
/// for none.
static LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Whether this process records (one load: the cost with recording off).
#[inline]
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Record a timeline of this run from now on (what `TIMELINE=1` does at
/// the first start), and draw it when `main` returns. Call it in the main
/// process before anything else of `shared` (the first line of `main`, or
/// after `freeze_support`): called later, the exit steps may run after
/// the drawing. Called again after [`stop`], it records on into the same
/// file, and the pictures are drawn after all. In a child, or while
/// recording, it does nothing.
pub fn record() -> Result<(), Error> {
    if on() || crate::process::current::is_child() {
        return Ok(());
    }
    // This process draws the pictures at its exit (if it opens the file).
    ROOT.store(std::process::id(), Ordering::Relaxed);
    if FILE.get().is_some() {
        ON.store(true, Ordering::Relaxed);
        return Ok(());
    }
    let (beside, program) = the_program();
    let dir = std::env::var_os("TIMELINE_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or(beside, PathBuf::from);
    let path = dir.join(format!("{program}.{}.events", std::process::id()));
    let opened = std::fs::create_dir_all(&dir)
        .and_then(|()| OpenOptions::new().create_new(true).append(true).open(&path));
    let file =
        opened.map_err(|e| cannot_write(&path, e, " (TIMELINE_DIR chooses another folder)"))?;
    keep(file, path);
    event(Some(now()), false, || Kind::Began("MainProcess".into()));
    // Registered before the exit steps are (`child::ensure_exit_hook`
    // calls `from_env` first), so it runs after them: `atexit` runs the
    // last registered first. The pictures then show the exit steps' joins.
    extern "C" fn at_exit() {
        let _ = std::panic::catch_unwind(finish); // no unwinding out of C
    }
    crate::sys::at_exit(at_exit);
    Ok(())
}

/// Keep the events file open for good, and record into it.
fn keep(file: File, path: PathBuf) {
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_FSIZE);
    LIMIT.store(limit.map_or(u64::MAX, |(soft, _)| soft), Ordering::Relaxed);
    if FILE.set((file, path)).is_ok() {
        ON.store(true, Ordering::Relaxed);
    }
}

/// Stop recording in this process (and in children started from now on),
/// drawing nothing unless [`record`] is called again: for a program that
/// records only a stretch of itself.
pub fn stop() {
    ON.store(false, Ordering::Relaxed);
    ROOT.store(0, Ordering::Relaxed); // nothing to draw at exit
}

/// Begin recording if the environment asks for it (`TIMELINE=1`), at the
/// first start of a process or pool.
pub(crate) fn from_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let value = std::env::var("TIMELINE").unwrap_or_default();
        let asked = match value.to_ascii_lowercase().as_str() {
            "1" | "yes" | "true" => true,
            "" | "0" | "no" | "false" => false,
            _ => {
                eprintln!("timeline: TIMELINE={value:?} is not 1, yes, true, 0, no or false: off");
                false
            }
        };
        if asked && let Err(e) = record() {
            eprintln!("timeline: not recorded: {e}");
        }
    });
}

/// Start a new part of the chart here, titled `title` (for a program that
/// runs several variants one after another, as `factorize` does). Each part
/// is drawn on its own, all at one scale.
pub fn part(title: &str) {
    from_env(); // the run may not have started a process yet
    event(now_if_on(), false, || Kind::Part(title.into()));
}

/// A stretch of this process's own work, drawn in its lane, labelled
/// `label`, until the guard is dropped.
pub fn span(label: &'static str) -> SpanGuard {
    from_env();
    let began = now_if_on(); // after from_env: it may have begun recording
    SpanGuard { label, began }
}

/// What [`span`] returns: dropping it ends the span.
#[must_use = "the span ends when this is dropped"]
pub struct SpanGuard {
    label: &'static str,
    began: Option<u64>,
}

impl Drop for SpanGuard {
    fn drop(&mut self) {
        event(self.began, true, || Kind::Span(self.label.into()));
    }
}

/// Read a run's events file back.
pub fn read(events: &Path) -> Result<Timeline, Error> {
    let (records, torn) = record::parse(&std::fs::read(events)?);
    Ok(model::build(&records, torn))
}

/// Draw a run's events file as `<stem>.svg` and `<stem>.json` beside it,
/// and return the timeline. Each is written to a temporary name first and
/// renamed into place: a failed write (a full disk) leaves no half picture
/// behind, and its error names the file.
pub fn render(events: &Path) -> Result<Timeline, Error> {
    let timeline = read(events)?;
    let pictures = [
        ("svg", svg::svg(&timeline)),
        ("json", trace::trace(&timeline)),
    ];
    for (extension, text) in pictures {
        let path = events.with_extension(extension);
        let temporary = events.with_extension(format!("{extension}.part"));
        // Past the file-size limit, a write would be killed by SIGXFSZ.
        let written = if text.len() as u64 > LIMIT.load(Ordering::Relaxed) {
            Err(io::Error::from_raw_os_error(libc::EFBIG))
        } else {
            std::fs::write(&temporary, &text).and_then(|()| std::fs::rename(&temporary, &path))
        };
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(cannot_write(&path, e, ""));
        }
    }
    Ok(timeline)
}

/// `e`, saying which file could not be written, and `hint`.
fn cannot_write(path: &Path, e: io::Error, hint: &str) -> Error {
    let why = format!("cannot write {}: {e}{hint}", path.display());
    Error::from(io::Error::new(e.kind(), why))
}

/// In the main process, as it leaves (after the exit steps): end the
/// recording, name the files, draw them and print the chart.
fn finish() {
    let root = ROOT.load(Ordering::Relaxed) == std::process::id();
    let Some((file, recorded)) = FILE.get().filter(|_| root) else {
        return;
    };
    event(Some(now()), false, || Kind::Ended);
    stop();
    if at_the_limit(file) {
        return; // said so, once: nothing is drawn from a run cut short
    }
    // `<program>.events` again, unless another run of it still records
    // beside it: then this one keeps its pid in its files' names.
    let program = recorded.with_extension("").with_extension("events");
    let renamed = !another_run_beside(recorded) && std::fs::rename(recorded, &program).is_ok();
    let path = if renamed { program } else { recorded.clone() };
    match render(&path) {
        Ok(timeline) => {
            let fancy = io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let width = if fancy { terminal_width() } else { 80 };
            let text = format!(
                "{}timeline: {} (a browser), {} (ui.perfetto.dev or chrome://tracing)\n",
                chart(&timeline, width, fancy),
                path.with_extension("svg").display(),
                path.with_extension("json").display()
            );
            // A closed or full stdout gets nothing: the program's exit is its
            // own. (The text ends in a newline: stdout, line-buffered, writes
            // it all at once.)
            let _ = io::stdout().lock().write_all(text.as_bytes());
        }
        Err(e) => eprintln!("timeline: not drawn: {e}"),
    }
}

/// Whether another run of this program, still running, records an events
/// file beside `ours` (`<program>.<pid>.events`).
fn another_run_beside(ours: &Path) -> bool {
    let program = |events: &Path| events.with_extension("").with_extension("");
    let files = std::fs::read_dir(ours.parent().unwrap_or(ours));
    files.into_iter().flatten().flatten().any(|file| {
        let path = file.path();
        let pid = path
            .with_extension("")
            .extension()
            .and_then(|p| p.to_str()?.parse::<i32>().ok());
        path != ours
            && path.extension() == ours.extension()
            && program(&path) == program(ours)
            && pid.is_some_and(|pid| crate::sys::pidfd_open(pid).is_ok())
    })
}

/// In a spawned child: record into the parent's file, at `path`.
pub(crate) fn attach(path: Option<String>) {
    let Some(path) = path else { return };
    if let Ok(file) = OpenOptions::new().append(true).open(&path) {
        keep(file, path.into());
    }
}

/// The events file's path, for a child to be spawned; `None` when not
/// recording.
pub(crate) fn path() -> Option<String> {
    let (_, path) = FILE.get().filter(|_| on())?;
    path.to_str().map(str::to_owned)
}

/// In a pool worker: its waits for work are not the program's.
pub(crate) fn quiet() {
    QUIET.store(true, Ordering::Relaxed);
}

/// Record what `kind` says this process did, at `at` (if recording), and
/// until now if `timed`: one record, one `write(2)`, from the stack. Under
/// a file-size limit the file's size is looked at first: the write that
/// would pass it is never made (it would be killed by SIGXFSZ), and
/// recording stops.
fn event(at: Option<u64>, timed: bool, kind: impl FnOnce() -> Kind) {
    let (Some(t), Some((file, _))) = (at.filter(|_| on()), FILE.get()) else {
        return;
    };
    let dur = if timed { now().saturating_sub(t) } else { 0 };
    let kind = kind();
    // Shorter joins and waits are not drawn: a join that found its child
    // gone, a `get` that found an item there, did not wait.
    if dur < 500_000 && matches!(kind, Kind::Joined(_) | Kind::Waited(_)) {
        return;
    }
    let pid = crate::sys::pid();
    let Some(bytes) = (Record { pid, t, dur, kind }).to_bytes() else {
        return;
    };
    if LIMIT.load(Ordering::Relaxed) != u64::MAX {
        // Other processes append too: one may write between this look and
        // this write, which is then an error, not SIGXFSZ.
        let refused = |e: io::Error| e.raw_os_error() == Some(libc::EFBIG);
        if at_the_limit(file) || crate::sys::write_below_limit(file, &bytes).is_err_and(refused) {
            at_the_limit(file); // said, by the main process
            stop();
        }
        return;
    }
    // One `write(2)`, again if interrupted; a record lost (a full disk) is
    // never the program's failure.
    let _ = (&*file).write_all(&bytes);
}

/// This process started child `pid`, named `name`, at `began` (taken
/// before the fork: see [`now_if_on`]).
pub(crate) fn started(pid: u32, name: &str, began: Option<u64>) {
    event(began, false, || Kind::Started(pid, name.into()));
}

/// This process, a child, leaves with `code`.
pub(crate) fn exited(code: i32) {
    event(now_if_on(), false, || Kind::Exited(code));
}

/// This process reaped child `pid`, whose exit code was `code`.
pub(crate) fn reaped(pid: i32, code: i32) {
    event(now_if_on(), false, || Kind::Reaped(pid as u32, code));
}

/// This process waited for child `pid` since `began` (see [`now_if_on`]).
pub(crate) fn joined(pid: i32, began: Option<u64>) {
    event(began, true, || Kind::Joined(pid as u32));
}

/// This worker ran chunk `chunk` of call `call` since `began`.
pub(crate) fn task(call: u32, chunk: u32, began: Option<u64>) {
    event(began, true, || Kind::Task(call, chunk));
}

/// This process waited on `on` since `began`.
pub(crate) fn waited(on: On, began: Option<u64>) {
    let quiet = on == On::Pipe && QUIET.load(Ordering::Relaxed);
    event(began.filter(|_| !quiet), true, || Kind::Waited(on));
}

/// The time now, if recording: what a span's end is measured from.
#[inline]
pub(crate) fn now_if_on() -> Option<u64> {
    on().then(now)
}

/// The system's monotonic clock, in nanoseconds: the same clock in every
/// process.
fn now() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Whether one record more would pass the file-size limit; said once, by
/// the main process (its children stop without a word).
fn at_the_limit(file: &File) -> bool {
    static SAID: AtomicBool = AtomicBool::new(false);
    let size = file.metadata().map_or(u64::MAX, |m| m.len());
    let full = size.saturating_add(record::SIZE as u64) > LIMIT.load(Ordering::Relaxed);
    let root = ROOT.load(Ordering::Relaxed) == std::process::id();
    if full && root && !SAID.swap(true, Ordering::Relaxed) {
        eprintln!(
            "timeline: recording stopped, and nothing drawn: the events file reached the \
             file-size limit (ulimit -f)"
        );
    }
    full
}

/// Where the files go unless `TIMELINE_DIR` says: `timeline/` in the
/// program's own folder (`target/debug/` under Cargo); and the program's
/// file name (a test's has Cargo's hash in it).
fn the_program() -> (PathBuf, String) {
    // Without the program's path (rare), as if it were `program` in the
    // temporary folder.
    let exe = std::env::current_exe().unwrap_or_else(|_| std::env::temp_dir().join("program"));
    let name = exe.file_stem().and_then(OsStr::to_str).unwrap_or("program");
    (exe.with_file_name("timeline"), name.to_owned())
}

/// The terminal's width in columns, or 80.
fn terminal_width() -> usize {
    match rustix::termios::tcgetwinsize(io::stdout().as_fd()) {
        Ok(size) if size.ws_col >= 40 => size.ws_col.into(),
        _ => 80,
    }
}
