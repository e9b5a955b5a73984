//! [`pipe`] and [`Connection`]: two ends, each for one process.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::socket::Socket;
use super::spin::Spin;
use super::{Bytes, Wait};
use crate::Error;
use crate::codec::{decode, encode};
use crate::sys::SharedMem;

/// Python's `multiprocessing.Pipe(duplex)`: two connected [`Connection`]s.
///
/// With `duplex` each end can send and receive. Without it the first end
/// only receives and the second only sends, as in Python's
/// `reader, writer = Pipe(False)`.
///
/// Give one end to a child by moving it into the child's closure: the
/// parent's copy goes when `start` returns. That matters for end-of-file:
/// [`recv`](Connection::recv) reports [`Error::Eof`] only once the other end
/// is closed in *every* process.
///
/// ```
/// use shared::Process;
/// use shared::ipc::pipe;
///
/// # fn main() -> Result<(), shared::Error> {
/// let (parent_conn, child_conn) = pipe(true)?;
/// let mut p = Process::new(move || child_conn.send("hello"));
/// p.start()?;
/// assert_eq!(parent_conn.recv::<String>()?, "hello");
/// p.join()?;
/// # Ok(())
/// # }
/// ```
pub fn pipe(duplex: bool) -> Result<(Connection, Connection), Error> {
    let (a, b) = Socket::pair()?;
    let unread = Arc::new(SharedMem::new()?); // zeroed: nothing sent
    let end = |socket, readable, writable, side| {
        let unread = Arc::clone(&unread);
        Connection {
            socket,
            readable,
            writable,
            unread,
            side,
            spin: Spin::default(),
        }
    };
    // Python's `Pipe(False)` returns `(reader, writer)`.
    Ok((end(a, true, duplex, 0), end(b, duplex, true, 1)))
}

/// One end of a [`pipe`] (Python's `multiprocessing.connection.Connection`).
///
/// Every message is a byte string: [`send_bytes`](Self::send_bytes) and
/// [`recv_bytes`](Self::recv_bytes) move bytes as they are, and
/// [`send`](Self::send) and [`recv`](Self::recv) encode a serde value with
/// `postcard` where Python uses `pickle`. Each message arrives whole, to
/// one reader: if two processes read the same end, each gets some.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Connection {
    socket: Socket,
    readable: bool,
    writable: bool,
    /// Messages sent to each end and not yet received, in memory both ends
    /// share: only a hint for [`Spin`], never trusted for what is there.
    unread: Arc<SharedMem<[AtomicU32; 2]>>,
    /// This end's place in `unread`.
    side: usize,
    #[serde(skip)]
    spin: Spin,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .finish()
    }
}

impl Connection {
    /// Send `obj`, encoded (Python: `send(obj)`).
    pub fn send<T: Serialize + ?Sized>(&self, obj: &T) -> Result<(), Error> {
        self.send_bytes(&encode(obj)?)
    }

    /// Receive one object sent with [`send`](Self::send) (Python: `recv()`).
    /// Waits until there is one; [`Error::Eof`] once the other end is
    /// closed everywhere and nothing is left to read.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T, Error> {
        decode(&self.recv_bytes()?)
    }

    /// Send `buf` as one message, as it is (Python: `send_bytes(buf)`).
    /// Returns once the message is queued in the kernel, waiting only if
    /// many pile up unread; `BrokenPipe` once the other end is closed
    /// everywhere, as in Python.
    pub fn send_bytes(&self, buf: &[u8]) -> Result<(), Error> {
        if !self.writable {
            return Err(not_allowed("connection is read-only"));
        }
        self.socket.send(buf).map_err(Error::from)?;
        self.unread[1 - self.side].fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Receive one message as [`Bytes`] (Python: `recv_bytes()`), first
    /// looking for a few microseconds (see the module docs), then asleep.
    /// A big message is mapped, not copied.
    pub fn recv_bytes(&self) -> Result<Bytes, Error> {
        self.receive(|socket| Ok(socket.recv(Wait::Forever)?.expect("a wait for ever ends")))
    }

    /// Receive one message into `buf` (Python: `recv_bytes_into(buf)`);
    /// returns its length. A message longer than `buf` is
    /// [`Error::BufferTooShort`], which hands back the whole message. A big
    /// message goes straight into `buf`, with no buffer of its own.
    pub fn recv_bytes_into(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.receive(|socket| socket.recv_into(buf))
    }

    /// Look for a message for a few microseconds, then `recv` it, asleep.
    fn receive<R>(&self, recv: impl FnOnce(&Socket) -> Result<R, Error>) -> Result<R, Error> {
        if !self.readable {
            return Err(not_allowed("connection is write-only"));
        }
        let unread = &self.unread[self.side];
        let began = crate::timeline::now_if_on();
        self.spin
            .until(|| unread.load(Ordering::Acquire) as i32 > 0);
        let got = recv(&self.socket);
        crate::timeline::waited(crate::timeline::On::Pipe, began);
        if !matches!(got, Err(Error::Eof)) {
            unread.fetch_sub(1, Ordering::AcqRel); // may dip below 0 until the sender counts it
        }
        got
    }

    /// Whether a message (or end-of-file) is waiting, waiting at most
    /// `timeout` for one (Python: `poll(timeout)`; `Duration::ZERO` asks
    /// without waiting, `Duration::MAX` waits for ever). It sleeps in the
    /// kernel (`poll(2)`) and takes nothing off the pipe.
    pub fn poll(&self, timeout: Duration) -> Result<bool, Error> {
        if !self.readable {
            return Err(not_allowed("connection is write-only"));
        }
        Ok(self.socket.poll(Wait::timeout(timeout))?)
    }

    /// Another handle to this same end (`dup(2)`), as a second Python
    /// variable naming one `Connection` would be; say, to keep one in the
    /// parent while a child's closure takes the other.
    pub fn try_clone(&self) -> Result<Connection, Error> {
        let socket = self.socket.try_clone()?;
        let (unread, spin) = (Arc::clone(&self.unread), Spin::default());
        Ok(Connection {
            socket,
            unread,
            spin,
            ..*self
        })
    }

    /// Whether this end can receive (Python: `readable`).
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Whether this end can send (Python: `writable`).
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Close this end in this process (Python: `close()`); dropping it does
    /// the same.
    pub fn close(self) {}
}

/// The descriptor of this end (Python: `fileno()`), to wait on it with
/// `poll(2)` among others, as the pool's parent waits on its workers.
impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for Connection {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// CPython raises `OSError` with these words for the wrong direction.
fn not_allowed(what: &'static str) -> Error {
    Error::from(io::Error::new(io::ErrorKind::Unsupported, what))
}
