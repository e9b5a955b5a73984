//! The parent's side: the workers, the calls and their results, and the one
//! loop that moves them along.
//!
//! There is no background thread: whatever call is waiting (`get`, `map`,
//! `join`, an `imap` iterator's `next`) runs [`Core::wait_until`], which
//! hands batches of chunks to idle workers, reads their answers, and
//! replaces any worker that died.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::iter::Peekable;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_bytes::ByteBuf;

use super::task::Runner;
use super::worker::{self, Answer, Setup, Task};
use crate::ipc::Wait;
use crate::ipc::socket::{Socket, decode, encode, wait_readable};
use crate::{Error, Process};

/// CPython's `RUN`, `CLOSE`, `TERMINATE`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum State {
    Running,
    Closed,
    Terminated,
}

/// Why a chunk has no values.
#[derive(Clone, Debug)]
pub(crate) enum Failure {
    /// The task returned an error or panicked, with this message.
    Remote(String),
    /// Its worker died first.
    Lost(String),
    /// It never reached a worker, or its answer never reached us.
    Ipc(String),
}

impl Failure {
    pub(crate) fn to_error(&self) -> Error {
        match self {
            Failure::Remote(message) => Error::Remote(message.clone()),
            Failure::Lost(message) => Error::WorkerLost(message.clone()),
            Failure::Ipc(message) => Error::Ipc(message.clone()),
        }
    }
}

/// One chunk's encoded values, or why there are none.
pub(crate) type Outcome = Result<Vec<u8>, Failure>;

/// A call's chunks, each encoded when a worker is about to get it, so an
/// `imap` reads its input only as fast as the workers go.
pub(crate) type Chunks = Box<dyn Iterator<Item = Result<Vec<u8>, Error>>>;

/// A batch that comes back sooner than this was too small to be worth its
/// round trip: the next batch of that call is twice as big (up to
/// [`MAX_BATCH`] chunks). One slower than ten times this halves it. So
/// long tasks go one at a time to whichever worker is free, as from
/// CPython's shared queue, while tiny ones travel a thousand to a message.
const BATCH_WITHIN: Duration = Duration::from_millis(1);
const MAX_BATCH: usize = 1024;

/// One call (`apply_async`, `map`, `imap`, …) and its results so far.
pub(crate) struct Job {
    runner: Runner,
    /// The chunks not handed out yet; `None` once all are.
    source: Option<Peekable<Chunks>>,
    /// Chunks sent to a worker that had died: they go out again.
    retry: Vec<Task>,
    /// Chunks taken from `source` so far, numbered from 0.
    pub cut: u32,
    pub outcomes: HashMap<u32, Outcome>,
    /// Chunks in the order their outcomes arrived (for `imap_unordered`).
    pub arrivals: VecDeque<u32>,
    settled: u32,
    /// The chunk whose failure arrived first: a `map` fails as a whole with it.
    pub first_failure: Option<u32>,
    /// How many chunks a worker gets at once (see [`BATCH_WITHIN`]).
    batch: usize,
}

impl Job {
    /// Every chunk has been handed out and has its outcome.
    pub fn finished(&self) -> bool {
        self.source.is_none() && self.retry.is_empty() && self.settled == self.cut
    }

    /// Finished, or one chunk failed (CPython's `ready()`).
    pub fn complete(&self) -> bool {
        self.finished() || self.first_failure.is_some()
    }

    fn pending(&self) -> bool {
        self.source.is_some() || !self.retry.is_empty()
    }

    fn settle(&mut self, index: u32, outcome: Outcome) {
        if outcome.is_err() && self.first_failure.is_none() {
            self.first_failure = Some(index);
        }
        self.outcomes.insert(index, outcome);
        self.arrivals.push_back(index);
        self.settled += 1;
    }

    /// Up to `n` chunks of this job, as tasks for a worker.
    fn take(&mut self, id: u64, n: usize) -> Vec<Task> {
        let mut tasks = Vec::new();
        while tasks.len() < n {
            if let Some(task) = self.retry.pop() {
                tasks.push(task);
                continue;
            }
            let Some(source) = &mut self.source else {
                break;
            };
            let Some(chunk) = source.next() else { break };
            if source.peek().is_none() {
                self.source = None; // that was the last
            }
            let index = self.cut;
            self.cut += 1;
            match chunk {
                Ok(args) => tasks.push(Task {
                    job: id,
                    index,
                    runner: self.runner as usize,
                    args: ByteBuf::from(args),
                }),
                Err(e) => self.settle(index, Err(Failure::Ipc(e.to_string()))),
            }
        }
        tasks
    }
}

struct Worker {
    process: Process,
    /// The parent's end of this worker's own socket pair.
    socket: Socket,
    /// The batch it is working on: (job, chunk) of each task.
    in_flight: Vec<(u64, u32)>,
    sent_at: Instant,
    /// Tasks sent to it in all (for `maxtasksperchild`).
    sent: usize,
    /// A send to it failed: it is dying, and its socket will say so.
    broken: bool,
}

/// How a pool is set up.
pub(crate) struct Config {
    pub processes: usize,
    pub initializer: Option<(Runner, Vec<u8>)>,
    pub maxtasks: Option<usize>,
}

pub(crate) struct Core {
    pub state: State,
    config: Config,
    workers: Vec<Worker>,
    /// Every call still wanted, oldest first.
    pub jobs: BTreeMap<u64, Job>,
    next_job: u64,
}

impl Core {
    /// Fork the workers.
    pub fn start(config: Config) -> Result<Core, Error> {
        if config.processes == 0 {
            return Err(Error::NoProcesses);
        }
        let mut core = Core {
            state: State::Running,
            workers: Vec::with_capacity(config.processes),
            config,
            jobs: BTreeMap::new(),
            next_job: 0,
        };
        for _ in 0..core.config.processes {
            if let Err(e) = core.add_worker() {
                let _ = core.terminate();
                return Err(e);
            }
        }
        Ok(core)
    }

    /// Fork one worker, from the caller's thread (see the module docs).
    fn add_worker(&mut self) -> Result<(), Error> {
        let (socket, theirs) = Socket::pair()?;
        let inherited = self.workers.iter().map(|w| &w.socket);
        let setup = Setup {
            inherited: inherited.chain([&socket]).map(|s| s.as_raw_fd()).collect(),
            socket: theirs,
            initializer: self.config.initializer.clone(),
            maxtasks: self.config.maxtasks,
        };
        let mut process =
            Process::with_class("ForkPoolWorker", Box::new(move || worker::serve(setup)))
                .daemon(true);
        // `start` drops the target in the parent, and with it the parent's
        // copy of the worker's end: only the worker holds it, so the
        // parent's end reads end-of-file exactly when the worker dies.
        process.start()?;
        self.workers.push(Worker {
            process,
            socket,
            in_flight: Vec::new(),
            sent_at: Instant::now(),
            sent: 0,
            broken: false,
        });
        log::debug!("added worker");
        Ok(())
    }

    pub fn check_running(&self) -> Result<(), Error> {
        match self.state {
            State::Running => Ok(()),
            _ => Err(Error::PoolNotRunning),
        }
    }

    /// A new call whose chunks `chunks` yields; returns its id.
    pub fn submit(&mut self, runner: Runner, chunks: Chunks) -> Result<u64, Error> {
        self.check_running()?;
        let id = self.next_job;
        self.next_job += 1;
        let mut source = chunks.peekable();
        let job = Job {
            runner,
            source: source.peek().is_some().then_some(source),
            retry: Vec::new(),
            cut: 0,
            outcomes: HashMap::new(),
            arrivals: VecDeque::new(),
            settled: 0,
            first_failure: None,
            batch: 1,
        };
        self.jobs.insert(id, job);
        // Collect what is already in, and hand out what we can.
        self.wait_until(Wait::No, |_| false)?;
        Ok(id)
    }

    /// Nobody will ask for this call's results: drop them as they come.
    pub fn forget(&mut self, job: u64) {
        self.jobs.remove(&job);
    }

    pub fn pids(&self) -> Vec<u32> {
        self.workers
            .iter()
            .filter_map(|w| w.process.pid())
            .collect()
    }

    pub fn processes(&self) -> usize {
        self.config.processes
    }

    /// Give each idle worker a batch of the oldest call's chunks, in one
    /// message. A worker has one batch at a time, so neither side ever
    /// waits for the other to read.
    fn dispatch(&mut self) {
        for w in 0..self.workers.len() {
            let worker = &self.workers[w];
            if !worker.in_flight.is_empty() || worker.broken {
                continue;
            }
            let left = self
                .config
                .maxtasks
                .map_or(MAX_BATCH, |max| max - worker.sent);
            let Some((&id, job)) = self.jobs.iter_mut().find(|(_, j)| j.pending()) else {
                return; // nothing to hand out
            };
            let tasks = job.take(id, job.batch.min(left));
            if tasks.is_empty() {
                continue; // its next chunk failed to encode: try again
            }
            let worker = &mut self.workers[w];
            match encode(&tasks).and_then(|bytes| Ok(worker.socket.send(&bytes)?)) {
                Ok(()) => {
                    worker.in_flight = tasks.iter().map(|t| (t.job, t.index)).collect();
                    worker.sent += tasks.len();
                    worker.sent_at = Instant::now();
                }
                // It died: its socket will say so; the chunks go elsewhere.
                Err(_) => {
                    worker.broken = true;
                    job.retry.extend(tasks);
                }
            }
        }
    }

    /// Move work along until `done` holds (`Ok(true)`) or the wait runs out
    /// (`Ok(false)`). `Err(PoolNotRunning)` if the pool was terminated, or
    /// has no workers left, before `done` could hold.
    pub fn wait_until(&mut self, wait: Wait, done: impl Fn(&Core) -> bool) -> Result<bool, Error> {
        loop {
            self.dispatch();
            if done(self) {
                return Ok(true);
            }
            if self.state == State::Terminated || self.workers.is_empty() {
                return Err(Error::PoolNotRunning);
            }
            let sockets: Vec<_> = self.workers.iter().map(|w| w.socket.as_fd()).collect();
            let ready = wait_readable(&sockets, wait)?;
            if ready.is_empty() && wait.expired() {
                return Ok(false);
            }
            // From the last: a worker that exited leaves the list.
            for &w in ready.iter().rev() {
                self.receive(w)?;
            }
        }
    }

    /// Read what worker `w` sent: its answers, or its end.
    fn receive(&mut self, w: usize) -> Result<(), Error> {
        let worker = &mut self.workers[w];
        let answers = match worker.socket.recv(Wait::No) {
            Ok(Some(bytes)) => decode::<Vec<Answer>>(&bytes),
            Ok(None) => return Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                ) =>
            {
                return self.worker_exited(w);
            }
            Err(e) => Err(Error::Io(e)),
        };
        let elapsed = worker.sent_at.elapsed();
        let batch = std::mem::take(&mut worker.in_flight);
        let answers = match answers {
            Ok(answers) => answers,
            // Its answer is lost (say, no descriptor was free to receive
            // it): fail the batch rather than wait for ever.
            Err(e) => batch
                .iter()
                .map(|&(job, index)| Answer {
                    job,
                    index,
                    outcome: Err(e.to_string()),
                })
                .collect(),
        };
        if let Some(job) = batch.first().and_then(|(id, _)| self.jobs.get_mut(id)) {
            if elapsed < BATCH_WITHIN && batch.len() == job.batch {
                job.batch = (job.batch * 2).min(MAX_BATCH);
            } else if elapsed > BATCH_WITHIN * 10 {
                job.batch = (job.batch / 2).max(1);
            }
        }
        for answer in answers {
            let outcome = answer
                .outcome
                .map(ByteBuf::into_vec)
                .map_err(Failure::Remote);
            if let Some(job) = self.jobs.get_mut(&answer.job) {
                job.settle(answer.index, outcome);
            }
        }
        Ok(())
    }

    /// Worker `w`'s socket closed: it has exited. Fail what it held, and
    /// put a new worker in its place while there is work to do.
    fn worker_exited(&mut self, w: usize) -> Result<(), Error> {
        let worker = self.workers.remove(w);
        worker.process.join()?; // quick: its socket closed on its way out
        log::debug!("cleaning up worker {w}");
        if !worker.in_flight.is_empty() {
            let why = describe_exit(&worker.process);
            for (id, index) in worker.in_flight {
                if let Some(job) = self.jobs.get_mut(&id) {
                    job.settle(index, Err(Failure::Lost(why.clone())));
                }
            }
        }
        if self.state == State::Running || self.jobs.values().any(Job::pending) {
            self.add_worker()?;
        }
        Ok(())
    }

    /// CPython's `close()`: no new work; what was submitted still runs.
    pub fn close(&mut self) {
        log::debug!("closing pool");
        if self.state == State::Running {
            self.state = State::Closed;
        }
    }

    /// CPython's `join()`: wait for the submitted work, then for the workers.
    pub fn join(&mut self) -> Result<(), Error> {
        log::debug!("joining pool");
        match self.state {
            State::Running => return Err(Error::PoolStillRunning),
            State::Terminated => return Ok(()), // `terminate` reaped them
            State::Closed => {}
        }
        if self.workers.is_empty() {
            return Ok(()); // joined before
        }
        self.wait_until(Wait::Forever, |core| {
            !core.jobs.values().any(Job::pending)
                && core.workers.iter().all(|w| w.in_flight.is_empty())
        })?;
        let stop = encode(&Vec::<Task>::new())?;
        for w in &self.workers {
            let _ = w.socket.send(&stop); // fails only if it already left
        }
        for w in self.workers.drain(..) {
            w.process.join()?;
        }
        Ok(())
    }

    /// CPython's `terminate()`: SIGTERM every worker now, drop queued work.
    pub fn terminate(&mut self) -> Result<(), Error> {
        if self.state != State::Terminated {
            log::debug!("terminating pool");
        }
        // Queued chunks stay queued, never to run: their calls are not
        // ready, and waiting on one is `PoolNotRunning`.
        self.state = State::Terminated;
        for w in &self.workers {
            w.process.terminate()?;
        }
        let mut result = Ok(());
        for w in self.workers.drain(..) {
            if let Err(e) = w.process.join() {
                result = result.and(Err(e));
            }
        }
        result
    }
}

/// `ForkPoolWorker-2 (pid 4242) was killed by SIGKILL`.
fn describe_exit(process: &Process) -> String {
    let who = format!(
        "{} (pid {})",
        process.name(),
        process.pid().unwrap_or_default()
    );
    match process.exitcode() {
        Some(code) if code < 0 => match Signal::try_from(-code) {
            Ok(signal) => format!("{who} was killed by {}", signal.as_str()),
            Err(_) => format!("{who} was killed by signal {}", -code),
        },
        Some(code) => format!("{who} exited with exitcode {code} in the middle of a task"),
        None => format!("{who} stopped answering"),
    }
}
