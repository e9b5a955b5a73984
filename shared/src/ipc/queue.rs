//! [`Queue`], [`SimpleQueue`] and [`JoinableQueue`]: many producers and many
//! consumers, in any processes forked after the queue was made.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Wait;
use super::socket::{Outgoing, Socket};
use super::spin::Spin;
use crate::Error;
use crate::codec::{decode, encode};
use crate::sys::{Shareable, SharedMem, futex_wake_all, wait_until};

/// What a queue keeps in memory shared by every process that has it.
struct QueueCounts {
    /// Items put and not yet taken: `qsize`. Also what a `put` on a full
    /// bounded queue sleeps on.
    count: AtomicU32,
    /// Items put and not yet marked done (`JoinableQueue` only): what
    /// `join` sleeps on.
    unfinished: AtomicU32,
    /// Items in the socket (counted once sent, unlike `count`): only a hint
    /// for a consumer's [`Spin`], never trusted for what is there.
    unread: AtomicU32,
}

// SAFETY: three atomics, all zero for an empty queue.
unsafe impl Shareable for QueueCounts {}

/// One queue as this process holds it; every clone shares it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Inner {
    /// Producers send here; the messages come out of `reader`. Every
    /// process holding the queue holds both ends.
    writer: Socket,
    reader: Socket,
    state: SharedMem<QueueCounts>,
    /// `u32::MAX` for no limit, as CPython takes `SEM_VALUE_MAX`.
    maxsize: u32,
    /// `close` was called in this process.
    /// Not handed on: a spawned child's copy starts open, as it would in CPython.
    #[serde(skip)]
    closed: AtomicBool,
    /// How looking for an item before sleeping went, in this process.
    #[serde(skip)]
    spin: Spin,
}

/// Python's `multiprocessing.Queue`: a FIFO that any number of processes
/// can put to and get from.
///
/// Make it in the parent, clone it into each child's closure, and `fork`
/// does the rest (see [the module docs](crate::ipc)). Items are any
/// `T: Serialize + DeserializeOwned`; each travels as one message, so items
/// from one producer arrive in the order it put them.
///
/// ```
/// use shared::Process;
/// use shared::ipc::Queue;
///
/// # fn main() -> Result<(), shared::Error> {
/// let q: Queue<String> = Queue::new()?;
/// let child_q = q.clone(); // Python: args=(q,)
/// let mut p = Process::new(move || child_q.put("hello".to_owned()));
/// p.start()?;
/// assert_eq!(q.get()?, "hello");
/// p.join()?;
/// # Ok(())
/// # }
/// ```
///
/// Differs from CPython: `put` sends straight to the socket instead of
/// handing the item to a feeder thread, so it returns once the item is in
/// the kernel's buffer. That buffer (the socket's send buffer,
/// `net.core.wmem_default`, 208 KiB on most Linux systems) holds, measured
/// here: 278 items of up to a few hundred bytes, 93 of 1 KB, 26 of 4 KB,
/// 4 of 60 KB; an item over 64 KiB takes one small place again (its bytes
/// wait in a memory file). Past that, `put` waits for a consumer, and
/// [`put_nowait`](Self::put_nowait) and [`put_timeout`](Self::put_timeout)
/// say [`Error::Full`] (at once, or when their time is up), having sent
/// nothing, even on a queue with no `maxsize`. CPython's `put_nowait` on an
/// unbounded queue never says `Full`: it appends the item to a list in the
/// producer's memory, which a feeder thread writes to the pipe later, so
/// the items wait in the producer (and are lost if it dies) instead of in
/// the kernel. Start your consumers before you put a lot.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct Queue<T> {
    inner: Arc<Inner>,
    item: std::marker::PhantomData<fn(T) -> T>,
    /// A `JoinableQueue` counts unfinished tasks on `put`.
    joinable: bool,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            inner: Arc::clone(&self.inner),
            item: std::marker::PhantomData,
            joinable: self.joinable,
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.inner.state.count.load(Ordering::Relaxed))
            .field("maxsize", &self.inner.maxsize)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A queue with no size limit (Python: `Queue()`).
    pub fn new() -> Result<Self, Error> {
        Queue::with_maxsize(0)
    }

    /// A queue holding at most `maxsize` items; 0 (or more than `u32::MAX`)
    /// means no limit (Python: `Queue(maxsize)`). A `put` on a full queue waits, or with
    /// [`put_nowait`](Self::put_nowait) fails with [`Error::Full`].
    pub fn with_maxsize(maxsize: usize) -> Result<Self, Error> {
        let (writer, reader) = Socket::pair()?;
        let state = SharedMem::new()?; // zeroed: empty
        Ok(Queue {
            inner: Arc::new(Inner {
                writer,
                reader,
                state,
                maxsize: u32::try_from(maxsize)
                    .ok()
                    .filter(|&m| m > 0)
                    .unwrap_or(u32::MAX),
                closed: AtomicBool::new(false),
                spin: Spin::default(),
            }),
            item: std::marker::PhantomData,
            joinable: false,
        })
    }

    /// Put `item`, waiting for room if the queue is bounded and full, or
    /// its socket is (see [`Queue`] for how many items that holds).
    pub fn put(&self, item: T) -> Result<(), Error> {
        self.put_with(item, Wait::Forever)
    }

    /// Put `item`, waiting at most `timeout` for room in the queue and in
    /// its socket (Python: `put(item, timeout=t)`); [`Error::Full`], with
    /// nothing sent, if none came.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), Error> {
        self.put_with(item, Wait::timeout(timeout))
    }

    /// Put `item` only if there is room now, in the queue and in its socket
    /// (Python: `put_nowait(item)`); [`Error::Full`], with nothing sent,
    /// otherwise. Never waits.
    pub fn put_nowait(&self, item: T) -> Result<(), Error> {
        self.put_with(item, Wait::No)
    }

    /// Take the oldest item, waiting as long as it takes.
    pub fn get(&self) -> Result<T, Error> {
        self.get_with(Wait::Forever)
    }

    /// Take the oldest item, waiting at most `timeout`
    /// (Python: `get(timeout=t)`); [`Error::Empty`] if none came.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Error> {
        self.get_with(Wait::timeout(timeout))
    }

    /// Take the oldest item only if one is there now (Python:
    /// `get_nowait()`); [`Error::Empty`] otherwise.
    pub fn get_nowait(&self) -> Result<T, Error> {
        self.get_with(Wait::No)
    }

    fn put_with(&self, item: T, wait: Wait) -> Result<(), Error> {
        let inner = &*self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed("put"));
        }
        // Encoded, and a big item written to its memory file, before the
        // queue is touched: a producer killed meanwhile leaves no trace.
        let bytes = encode(&item)?;
        let message = Outgoing::new(&bytes)?;
        let sent = inner.send(&message, wait, self.joinable);
        if sent.is_ok() {
            inner.state.unread.fetch_add(1, Ordering::Release);
        }
        sent
    }

    fn get_with(&self, wait: Wait) -> Result<T, Error> {
        let inner = &*self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed("get"));
        }
        // No lock: each message is one packet, and the kernel gives each
        // packet, whole, to exactly one of the readers.
        let unread = &inner.state.unread;
        let began = crate::timeline::now_if_on();
        if !matches!(wait, Wait::No) {
            inner
                .spin
                .until(|| unread.load(Ordering::Acquire) as i32 > 0);
        }
        let message = match inner.reader.recv(wait) {
            Ok(None) => return Err(Error::Empty),
            Err(Error::Eof) => return Err(Error::Eof),
            Ok(Some(message)) => Ok(message),
            Err(lost) => Err(lost), // taken off the socket, but no message
        };
        crate::timeline::waited(crate::timeline::On::Queue, began);
        // Taken, whole or lost: one item fewer either way.
        unread.fetch_sub(1, Ordering::AcqRel); // may dip below 0 until the sender counts it
        inner.taken();
        decode(&message?)
    }

    /// How many items are in the queue (Python: `qsize()`).
    ///
    /// Exact when no `put` or `get` is under way: an item counts from just
    /// before its `put` sends it until a `get` has taken it. A producer
    /// killed in that instant (a few instructions: its item encoded, its
    /// place taken, the send not yet begun), or a consumer killed as its
    /// receive returns, leaves the count one too high for good (and a
    /// `JoinableQueue`'s count of tasks, which moves with it), and a
    /// bounded queue one place short; killed anywhere else in `put`
    /// (encoding, writing a big item, waiting for room), it leaves no trace.
    /// CPython's count is off after any kill between its semaphore and its
    /// feeder's write.
    pub fn qsize(&self) -> usize {
        self.inner.state.count.load(Ordering::Acquire) as usize
    }

    /// Whether [`qsize`](Self::qsize) is 0 (Python: `empty()`); after
    /// [`close`](Self::close), [`Error::Closed`], as CPython's `Queue`
    /// raises `OSError: handle is closed` once its feeder has closed the
    /// reader (`put(x); close(); join_thread(); empty()`), and its `SimpleQueue`
    /// at once: this port's `close` is that state, having no feeder.
    pub fn empty(&self) -> Result<bool, Error> {
        match self.inner.closed.load(Ordering::Acquire) {
            true => Err(Error::Closed("check empty")),
            false => Ok(self.qsize() == 0),
        }
    }

    /// Whether a bounded queue holds `maxsize` items (Python: `full()`).
    pub fn full(&self) -> bool {
        self.qsize() >= self.inner.maxsize as usize
    }

    /// Say this process will use the queue no more (Python: `close()`):
    /// from now on `put` and `get` here fail with [`Error::Closed`]. Other
    /// processes are not affected. The channel itself closes when this
    /// process drops its last clone of the queue.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
    }
}

impl Inner {
    /// Reserve a place (as CPython's semaphore does, so the count never
    /// says fewer items than are in the socket), send without waiting, and
    /// if the socket has no room, give the place back while waiting for
    /// some. So a producer killed at any point holds a place only between
    /// the reservation and the send, a few instructions, and a timed `put`
    /// never outstays its time. `Full` if no room came in time.
    ///
    /// A `JoinableQueue`'s item (`joinable`) counts as a task from the same
    /// moment as it counts in the queue, once its place is reserved, as
    /// CPython counts it once its semaphore is taken: a producer killed
    /// while it waits for room leaves no task that will never be done.
    /// (Counted before the send, so a quick consumer's `task_done` never
    /// comes first.)
    fn send(&self, message: &Outgoing<'_>, wait: Wait, joinable: bool) -> Result<(), Error> {
        loop {
            if !self.reserve(wait) {
                return Err(Error::Full);
            }
            if joinable {
                self.state.unfinished.fetch_add(1, Ordering::AcqRel);
            }
            let sent = self.writer.try_send(message);
            if !matches!(sent, Ok(true)) {
                self.taken(); // the item never went in
                if joinable {
                    let _ = self.done();
                }
            }
            match sent {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(e.into()),
            }
            if !self.writer.wait_writable(wait)? {
                return Err(Error::Full); // no room in the socket in time
            }
        }
    }

    /// Take a place in the queue, waiting for one as `wait` says while a
    /// bounded queue is full; `false` if none came in time.
    fn reserve(&self, wait: Wait) -> bool {
        let (count, max) = (&self.state.count, self.maxsize);
        let reserve = |n: u32| (n < max).then_some(n + 1);
        while count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, reserve)
            .is_err()
        {
            if !wait_until(count, |n| n < max, wait) {
                return false;
            }
        }
        true
    }

    /// `JoinableQueue::task_done`: one unfinished item fewer.
    fn done(&self) -> Result<(), Error> {
        let unfinished = &self.state.unfinished;
        let before = unfinished
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .map_err(|_| Error::TaskDoneTooManyTimes)?;
        if before == 1 {
            futex_wake_all(unfinished);
        }
        Ok(())
    }

    /// One item fewer in the queue: count it, and wake a waiting `put`.
    fn taken(&self) {
        let count = &self.state.count;
        let _ = count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if self.maxsize != u32::MAX {
            futex_wake_all(count); // a `put` may wait for room
        }
    }
}

/// Python's `multiprocessing.SimpleQueue`: just `put`, `get`, `empty` and
/// `close`, no size limit and no timeouts.
///
/// CPython's is a pipe with a lock on each end and no feeder thread; ours
/// is a [`Queue`] with the rest of its methods hidden (a queue here needs
/// no lock and no feeder thread either).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct SimpleQueue<T>(Queue<T>);

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue(self.0.clone())
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SimpleQueue").field(&self.0).finish()
    }
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// A new, empty queue (Python: `SimpleQueue()`).
    pub fn new() -> Result<Self, Error> {
        Queue::new().map(SimpleQueue)
    }
    /// Put `item` (see [`Queue::put`]).
    pub fn put(&self, item: T) -> Result<(), Error> {
        self.0.put(item)
    }
    /// Take the oldest item, waiting as long as it takes.
    pub fn get(&self) -> Result<T, Error> {
        self.0.get()
    }
    /// Whether the queue is empty (see [`Queue::empty`]).
    pub fn empty(&self) -> Result<bool, Error> {
        self.0.empty()
    }
    /// Use the queue no more in this process: `put`, `get` and `empty` then
    /// fail with [`Error::Closed`].
    pub fn close(&self) {
        self.0.close()
    }
}

/// Python's `multiprocessing.JoinableQueue`: a [`Queue`] that also counts
/// unfinished tasks.
///
/// Every `put` adds one; a consumer calls [`task_done`](Self::task_done)
/// once for each item it took, when it has finished with it; and
/// [`join`](Self::join) waits until the count is back to zero, that is,
/// until every item ever put has been processed. The count lives in shared
/// memory, so producers, consumers and the joiner can be any processes.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct JoinableQueue<T>(Queue<T>);

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue(self.0.clone())
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JoinableQueue").field(&self.0).finish()
    }
}

/// A `JoinableQueue` is a [`Queue`] with two methods more, as CPython's
/// class derives from `Queue`: every `Queue` method works on it.
impl<T> std::ops::Deref for JoinableQueue<T> {
    type Target = Queue<T>;
    fn deref(&self) -> &Queue<T> {
        &self.0
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// A queue with no size limit (Python: `JoinableQueue()`).
    pub fn new() -> Result<Self, Error> {
        Self::with_maxsize(0)
    }

    /// A queue holding at most `maxsize` items; 0 means no limit.
    pub fn with_maxsize(maxsize: usize) -> Result<Self, Error> {
        let mut queue = Queue::with_maxsize(maxsize)?;
        queue.joinable = true;
        Ok(JoinableQueue(queue))
    }

    /// Say that an item taken with `get` has been dealt with
    /// (Python: `task_done()`). Called more often than items were put, it
    /// fails with [`Error::TaskDoneTooManyTimes`].
    pub fn task_done(&self) -> Result<(), Error> {
        self.0.inner.done()
    }

    /// Wait until every item put has been marked done (Python: `join()`).
    pub fn join(&self) {
        wait_until(&self.0.inner.state.unfinished, |n| n == 0, Wait::Forever);
    }
}
