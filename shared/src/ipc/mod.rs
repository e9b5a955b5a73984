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
//! | the `bytes` that `recv_bytes` returns | [`Bytes`]: read-only, [`Bytes::into_vec`] for a `Vec<u8>` |
//! | `EOFError` from `recv` | [`Error::Eof`] |
//! | `Event()`: `set`, `clear`, `is_set`, `wait()`, `wait(t)` | [`Event`]: same names, [`Event::wait_timeout`] |
//! | `connection.wait([conn, p.sentinel], t)` | [`wait`]`(&[conn.as_fd(), sentinel.as_fd()], t)` |
//!
//! # How it works: make it first, then fork
//!
//! Every type here is made in a parent *before* it starts the processes
//! that use it. Then `fork` copies the parent into each child, and two
//! kinds of things are copied in a useful way:
//!
//! - **Open file descriptors.** A pipe or a queue is a pair of connected
//!   sockets, held as two numbered descriptors. The child's copies of those
//!   numbers refer to the *same* sockets as the parent's, so what the child
//!   writes the parent can read.
//! - **Shared memory.** Ordinary memory is copied on `fork` (lazily, but
//!   each process then has its own). Memory mapped with
//!   `mmap(MAP_SHARED)` (of a memory file) is not: every process forked after
//!   the mapping sees the same bytes. A queue's item count and an
//!   [`Event`]'s flag live there, as atomics; a process waits for one of
//!   them to change with `futex`, the kernel call that puts a thread to
//!   sleep until another thread, in any process, wakes it. (Both calls,
//!   and `poll`, are in the crate's OS layer, `sys.rs`.)
//!
//! (The shared memory is a memory file mapped `MAP_SHARED`, kept open, so
//! that a *spawned* child, a fresh program that `fork` copied nothing into,
//! can be handed it with the sockets: see [`crate::process::spawn`].)
//!
//! That is why you clone a queue or an event into a child's closure instead
//! of sending it: the clone is just another handle to the same descriptors
//! and the same memory, and `fork` gives the child its own copy. As in
//! Python, a process that is already running cannot be handed one later.
//!
//! # Messages
//!
//! Pipes, queues and the [`Pool`](crate::Pool) move their messages the same
//! way, in `socket.rs` (about 300 lines, worth reading): serde turns a value
//! into bytes (`codec.rs`; Python uses pickle), and the bytes travel as one packet of a
//! `SOCK_SEQPACKET` socket, which the kernel delivers whole to exactly one
//! reader; a message over 64 KiB travels in a memory file whose descriptor
//! rides in the packet, and which the reader maps rather than copies
//! ([`Bytes`]). So, beyond CPython's design (a byte stream, a read
//! lock, a feeder thread), several consumers read one queue with no lock, a
//! process killed mid-message never leaves a torn one, and a reader that
//! dies never leaves a sender stuck. Once the other end is gone everywhere,
//! `recv` says [`Error::Eof`] and `send` says `BrokenPipe`, at once.
//!
//! # Waiting
//!
//! Every wait sleeps in the kernel (`poll(2)`, `recvmsg`, `futex`). With two
//! CPUs or more, a blocking `recv` or `get` first looks at a count in shared
//! memory for some 50 µs, since waking a sleeper costs more than a quick
//! reply takes; `Spin` in `spin.rs` says how it backs off on a busy machine.
//!
//! # Pitfalls
//!
//! - **A send waits when the buffer is full.** The kernel buffers a couple
//!   of hundred small messages; past that, `put` and `send` wait for a
//!   reader (CPython's queue hands items to a background thread instead),
//!   and `put_nowait` and `put_timeout` say `Full` (see [`Queue`]). So
//!   start consumers first, and read what children sent before joining
//!   them, or parent and child wait for each other.
//! - **End-of-file needs every sender gone.** [`Connection::recv`] returns
//!   [`Error::Eof`] only when the other end is closed in every process that
//!   had a copy, the parent included: move the child's end into the child's
//!   closure, so the parent's copy goes when the child starts.
//! - **Receive the type that was sent.** A pickle says what it holds; a
//!   postcard message does not. `recv::<u32>()` of a message sent as an
//!   `i32` gives a wrong number, not an error (`0..3` is `i32` unless told
//!   otherwise: write `0..3u32`). Where the bytes do not fit the type
//!   asked for (some left over, or too few: `recv::<u64>()` of a `"hello"`),
//!   the receive is an [`Error::Encoding`]; what the bytes cannot tell
//!   (an `i32` read as a `u32`, a `u8` as a `bool` 0 or 1) goes unseen.
//! - **Only our packets are messages.** Anyone holding a descriptor can
//!   write to it (`AsRawFd`). A packet this layer did not frame (longer
//!   than any message, with descriptors it should not carry, of an unknown
//!   kind) is taken off and refused with an `InvalidData` error, its
//!   descriptors closed; the next message is read as usual.
//! - **A big message is a file.** Over 64 KiB it goes in a memory file,
//!   so a file-size limit (`ulimit -f`, `RLIMIT_FSIZE`) smaller than the
//!   message makes the send an `EFBIG` error (checked first: the kernel
//!   would kill the sender with SIGXFSZ mid-write).
//! - **Fork from one thread.** As everywhere in this crate: a lock held by
//!   another thread at `fork` stays held for ever in the child.
//!
//! [`Error::Empty`]: crate::Error::Empty
//! [`Error::Full`]: crate::Error::Full
//! [`Error::Closed`]: crate::Error::Closed
//! [`Error::Eof`]: crate::Error::Eof
//! [`Error::Encoding`]: crate::Error::Encoding

mod bytes;
mod event;
mod pipe;
mod queue;
pub(crate) mod socket;
pub(crate) mod spin;

use std::os::fd::BorrowedFd;
use std::time::Duration;

pub(crate) use crate::sys::Wait;

pub use bytes::Bytes;
pub use event::Event;

pub use pipe::{Connection, pipe};
pub use queue::{JoinableQueue, Queue, SimpleQueue};

/// Wait until at least one of `fds` is ready (a message or end-of-file on
/// a [`Connection`], the end of a process for its
/// [`sentinel`](crate::Process::sentinel)), for at most `timeout`
/// (Python: `multiprocessing.connection.wait(objects, timeout)`); returns
/// the indices of the ready ones, empty if the time ran out. The process
/// sleeps in the kernel (`poll(2)`) meanwhile.
pub fn wait(fds: &[BorrowedFd<'_>], timeout: Duration) -> Result<Vec<usize>, crate::Error> {
    Ok(crate::sys::wait_readable(fds, Wait::timeout(timeout))?)
}
