//! Logging that says which process wrote each line.
//!
//! `env_logger` writes each record to stderr in one `write`, so lines from
//! several processes never splice together. The format closure asks
//! [`current_process`] for the name at the moment of
//! logging, which after `fork` is the child's.

use std::io::Write;

use log::{Level, LevelFilter};

use crate::process::current::current_process;
use crate::process::parent_side::ensure_exit_hook;

/// Python's `multiprocessing.log_to_stderr(level)`: every record goes to
/// stderr as `[LEVEL/ProcessName] message`, and the process lifecycle logs
/// CPython's messages (`child process calling self.run()`, …).
///
/// `RUST_LOG`, when set, overrides `level` (for example `RUST_LOG=info`).
/// Lower or raise the level later with [`log::set_max_level`], the analogue
/// of `multiprocessing.get_logger().setLevel(...)`.
pub fn log_to_stderr(level: LevelFilter) {
    STYLE.get_or_init(|| Style::Multiprocessing);
    let lifecycle = true;
    install(level, lifecycle, |buf, record| {
        let name = current_process().name().to_owned();
        writeln!(
            buf,
            "[{}/{name}] {}",
            python_level(record.level()),
            record.args()
        )
    });
    // CPython logs `process shutting down` in the main process at exit even
    // if no child was ever started.
    ensure_exit_hook();
}

/// Python's `logging.basicConfig(level=..., format='%(processName)s: %(message)s')`
/// from tutorial 000: each record as `ProcessName: message`.
///
/// `shared`'s own lifecycle lines (`child process calling self.run()`, …)
/// stay silent, as in Python: they belong to the `multiprocessing` logger,
/// which does not pass its records on to the root logger `basicConfig` sets up.
pub fn basic_config(level: LevelFilter) {
    STYLE.get_or_init(|| Style::BasicConfig);
    let lifecycle = false;
    install(level, lifecycle, |buf, record| {
        let name = current_process().name().to_owned();
        writeln!(buf, "{name}: {}", record.args())
    });
}

/// `lifecycle`: whether `shared`'s own log lines (the `multiprocessing`
/// logger's, in Python) are shown.
/// Which of the two this process installed: a spawned child, which starts
/// with no logger, is told, and installs the same at the parent's level
/// (CPython's spawn passes its children the same).
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(crate) enum Style {
    Multiprocessing,
    BasicConfig,
}

static STYLE: std::sync::OnceLock<Style> = std::sync::OnceLock::new();

/// This process's style and level, for a child about to be spawned.
pub(crate) fn style() -> Option<(Style, usize)> {
    STYLE.get().map(|&style| (style, log::max_level() as usize))
}

/// Log as the parent that sent `style()` does.
pub(crate) fn install_style((style, level): (Style, usize)) {
    let level = LevelFilter::iter().nth(level).unwrap_or(LevelFilter::Off);
    match style {
        Style::Multiprocessing => log_to_stderr(level),
        Style::BasicConfig => basic_config(level),
    }
}

fn install<F>(level: LevelFilter, lifecycle: bool, format: F)
where
    F: Fn(&mut env_logger::fmt::Formatter, &log::Record<'_>) -> std::io::Result<()>
        + Sync
        + Send
        + 'static,
{
    let from_env = std::env::var("RUST_LOG").ok();
    let mut builder = env_logger::Builder::new();
    builder.format(format).target(env_logger::Target::Stderr);
    match &from_env {
        Some(spec) => builder.parse_filters(spec),
        // Let everything through the logger itself; `set_max_level` below
        // (and later calls to it) decide what is logged.
        None => builder.filter_level(LevelFilter::Trace),
    };
    if !lifecycle {
        builder.filter_module(env!("CARGO_CRATE_NAME"), LevelFilter::Off);
    }
    // A second call keeps the first logger, as a second `log_to_stderr` does.
    if builder.try_init().is_ok() && from_env.is_none() {
        log::set_max_level(level);
    }
}

/// Python spells the levels `DEBUG`, `INFO`, `WARNING`, `ERROR`.
fn python_level(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARNING",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    }
}
