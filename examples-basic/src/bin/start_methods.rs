//! The same target under `fork`, `spawn` and `forkserver`; what each
//! child sees of the parent's globals; and why Python 3.14 stopped forking
//! by default.
//!
//! Python twin: `python/start_methods.py` (beyond the tutorials: tutorial
//! 003 §2's "importable target" and 004's `__main__` remark only make
//! sense under `spawn`).
//!
//! ```console
//! $ cargo run -p examples-basic --bin start_methods
//! default start method: fork
//! fork: ForkProcess-1 (parent MainProcess) sees GREETING = 'changed by main'
//! ForkProcess-1 exitcode 0
//! spawn: SpawnProcess-2 (parent MainProcess) sees GREETING = 'set when the program starts'
//! SpawnProcess-2 exitcode 0
//! forkserver: ForkServerProcess-3 (parent MainProcess) sees GREETING = 'set when the program starts'
//! ForkServerProcess-3 exitcode 0
//! with 2 threads running:
//! fork beside a thread: refused: cannot fork: this process runs 2 threads, [..]
//! spawn beside a thread: SpawnProcess-5 (parent MainProcess) sees GREETING = 'set when the program starts'
//! SpawnProcess-5 exitcode 0
//! forkserver beside a thread: ForkServerProcess-6 (parent MainProcess) sees GREETING = 'set when the program starts'
//! ForkServerProcess-6 exitcode 0
//! ```
//! A forked child is a copy of the parent as it is at `start`, so it sees
//! `GREETING` as `main` changed it. A spawned child is a fresh run of the
//! program, told only its task and its argument: it sees `GREETING` as the
//! program starts with it. A fork server's child is a copy of the server,
//! itself a fresh run of the program spawned at the first such start: it
//! too sees `GREETING` as the program starts with it, and it starts
//! beside a thread, since the server runs none. `shared::freeze_support()`, the first line of
//! `main`, is the counterpart of Python's `if __name__ == "__main__":`
//! guard: in a spawned child it runs the task and exits, so the rest of
//! `main` runs in the parent only.
//!
//! Where Rust differs: the fork beside a running thread. Python 3.11
//! forks anyway (3.12 warns, and 3.14 made Linux's default `forkserver`
//! for this reason): a lock the other thread held at that moment stays
//! locked for ever in the child. `shared` refuses such a fork, and says to
//! spawn.

use std::sync::Mutex;
use std::thread;

use shared::{Error, StartMethod, current_process, get_context, parent_process};

/// A global the parent changes after the program started.
static GREETING: Mutex<&str> = Mutex::new("set when the program starts");

fn show(label: String) {
    let greeting = *GREETING.lock().unwrap();
    let parent = parent_process().expect("a child has a parent");
    println!(
        "{label}: {} (parent {}) sees GREETING = '{greeting}'",
        current_process().name(),
        parent.name()
    );
}

fn start_and_join(method: StartMethod, label: &str) -> Result<(), Error> {
    let mut p = get_context(method).process(show, label.to_owned());
    if let Err(e) = p.start() {
        println!("{label}: refused: {e}");
        return Ok(());
    }
    p.join()?;
    println!("{} exitcode {}", p.name(), p.exitcode().unwrap_or(-1));
    Ok(())
}

fn main() -> Result<(), Error> {
    // A spawned child runs its task here and exits; the parent goes on.
    shared::freeze_support();
    println!("default start method: {}", shared::get_start_method());
    *GREETING.lock().unwrap() = "changed by main";
    for method in shared::get_all_start_methods() {
        start_and_join(method, &method.to_string())?;
    }
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let helper = thread::spawn(move || stopped.recv());
    println!("with 2 threads running:");
    for method in shared::get_all_start_methods() {
        start_and_join(method, &format!("{method} beside a thread"))?;
    }
    drop(stop);
    let _ = helper.join();
    Ok(())
}
