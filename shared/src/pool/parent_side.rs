//! The parent's side: the workers, the calls and their results, and the one
//! loop that moves them along. Whatever call is waiting (`get`, `map`,
//! `join`, an `imap`'s `next`) runs [`Core::wait_until`], which hands
//! batches to idle workers, reads their answers, and replaces dead workers.
//!
//! A `map`, from call to values, crosses twelve functions of the pool:
//! `Pool::map` → `Pool::call` (the chunks, cut as the workers need them)
//! → [`Core::submit`] → [`Core::wait_until`] → `Core::dispatch` →
//! `Job::next_batch` (a batch to each idle worker); then
//! `AsyncResult::get` → `Call::collect` → [`drive`] → `wait_until`
//! again → `Core::receive` → `Core::settle` → `Job::settle` (each answer
//! in its place), and `collect` decodes each chunk as it comes. On the
//! way, small helpers: `one_each` (an item as a one-argument tuple),
//! `task::runner_of`, [`free`], `Core::tidy`. (A worker's side:
//! `worker_side::serve`, and the runner that `task::runner_of` made.)

use std::cell::{RefCell, RefMut};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::os::fd::{AsFd, AsRawFd};
use std::rc::{Rc, Weak};
use std::time::Duration;

use serde_bytes::ByteBuf;

use super::worker_side::{self, Answer, Initializer, Setup, Task};
use crate::codec::{decode, encode};
use crate::ipc::{Connection, pipe};
use crate::process::spawn::StartMethod;
use crate::sys::{Wait, wait_readable};
use crate::{Error, Process};

/// CPython's `RUN`, `CLOSE`, `TERMINATE`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) enum PoolState {
    #[default]
    Running,
    Closed,
    Terminated,
}

/// One chunk's encoded values, or why there are none (cloned for whoever
/// asks, so that asking twice gives the same answer).
pub(crate) type ChunkResult = Result<Vec<u8>, Error>;

/// A call's chunks, each cut and encoded one ahead of the workers.
pub(crate) type Chunks = Box<dyn Iterator<Item = ChunkResult>>;

/// A `callback` or `error_callback`, to run once its call is complete.
pub(crate) type Callback = Box<dyn FnOnce()>;

/// A batch whose tasks kept the worker busy for less than this was too
/// small to be worth a message (whose round trip costs about as much): the
/// next batch of the same function is twice as big, up to [`MAX_BATCH`]
/// chunks; one ten times longer halves it.
const BATCH_WORK: Duration = Duration::from_micros(100);
const MAX_BATCH: usize = 1024;

/// How long [`Core::terminate`] gives the workers to act on SIGTERM
/// before it sends SIGKILL.
const TERMINATE_GRACE: Duration = Duration::from_secs(1);

/// One call (`apply_async`, `map`, `imap`, …) and its results so far.
#[derive(Default)]
pub(crate) struct Job {
    /// Its runner's address (its function's, in effect).
    runner: usize,
    /// The chunks not handed out yet; `None` once all are.
    source: Option<std::iter::Peekable<Chunks>>,
    /// Tasks that a worker never ran (it died before the send, or before
    /// their turn in its batch): handed out again, first, to the next worker.
    retry: VecDeque<Task>,
    /// Chunks taken from `source` so far, numbered from 0 (all of them,
    /// once finished).
    pub cut: u32,
    /// The outcomes in, by chunk, not taken yet (an `imap` takes them).
    pub outcomes: HashMap<u32, ChunkResult>,
    /// Chunks in the order their outcomes arrived (for `imap_unordered`).
    pub arrivals: VecDeque<u32>,
    settled: u32,
    /// The first failure to arrive, which fails a `map` as a whole.
    pub failure: Option<Error>,
    callbacks: Vec<Callback>,
    /// Its holds (its handle, its callbacks not yet run), counted by the
    /// `Rc` they share: with none, it goes once finished.
    held: Weak<Call>,
}

/// A hold on one call of the pool: while any is held (a handle, a callback
/// not yet run), the call's results are kept; once none is, the call goes
/// as soon as it is finished (its tasks still all run, as in CPython). The
/// holds are the clones of one `Rc<Call>`. It does not keep the pool
/// itself: once the pool is gone, asking is [`Error::PoolNotRunning`].
pub(crate) struct Call {
    core: Weak<RefCell<Core>>,
    pub job: u64,
    /// The core's list of calls to look at again ([`Core::tidy`]): letting
    /// go never needs the core (it may be busy: a call's input is read,
    /// and may drop a handle, while the core works).
    touched: Rc<RefCell<Vec<u64>>>,
}

impl Call {
    pub fn core(&self) -> Result<Rc<RefCell<Core>>, Error> {
        self.core.upgrade().ok_or(Error::PoolNotRunning)
    }
}

impl Drop for Call {
    /// The last hold went: let the call go, now if the core is free (else
    /// at its next turn).
    fn drop(&mut self) {
        self.touched.borrow_mut().push(self.job);
        if let Some(core) = self.core.upgrade()
            && let Ok(mut core) = core.try_borrow_mut()
        {
            core.tidy();
        }
    }
}

impl Job {
    /// Every chunk has been handed out and has its outcome.
    pub fn finished(&self) -> bool {
        !self.pending() && self.settled == self.cut
    }

    /// Some chunks are still to be handed out.
    fn pending(&self) -> bool {
        self.source.is_some() || !self.retry.is_empty()
    }

    /// Finished, or one chunk failed (CPython's `ready()`).
    pub fn complete(&self) -> bool {
        self.finished() || self.failure.is_some()
    }

    /// Whether its completion is awaited by more than its handle: a
    /// callback to run, or nobody to take its results.
    fn watched(&self) -> bool {
        !self.callbacks.is_empty() || self.held.strong_count() == 0
    }

    /// Fail what is left of this call with `e`: the tasks waiting to be
    /// sent again, and the chunks not cut yet (never cut now).
    fn abandon(&mut self, e: &Error) {
        for task in std::mem::take(&mut self.retry) {
            self.settle(task.chunk, Err(e.clone()));
        }
        if self.source.take().is_some() {
            self.cut += 1;
            self.settle(self.cut - 1, Err(e.clone()));
        }
    }

    fn settle(&mut self, index: u32, outcome: ChunkResult) {
        if let Err(e) = &outcome {
            self.failure.get_or_insert_with(|| e.clone());
        }
        self.outcomes.insert(index, outcome);
        self.arrivals.push_back(index);
        self.settled += 1;
    }

    /// The next chunks of this call (number `id`), as tasks for a worker,
    /// onto `tasks` until it holds `n`. A chunk that could not be cut or
    /// encoded fails here, as its task would have.
    fn next_batch(&mut self, id: u64, n: usize, tasks: &mut Vec<Task>) {
        // Those to hand out again first, in their order.
        let again = self.retry.len().min(n.saturating_sub(tasks.len()));
        tasks.extend(self.retry.drain(..again));
        // At most `n` cuts, failed ones counted: an input whose every chunk
        // fails (it cannot be encoded) is cut a batch at a time, never all
        // at once inside one call.
        let mut room = n.saturating_sub(tasks.len());
        while room > 0
            && let Some(chunk) = self.source.as_mut().and_then(Iterator::next)
        {
            (room, self.cut) = (room - 1, self.cut + 1);
            match chunk {
                Ok(args) => tasks.push(Task {
                    runner: crate::functions::distance(self.runner),
                    args: args.into(),
                    call: id,
                    chunk: self.cut - 1,
                }),
                Err(e) => self.settle(self.cut - 1, Err(e)),
            }
        }
        // Cut and encode the next chunk now, while the workers work, and
        // learn whether that was the last.
        if self.source.as_mut().is_some_and(|s| s.peek().is_none()) {
            self.source = None;
        }
    }
}

struct Worker {
    process: Process,
    /// The parent's end of this worker's own pipe.
    socket: Connection,
    /// The batch it is working on, if any.
    batch: Option<Batch>,
    /// Tasks sent to it in all (for `maxtasksperchild`).
    sent: usize,
}

/// What a worker was given in one message: chunks of one or more calls of
/// the same function, in a row. It answers each call in a message of its
/// own.
struct Batch {
    /// The function's runner (its address): what the batch's size is
    /// learned for.
    runner: usize,
    /// Its tasks not answered yet, in order (each says its call and
    /// chunk); those of the call running have no arguments left (they
    /// are never sent again).
    tasks: VecDeque<Task>,
    /// How many tasks it had, and how long those answered so far kept the
    /// worker busy.
    count: usize,
    busy: Duration,
}

/// How a pool is set up (kept by `PoolBuilder` until it starts the pool).
#[derive(Default)]
pub(crate) struct Config {
    pub processes: usize,
    /// Its initializer, or why it cannot be one (its arguments could not
    /// be encoded): the error of `start`.
    pub initializer: Option<Result<Initializer, Error>>,
    pub maxtasks: Option<usize>,
    /// `None`: the program-wide start method, as it is when the pool starts.
    pub method: Option<StartMethod>,
}

#[derive(Default)]
pub(crate) struct Core {
    pub state: PoolState,
    pub config: Config,
    workers: Vec<Worker>,
    /// Every call still wanted, oldest first.
    pub jobs: BTreeMap<u64, Job>,
    /// The calls with chunks still to hand out, oldest first: what
    /// `dispatch` looks at, never the thousands of calls merely waiting
    /// for their results (CPython's task queue). Each is in `jobs` (a
    /// call with chunks to hand out is not finished, so never let go).
    pending: BTreeSet<u64>,
    /// The calls that had a chunk settled, a callback added or their last
    /// hold let go since the last [`tidy`](Core::tidy): the only ones that
    /// can have callbacks due, or be done with. Shared with the holds.
    touched: Rc<RefCell<Vec<u64>>>,
    /// How many chunks of each function (by its runner's address) a worker
    /// is given at once, as learned from how long batches took (see
    /// [`BATCH_WORK`]): so a thousand `apply_async` of a tiny function
    /// travel many to a message, as the chunks of one `map` do.
    sizes: HashMap<usize, usize>,
    next_job: u64,
    /// Callbacks of calls now complete, to run once the core is free (a
    /// callback may use the pool): see [`drive`].
    ready: VecDeque<Callback>,
    /// Why the last fork of a worker failed, if it did.
    fork_failed: Option<Error>,
}

impl Core {
    /// Check the settings, and fork the workers.
    pub fn start(config: Config) -> Result<Core, Error> {
        if config.processes == 0 {
            return Err(Error::NoProcesses);
        }
        if config.maxtasks == Some(0) {
            let why = "Maximum number of tasks per worker must be a positive int or None";
            return Err(Error::InvalidArgument(why));
        }
        if let Some(Err(e)) = &config.initializer {
            return Err(e.clone());
        }
        let mut core = Core {
            config,
            ..Core::default()
        };
        core.refill();
        if let Some(e) = core.fork_failed.take() {
            let _ = core.terminate(); // the workers forked before it
            return Err(e);
        }
        Ok(core)
    }

    /// Start one worker, from the caller's thread (see the module docs):
    /// forked, or spawned with its end of the socket handed to it.
    fn add_worker(&mut self) -> Result<(), Error> {
        let (socket, theirs) = pipe(true)?;
        let method = self.config.method.unwrap_or_else(crate::get_start_method);
        let ours = self.workers.iter().map(|w| &w.socket).chain([&socket]);
        let initializer = match &self.config.initializer {
            Some(Ok((runner, args, fds))) => Some((*runner, args.clone(), fds.try_clone()?)),
            _ => None,
        };
        let setup = Setup {
            socket: theirs,
            inherited: ours.map(|s| s.as_raw_fd()).collect(),
            initializer,
            maxtasks: self.config.maxtasks,
        };
        let class = match method {
            StartMethod::Fork => "ForkPoolWorker",
            StartMethod::Spawn => "SpawnPoolWorker",
            StartMethod::Forkserver => "ForkServerPoolWorker",
        };
        let mut process = Process::with_class_args(class, worker_side::serve, setup);
        // `start` drops the argument here, and with it our copy of the
        // worker's end: only the worker holds it, so our end reads
        // end-of-file exactly when the worker dies.
        process = process.start_method(method).daemon(true);
        process.start()?;
        self.workers.push(Worker {
            process,
            socket,
            batch: None,
            sent: 0,
        });
        log::debug!("added worker");
        Ok(())
    }

    /// A new call whose chunks `chunks` yields, of the pool `core` (this
    /// one); returns the caller's hold on it.
    pub fn submit(
        &mut self,
        core: Weak<RefCell<Core>>,
        runner: super::task::Runner,
        chunks: Chunks,
    ) -> Result<Rc<Call>, Error> {
        if self.state != PoolState::Running {
            return Err(Error::PoolNotRunning);
        }
        let id = self.next_job;
        self.next_job += 1;
        let call = Rc::new(Call {
            core,
            job: id,
            touched: Rc::clone(&self.touched),
        });
        let mut source = chunks.peekable();
        let job = Job {
            runner: runner as usize,
            source: source.peek().is_some().then_some(source),
            held: Rc::downgrade(&call),
            ..Job::default()
        };
        if job.pending() {
            self.pending.insert(id);
        }
        self.jobs.insert(id, job);
        // Collect what is already in, and hand out what we can.
        if let Err(e) = self.wait_until(Wait::No, |_| false) {
            self.jobs.remove(&id);
            self.pending.remove(&id);
            return Err(e);
        }
        Ok(call)
    }

    /// Run `callback` once call `id` is complete.
    pub fn when_complete(&mut self, id: u64, callback: Callback) {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.callbacks.push(callback);
            self.touched.borrow_mut().push(id);
        }
    }

    /// Queue the callbacks of the calls that became complete, each exactly
    /// once, and let go of finished calls nobody holds.
    pub fn tidy(&mut self) {
        for id in self.touched.take() {
            if let Some(job) = self.jobs.get_mut(&id) {
                if job.complete() {
                    self.ready.extend(job.callbacks.drain(..));
                }
                if job.held.strong_count() == 0 && job.finished() {
                    self.jobs.remove(&id);
                }
            }
        }
    }

    pub fn pids(&self) -> Vec<u32> {
        let pids = self.workers.iter().filter_map(|w| w.process.pid());
        pids.collect()
    }

    /// Give each idle worker a batch of the oldest calls' chunks, in one
    /// message: as many as their function's learned size, from one call
    /// or from several in a row, so long as they run the same function. A
    /// worker has one batch at a time, so neither side ever waits for the
    /// other to read.
    fn dispatch(&mut self) {
        // A worker that got nothing (its batch's chunks failed before they
        // could be sent, or the send failed) is offered the next call at
        // once: left idle, it would leave the calls behind waiting on a
        // pool with no work under way to wake it. As many offers as there
        // were calls waiting, so that one pass does bounded work.
        let (mut w, mut offers) = (0, self.pending.len());
        while w < self.workers.len() {
            let Some(first) = self.pending.first().and_then(|id| self.jobs.get(id)) else {
                return; // nothing to hand out
            };
            let left = (self.config.maxtasks).map_or(MAX_BATCH, |max| max - self.workers[w].sent);
            if self.workers[w].batch.is_some() || left == 0 {
                w += 1;
                continue;
            }
            let runner = first.runner;
            let size = self.sizes.get(&runner).map_or(1, |&size| size.min(left));
            // Several calls in one batch: never more than this worker's
            // share of those waiting, so that the others get theirs.
            let share = self.pending.len().div_ceil(self.config.processes).max(1);
            let mut tasks = Vec::new();
            let oldest: Vec<u64> = self.pending.iter().copied().take(size.min(share)).collect();
            for id in oldest {
                let Some(job) = self.jobs.get_mut(&id).filter(|job| job.runner == runner) else {
                    break; // another function's call waits its turn
                };
                job.next_batch(id, size, &mut tasks);
                if job.watched() {
                    self.touched.borrow_mut().push(id); // a chunk may have failed to be cut
                }
                if job.pending() {
                    break; // the batch is full
                }
                self.pending.remove(&id);
            }
            if tasks.is_empty() {
                // The chunks failed before they could be sent (an empty batch
                // means stop): offered the next call, a few times at most.
                offers = offers.saturating_sub(1);
                w += usize::from(offers == 0);
                continue;
            }
            match encode(&tasks).and_then(|bytes| self.workers[w].socket.send_bytes(&bytes)) {
                Ok(()) => {
                    let running = tasks[0].call;
                    for task in tasks.iter_mut().take_while(|task| task.call == running) {
                        task.args = ByteBuf::new(); // if its worker dies, it fails
                    }
                    self.workers[w].sent += tasks.len();
                    self.workers[w].batch = Some(Batch {
                        runner,
                        count: tasks.len(),
                        tasks: tasks.into(),
                        busy: Duration::ZERO,
                    });
                }
                // The worker has died, before it could be given anything:
                // its socket will say so, and a replacement gets the batch.
                Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    tasks.into_iter().for_each(|task| self.retry(task));
                }
                // The batch could not go (no descriptor free for a big one,
                // or past the file-size limit): its tasks fail with that
                // error, and the worker is as free as before.
                Err(e) => {
                    for task in tasks {
                        self.settle(task.call, task.chunk, Err(e.clone()));
                    }
                    offers = offers.saturating_sub(1);
                    w += usize::from(offers == 0);
                    continue; // this worker, offered the next call
                }
            }
            w += 1;
        }
    }

    /// Settle chunk `index` of call `id`, and mark the call for [`tidy`]
    /// if more than its handle awaits it.
    ///
    /// [`tidy`]: Core::tidy
    fn settle(&mut self, id: u64, index: u32, outcome: ChunkResult) {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.settle(index, outcome);
            if job.watched() {
                self.touched.borrow_mut().push(id);
            }
        }
    }

    /// Hand `task`, which its worker never ran, to the next worker free
    /// (if its call is still there: one whose `submit` failed is not).
    fn retry(&mut self, task: Task) {
        if let Some(job) = self.jobs.get_mut(&task.call) {
            self.pending.insert(task.call);
            job.retry.push_back(task); // in their order: an imap's next comes first
        }
    }

    /// Move work along until `done` holds (`Ok(true)`) or the wait runs out
    /// (`Ok(false)`); `Err(PoolNotRunning)` if the pool was terminated
    /// before `done` could hold, or the fork's error if it has no workers
    /// and can fork none.
    pub fn wait_until(&mut self, wait: Wait, done: impl Fn(&Core) -> bool) -> Result<bool, Error> {
        if self.workers.len() < self.config.processes {
            self.refill(); // a fork failed before: try again
        }
        for looked in 0.. {
            if self.workers.is_empty() && self.state != PoolState::Terminated {
                // No worker, and none could be forked: what is waiting to
                // run fails with the fork's error (the next call tries again).
                let why = self.fork_failed.clone().unwrap_or(Error::PoolNotRunning);
                for id in std::mem::take(&mut self.pending) {
                    self.jobs.entry(id).and_modify(|job| job.abandon(&why));
                    self.touched.borrow_mut().push(id);
                }
                self.tidy();
                return if done(self) { Ok(true) } else { Err(why) };
            }
            self.dispatch();
            self.tidy();
            if done(self) {
                return Ok(true);
            }
            if self.state == PoolState::Terminated {
                return Err(Error::PoolNotRunning);
            }
            if looked > 0 && wait.expired() {
                return Ok(false);
            }
            let sockets: Vec<_> = self.workers.iter().map(|w| w.socket.as_fd()).collect();
            let began = crate::timeline::now_if_on();
            let ready = wait_readable(&sockets, wait)?;
            crate::timeline::waited(crate::timeline::On::Pool, began);
            // From the last: a worker that exited leaves the list.
            for &w in ready.iter().rev() {
                self.receive(w)?;
            }
        }
        unreachable!("the loop above only ends by returning")
    }

    /// Read what worker `w` sent: the answers to its batch, or its end.
    fn receive(&mut self, w: usize) -> Result<(), Error> {
        // `poll` said there is something: a message, or end-of-file.
        let answers = match self.workers[w].socket.recv_bytes() {
            Ok(bytes) => decode::<(Duration, Vec<Answer>, bool)>(&bytes),
            Err(Error::Eof) => return self.worker_exited(w),
            Err(e) => Err(e),
        };
        let Some(mut batch) = self.workers[w].batch.take() else {
            return Ok(()); // nothing asked of it (an error reading it, say)
        };
        // The answers to the batch's next call, in order; or an answer we
        // could not read (no descriptor free to receive it, say), which
        // fails that call. Nothing the worker sends after it could then be
        // told apart from a later call's answer: it is killed, and its end
        // (`worker_exited`) settles the rest of its batch.
        let (busy, answers, last) = match answers {
            Ok(answers) => answers,
            Err(e) => {
                let unread = batch.tasks.front().map(|task| task.call);
                while let Some(task) = batch.tasks.pop_front_if(|task| Some(task.call) == unread) {
                    self.settle(task.call, task.chunk, Err(e.clone()));
                }
                self.workers[w].batch = Some(batch);
                return self.workers[w].process.kill();
            }
        };
        let short = Error::Ipc("a short answer".into());
        batch.busy += busy;
        let answered = batch.tasks.len().min(answers.len());
        for (task, answer) in batch.tasks.drain(..answered).zip(answers) {
            let answer = answer.map(ByteBuf::into_vec).map_err(Error::from);
            self.settle(task.call, task.chunk, answer);
        }
        if !last {
            self.workers[w].batch = Some(batch);
            return Ok(());
        }
        for task in batch.tasks.drain(..) {
            self.settle(task.call, task.chunk, Err(short.clone()));
        }
        // Learn how big this function's batches should be: twice as big
        // after a quick one; after a slow one, what takes about 400 µs.
        let size = self.sizes.entry(batch.runner).or_insert(1);
        if batch.busy < BATCH_WORK && batch.count == *size {
            *size = (*size * 2).min(MAX_BATCH);
        } else if batch.busy > BATCH_WORK * 10 {
            let fits = (BATCH_WORK * 4).as_nanos() * batch.count as u128 / batch.busy.as_nanos();
            *size = (fits as usize).clamp(1, *size);
        }
        Ok(())
    }

    /// Worker `w`'s socket closed: it has exited. Fail what it held, and
    /// put a new worker in its place while there is work to do.
    fn worker_exited(&mut self, w: usize) -> Result<(), Error> {
        let worker = self.workers.remove(w);
        drop(worker.socket); // now, before a replacement is forked with a copy of it
        // Quick: its socket closed on its way out. Its exit status, if lost
        // (SIGCHLD ignored), changes nothing here: its socket said it ended,
        // and its running call fails with `WorkerLost` below; no other call
        // should fail for it.
        let _ = worker.process.join();
        log::debug!("cleaning up worker {w}");
        // The call it was running fails (its repr says how it ended:
        // `stopped exitcode=-SIGKILL`); the calls after it in its batch never
        // began, and go to another worker.
        let why = Error::WorkerLost(format!("{} died in the middle of a task", worker.process));
        let mut tasks = worker.batch.map(|batch| batch.tasks).unwrap_or_default();
        let running = tasks.front().map(|task| task.call);
        while let Some(task) = tasks.pop_front_if(|task| Some(task.call) == running) {
            self.settle(task.call, task.chunk, Err(why.clone()));
        }
        tasks.into_iter().for_each(|task| self.retry(task));
        self.refill();
        Ok(())
    }

    /// Fork workers until the pool has its size (at its start, or back to
    /// it), while it has work to do or may be given some. A fork that
    /// fails (the process limit reached, say) is remembered, and tried
    /// again on the next call or the next worker's exit, never in a loop.
    fn refill(&mut self) {
        let wanted = self.state == PoolState::Running
            || (self.state == PoolState::Closed && !self.pending.is_empty());
        while wanted && self.workers.len() < self.config.processes {
            if let Err(e) = self.add_worker() {
                log::debug!("could not fork a worker: {e}");
                self.fork_failed = Some(e);
                return;
            }
            self.fork_failed = None;
        }
    }

    /// CPython's `join()`: wait for the submitted work, then for the workers.
    pub fn join(&mut self) -> Result<(), Error> {
        log::debug!("joining pool");
        match self.state {
            PoolState::Running => return Err(Error::PoolStillRunning),
            // Joined before, or terminated (`terminate` reaped them).
            _ if self.workers.is_empty() => return Ok(()),
            _ => {}
        }
        self.wait_until(Wait::Forever, |core| {
            core.pending.is_empty() && core.workers.iter().all(|w| w.batch.is_none())
        })?;
        let stop = encode(&Vec::<Task>::new())?; // CPython's sentinel
        for w in &self.workers {
            let _ = w.socket.send_bytes(&stop); // fails only if it already left
        }
        self.workers.drain(..).try_for_each(|w| w.process.join())
    }

    /// CPython's `terminate()`: SIGTERM every worker now. Queued chunks
    /// stay queued, never to run: their calls are not ready, and waiting on
    /// one is `PoolNotRunning`.
    ///
    /// Beyond CPython: a worker still there after [`TERMINATE_GRACE`] is
    /// sent SIGKILL. A stopped worker (SIGSTOP) that handles or blocks
    /// SIGTERM does not act on it until it is continued, so CPython's
    /// `terminate` waits for it for ever; SIGKILL ends even a stopped one.
    pub fn terminate(&mut self) -> Result<(), Error> {
        log::debug!("terminating pool"); // each time, as CPython's
        self.state = PoolState::Terminated;
        // Every worker signalled, then every one joined, even after an error.
        let signalled = self.workers.iter().map(|w| w.process.terminate());
        let signalled = signalled.fold(Ok(()), Result::and);
        let grace = Wait::timeout(TERMINATE_GRACE);
        let joined = self.workers.drain(..).map(|w| {
            w.process.join_timeout(grace.left().unwrap_or_default())?;
            if w.process.exitcode().is_none() {
                log::debug!("worker still there after SIGTERM: SIGKILL");
                w.process.kill()?;
            }
            w.process.join()
        });
        joined.fold(signalled, Result::and)
    }
}

/// The core, to use; an error if it is in use already: a call's input is
/// read while the core works, and one that used the same pool (to wait on
/// it, or to make a call of it) would use it from inside.
pub(crate) fn free(core: &RefCell<Core>) -> Result<RefMut<'_, Core>, Error> {
    let inside = "a pool call's input cannot wait on the same pool";
    core.try_borrow_mut()
        .map_err(|_| Error::InvalidArgument(inside))
}

/// [`Core::wait_until`], then run the callbacks of the calls that became
/// complete meanwhile, one at a time, with the core free again (a callback
/// may use the pool). Every wait of the pool's handles goes through here,
/// so whichever call is moving the pool along runs them (CPython runs them
/// on its result-handler thread).
pub(crate) fn drive(
    core: &RefCell<Core>,
    wait: Wait,
    done: impl Fn(&Core) -> bool,
) -> Result<bool, Error> {
    let moved = free(core)?.wait_until(wait, done);
    // Each taken first, so the core is not borrowed while it runs.
    let ready = std::iter::from_fn(|| core.try_borrow_mut().ok()?.ready.pop_front());
    ready.for_each(|callback| callback());
    moved
}
