//! Talking between processes: queues, pipes and events.
//!
//! | Python | here |
//! |---|---|
//! | `Queue(maxsize)` | [`Queue::new`], [`Queue::with_maxsize`] |
//! | `q.put(x)`, `q.put(x, timeout=t)`, `q.put_nowait(x)` | [`Queue::put`], [`Queue::put_timeout`], [`Queue::put_nowait`] |
//! | `q.get()`, `q.get(timeout=t)`, `q.get_nowait()` | [`Queue::get`], [`Queue::get_timeout`], [`Queue::get_nowait`] |
//! | `q.qsize()`, `q.empty()`, `q.full()`, `q.close()` | methods of the same names |
//! | `queue.Empty`, `queue.Full`, `ValueError: Queue … is closed` | [`Error::Empty`], [`Error::Full`], [`Error::Closed`] |
//! | `SimpleQueue()` | [`SimpleQueue`]: `put`, `get`, `empty`, `close` |
//! | `JoinableQueue()`, `task_done()`, `join()` | [`JoinableQueue`], [`JoinableQueue::task_done`], [`JoinableQueue::join`] |
//! | `a, b = Pipe()`, `r, w = Pipe(False)` | [`pipe`]`(true)`, [`pipe`]`(false)` |
//! | `send`, `recv`, `send_bytes`, `recv_bytes`, `poll(t)` | [`Connection`] methods of the same names |
//! | `EOFError` from `recv` | [`Error::Eof`] |
//! | `Event()`: `set`, `clear`, `is_set`, `wait()`, `wait(t)` | [`Event`]: same names, [`Event::wait_timeout`] |
//!
//! # How it works: make it first, then fork
//!
//! Every type here is made in a parent *before* it starts the processes
//! that use it. Then `fork` copies the parent into each child, and two
//! kinds of things are copied in a useful way:
//!
//! - **Open file descriptors.** A channel is a pair of connected sockets,
//!   held as two numbered descriptors. The child's copies of those numbers
//!   refer to the *same* sockets as the parent's, so what the child writes
//!   the parent can read. [`Queue`] and [`pipe`] are built on the
//!   [`ipc-channel`](ipc_channel) crate's channels: Unix `SOCK_SEQPACKET`
//!   sockets, which keep each message whole (a big one is sent in pieces
//!   through a private side channel, so two senders never interleave).
//! - **Shared memory.** Ordinary memory is copied on `fork` (lazily, but
//!   each process then has its own). Memory mapped with
//!   `mmap(MAP_SHARED | MAP_ANONYMOUS)` is not: every process forked after
//!   the mapping sees the same bytes. The queue's item count, its
//!   unfinished-task count and the [`Event`] flag live there, as atomics;
//!   a process waits for one of them to change with `futex`, the kernel
//!   call that puts a thread to sleep until another thread, in any process,
//!   wakes it.
//!
//! That is why you clone a queue or an event into a child's closure instead
//! of sending it: the clone is just another handle to the same descriptors
//! and the same memory, and `fork` gives the child its own copy. As in
//! Python, a process that is already running cannot be handed one later.
//!
//! # Several consumers on one queue
//!
//! Every consumer reads the same socket. A plain blocking read is safe for
//! that: the kernel gives each message to exactly one reader. Waiting *with
//! a timeout* is not: ipc-channel first polls ("is there a message?") and
//! then reads, and between the two another consumer may take the message,
//! leaving this one blocked past its timeout. (Its non-blocking read is
//! worse: it switches the socket, shared by every process, to non-blocking
//! mode while it reads.) So, like CPython, a queue has a read lock that a
//! consumer holds while it reads; it lives in the shared memory too.
//!
//! A consumer may be killed while it holds that lock. The lock is a
//! *robust* POSIX mutex: the kernel notices that its owner died, releases
//! it, and tells the next taker, which carries on. The other consumers lose
//! at most the one message the dead one was reading. (One rare case slips
//! past the kernel: a waiter killed at the instant it is woken can take the
//! wake-up with it. So a waiting consumer also looks again every 100 ms.)
//!
//! # Pitfalls
//!
//! - **A send waits when the buffer is full.** The kernel buffers a couple
//!   of hundred small messages; past that, `put` and `send` wait for a
//!   reader (CPython's queue hands items to a background thread instead).
//!   A message bigger than the buffer (about 200 KiB) waits until a reader
//!   has read it whole. So start consumers first, and read what children
//!   sent *before* joining them, or parent and child wait for each other.
//! - **End-of-file needs every sender gone.** [`Connection::recv`] returns
//!   [`Error::Eof`] only when the other end is closed in every process that
//!   had a copy, the parent included: move the child's end into the child's
//!   closure, so the parent's copy goes when the child starts.
//! - **A waiting `recv` or `get` spins first.** With two CPUs to run on,
//!   it looks for a message for up to 50 µs before it sleeps, since waking
//!   a sleeping process costs more than that on a virtual machine. A
//!   queue spins on its shared item count; a pipe end can only ask the
//!   socket (a non-blocking read, which flips the socket to non-blocking
//!   for a moment), so another process reading the *same* end may see
//!   "would block" then, which `recv` answers by reading again.
//! - **Fork from one thread.** As everywhere in this crate: a lock held by
//!   another thread at `fork` stays held for ever in the child.
//!
//! [`Error::Empty`]: crate::Error::Empty
//! [`Error::Full`]: crate::Error::Full
//! [`Error::Closed`]: crate::Error::Closed
//! [`Error::Eof`]: crate::Error::Eof

mod event;
mod pipe;
mod queue;
mod shm;

pub use event::Event;
pub use pipe::{Connection, pipe};
pub use queue::{JoinableQueue, Queue, SimpleQueue};
