//! [`Pool`]: Python's `multiprocessing.Pool`, a fixed set of worker
//! processes that run your function on many inputs.
//!
//! | Python | here |
//! |---|---|
//! | `Pool(3)`, `Pool()` | [`Pool::new`]`(3)`, [`Pool::builder`]`().start()` (one worker per CPU) |
//! | `Pool(initializer=f, initargs=a, maxtasksperchild=n)` | [`Pool::builder`]`()`[`.initializer(f, a)`](PoolBuilder::initializer)[`.maxtasksperchild(n)`](PoolBuilder::maxtasksperchild) |
//! | `p.map(f, xs)`, `p.map(f, xs, chunksize)` | [`map`](Pool::map), [`map_chunked`](Pool::map_chunked) |
//! | `p.starmap(f, [(a, b), …])` | [`starmap`](Pool::starmap) |
//! | `p.imap(f, xs)`, `p.imap_unordered(f, xs)` | [`imap`](Pool::imap), [`imap_unordered`](Pool::imap_unordered) |
//! | `p.apply(f, (a,))`, `p.apply_async(f, (a,))` | [`apply`](Pool::apply), [`apply_async`](Pool::apply_async) |
//! | `r.get()`, `r.get(timeout)`, `r.ready()`, `r.successful()` | [`AsyncResult`] methods of the same names ([`get_timeout`](AsyncResult::get_timeout)) |
//! | `apply_async(f, a, callback=c, error_callback=e)` | [`apply_async`](Pool::apply_async)`(f, a)?`[`.callback(c)`](AsyncResult::callback)[`.error_callback(e)`](AsyncResult::error_callback) |
//! | `p.close()`, `p.join()`, `p.terminate()` | the same |
//! | leaving `with Pool() as p:` | dropping the `Pool` (it terminates) |
//!
//! ```
//! use shared::pool::Pool;
//!
//! fn doubler(number: u64) -> u64 {
//!     number * 2
//! }
//!
//! # fn main() -> Result<(), shared::Error> {
//! let pool = Pool::new(3)?;
//! assert_eq!(pool.map(doubler, 0..5)?, [0, 2, 4, 6, 8]);
//! # Ok(())
//! # }
//! ```
//!
//! # How a function reaches a worker
//!
//! CPython pickles the function by name, and the worker looks the name up.
//! Here nothing about the function is serialised at all. Each function (and
//! each closure) has a type of its own, and the pool compiles, for that
//! type, a small *runner*: decode the arguments, call the function, encode
//! the result. What travels to the worker is where the runner is: its
//! distance from a fixed point of the program. The workers run the same
//! executable, forked (at the same addresses) or spawned (loaded elsewhere,
//! but whole, so every function moved by the same amount: see
//! [`crate::process::spawn`]), so that distance names the same code there. Arguments
//! and results travel as bytes, encoded with serde, over one socket per
//! worker; a spawned worker is handed its end as its descriptor 3.
//!
//! # Why a capturing closure is refused
//!
//! CPython refuses a lambda when it tries to pickle it, at run time. Here a
//! closure that captures a variable is refused when the program is built:
//! its captured values live in the parent's memory, and the workers were
//! forked before those values existed (or hold an older copy of them).
//! Sending them would take serialising the closure, which Rust cannot do.
//! So the pool accepts only what is *zero-sized*: functions named by their
//! path and closures that capture nothing, whose type alone says what to
//! run. Pass the values as arguments instead: `pool.apply(f, (x, y))`.
//! (A `fn` pointer held in a variable is refused too: it is not zero-sized,
//! and the pool cannot tell it from a closure carrying data. Pass the
//! function by name.)
//!
//! ```compile_fail,E0080
//! # fn main() -> Result<(), shared::Error> {
//! let pool = shared::pool::Pool::new(2)?;
//! let factor = 3;
//! // error: "another process runs this: pass a function, or a closure that captures nothing …"
//! let tripled = pool.map(move |n: u64| n * factor, 0..10)?;
//! # Ok(())
//! # }
//! ```
//!
//! The check runs when the program is compiled to machine code, so
//! `cargo build`, `run` and `test` report it; `cargo check` does not.
//!
//! # How the pool runs
//!
//! **No background threads.** CPython's pool runs three threads in the
//! parent. This one has none: whichever call waits (`map`, `get`, `join`,
//! an `imap`'s `next`) feeds the workers and reads their answers. Forking
//! is only safe from a process with one thread, and a replacement worker is
//! forked whenever one dies, so a single-threaded parent keeps that safe.
//! It is also why [`Pool`] is not `Send`: its workers are daemons, set to
//! die with the thread that forked them (`PR_SET_PDEATHSIG`; the fork
//! server's die with the program: see `process/forkserver.rs`).
//!
//! **One socket per worker**, from the message layer of [`crate::ipc`].
//! The parent hands an idle worker a *batch* of chunks in one message, and
//! the worker answers the batch in one message, with how long it kept it
//! busy. A function's first batch is one chunk; a batch under 100 µs of
//! work doubles its next, up to 1024 chunks. So long tasks go one at a time
//! to whichever worker is free, as from CPython's shared queue, and tiny
//! ones travel a thousand to a message, where a message would cost more
//! than the task (one at a time, a `map` with chunksize 1 ran slower than
//! CPython's). A batch takes the chunks of the oldest calls, one call's or
//! several calls' in a row of the same function: ten thousand
//! `apply_async` of a tiny function travel as a few dozen messages. The
//! calls with chunks still to hand out wait in a queue of their own, so a
//! turn of the pool never looks at the calls that merely wait for their
//! results, however many are held.
//! Chunks are cut from the input, and encoded, one ahead of the workers
//! (the next is ready while they work), so an `imap` reads its input as
//! fast as the workers go.
//!
//! **A dead worker is noticed.** Only the worker holds its end of its
//! socket, so the parent's end reads end-of-file exactly when the worker
//! dies. The chunks it held come back as [`Error::WorkerLost`], and a new
//! worker takes its place. CPython replaces the worker too, but the task's
//! result never comes, and a `map` waiting for it waits for ever. A batch
//! sent to a worker that had already died never reached it: the
//! replacement gets it. A batch that cannot be sent at all (no descriptor
//! free for a big one, past the file-size limit) fails its tasks with
//! that error, and the worker stays free.
//!
//! **A pool short of workers heals.** When a replacement cannot be forked
//! (the process limit reached), the pool goes on with the workers it has
//! and tries again at each later call; with none left, its calls fail
//! with the fork's error (`EAGAIN`), and once forking works again it is
//! back to its size.
//!
//! **`terminate` ends stopped workers too.** It sends SIGTERM, and SIGKILL
//! to any worker still there a second later. A stopped worker (SIGSTOP)
//! that handles SIGTERM (with a handler your program set before making the
//! pool) or blocks it runs the handler only once continued, so CPython's
//! `terminate` waits for it for ever. (With SIGTERM at its default action,
//! the kernel kills even a stopped process at once.)
//!
//! # Differs from Python
//!
//! Errors are values: a task's `Err` or panic comes back as
//! [`Error::Remote`] with the error's type name and text (see
//! [`TaskResult`]), a value that cannot be encoded as [`Error::Encoding`]
//! (CPython's `MaybeEncodingError`); misuse returns CPython's message
//! (`Pool not running`, `Pool is still running`).
//! A failing initializer does not kill the worker (CPython would replace it
//! again and again): its tasks fail with the initializer's message instead.
//! Waiting on a result of a terminated pool is an error, not a hang.

mod handles;
mod parent_side;
mod task;
mod worker_side;

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

pub use crate::codec::Arg;
pub use handles::{AsyncResult, IMap};
pub use task::{Function, Returned, TaskResult};

use self::parent_side::{Call, Chunks, Config, Core, PoolState};
use crate::Error;
use crate::codec::encode_seq;
use task::runner_of;

/// What a call reads its items from: anything iterable that owns them
/// (a range, a `Vec`, an iterator), read as the workers need them.
pub trait Items<T>: IntoIterator<Item = T, IntoIter: 'static> {}
impl<T, I: IntoIterator<Item = T, IntoIter: 'static>> Items<T> for I {}

/// A pool of worker processes (Python's `multiprocessing.Pool`).
///
/// Workers are started at once, named `ForkPoolWorker-N` (N continues the
/// process counter), and are daemons. Dropping the pool terminates them,
/// as leaving `with Pool() as p:` does; call [`close`](Pool::close) then
/// [`join`](Pool::join) to let queued work finish first.
///
/// Methods ending in `_chunked` take CPython's `chunksize`: how many items
/// travel to a worker as one task. Without it, `map` and `starmap` cut
/// `ceil(len / (4 × workers))` as CPython does, `imap` one item per task.
pub struct Pool {
    core: Rc<RefCell<Core>>,
}

/// Settings for a [`Pool`]; from [`Pool::builder`]. A setting that cannot
/// be used is the error of [`start`](Self::start).
#[must_use = "call `start` to create the pool"]
pub struct PoolBuilder(Config);

impl PoolBuilder {
    /// How many workers (default: [`cpu_count`](crate::cpu_count)); 0 is
    /// [`Error::NoProcesses`] when the pool starts.
    pub fn processes(mut self, processes: usize) -> PoolBuilder {
        self.0.processes = processes;
        self
    }

    /// Run `f(args)` in each worker before its first task (Python's
    /// `initializer=f, initargs=args`), including workers that replace
    /// dead ones.
    pub fn initializer<F: Function<Args>, Args: Arg>(mut self, f: F, args: Args) -> PoolBuilder {
        // A chunk of one, encoded as every chunk is (integers take the fast
        // path), for the runner to decode; a queue or a lock in it leaves
        // its descriptors beside the bytes, for the workers to take.
        let chunk = vec![args];
        let (encoded, fds) = crate::handover::encode_handing(|| encode_seq(&chunk, Vec::new()));
        let runner = crate::functions::distance(runner_of(f) as usize);
        let fds = crate::handover::Descriptors(fds);
        self.0.initializer = Some(encoded.map(|args| (runner, args.into(), fds)));
        self
    }

    /// Replace each worker after it has done `n` tasks (Python's
    /// `maxtasksperchild`); 0 is an error when the pool starts.
    pub fn maxtasksperchild(mut self, n: usize) -> PoolBuilder {
        self.0.maxtasks = Some(n);
        self
    }

    /// Start the workers by `method` (default: the program-wide one):
    /// spawned ones are `SpawnPoolWorker-N`, and get their initializer,
    /// tasks and functions as forked ones do, encoded (see
    /// [`crate::process::spawn`]). Python: `get_context('spawn').Pool()`.
    pub fn start_method(mut self, method: crate::StartMethod) -> PoolBuilder {
        self.0.method = Some(method);
        self
    }

    /// Start the workers.
    pub fn start(self) -> Result<Pool, Error> {
        let core = Rc::new(RefCell::new(Core::start(self.0)?));
        Ok(Pool { core })
    }
}

/// What `map` of `F` over items `T` returns.
type Values<F, T> = Vec<Returned<F, (T,)>>;

impl Pool {
    /// A pool of `processes` workers (Python's `Pool(processes)`).
    pub fn new(processes: usize) -> Result<Pool, Error> {
        Pool::builder().processes(processes).start()
    }

    /// Settings beyond the number of workers.
    pub fn builder() -> PoolBuilder {
        PoolBuilder(Config::default()).processes(crate::cpu_count())
    }

    /// How many workers the pool keeps.
    pub fn processes(&self) -> usize {
        self.core.borrow().config.processes
    }

    /// The process ids of the current workers.
    pub fn pids(&self) -> Vec<u32> {
        self.core.borrow().pids()
    }

    /// `f(args)` in a worker, waiting for the result (Python's `apply`).
    pub fn apply<F: Function<A>, A: Arg>(&self, f: F, args: A) -> Result<Returned<F, A>, Error> {
        self.apply_async(f, args)?.get()
    }

    /// Start `f(args)` in a worker (Python's `apply_async`); collect the
    /// result from the returned handle.
    pub fn apply_async<F: Function<A>, A: Arg>(
        &self,
        f: F,
        args: A,
    ) -> Result<AsyncResult<Returned<F, A>>, Error> {
        let call = self.call(f, [args], Some(1))?;
        Ok(AsyncResult::new(call, Call::collect_one))
    }

    /// `f` on every item, results in input order (Python's `map`); the
    /// first failure fails the whole call.
    pub fn map<F: Function<(T,)>, T: Arg>(
        &self,
        f: F,
        items: impl Items<T>,
    ) -> Result<Values<F, T>, Error> {
        AsyncResult::new(self.call(f, one_each(items), None)?, Call::collect).get()
    }

    /// [`map`](Self::map) with `chunksize` items to a task.
    pub fn map_chunked<F: Function<(T,)>, T: Arg>(
        &self,
        f: F,
        items: impl Items<T>,
        chunksize: usize,
    ) -> Result<Values<F, T>, Error> {
        self.starmap_chunked(f, one_each(items), chunksize)
    }

    /// [`map`](Self::map) without waiting (Python's `map_async`).
    pub fn map_async<F: Function<(T,)>, T: Arg>(
        &self,
        f: F,
        items: impl Items<T>,
    ) -> Result<AsyncResult<Values<F, T>>, Error> {
        self.starmap_async(f, one_each(items))
    }

    /// `f(a, b, …)` for every tuple `(a, b, …)`, results in input order
    /// (Python's `starmap`).
    pub fn starmap<F: Function<A>, A: Arg>(
        &self,
        f: F,
        items: impl Items<A>,
    ) -> Result<Vec<Returned<F, A>>, Error> {
        self.starmap_async(f, items)?.get()
    }

    /// [`starmap`](Self::starmap) with `chunksize` tuples to a task.
    pub fn starmap_chunked<F: Function<A>, A: Arg>(
        &self,
        f: F,
        items: impl Items<A>,
        chunksize: usize,
    ) -> Result<Vec<Returned<F, A>>, Error> {
        AsyncResult::new(self.call(f, items, Some(chunksize))?, Call::collect).get()
    }

    /// [`starmap`](Self::starmap) without waiting (Python's `starmap_async`).
    pub fn starmap_async<F: Function<A>, A: Arg>(
        &self,
        f: F,
        items: impl Items<A>,
    ) -> Result<AsyncResult<Vec<Returned<F, A>>>, Error> {
        Ok(AsyncResult::new(self.call(f, items, None)?, Call::collect))
    }

    /// `f` on every item, yielding results in input order as they come
    /// (Python's `imap`). The items are read only as workers need them.
    pub fn imap<F: Function<(T,)>, T: Arg>(
        &self,
        f: F,
        items: impl Items<T>,
    ) -> Result<IMap<Returned<F, (T,)>>, Error> {
        self.imap_chunked(f, items, 1)
    }

    /// [`imap`](Self::imap) with `chunksize` items to a task.
    pub fn imap_chunked<F: Function<(T,)>, T: Arg>(
        &self,
        f: F,
        items: impl Items<T>,
        chunksize: usize,
    ) -> Result<IMap<Returned<F, (T,)>>, Error> {
        let call = self.call(f, one_each(items), Some(chunksize))?;
        Ok(IMap::new(call, true))
    }

    /// `f` on every item, yielding results as they finish, in any order
    /// (Python's `imap_unordered`).
    pub fn imap_unordered<F: Function<(T,)>, T: Arg>(
        &self,
        f: F,
        items: impl Items<T>,
    ) -> Result<IMap<Returned<F, (T,)>>, Error> {
        self.imap_unordered_chunked(f, items, 1)
    }

    /// [`imap_unordered`](Self::imap_unordered) with `chunksize` items to a task.
    pub fn imap_unordered_chunked<F: Function<(T,)>, T: Arg>(
        &self,
        f: F,
        items: impl Items<T>,
        chunksize: usize,
    ) -> Result<IMap<Returned<F, (T,)>>, Error> {
        let call = self.call(f, one_each(items), Some(chunksize))?;
        Ok(IMap::new(call, false))
    }

    /// Accept no more work (Python's `close`); what was submitted still
    /// runs. Submitting afterwards is [`Error::PoolNotRunning`].
    pub fn close(&self) {
        log::debug!("closing pool");
        let mut core = self.core.borrow_mut();
        if core.state == PoolState::Running {
            core.state = PoolState::Closed;
        }
    }

    /// Wait for all submitted work to finish, then for the workers to exit
    /// (Python's `join`). Only after [`close`](Self::close) or
    /// [`terminate`](Self::terminate): before, [`Error::PoolStillRunning`].
    pub fn join(&self) -> Result<(), Error> {
        let joined = self.core.borrow_mut().join();
        parent_side::drive(&self.core, crate::sys::Wait::No, |_| true)?; // the callbacks still due
        joined
    }

    /// Stop the workers now (SIGTERM), dropping queued work (Python's
    /// `terminate`). Results not in yet never come: waiting for one is
    /// [`Error::PoolNotRunning`].
    pub fn terminate(&self) -> Result<(), Error> {
        self.core.borrow_mut().terminate()
    }

    /// A new call of `f` over `items`, in chunks of `chunksize`, each cut
    /// and encoded one ahead of the workers. Without a chunksize, `map`'s
    /// default needs their number: from the iterator if it knows it
    /// exactly, else by reading them all first (as CPython's `map` makes a
    /// list).
    fn call<F: Function<A>, A: Arg>(
        &self,
        f: F,
        items: impl Items<A>,
        chunksize: Option<usize>,
    ) -> Result<Rc<Call>, Error> {
        let mut items: Box<dyn Iterator<Item = A>> = Box::new(items.into_iter());
        if chunksize.is_none() && Some(items.size_hint().0) != items.size_hint().1 {
            items = Box::new(items.collect::<Vec<A>>().into_iter());
        }
        let mut core = parent_side::free(&self.core)?;
        // CPython's default: four chunks a worker (its divmod), at least one item.
        let cpython = items.size_hint().0.div_ceil(4 * core.config.processes);
        let chunksize = chunksize.unwrap_or(cpython.max(1));
        if chunksize == 0 {
            return Err(Error::InvalidArgument("Chunksize must be 1+, not 0"));
        }
        let (mut chunk, mut size) = (Vec::new(), 0);
        let chunks: Chunks = Box::new(std::iter::from_fn(move || {
            chunk.clear(); // one buffer for every chunk: fewer fresh pages to fault in
            let cut = AssertUnwindSafe(|| chunk.extend(items.by_ref().take(chunksize)));
            match panic::catch_unwind(cut) {
                Ok(()) => (!chunk.is_empty()).then(|| {
                    // About as big as the last one: room made once.
                    encode_seq(&chunk, Vec::with_capacity(size)).inspect(|bytes| size = bytes.len())
                }),
                // An input that panics fails its chunk and ends the call's
                // input, as a generator that raises does in CPython's imap:
                // a failed input is never asked for more.
                Err(payload) => {
                    items = Box::new(std::iter::empty());
                    Some(Err(Error::Input(crate::error::panic_message(&*payload))))
                }
            }
        }));
        core.submit(Rc::downgrade(&self.core), runner_of(f), chunks)
    }
}

/// The items of `map` as the one-argument tuples that `starmap` takes.
fn one_each<T>(items: impl Items<T>) -> impl Items<(T,)> {
    items.into_iter().map(|t| (t,))
}

/// The pools of a context (Python's `ctx.Pool`).
impl crate::process::spawn::Context {
    /// A pool of `processes` workers started by this context's method
    /// (Python's `ctx.Pool(processes)`): `ForkPoolWorker-N` or
    /// `SpawnPoolWorker-N`.
    pub fn pool(&self, processes: usize) -> Result<Pool, Error> {
        let builder = Pool::builder().processes(processes);
        builder.start_method(self.start_method()).start()
    }
}

impl Drop for Pool {
    /// Terminate, as leaving CPython's `with Pool() as p:` block does.
    fn drop(&mut self) {
        if let Ok(mut core) = self.core.try_borrow_mut() {
            let _ = core.terminate();
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let core = self.core.borrow();
        let state = match core.state {
            PoolState::Running => "RUN",
            PoolState::Closed => "CLOSE",
            PoolState::Terminated => "TERMINATE",
        };
        let size = core.config.processes;
        write!(
            f,
            "<multiprocessing.pool.Pool state={state} pool_size={size}>"
        )
    }
}
