//! What an asynchronous call hands back: [`AsyncResult`] for `apply_async`
//! and `map_async`, [`IMap`] for `imap` and `imap_unordered`.

use std::rc::Rc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::parent_side::{Call, Callback, ChunkResult, Core, Job, drive};
use crate::Error;
use crate::codec::decode_onto;
use crate::sys::Wait;

/// Waits until the call's values are in (or the wait runs out:
/// [`Error::Timeout`]), and decodes them: what `get` and the callbacks
/// both use.
type Collect<T> = fn(&Call, Wait) -> Result<T, Error>;

/// The result of [`Pool::apply_async`](super::Pool::apply_async) or
/// [`Pool::map_async`](super::Pool::map_async), to collect later (CPython's
/// `AsyncResult`).
///
/// The work runs in the workers whether or not you look, and even if you
/// drop the handle (as in CPython, a call once made runs to its end);
/// asking (`get`, `wait`, `ready`) is what brings the answers home, since
/// the pool has no background thread of its own.
pub struct AsyncResult<T> {
    call: Rc<Call>,
    collect: Collect<T>,
}

impl<T: 'static> AsyncResult<T> {
    /// The handle of `call`, whose values `collect` brings in:
    /// [`Call::collect`] for all of them, [`Call::collect_one`] for one
    /// task's.
    pub(crate) fn new(call: Rc<Call>, collect: Collect<T>) -> Self {
        AsyncResult { call, collect }
    }

    /// Run `f` on the value once the call has succeeded (Python's
    /// `callback=`): once, in this process, by whichever call is moving the
    /// pool along then (a `get` or `wait` on any result, an `imap`'s
    /// `next`, [`Pool::join`](super::Pool::join)), even if this handle is
    /// dropped first. Never if the call fails or the pool is terminated.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use shared::pool::Pool;
    ///
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    ///
    /// # fn main() -> Result<(), shared::Error> {
    /// let pool = Pool::new(2)?;
    /// let total = Rc::new(Cell::new(0));
    /// for x in 1..=3 {
    ///     let total = Rc::clone(&total);
    ///     pool.apply_async(square, (x,))?.callback(move |v| total.set(total.get() + v));
    /// }
    /// pool.close();
    /// pool.join()?; // runs the callbacks still due
    /// assert_eq!(total.get(), 1 + 4 + 9);
    /// # Ok(())
    /// # }
    /// ```
    pub fn callback(self, f: impl FnOnce(&T) + 'static) -> Self {
        self.when_complete(move |result| drop(result.inspect(f)))
    }

    /// Run `f` on the error once the call has failed (Python's
    /// `error_callback=`), as [`callback`](Self::callback) runs.
    pub fn error_callback(self, f: impl FnOnce(&Error) + 'static) -> Self {
        self.when_complete(move |result| drop(result.inspect_err(f)))
    }

    /// Once the call is complete, collect it as `get` does, and hand
    /// `then` the result (to `inspect` or `inspect_err` with the callback).
    fn when_complete(self, then: impl FnOnce(Result<T, Error>) + 'static) -> Self {
        // With the pool gone, the call is never complete.
        if let Ok(core) = self.call.core() {
            let (call, collect) = (Rc::clone(&self.call), self.collect);
            let run: Callback = Box::new(move || then(collect(&call, Wait::No)));
            core.borrow_mut().when_complete(self.call.job, run);
            let _ = drive(&core, Wait::No, |_| false); // it may be complete already
        }
        self
    }

    /// Wait for the result (Python's `get()`). A task that returned an
    /// error or panicked gives [`Error::Remote`], its type and message; a
    /// value that could not travel back, [`Error::Encoding`]; one whose
    /// worker died gives [`Error::WorkerLost`]; a pool terminated first
    /// gives [`Error::PoolNotRunning`] (where CPython would wait forever).
    /// Ask again and you get the same answer.
    pub fn get(&self) -> Result<T, Error> {
        (self.collect)(&self.call, Wait::Forever)
    }

    /// Wait at most `timeout` (Python's `get(timeout)`); [`Error::Timeout`]
    /// if the result is not in by then. The task itself keeps running.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Error> {
        (self.collect)(&self.call, Wait::timeout(timeout))
    }

    /// Wait until the result is ready, or the pool is terminated (Python's `wait()`).
    pub fn wait(&self) {
        let _ = self.wait_for(Wait::Forever);
    }

    /// Wait at most `timeout` (Python's `wait(timeout)`).
    pub fn wait_timeout(&self, timeout: Duration) {
        let _ = self.wait_for(Wait::timeout(timeout));
    }

    /// Whether the result is in (Python's `ready()`).
    pub fn ready(&self) -> bool {
        self.wait_for(Wait::No).unwrap_or(false)
    }

    /// Whether the task succeeded (Python's `successful()`); asking before
    /// it is [`ready`](Self::ready) is [`Error::NotReady`].
    pub fn successful(&self) -> Result<bool, Error> {
        if !self.ready() {
            return Err(Error::NotReady);
        }
        let core = self.call.core()?;
        let core = core.borrow();
        let job = core.jobs.get(&self.call.job).ok_or(Error::NotReady)?;
        Ok(job.failure.is_none())
    }

    fn wait_for(&self, wait: Wait) -> Result<bool, Error> {
        let job = self.call.job;
        let complete = |c: &Core| c.jobs.get(&job).is_none_or(Job::complete);
        let core = self.call.core()?;
        drive(&core, wait, complete)
    }
}

impl<T> std::fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AsyncResult {{ job: {} }}", self.call.job)
    }
}

/// What a handle asks of its call: its values.
impl Call {
    /// The call's values in input order, each chunk decoded as soon as it
    /// is in, while the workers go on with the next; its first failure as
    /// soon as it is in, as CPython's `map` fails as a whole;
    /// [`Error::Timeout`] if the wait ran out.
    pub fn collect<V: DeserializeOwned + 'static>(&self, wait: Wait) -> Result<Vec<V>, Error> {
        let (core, id) = (self.core()?, self.job);
        let (mut next, mut values) = (0, Vec::new());
        loop {
            let in_or_done = |c: &Core| {
                (c.jobs.get(&id)).is_none_or(|j| j.complete() || j.outcomes.contains_key(&next))
            };
            if !drive(&core, wait, in_or_done)? {
                return Err(Error::Timeout);
            }
            let core = core.borrow();
            let job = core.jobs.get(&id).ok_or(Error::PoolNotRunning)?;
            if let Some(failure) = &job.failure {
                return Err(failure.clone());
            }
            while let Some(outcome) = job.outcomes.get(&next) {
                decode_onto(outcome.as_ref().map_err(Error::clone)?, &mut values)?;
                if next == 0 {
                    // Chunks are all this size but the last: make room once.
                    values.reserve(values.len() * job.cut.saturating_sub(1) as usize);
                }
                next += 1;
            }
            if job.finished() && next == job.cut {
                return Ok(values);
            }
        }
    }

    /// The value of a one-task call (none would be a broken worker's answer).
    pub fn collect_one<V: DeserializeOwned + 'static>(&self, wait: Wait) -> Result<V, Error> {
        let lost = || Error::Ipc("a task came back without its value".into());
        self.collect(wait)?.pop().ok_or_else(lost)
    }
}

/// The results of [`Pool::imap`](super::Pool::imap) (in input order) or
/// [`Pool::imap_unordered`](super::Pool::imap_unordered) (as they finish),
/// one `Result` per item.
///
/// A task that fails yields its error in its place, and iteration goes
/// on. With a chunksize above 1, a failed chunk yields one error in place
/// of all its items.
pub struct IMap<T> {
    call: Rc<Call>,
    ordered: bool,
    /// Chunks yielded so far.
    taken: u32,
    buffer: std::vec::IntoIter<T>,
    finished: bool,
}

impl<T: DeserializeOwned + 'static> IMap<T> {
    pub(crate) fn new(call: Rc<Call>, ordered: bool) -> IMap<T> {
        IMap {
            call,
            ordered,
            taken: 0,
            buffer: Vec::new().into_iter(),
            finished: false,
        }
    }

    /// Wait for the next chunk (the next in order, or the next to arrive),
    /// and take it; `None` when every chunk has been yielded.
    fn next_chunk(&mut self) -> Result<Option<ChunkResult>, Error> {
        let (core, id, taken) = (self.call.core()?, self.call.job, self.taken);
        let next = self.ordered.then_some(taken); // or whichever comes first
        let all_taken = |j: &Job| j.finished() && taken == j.cut;
        let has = |j: &Job| next.map_or(!j.arrivals.is_empty(), |i| j.outcomes.contains_key(&i));
        let ready = |c: &Core| c.jobs.get(&id).is_none_or(|j| all_taken(j) || has(j));
        drive(&core, Wait::Forever, ready)?;
        let mut core = core.borrow_mut();
        let job = core.jobs.get_mut(&id).ok_or(Error::PoolNotRunning)?;
        if all_taken(job) {
            self.finished = true;
            return Ok(None);
        }
        self.taken += 1;
        let index = next.or(job.arrivals.pop_front()); // one taken, one arrival fewer
        Ok(index.and_then(|index| job.outcomes.remove(&index)))
    }
}

impl<T: DeserializeOwned + 'static> Iterator for IMap<T> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Result<T, Error>> {
        loop {
            if let Some(value) = self.buffer.next() {
                return Some(Ok(value));
            }
            if self.finished {
                return None;
            }
            let outcome = self.next_chunk().unwrap_or_else(|e| {
                self.finished = true; // the pool is gone: nothing more will come
                Some(Err(e))
            })?;
            let mut values = Vec::new();
            match outcome.and_then(|b| decode_onto(&b, &mut values)) {
                Ok(()) => self.buffer = values.into_iter(),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<T> std::fmt::Debug for IMap<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (job, ordered) = (self.call.job, self.ordered);
        write!(f, "IMap {{ job: {job}, ordered: {ordered} }}")
    }
}
