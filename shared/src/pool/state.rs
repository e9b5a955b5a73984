//! The parent's side: the workers, the tasks waiting for one, the calls
//! waiting for results, and the one loop that moves them all along.
//!
//! There is no background thread: whatever call is waiting (`get`, `map`,
//! `join`, an `imap` iterator's `next`) runs [`Shared::wait_until`], which
//! feeds the workers, reads their answers, and replaces any that died.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use ipc_channel::TrySelectError;
use ipc_channel::ipc::{self, IpcBytesSender, IpcReceiverSet, IpcSelectionResult};
use nix::sys::signal::Signal;

use serde::Serialize;

use super::task::{Runner, encode, encode_into};
use super::worker::{self, Answer, Order, Setup};
use crate::{Error, Process};

/// CPython's `RUN`, `CLOSE`, `TERMINATE`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum State {
    Running,
    Closed,
    Terminated,
}

/// Why a task has no value.
#[derive(Clone, Debug)]
pub(crate) enum Failure {
    /// It returned an error or panicked, with this message.
    Remote(String),
    /// Its worker died first.
    Lost(String),
}

impl Failure {
    pub(crate) fn to_error(&self) -> Error {
        match self {
            Failure::Remote(message) => Error::Remote(message.clone()),
            Failure::Lost(message) => Error::WorkerLost(message.clone()),
        }
    }
}

/// One chunk's encoded values, or why there are none.
pub(crate) type Outcome = Result<Vec<u8>, Failure>;

/// The results of one call (`apply_async`, `map`, `imap`, …), chunk by chunk.
pub(crate) struct Job {
    pub outcomes: Vec<Option<Outcome>>,
    /// Chunks in the order their outcomes arrived (for `imap_unordered`).
    pub arrivals: VecDeque<u32>,
    remaining: usize,
    /// The chunk whose failure arrived first: a `map` fails as a whole with it.
    pub first_failure: Option<u32>,
}

impl Job {
    /// Every chunk is in, or one failed (CPython's `ready()`).
    pub fn complete(&self) -> bool {
        self.remaining == 0 || self.first_failure.is_some()
    }
}

/// A chunk of work, encoded and waiting for a worker.
pub(crate) struct Task {
    pub job: u64,
    pub index: u32,
    pub runner: Runner,
    pub items: usize,
    pub message: Vec<u8>,
}

/// A call's arguments, encoded once, chunk after chunk, and sent only
/// when a worker has room for a chunk: a `map` of 100 000 items
/// waits as one buffer, not as 100 000 messages (a big heap makes every
/// later `fork` slower). The caller appends the items a chunk at a time,
/// and the first chunks go out while the later ones are being encoded.
pub(crate) struct Feed {
    job: u64,
    runner: Runner,
    chunksize: usize,
    /// How many items the call has in all.
    total: usize,
    bytes: Vec<u8>,
    /// Where each chunk's encoding ends in `bytes`.
    ends: Vec<usize>,
    /// The next chunk to cut.
    next: usize,
}

impl Feed {
    fn chunks(&self) -> usize {
        self.total.div_ceil(self.chunksize)
    }

    /// The next chunk as a task, if it is encoded; `Err` carries the chunk
    /// it failed to make.
    fn next_task(&mut self) -> Option<Result<Task, (u64, u32, String)>> {
        let end = *self.ends.get(self.next)?;
        let start = self.next.checked_sub(1).map_or(0, |i| self.ends[i]);
        let first = self.next * self.chunksize;
        let items = self.chunksize.min(self.total - first);
        let index = u32::try_from(self.next).unwrap_or(u32::MAX);
        self.next += 1;
        let encoded = &self.bytes[start..end];
        Some(
            worker::task_message(self.job, index, self.runner, encoded)
                .map(|message| Task {
                    job: self.job,
                    index,
                    runner: self.runner,
                    items,
                    message,
                })
                .map_err(|e| (self.job, index, e.to_string())),
        )
    }

    /// Every chunk has been cut.
    fn exhausted(&self) -> bool {
        self.next >= self.chunks()
    }
}

/// A task sent to a worker whose answer has not come back yet.
struct InFlight {
    job: u64,
    index: u32,
    runner: usize,
    items: usize,
    bytes: usize,
    estimate_ns: u64,
}

struct Worker {
    process: Process,
    /// This worker's own task channel: the parent always knows which
    /// tasks a worker holds, so a dead worker's tasks can be failed.
    orders: IpcBytesSender,
    /// Its answer channel's id in `Shared::answers`.
    answers_id: u64,
    in_flight: VecDeque<InFlight>,
    bytes: usize,
    /// Estimated time to finish what it holds.
    ahead_ns: u64,
    sent: usize,
    /// A send to it failed: it is dying, and its channel closing will say so.
    broken: bool,
}

/// How a pool is set up.
pub(crate) struct Config {
    pub processes: usize,
    pub initializer: Option<(Runner, Vec<u8>)>,
    pub maxtasks: Option<usize>,
}

/// Feed a worker at most this much work ahead of what it is running, so
/// that long tasks are spread as soon as a worker is free (CPython's
/// workers pull from one shared queue) while tiny ones still travel many
/// at a time.
const AHEAD_NS: u64 = 1_000_000;
/// A function whose tasks were never timed counts as long: one at a time.
const UNKNOWN_NS: u64 = AHEAD_NS + 1;

pub(crate) struct Shared {
    pub state: State,
    config: Config,
    workers: Vec<Worker>,
    /// Every worker's answer channel, waited on together.
    answers: IpcReceiverSet,
    /// Calls whose chunks are not all cut yet, oldest first.
    feeds: VecDeque<Feed>,
    /// Chunks cut and waiting for a worker with room.
    ready: VecDeque<Task>,
    pub jobs: HashMap<u64, Job>,
    next_job: u64,
    /// How long each function's tasks take, per item (a moving average).
    per_item_ns: HashMap<usize, u64>,
    /// How many tasks, and bytes, one worker may hold unread.
    max_tasks: usize,
    max_bytes: usize,
}

impl Shared {
    /// Fork the workers.
    pub fn start(config: Config) -> Result<Shared, Error> {
        if config.processes == 0 {
            return Err(Error::NoProcesses);
        }
        // A send blocks once the socket's buffer holds this much unread.
        // Keep each worker's unread tasks well under it, so the parent never
        // blocks on a send while that worker blocks sending it an answer.
        let sndbuf = std::fs::read_to_string("/proc/sys/net/core/wmem_default")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(65_536);
        let mut shared = Shared {
            state: State::Running,
            workers: Vec::with_capacity(config.processes),
            config,
            answers: IpcReceiverSet::new()?,
            feeds: VecDeque::new(),
            ready: VecDeque::new(),
            jobs: HashMap::new(),
            next_job: 0,
            per_item_ns: HashMap::new(),
            // The kernel charges each message about 1 KiB on top of its bytes.
            max_tasks: (sndbuf / 4 / 1024).clamp(1, 64),
            max_bytes: sndbuf / 2,
        };
        for _ in 0..shared.config.processes {
            if let Err(e) = shared.add_worker() {
                let _ = shared.terminate();
                return Err(e);
            }
        }
        Ok(shared)
    }

    /// Fork one worker, from the caller's thread (see the module docs).
    fn add_worker(&mut self) -> Result<(), Error> {
        let (orders, orders_rx) = ipc::bytes_channel()?;
        let (answers_tx, answers_rx) = ipc::channel::<Vec<Answer>>()?;
        let setup = Setup {
            orders: orders_rx,
            answers: answers_tx,
            initializer: self.config.initializer.clone(),
            maxtasks: self.config.maxtasks,
        };
        let mut process =
            Process::with_class("ForkPoolWorker", Box::new(move || worker::serve(setup)))
                .daemon(true);
        // `start` drops the target in the parent, and with it the parent's
        // copies of the worker's ends: only the worker holds its answer
        // sender, so the answer channel closes exactly when the worker dies.
        process.start()?;
        let answers_id = self.answers.add(answers_rx)?;
        self.workers.push(Worker {
            process,
            orders,
            answers_id,
            in_flight: VecDeque::new(),
            bytes: 0,
            ahead_ns: 0,
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

    pub fn new_job(&mut self, chunks: usize) -> u64 {
        let id = self.next_job;
        self.next_job += 1;
        let job = Job {
            outcomes: (0..chunks).map(|_| None).collect(),
            arrivals: VecDeque::new(),
            remaining: chunks,
            first_failure: None,
        };
        self.jobs.insert(id, job);
        id
    }

    /// Start job `job`: `total` items to come, in chunks of `chunksize`.
    pub fn open_feed(&mut self, job: u64, runner: Runner, chunksize: usize, total: usize) {
        if total > 0 {
            self.feeds.push_back(Feed {
                job,
                runner,
                chunksize,
                total,
                bytes: Vec::new(),
                ends: Vec::new(),
                next: 0,
            });
        }
    }

    /// Append job `job`'s next chunk; returns how many bytes it took.
    pub fn feed<Args: Serialize>(&mut self, job: u64, chunk: &[Args]) -> Result<usize, Error> {
        let Some(feed) = self.feeds.back_mut().filter(|f| f.job == job) else {
            return Ok(0);
        };
        let before = feed.bytes.len();
        encode_into(chunk, &mut feed.bytes)?;
        feed.ends.push(feed.bytes.len());
        Ok(feed.bytes.len() - before)
    }

    /// Drop what is left of job `job`'s feed (its items failed to encode).
    pub fn close_feed(&mut self, job: u64) {
        self.feeds.retain(|f| f.job != job);
    }

    /// Whether any chunk still waits for a worker.
    fn has_pending(&self) -> bool {
        !self.ready.is_empty() || !self.feeds.is_empty()
    }

    /// Cut the next chunk from the oldest call; `false` if none is left.
    fn refill(&mut self) -> bool {
        loop {
            let Some(feed) = self.feeds.front_mut() else {
                return false;
            };
            match feed.next_task() {
                // Still being fed: later calls wait their turn behind it.
                None if !feed.exhausted() => return false,
                None => drop(self.feeds.pop_front()),
                Some(Ok(task)) => {
                    self.ready.push_back(task);
                    return true;
                }
                Some(Err((job, index, why))) => self.settle(job, index, Err(Failure::Remote(why))),
            }
        }
    }

    /// Nobody will ask for this job's results: drop them as they come.
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

    /// Send waiting tasks to workers that have room for them, everything
    /// for one worker in one message. Never blocks.
    pub fn dispatch(&mut self) {
        let mut batches: Vec<Vec<Task>> = self.workers.iter().map(|_| Vec::new()).collect();
        loop {
            if self.ready.is_empty() && !self.refill() {
                break;
            }
            let task = &self.ready[0];
            let estimate = self
                .per_item_ns
                .get(&(task.runner as usize))
                .map_or(UNKNOWN_NS, |ns| ns.saturating_mul(task.items as u64));
            let Some(w) = self.pick(task.message.len(), estimate) else {
                break;
            };
            let task = self.ready.pop_front().expect("peeked above");
            let worker = &mut self.workers[w];
            worker.sent += 1;
            worker.bytes += task.message.len();
            worker.ahead_ns = worker.ahead_ns.saturating_add(estimate);
            worker.in_flight.push_back(InFlight {
                job: task.job,
                index: task.index,
                runner: task.runner as usize,
                items: task.items,
                bytes: task.message.len(),
                estimate_ns: estimate,
            });
            batches[w].push(task);
        }
        let mut unsent = Vec::new();
        for (worker, batch) in self.workers.iter_mut().zip(batches) {
            let sent = match &batch[..] {
                [] => continue,
                [task] => worker.orders.send(&task.message),
                tasks => {
                    let mut message =
                        Vec::with_capacity(tasks.iter().map(|t| t.message.len()).sum());
                    tasks
                        .iter()
                        .for_each(|t| message.extend_from_slice(&t.message));
                    worker.orders.send(&message)
                }
            };
            if sent.is_err() {
                // It died: take the tasks back and try them elsewhere.
                worker.broken = true;
                for task in &batch {
                    worker.sent -= 1;
                    worker.bytes -= task.message.len();
                    let held = worker
                        .in_flight
                        .iter()
                        .position(|t| t.job == task.job && t.index == task.index);
                    if let Some(t) = held.and_then(|i| worker.in_flight.remove(i)) {
                        worker.ahead_ns = worker.ahead_ns.saturating_sub(t.estimate_ns);
                    }
                }
                unsent.extend(batch);
            }
        }
        if !unsent.is_empty() {
            unsent.sort_by_key(|t| (t.job, t.index));
            for task in unsent.into_iter().rev() {
                self.ready.push_front(task);
            }
            self.dispatch();
        }
    }

    /// The worker with the least work ahead that can take a task of this
    /// size and estimated duration; an idle worker takes anything.
    fn pick(&self, bytes: usize, estimate: u64) -> Option<usize> {
        let room = |w: &Worker| {
            w.in_flight.is_empty()
                || (w.in_flight.len() < self.max_tasks
                    && w.bytes + bytes <= self.max_bytes
                    && w.ahead_ns.saturating_add(estimate) <= AHEAD_NS)
        };
        self.workers
            .iter()
            .enumerate()
            .filter(|(_, w)| !w.broken && self.config.maxtasks.is_none_or(|max| w.sent < max))
            .filter(|(_, w)| room(w))
            .min_by_key(|(_, w)| (w.ahead_ns, w.in_flight.len()))
            .map(|(i, _)| i)
    }

    /// Move work along until `done` holds (`Ok(true)`) or `deadline`
    /// passes (`Ok(false)`). `Err(PoolNotRunning)` if the pool was
    /// terminated, or has no workers left, before `done` could hold.
    pub fn wait_until(
        &mut self,
        deadline: Option<Instant>,
        done: impl Fn(&Shared) -> bool,
    ) -> Result<bool, Error> {
        loop {
            self.dispatch();
            if done(self) {
                return Ok(true);
            }
            if self.state == State::Terminated || self.workers.is_empty() {
                return Err(Error::PoolNotRunning);
            }
            let events = match deadline {
                None => self.answers.select()?,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match self.answers.try_select_timeout(left) {
                        Ok(events) => events,
                        Err(TrySelectError::Empty) if Instant::now() >= deadline => {
                            return Ok(false);
                        }
                        Err(TrySelectError::Empty) => continue,
                        Err(TrySelectError::IoError(e)) => return Err(Error::Ipc(e.to_string())),
                    }
                }
            };
            for event in events {
                match event {
                    IpcSelectionResult::MessageReceived(id, message) => {
                        let answers: Vec<Answer> =
                            message.to().map_err(|e| Error::Ipc(e.to_string()))?;
                        for answer in answers {
                            self.record(id, answer);
                        }
                    }
                    IpcSelectionResult::ChannelClosed(id) => self.worker_exited(id)?,
                }
            }
        }
    }

    /// Collect whatever answers are already in, and send what fits.
    pub fn poll(&mut self) -> Result<(), Error> {
        self.wait_until(Some(Instant::now()), |_| false).map(drop)
    }

    fn record(&mut self, answers_id: u64, answer: Answer) {
        if let Some(w) = self.workers.iter_mut().find(|w| w.answers_id == answers_id) {
            let held = w
                .in_flight
                .iter()
                .position(|t| t.job == answer.job && t.index == answer.index);
            if let Some(task) = held.and_then(|i| w.in_flight.remove(i)) {
                w.bytes -= task.bytes;
                w.ahead_ns = w.ahead_ns.saturating_sub(task.estimate_ns);
                let sample = answer.elapsed_ns / task.items.max(1) as u64;
                self.per_item_ns
                    .entry(task.runner)
                    .and_modify(|ns| *ns = (*ns * 3 + sample) / 4)
                    .or_insert(sample);
            }
        }
        let outcome = answer
            .outcome
            .map(serde_bytes::ByteBuf::into_vec)
            .map_err(Failure::Remote);
        self.settle(answer.job, answer.index, outcome);
    }

    fn settle(&mut self, job: u64, index: u32, outcome: Outcome) {
        let Some(job) = self.jobs.get_mut(&job) else {
            return; // its handle is gone: nobody will ask
        };
        if outcome.is_err() && job.first_failure.is_none() {
            job.first_failure = Some(index);
        }
        job.outcomes[index as usize] = Some(outcome);
        job.remaining -= 1;
        job.arrivals.push_back(index);
    }

    /// A worker's answer channel closed: it has exited. Fail what it held,
    /// and put a new worker in its place while there is work to do.
    fn worker_exited(&mut self, answers_id: u64) -> Result<(), Error> {
        let Some(i) = self.workers.iter().position(|w| w.answers_id == answers_id) else {
            return Ok(());
        };
        let worker = self.workers.remove(i);
        worker.process.join()?; // quick: it closed the channel on its way out
        log::debug!("cleaning up worker {i}");
        if !worker.in_flight.is_empty() {
            let why = describe_exit(&worker.process);
            for task in worker.in_flight {
                self.settle(task.job, task.index, Err(Failure::Lost(why.clone())));
            }
        }
        if self.state == State::Running || self.has_pending() {
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
        self.wait_until(None, |s| {
            !s.has_pending() && s.workers.iter().all(|w| w.in_flight.is_empty())
        })?;
        let stop = encode(&Order::Stop)?;
        for w in &self.workers {
            let _ = w.orders.send(&stop); // fails only if it already left
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
        self.state = State::Terminated;
        self.feeds.clear();
        self.ready.clear();
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
