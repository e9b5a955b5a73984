//! One error type for the whole crate, with CPython's wording.
//!
//! Where CPython raises (`AssertionError`, `ValueError`, `queue.Empty`, …)
//! we return an [`Error`] whose message is CPython's, so a learner who
//! misuses a process, queue or pool reads the same sentence in both
//! languages, and `main() -> Result<(), shared::Error>` prints it cleanly.

use std::fmt;
use std::sync::Arc;

use nix::errno::Errno;

/// Everything that can go wrong in `shared`. It is `Clone`, for a pool
/// result asked for twice: an I/O error is shared, not copied.
#[non_exhaustive]
#[derive(Clone)]
pub enum Error {
    /// `start` called on a process that was already started.
    AlreadyStarted,
    /// A process's daemon flag set after `start`.
    HasStarted,
    /// `close` on a process that is still running.
    StillRunning,
    /// A process object used after `close`.
    ProcessClosed,
    /// `join`, `terminate` or `kill` on a process that was never started;
    /// carries the verb.
    NotStarted(&'static str),
    /// `join` from a process that is not the child's parent.
    NotAChild,
    /// `start` in a process other than the one that created the object.
    CreatedElsewhere,
    /// `start` while the process runs this many threads.
    Threads(usize),
    /// `start` in a process that cannot count its threads (no readable
    /// `/proc/self/task`): as refused as one that runs several.
    ThreadsUnknown,
    /// `join` of a child the kernel reaped itself, SIGCHLD being ignored.
    Unreapable,
    /// A daemon tried to start a child of its own.
    DaemonChildren,
    /// `set_start_method` a second time, or after the default was used.
    ContextAlreadySet,
    /// A closure's process started by `spawn`: only a function and its
    /// argument can be sent to a fresh program.
    NotSpawnable,
    /// A spawned child whose `main` did not call `freeze_support` first
    /// tried to start a process.
    Bootstrapping,
    /// A spawned child could not be started or given its task.
    Spawn(String),
    /// A lock released while free, or a bounded semaphore past its start.
    ReleasedTooManyTimes,
    /// A lock used by a thread that does not hold it; CPython's assertion.
    NotOwned(&'static str),
    /// A barrier that was broken (by a timeout or `abort`) or reset.
    BrokenBarrier,
    /// `get` on an empty queue without blocking, or past its timeout.
    Empty,
    /// `put` on a full bounded queue without blocking, or past its timeout.
    Full,
    /// The queue was closed; carries what was attempted.
    Closed(&'static str),
    /// The other end of a pipe was closed in every process.
    Eof,
    /// `recv_bytes_into` got a message longer than its buffer; here it is.
    BufferTooShort(Vec<u8>),
    /// `task_done` called more often than items were put.
    TaskDoneTooManyTimes,
    /// A pool was used after `close` or `terminate`.
    PoolNotRunning,
    /// `Pool::join` was called before `close` or `terminate`.
    PoolStillRunning,
    /// A pool was asked for zero worker processes.
    NoProcesses,
    /// A timed wait ran out.
    Timeout,
    /// A pool result was asked whether it succeeded before it was ready.
    NotReady,
    /// An argument out of range; carries CPython's message.
    InvalidArgument(&'static str),
    /// A worker's task returned an `Err` or panicked: the error's type name
    /// (`ParseIntError`, `String`, `panic`) and its message, as CPython
    /// re-raises `ValueError: bad input` in the caller.
    Remote {
        /// The type of the task's error, without its path; `panic` for a panic.
        kind: String,
        /// The error's text.
        message: String,
        /// The error itself, encoded, if the task returned it wrapped in
        /// [`Typed`](crate::Typed): take it back with [`Error::remote`].
        value: Option<Vec<u8>>,
    },
    /// A value could not be encoded to travel, or a message could not be
    /// decoded as the type asked for (bytes left over, or too few); a
    /// task's value that could not travel back is CPython's
    /// `MaybeEncodingError`, `Error sending result: …`.
    Encoding(String),
    /// A worker died (for example killed by a signal) before finishing a task.
    WorkerLost(String),
    /// A pool call's input iterator panicked; carries its message.
    Input(String),
    /// Serialising or moving a message between processes failed.
    Ipc(String),
    /// A peer of a [`Listener`](crate::connection::Listener) connection
    /// failed the handshake: a wrong key, or no proper answer; carries
    /// CPython's words (`digest received was wrong` where the answer was
    /// checked, `digest sent was rejected` where it was refused).
    Authentication(String),
    /// A message longer than a receive allowed (CPython's `OSError: bad
    /// message length`).
    BadMessageLength,
    /// A system call failed (CPython's `OSError`): its errno, if it has
    /// one, is [`Error::errno`]. Match on that, never on the text.
    Io(Arc<std::io::Error>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlreadyStarted => f.write_str("cannot start a process twice"),
            Error::HasStarted => f.write_str("process has already started"),
            Error::StillRunning => f.write_str(
                "Cannot close a process while it is still running. You should first call \
                 join() or terminate().",
            ),
            Error::ProcessClosed => f.write_str("process object is closed"),
            Error::NotStarted(verb) => write!(f, "can only {verb} a started process"),
            Error::NotAChild => f.write_str("can only join a child process"),
            Error::Threads(n) => write!(
                f,
                "cannot fork: this process runs {n} threads, and a lock another \
                 thread holds at the fork stays locked for ever in the child; start \
                 processes and pools before any thread, or spawn them (StartMethod::Spawn; \
                 see also Process::start_unchecked)"
            ),
            Error::ThreadsUnknown => f.write_str(
                "cannot fork: this process cannot count its threads (/proc/self/task cannot \
                 be read), and a lock another thread holds at the fork stays locked for ever \
                 in the child; spawn instead (StartMethod::Spawn; see also \
                 Process::start_unchecked)",
            ),
            Error::ContextAlreadySet => f.write_str("RuntimeError: context has already been set"),
            Error::NotSpawnable => f.write_str(
                "cannot spawn a closure's process: a spawned child is a fresh run of the \
                 program and shares no memory with its parent; make it with \
                 Process::with_args(function, args) or a context's process(function, args)",
            ),
            Error::Bootstrapping => f.write_str(
                "RuntimeError: An attempt has been made to start a new process before the \
                 current process has finished its bootstrapping phase. This process was \
                 spawned, and its `main` did not call shared::freeze_support() first: the \
                 counterpart of Python's `if __name__ == '__main__':` guard",
            ),
            Error::Spawn(why) => write!(f, "cannot spawn: {why}"),
            Error::ReleasedTooManyTimes => {
                f.write_str("ValueError: semaphore or lock released too many times")
            }
            Error::NotOwned(why) => write!(f, "AssertionError: {why}"),
            Error::BrokenBarrier => f.write_str("BrokenBarrierError"),
            Error::Unreapable => f.write_str(
                "the child's exit status is lost: SIGCHLD is ignored (SIG_IGN) in this \
                 process, so the kernel reaped the child itself; restore SIGCHLD's \
                 default action (SIG_DFL) to join children",
            ),
            Error::CreatedElsewhere => {
                f.write_str("can only start a process object created by current process")
            }
            Error::DaemonChildren => {
                f.write_str("daemonic processes are not allowed to have children")
            }
            Error::Empty => f.write_str("queue is empty"),
            Error::Full => f.write_str("queue is full"),
            Error::Closed(what) => write!(f, "Queue is closed: cannot {what}"),
            Error::Eof => f.write_str("EOFError: the other end of the pipe was closed"),
            Error::BufferTooShort(message) => {
                write!(
                    f,
                    "BufferTooShort: the message is {} bytes long",
                    message.len()
                )
            }
            Error::TaskDoneTooManyTimes => f.write_str("task_done() called too many times"),
            Error::PoolNotRunning => f.write_str("Pool not running"),
            Error::PoolStillRunning => f.write_str("Pool is still running"),
            Error::NoProcesses => f.write_str("Number of processes must be at least 1"),
            Error::Timeout => f.write_str("timed out"),
            Error::NotReady => f.write_str("result not ready"),
            Error::InvalidArgument(message) => f.write_str(message),
            Error::Remote { kind, message, .. } => write!(f, "{kind}: {message}"),
            Error::Encoding(why) => f.write_str(why),
            Error::WorkerLost(msg) => write!(f, "worker lost: {msg}"),
            Error::Input(msg) => write!(f, "the input failed: {msg}"),
            Error::Ipc(msg) => write!(f, "ipc error: {msg}"),
            Error::Authentication(why) => write!(f, "AuthenticationError: {why}"),
            Error::BadMessageLength => f.write_str("OSError: bad message length"),
            // CPython's words: `OSError: [Errno 24] Too many open files`.
            Error::Io(err) => match err.raw_os_error() {
                // CPython's subclasses of OSError for the errnos a learner meets by name.
                Some(n) => {
                    let kind = match Errno::from_raw(n) {
                        Errno::ENOENT => "FileNotFoundError",
                        Errno::EEXIST => "FileExistsError",
                        _ => "OSError",
                    };
                    write!(f, "{kind}: [Errno {n}] {}", Errno::from_raw(n).desc())
                }
                None => write!(f, "OSError: {err}"),
            },
        }
    }
}

impl Error {
    /// The errno of a failed system call (`EMFILE`, `EAGAIN`, …), as
    /// CPython's `OSError.errno`; `None` for every other error.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Io(e) => e.raw_os_error().map(Errno::from_raw),
            _ => None,
        }
    }

    /// A failed task's own error value, as CPython re-raises the worker's
    /// exception object: `Some` if the task returned it wrapped in
    /// [`Typed`](crate::Typed) and it is an `E`.
    ///
    /// ```
    /// use shared::{Error, Typed};
    /// use shared::pool::Pool;
    ///
    /// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    /// struct TooBig(u64);
    ///
    /// impl std::fmt::Display for TooBig {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         write!(f, "{} is too big", self.0)
    ///     }
    /// }
    ///
    /// fn check(n: u64) -> Result<u64, Typed<TooBig>> {
    ///     if n > 9 { Err(Typed(TooBig(n))) } else { Ok(n) }
    /// }
    ///
    /// # fn main() -> Result<(), Error> {
    /// let pool = Pool::new(1)?;
    /// let error = pool.apply(check, (12,)).unwrap_err();
    /// assert_eq!(error.to_string(), "TooBig: 12 is too big");
    /// assert_eq!(error.remote::<TooBig>(), Some(TooBig(12)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn remote<E: serde::de::DeserializeOwned>(&self) -> Option<E> {
        let Error::Remote {
            value: Some(bytes), ..
        } = self
        else {
            return None;
        };
        // The value is its full type name, then itself (see `Typed`).
        let (name, rest) = postcard::take_from_bytes::<&str>(bytes).ok()?;
        if name != std::any::type_name::<E>() {
            return None;
        }
        postcard::from_bytes(rest).ok()
    }
}

/// The same text as `Display`: a `main` that returns `Err` prints
/// `Error: {:?}`, and a learner should read CPython's sentence there, not
/// the enum's insides.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

/// The message a panic was raised with, if it has one.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    match (
        payload.downcast_ref::<&str>(),
        payload.downcast_ref::<String>(),
    ) {
        (Some(message), _) => (*message).to_owned(),
        (_, Some(message)) => message.clone(),
        _ => "a panic".to_owned(),
    }
}

/// A failed system call, as nix reports it: an [`Error::Io`] with its errno.
impl From<Errno> for Error {
    fn from(errno: Errno) -> Self {
        Error::from(std::io::Error::from(errno))
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::Io(Arc::new(err))
    }
}
