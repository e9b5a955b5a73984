//! Python's `multiprocessing`, in Rust: the helper crate behind the examples.
//!
//! | Python | here |
//! |---|---|
//! | `Process(target=f, args=(i,), name=..., daemon=...)` | [`Process::new`]`(move \|\| f(i))` + [`named`](Process::named), [`daemon`](Process::daemon) |
//! | `class Worker(Process): def run(self)` | `impl` [`Run`] `for Worker`, then [`Run::into_process`] |
//! | `start`, `join`, `join(timeout)`, `is_alive`, `terminate`, `kill`, `interrupt`, `exitcode`, `pid`, `sentinel`, `close` | methods of the same names ([`Process::join_timeout`]) |
//! | `get_context('spawn').Process(target=f, args=(a,))`, `get_context('forkserver')`, `set_start_method`, `freeze_support()` | [`get_context`]`(StartMethod::Spawn).process(f, a)`, [`set_start_method`], [`Process::with_args`], [`freeze_support`] (module [`spawn`](process::spawn)) |
//! | `p.name = n`, `p.daemon = True` | [`Process::set_name`], [`Process::set_daemon`] (the latter an error once started) |
//! | `multiprocessing.connection.wait(objects, timeout)` | [`ipc::wait`] |
//! | `multiprocessing.shared_memory.SharedMemory`, `ShareableList` | [`shared_memory::SharedMemory`], [`shared_memory::ShareableList`] (module [`shared_memory`]) |
//! | `multiprocessing.connection.Listener`, `Client` | [`connection::Listener`], [`connection::PyConnection::connect`] (module [`connection`]) |
//! | `current_process()`, `parent_process()`, `active_children()`, `cpu_count()` | [`current_process`], [`parent_process`], [`active_children`], [`cpu_count`] |
//! | `sys.exit(n)` in a child | [`exit`]`(n)` |
//! | `log_to_stderr(level)`, `get_logger().setLevel(l)` | [`log_to_stderr(level)`](log_to_stderr), `log::set_max_level(l)` |
//! | `Pool(n)`, `map`, `imap`, `apply_async`, `close`, `join`, `terminate` | [`Pool`] (module [`pool`]) |
//! | a worker's exception, re-raised in `get()` | [`Error::Remote`]; whole, with [`Typed`] and [`Error::remote`] |
//! | `Lock`, `RLock`, `Semaphore`, `Condition`, `Barrier`, `Value`, `Array` | [`Lock`], [`RLock`], [`Semaphore`], [`Condition`], [`Barrier`], [`Value`], [`Array`] (module [`sync`]) |
//! | `Queue`, `SimpleQueue`, `JoinableQueue`, `Pipe()`, `Event` | [`Queue`], [`SimpleQueue`], [`JoinableQueue`], [`pipe`], [`Event`] (module [`ipc`]) |
//! | VizTracer's multiprocess timeline (not part of CPython) | `TIMELINE=1`, or [`timeline::record`]; [`timeline::span`], [`timeline::part`] |
//!
//! # How it works under the hood
//!
//! **`fork`.** [`Process::start`] calls `fork(2)`. The kernel makes the child
//! a copy of the parent: same code, same memory, same open files. The copy is
//! lazy (*copy-on-write*): parent and child share every page until one of
//! them writes to it, so a fork costs little even for a big program. That is
//! why a target can be any closure: the child already has the code and every
//! value the closure captured. `fork` returns twice, the child's pid in the
//! parent and 0 in the child. The child runs the target, then leaves with
//! `_exit(code)`, which skips the exit work the parent registered (it is the
//! parent's, not the child's).
//!
//! **`waitpid`.** A child that has exited stays a *zombie*, an entry in the
//! kernel's process table holding its exit status, until its parent collects
//! it with `waitpid(2)`. [`Process::join`] blocks in `waitpid`;
//! [`Process::is_alive`], [`Process::exitcode`] and the `Display` repr call
//! it with `WNOHANG`, which returns at once. The status says either "exited
//! with code N" (we report `N`) or "killed by signal N" (we report `-N`, as
//! Python does: `terminate` sends SIGTERM, 15, so the exit code is `-15`).
//!
//! **Signals.** [`Process::terminate`] and [`Process::kill`] are `kill(2)`
//! with SIGTERM and SIGKILL. Sending a signal does not wait for it to be
//! acted on: right after it the child is usually still alive; joining is
//! how you wait for its end.
//!
//! **Exit.** When `main` returns, the C runtime calls the functions
//! registered with `atexit(3)`. Like CPython, we register one that
//! terminates live daemon children and then joins every child still alive,
//! so a program that never calls `join` still sees all its children finish.
//! Daemons also get `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the kernel kills
//! them if the parent dies without running its exit work (say, by SIGKILL).
//!
//! **Threads and fork.** Only the thread that calls `fork` exists in the
//! child. A lock another thread held at that moment stays locked forever in
//! the child, so [`Process::start`] (and so every pool worker) refuses to
//! fork while the process runs other threads, with an error that says so;
//! an expert who can promise no lock is held calls the `unsafe`
//! [`Process::start_unchecked`]. Stdout is flushed first, so no
//! half-written line is copied into the child and printed twice.
//!
//! # Reading the source
//!
//! Each file uses only those listed before it (a test holds the list to
//! the code). These pages show the public modules, alphabetically; the
//! private files are read in an editor, or through the **Source** link at
//! the top of each page. From the bottom:
//!
//! 1. `sys.rs`: every call to the kernel that the standard library does not
//!    wrap: shared memory, futex, `poll`, pidfds, memory files, who holds
//!    a lock.
//! 2. `handover.rs` and `functions.rs`: what crosses to a spawned child
//!    without being sent in its message: the descriptors its argument
//!    holds, and the function it runs.
//! 3. `error.rs` and `py.rs`: CPython's words, and Python-style printing.
//! 4. `codec.rs`: how a value becomes the bytes of a message.
//! 5. `process/current.rs`: who am I (name, identity, parent).
//! 6. `timeline/`: what every process records when a run is drawn, and the
//!    drawings.
//! 7. `ipc/`, starting with `socket.rs`: the one message layer, then
//!    pipes, queues and the event.
//! 8. `process/parent_side.rs`: what a parent knows of its children:
//!    `waitpid`, `kill`, the exit steps.
//! 9. `logging.rs`: CPython's `[LEVEL/Name]` lines.
//! 10. `returns.rs`: what a target or a task may return.
//! 11. `process/child_side.rs`: a child's side of `start`, forked or
//!     spawned.
//! 12. `resource_tracker.rs`, `process/forkserver.rs`, `process/spawn.rs`:
//!     two helpers, each spawned once, a tracker that unlinks the shared
//!     memory a program leaves and a server that forks children; then the
//!     start methods, and a child that is a fresh run of the program.
//! 13. `sync/`: locks, conditions, semaphores, barriers and shared values.
//! 14. `process/mod.rs`: the [`Process`] object, `fork` and `start`.
//! 15. `pool.rs` and `pool/`, built on `ipc`'s [`Connection`] and on
//!     [`Process`].
//! 16. `connection.rs`: listeners and clients, in CPython's own wire
//!     format, for processes that did not start each other (and for
//!     Python programs).
//! 17. `shared_memory.rs`: blocks of memory with a name, and CPython's
//!     `ShareableList` in them.

mod codec;
pub mod connection;
pub mod error;
mod functions;
mod handover;
pub mod ipc;
pub mod logging;
pub mod pool;
pub mod process;
pub mod py;
mod resource_tracker;
mod returns;
pub mod shared_memory;
pub mod sync;
mod sys;
pub mod timeline;

pub use error::Error;
pub use ipc::{Bytes, Connection, Event, JoinableQueue, Queue, SimpleQueue, pipe};
pub use logging::{basic_config, log_to_stderr};
pub use pool::{AsyncResult, Pool};
pub use process::current::{
    CurrentProcess, ParentProcess, cpu_count, current_process, exit, parent_process,
};
pub use process::spawn::{
    Context, StartMethod, freeze_support, get_all_start_methods, get_context, get_start_method,
    set_start_method,
};
pub use process::{Process, Run, active_children};
pub use returns::{Outcome, Raised, TaskResult, Typed};
pub use sync::{
    Array, Barrier, Block, BoundedSemaphore, Condition, Lock, RLock, RawArray, RawValue, Semaphore,
    Value,
};

/// What only this crate may do. `Sealed` is implemented by its types
/// alone, so the public traits that require it (a guard's `Release`, a
/// shared value's `Plain`, a pool's `Function`) cannot be implemented
/// elsewhere; `Only` is an argument only it can make, so a public method
/// that takes one (a barrier's `Action::run`) is called only by it.
mod sealed {
    pub trait Sealed<Marker = ()> {}
    pub struct Only(pub(crate) ());
}
