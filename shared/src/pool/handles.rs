//! What an asynchronous call hands back: [`AsyncResult`] for `apply_async`
//! and `map_async`, [`IMap`] for `imap` and `imap_unordered`.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::state::{Job, Outcome, Shared};
use super::task::{decode, decode_onto};
use crate::Error;

/// The result of [`Pool::apply_async`](super::Pool::apply_async) or
/// [`Pool::map_async`](super::Pool::map_async), to collect later (CPython's
/// `AsyncResult`).
///
/// The work runs in the workers whether or not you look; asking (`get`,
/// `wait`, `ready`) is what brings the answers home, since the pool has no
/// background thread of its own.
pub struct AsyncResult<T> {
    shared: Rc<RefCell<Shared>>,
    job: u64,
    collect: Collect<T>,
}

/// Wait for a job's chunks (until a deadline) and decode them into the
/// value: `Ok(None)` if the deadline passed first.
pub(crate) type Collect<T> = fn(&RefCell<Shared>, u64, Option<Instant>) -> Result<Option<T>, Error>;

impl<T> AsyncResult<T> {
    pub(crate) fn new(
        shared: Rc<RefCell<Shared>>,
        job: u64,
        collect: Collect<T>,
    ) -> AsyncResult<T> {
        AsyncResult {
            shared,
            job,
            collect,
        }
    }

    /// Wait for the result (Python's `get()`). A task that returned an
    /// error or panicked gives [`Error::Remote`] with its message; one whose
    /// worker died gives [`Error::WorkerLost`]; a pool terminated first
    /// gives [`Error::PoolNotRunning`] (where CPython would wait forever).
    /// Ask again and you get the same answer.
    pub fn get(&self) -> Result<T, Error> {
        (self.collect)(&self.shared, self.job, None)?.ok_or(Error::Timeout)
    }

    /// Wait at most `timeout` (Python's `get(timeout)`); [`Error::Timeout`]
    /// if the result is not in by then. The task itself keeps running.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Error> {
        let deadline = Instant::now() + timeout;
        (self.collect)(&self.shared, self.job, Some(deadline))?.ok_or(Error::Timeout)
    }

    /// Wait until the result is ready, or the pool is terminated (Python's `wait()`).
    pub fn wait(&self) {
        let _ = self.wait_for(None);
    }

    /// Wait at most `timeout` (Python's `wait(timeout)`).
    pub fn wait_timeout(&self, timeout: Duration) {
        let _ = self.wait_for(Some(Instant::now() + timeout));
    }

    /// Whether the result is in (Python's `ready()`).
    pub fn ready(&self) -> bool {
        self.wait_for(Some(Instant::now())).unwrap_or(false)
    }

    /// Whether the task succeeded (Python's `successful()`); asking before
    /// it is [`ready`](Self::ready) is [`Error::NotReady`].
    pub fn successful(&self) -> Result<bool, Error> {
        if !self.ready() {
            return Err(Error::NotReady);
        }
        let shared = self.shared.borrow();
        let job = shared.jobs.get(&self.job).ok_or(Error::NotReady)?;
        Ok(job.first_failure.is_none())
    }

    fn wait_for(&self, deadline: Option<Instant>) -> Result<bool, Error> {
        let job = self.job;
        self.shared
            .borrow_mut()
            .wait_until(deadline, |s| s.jobs.get(&job).is_none_or(Job::complete))
    }
}

impl<T> Drop for AsyncResult<T> {
    fn drop(&mut self) {
        if let Ok(mut shared) = self.shared.try_borrow_mut() {
            shared.forget(self.job);
        }
    }
}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AsyncResult {{ job: {} }}", self.job)
    }
}

/// Every chunk's values in order, decoding each as soon as it is in, while
/// the workers are still busy with the next; or the first failure.
pub(crate) fn collect_all<V: DeserializeOwned>(
    shared: &RefCell<Shared>,
    job: u64,
    deadline: Option<Instant>,
) -> Result<Option<Vec<V>>, Error> {
    let chunks = match shared.borrow().jobs.get(&job) {
        Some(j) => j.outcomes.len(),
        None => return Err(Error::PoolNotRunning),
    };
    let mut values = Vec::new();
    for i in 0..chunks {
        let arrived = shared.borrow_mut().wait_until(deadline, |s| {
            s.jobs
                .get(&job)
                .is_none_or(|j| j.first_failure.is_some() || j.outcomes[i].is_some())
        })?;
        if !arrived {
            return Ok(None);
        }
        let shared = shared.borrow();
        let job = shared.jobs.get(&job).ok_or(Error::PoolNotRunning)?;
        let failed = job.first_failure.map(|f| f as usize);
        match failed.map_or(&job.outcomes[i], |f| &job.outcomes[f]) {
            Some(Ok(bytes)) => {
                decode_onto(bytes, &mut values)?;
                if i == 0 {
                    // Chunks are all this size but the last: make room once.
                    values.reserve(values.len() * (chunks - 1));
                }
            }
            Some(Err(failure)) => return Err(failure.to_error()),
            None => return Err(Error::NotReady),
        }
    }
    Ok(Some(values))
}

/// The value of a one-task job.
pub(crate) fn collect_one<V: DeserializeOwned>(
    shared: &RefCell<Shared>,
    job: u64,
    deadline: Option<Instant>,
) -> Result<Option<V>, Error> {
    let Some(mut values) = collect_all::<V>(shared, job, deadline)? else {
        return Ok(None);
    };
    let value = values.pop();
    value
        .map(Some)
        .ok_or_else(|| Error::Ipc("a task came back without its value".to_owned()))
}

/// The results of [`Pool::imap`](super::Pool::imap) (in input order) or
/// [`Pool::imap_unordered`](super::Pool::imap_unordered) (as they finish),
/// one `Result` per item.
///
/// A task that fails yields its error in its place, and iteration goes
/// on. With a chunksize above 1, a failed chunk yields one error in place
/// of all its items.
pub struct IMap<T> {
    shared: Rc<RefCell<Shared>>,
    job: u64,
    ordered: bool,
    chunks: usize,
    taken: usize,
    buffer: std::vec::IntoIter<T>,
    finished: bool,
}

impl<T: DeserializeOwned> IMap<T> {
    pub(crate) fn new(
        shared: Rc<RefCell<Shared>>,
        job: u64,
        chunks: usize,
        ordered: bool,
    ) -> IMap<T> {
        IMap {
            shared,
            job,
            ordered,
            chunks,
            taken: 0,
            buffer: Vec::new().into_iter(),
            finished: false,
        }
    }

    /// Wait for the next chunk: the next in order, or the next to arrive.
    fn next_chunk(&mut self) -> Result<Outcome, Error> {
        let (job, ordered, index) = (self.job, self.ordered, self.taken);
        let mut shared = self.shared.borrow_mut();
        shared.wait_until(None, |s| {
            s.jobs.get(&job).is_some_and(|j| {
                if ordered {
                    j.outcomes[index].is_some()
                } else {
                    !j.arrivals.is_empty()
                }
            })
        })?;
        let job = shared.jobs.get_mut(&job).ok_or(Error::PoolNotRunning)?;
        let index = if ordered {
            index
        } else {
            let arrived = job.arrivals.pop_front().expect("waited for it");
            arrived as usize
        };
        job.outcomes[index]
            .take()
            .ok_or_else(|| Error::Ipc("a chunk was taken twice".to_owned()))
    }
}

impl<T: DeserializeOwned> Iterator for IMap<T> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Result<T, Error>> {
        loop {
            if let Some(value) = self.buffer.next() {
                return Some(Ok(value));
            }
            if self.finished || self.taken == self.chunks {
                return None;
            }
            let outcome = match self.next_chunk() {
                Ok(outcome) => outcome,
                Err(e) => {
                    self.finished = true; // the pool is gone: nothing more will come
                    return Some(Err(e));
                }
            };
            self.taken += 1;
            match outcome.map_err(|f| f.to_error()) {
                Ok(bytes) => match decode::<Vec<T>>(&bytes) {
                    Ok(values) => self.buffer = values.into_iter(),
                    Err(e) => return Some(Err(e)),
                },
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<T> Drop for IMap<T> {
    fn drop(&mut self) {
        if let Ok(mut shared) = self.shared.try_borrow_mut() {
            shared.forget(self.job);
        }
    }
}

impl<T> fmt::Debug for IMap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IMap {{ job: {}, ordered: {} }}", self.job, self.ordered)
    }
}
