//! [`pipe`] and [`Connection`]: two ends, each for one process.

use std::fmt;
use std::io;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender};
use ipc_channel::{IpcError, TryRecvError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::shm::{Wait, spin};
use crate::error::Error;

/// Python's `multiprocessing.Pipe(duplex)`: two connected [`Connection`]s.
///
/// With `duplex` each end can send and receive. Without it the first end
/// only receives and the second only sends, as in Python's
/// `reader, writer = Pipe(False)`.
///
/// Give one end to a child by moving it into the child's closure: when the
/// parent's `start` returns, the parent's copy of the closure, and with it
/// the parent's copy of that end, is dropped. That matters for
/// end-of-file: [`recv`](Connection::recv) reports [`Error::Eof`] only once
/// the other end is closed in *every* process.
///
/// ```no_run
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
    let (a_tx, b_rx) = ipc::bytes_channel()?;
    if !duplex {
        return Ok((
            Connection::new(None, Some(b_rx)),
            Connection::new(Some(a_tx), None),
        ));
    }
    let (b_tx, a_rx) = ipc::bytes_channel()?;
    Ok((
        Connection::new(Some(a_tx), Some(a_rx)),
        Connection::new(Some(b_tx), Some(b_rx)),
    ))
}

/// One end of a [`pipe`] (Python's `multiprocessing.connection.Connection`).
///
/// Every message is a byte string. [`send_bytes`](Self::send_bytes) and
/// [`recv_bytes`](Self::recv_bytes) move bytes as they are;
/// [`send`](Self::send) and [`recv`](Self::recv) turn a serde value into
/// bytes and back with `postcard`, where Python uses `pickle`. So, as in
/// Python, what one end sends with `send` the other may read with
/// `recv_bytes` (and get the encoded form).
///
/// Two processes must not read from the same end at the same time (Python
/// says the same): a message goes to one of them, and [`poll`](Self::poll)
/// in one can make the other's read fail for a moment.
pub struct Connection {
    tx: Option<IpcBytesSender>,
    reader: Option<Mutex<Reader>>,
}

struct Reader {
    rx: IpcBytesReceiver,
    /// What `poll` took off the channel to see it, for the next `recv`.
    peeked: Option<Peeked>,
}

enum Peeked {
    Message(Vec<u8>),
    Eof,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("readable", &self.reader.is_some())
            .field("writable", &self.tx.is_some())
            .finish()
    }
}

impl Connection {
    fn new(tx: Option<IpcBytesSender>, rx: Option<IpcBytesReceiver>) -> Connection {
        Connection {
            tx,
            reader: rx.map(|rx| Mutex::new(Reader { rx, peeked: None })),
        }
    }

    /// Send `obj`, encoded (Python: `send(obj)`).
    pub fn send<T: Serialize + ?Sized>(&self, obj: &T) -> Result<(), Error> {
        let bytes = postcard::to_stdvec(obj)
            .map_err(|e| Error::Ipc(format!("cannot encode the object: {e}")))?;
        self.send_bytes(&bytes)
    }

    /// Receive one object sent with [`send`](Self::send) (Python: `recv()`).
    /// Waits until there is one; [`Error::Eof`] once the other end is
    /// closed everywhere and nothing is left to read.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let bytes = self.recv_bytes()?;
        postcard::from_bytes(&bytes)
            .map_err(|e| Error::Ipc(format!("cannot decode the message: {e}")))
    }

    /// Send `buf` as one message, as it is (Python: `send_bytes(buf)`).
    ///
    /// A message too big for the kernel's buffer (about 200 KiB) is sent in
    /// pieces, and this returns once the other end has read them all.
    pub fn send_bytes(&self, buf: &[u8]) -> Result<(), Error> {
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| not_allowed("connection is read-only"))?;
        // The other end closed everywhere: a `BrokenPipe` error, as in Python.
        tx.send(buf).map_err(Error::Io)
    }

    /// Receive one message as bytes (Python: `recv_bytes()`).
    ///
    /// It first looks for a message for a few microseconds before it blocks,
    /// which makes a quick back-and-forth several times faster.
    pub fn recv_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut reader = self.reader()?;
        match reader.peeked.take() {
            Some(Peeked::Message(bytes)) => return Ok(bytes),
            Some(Peeked::Eof) => {
                reader.peeked = Some(Peeked::Eof);
                return Err(Error::Eof);
            }
            None => {}
        }
        // A quick answer is often there within microseconds: look before sleeping.
        let mut early = None;
        spin(|| match reader.rx.try_recv() {
            Ok(bytes) => {
                early = Some(bytes);
                true
            }
            Err(TryRecvError::Empty) => false,
            Err(_) => true, // the blocking read below reports it
        });
        if let Some(bytes) = early {
            return Ok(bytes);
        }
        loop {
            match reader.rx.recv() {
                Ok(bytes) => return Ok(bytes),
                Err(IpcError::Disconnected) => {
                    reader.peeked = Some(Peeked::Eof);
                    return Err(Error::Eof);
                }
                Err(IpcError::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                // Another process polled this same end and left the socket
                // non-blocking for a moment: wait a little and read again.
                Err(IpcError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err(IpcError::Io(e)) => return Err(Error::Io(e)),
                Err(e @ IpcError::SerializationError(_)) => return Err(Error::Ipc(e.to_string())),
            }
        }
    }

    /// Whether a message (or end-of-file) is waiting, waiting at most
    /// `timeout` for one (Python: `poll(timeout)`; `Duration::ZERO` asks
    /// without waiting, `Duration::MAX` waits for ever).
    ///
    /// Differs from Python: ipc-channel hides the socket, so this cannot ask
    /// the kernel to wake it when data comes. It tries a non-blocking read
    /// now and then, napping between tries (50 µs at first, up to 2 ms), and
    /// keeps what it read for the next `recv`.
    pub fn poll(&self, timeout: Duration) -> Result<bool, Error> {
        let mut reader = self.reader()?;
        if reader.peeked.is_some() {
            return Ok(true);
        }
        let wait = Wait::timeout(timeout);
        let mut nap = Duration::from_micros(50);
        loop {
            match reader.rx.try_recv() {
                Ok(bytes) => {
                    reader.peeked = Some(Peeked::Message(bytes));
                    return Ok(true);
                }
                Err(TryRecvError::IpcError(IpcError::Disconnected)) => {
                    reader.peeked = Some(Peeked::Eof);
                    return Ok(true);
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::IpcError(IpcError::Io(e)))
                    if e.kind() == io::ErrorKind::Interrupted => {}
                Err(TryRecvError::IpcError(IpcError::Io(e))) => return Err(Error::Io(e)),
                Err(TryRecvError::IpcError(e)) => return Err(Error::Ipc(e.to_string())),
            }
            let left = wait.left().unwrap_or(Duration::MAX);
            if left.is_zero() {
                return Ok(false);
            }
            std::thread::sleep(nap.min(left));
            nap = (nap * 2).min(Duration::from_millis(2));
        }
    }

    /// Close this end in this process (Python: `close()`); dropping it does
    /// the same.
    pub fn close(self) {}

    fn reader(&self) -> Result<MutexGuard<'_, Reader>, Error> {
        let reader = self
            .reader
            .as_ref()
            .ok_or_else(|| not_allowed("connection is write-only"))?;
        Ok(reader
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

/// CPython raises `OSError` with these words for the wrong direction.
fn not_allowed(what: &'static str) -> Error {
    Error::Io(io::Error::new(io::ErrorKind::Unsupported, what))
}
