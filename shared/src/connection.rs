//! Listeners and clients (Python's `multiprocessing.connection`): processes
//! that did not start each other find each other by an address, prove they
//! share a key, and talk, in CPython's own wire format, so that the other
//! end may be a Python program.
//!
//! | Python | here |
//! |---|---|
//! | `Listener(address, authkey=k)`, `Listener()` | [`Listener::bind`]`(Some(address), Some(k))`, [`Listener::bind`]`(None, None)` |
//! | `l.accept()`, `l.address`, `l.last_accepted`, `l.close()` | [`Listener::accept`] ([`Listener::accept_timeout`]), [`Listener::address`], [`Listener::last_accepted`], [`Listener::close`] |
//! | `Client(address, authkey=k)` | [`PyConnection::connect`]`(&address, Some(k))` |
//! | `'/tmp/x'`, `'\0name'`, `('127.0.0.1', 6000)` | [`Address::Path`], [`Address::Abstract`], [`Address::Inet`] ([`Address::loopback`]) |
//! | `send(obj)`, `recv()` (pickle) | [`PyConnection::send`], [`PyConnection::recv`]: pickle, for plain data |
//! | `send_bytes`, `recv_bytes(maxlength)`, `recv_bytes_into`, `poll(t)`, `close` | [`PyConnection`] methods of the same names ([`PyConnection::recv_bytes_max`]) |
//! | `AuthenticationError`, `OSError: bad message length` | [`Error::Authentication`], [`Error::BadMessageLength`] |
//! | `connection.wait([listener, conn, p.sentinel], t)` | [`crate::ipc::wait`]`(&[listener.as_fd(), conn.as_fd(), sentinel.as_fd()], t)` |
//!
//! # On the wire
//!
//! A connection is a byte stream (a Unix or TCP socket), so each message
//! is framed: a 4-byte big-endian signed length, then the bytes; a message
//! longer than 2³¹−1 bytes has `-1` there, then an 8-byte length. (The
//! pipes of [`crate::ipc`] need no framing: their sockets keep the edges of
//! each message. This is why CPython's queue needs a read lock and ours
//! does not.)
//!
//! # The handshake
//!
//! With a key, `accept` and `connect` each prove to the other that they
//! hold it, without sending it: the listener sends a challenge,
//! `#CHALLENGE#{sha256}` and 40 random bytes, and the client answers with
//! `{sha256}` and the HMAC-SHA256 of the challenge under the key; the
//! listener says `#WELCOME#` or `#FAILURE#`. Then the roles swap. A
//! Python 3.11 peer knows only the older form (a 20-byte challenge, a raw
//! HMAC-MD5 answer of 16 bytes) and both ends here understand it, as
//! Python 3.12 does. A wrong key is [`Error::Authentication`] on both
//! sides: `digest received was wrong` where the answer was checked,
//! `digest sent was rejected` where it was refused. Digests are compared
//! in constant time, so the time a check takes tells nothing of the key.
//!
//! # Objects across languages
//!
//! [`send`](PyConnection::send) and [`recv`](PyConnection::recv) speak
//! pickle, through `serde-pickle`, for plain data: `None` is `()` or
//! `Option::None`, `bool` is `bool`, `int` an integer type, `float` `f64`,
//! `str` `String`, `bytes` a `serde_bytes::ByteBuf`, a `list` a `Vec` (or
//! a tuple, when it is sent), a `tuple` a tuple, a `dict` a `HashMap` or
//! `BTreeMap`, and `serde_pickle::Value` any of them. Unpickling here only
//! ever builds such data: a peer cannot make the Rust side run code, as
//! one can make CPython's `recv` do (its docs warn to receive only from
//! an authenticated peer). Before decoding, the pickle's opcodes are
//! followed to check that nothing nests deeper than [`MOST_NESTED`] levels
//! (decoding recurses, and a list in a list a hundred thousand times
//! would overflow the stack and abort the process); deeper, or not a
//! pickle of plain data, is refused with an [`Error::Encoding`], and the
//! next message reads as usual. One more limit, `serde-pickle`'s: a list
//! or dict that appears twice in one message (`a = [1]; conn.send([a,
//! a])`) is refused as a "recursive structure".
//!
//! # Limits that hold against any peer
//!
//! A length header never makes a receive allocate more than has arrived
//! (a header of 2⁶³ with nothing behind it costs nothing) nor more than
//! [`recv_bytes_max`](PyConnection::recv_bytes_max) allows; the handshake
//! reads at most 256 bytes a message, as CPython's does, and a peer that
//! goes silent in the middle of it is given up after [`HANDSHAKE_LIMIT`].

use std::fmt;
use std::io::{self, IoSlice};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{self, UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, recv, sendmsg};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::ipc::spin::{self, Spin};
use crate::sys::{self, Wait};

/// Any plain value a pickle can hold (`serde_pickle::Value`): receive one
/// with [`PyConnection::recv_pickled`] when the type that comes is not
/// known, and print it with [`repr`].
pub use serde_pickle::Value as Pickled;

/// How long a peer may keep the other end waiting in the middle of the
/// handshake before it is given up (CPython waits for ever).
pub const HANDSHAKE_LIMIT: Duration = Duration::from_secs(5);

/// Where a [`Listener`] listens and a client connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// A Unix socket at a path in the file system (Python: a `str`).
    Path(PathBuf),
    /// A Unix socket in Linux's abstract namespace, which no file backs
    /// and which goes with its last socket (Python: a `str` that starts
    /// with `'\0'`); the name without that first zero.
    Abstract(Vec<u8>),
    /// A TCP host and port (Python: a `(host, port)` tuple); port 0 lets
    /// the kernel pick a free one, which [`Listener::address`] then tells.
    Inet(SocketAddr),
}

impl Address {
    /// `('127.0.0.1', port)`: TCP on this machine only. Listening where
    /// other machines can connect (`0.0.0.0`) must be asked for by
    /// writing it out, as an [`Address::Inet`].
    pub fn loopback(port: u16) -> Address {
        Address::Inet(SocketAddr::from(([127, 0, 0, 1], port)))
    }
}

/// As Python prints the address: `'/tmp/x'`, `'\x00name'`,
/// `('127.0.0.1', 6000)`.
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Path(path) => write!(f, "'{}'", path.display()),
            Address::Abstract(name) => write!(f, "'\\x00{}'", name.escape_ascii()),
            Address::Inet(at) => write!(f, "('{}', {})", at.ip(), at.port()),
        }
    }
}

/// Python's `multiprocessing.connection.Listener`: a socket that waits for
/// clients, and checks their key when it has one.
///
/// ```
/// use shared::connection::{Listener, PyConnection};
///
/// # fn main() -> Result<(), shared::Error> {
/// let mut listener = Listener::bind(None, Some(b"secret"))?;
/// let address = listener.address().clone();
/// let client = std::thread::spawn(move || -> Result<String, shared::Error> {
///     let mut conn = PyConnection::connect(&address, Some(b"secret"))?;
///     conn.recv::<String>()
/// });
/// listener.accept()?.send("hello")?;
/// assert_eq!(client.join().unwrap()?, "hello");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Listener {
    socket: Listening,
    address: Address,
    authkey: Option<Vec<u8>>,
    last_accepted: Option<Address>,
    /// The folder made for an address we chose, removed with the socket.
    made: Option<PathBuf>,
}

#[derive(Debug)]
enum Listening {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    /// Listen at `address` (Python: `Listener(address, authkey=authkey)`);
    /// with no address, a Unix socket in a fresh folder of the temporary
    /// directory (`/tmp/pymp-…/listener-…`, as CPython makes them). With a
    /// key, every client must prove it holds the same one.
    pub fn bind(address: Option<Address>, authkey: Option<&[u8]>) -> Result<Listener, Error> {
        let (address, made) = match address {
            Some(address) => (address, None),
            None => {
                let folder = std::env::temp_dir().join(format!("pymp-{}", random_name(8)?));
                // Only this user may look inside, whatever the umask (CPython's 0700).
                std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
                    .create(&folder)?;
                let path = folder.join(format!("listener-{}", random_name(8)?));
                (Address::Path(path), Some(folder))
            }
        };
        let socket = match &address {
            Address::Path(path) => UnixListener::bind(path).map(Listening::Unix),
            Address::Abstract(name) => net::SocketAddr::from_abstract_name(name)
                .and_then(|at| UnixListener::bind_addr(&at))
                .map(Listening::Unix),
            Address::Inet(at) => TcpListener::bind(at).map(Listening::Tcp),
        };
        let socket = match socket {
            Ok(socket) => socket,
            Err(err) => {
                if let Some(folder) = &made {
                    let _ = std::fs::remove_dir(folder);
                }
                return Err(err.into());
            }
        };
        let address = match &socket {
            Listening::Tcp(tcp) => Address::Inet(tcp.local_addr()?), // the port picked
            Listening::Unix(_) => address,
        };
        let authkey = authkey.map(<[u8]>::to_vec);
        let last_accepted = None;
        Ok(Listener {
            socket,
            address,
            authkey,
            last_accepted,
            made,
        })
    }

    /// Wait for a client, and check its key if this listener has one
    /// (Python: `accept()`). A client that fails the handshake, or goes
    /// silent in it for [`HANDSHAKE_LIMIT`], is an error and is dropped;
    /// the listener goes on serving the next.
    pub fn accept(&mut self) -> Result<PyConnection, Error> {
        self.accept_by(Wait::Forever)
    }

    /// [`accept`](Self::accept), given up with [`Error::Timeout`] if no
    /// client has connected and passed the handshake within `timeout`.
    pub fn accept_timeout(&mut self, timeout: Duration) -> Result<PyConnection, Error> {
        self.accept_by(Wait::timeout(timeout))
    }

    fn accept_by(&mut self, wait: Wait) -> Result<PyConnection, Error> {
        if sys::wait_readable(&[self.as_fd()], wait)?.is_empty() {
            return Err(Error::Timeout);
        }
        let (stream, peer): (OwnedFd, Address) = match &self.socket {
            Listening::Unix(unix) => {
                let (stream, peer) = unix.accept()?;
                let peer = match (peer.as_pathname(), peer.as_abstract_name()) {
                    (Some(path), _) => Address::Path(path.to_owned()),
                    (_, Some(name)) => Address::Abstract(name.to_owned()),
                    _ => Address::Path(PathBuf::new()), // unnamed, as most clients are: ''
                };
                (stream.into(), peer)
            }
            Listening::Tcp(tcp) => {
                let (stream, peer) = tcp.accept()?;
                (stream.into(), Address::Inet(peer))
            }
        };
        let mut conn = PyConnection::new(stream);
        if let Some(key) = &self.authkey {
            let wait = handshake_wait(wait);
            deliver_challenge(&mut conn, key, wait)?;
            answer_challenge(&mut conn, key, wait)?;
        }
        self.last_accepted = Some(peer);
        Ok(conn)
    }

    /// Where this listener listens (Python: `address`); for a TCP port 0,
    /// the port the kernel picked.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The address of the last client accepted (Python: `last_accepted`);
    /// an empty path for a Unix client that has none, as most have.
    pub fn last_accepted(&self) -> Option<&Address> {
        self.last_accepted.as_ref()
    }

    /// Stop listening (Python: `close()`); dropping it does the same.
    pub fn close(self) {}
}

/// A Unix socket's file, and the folder made for it, go with the
/// listener, as CPython's listener removes them.
impl Drop for Listener {
    fn drop(&mut self) {
        if let (Listening::Unix(_), Address::Path(path)) = (&self.socket, &self.address) {
            let _ = std::fs::remove_file(path);
        }
        if let Some(folder) = &self.made {
            let _ = std::fs::remove_dir(folder);
        }
    }
}

/// The listening socket, to wait for a client among other things with
/// [`crate::ipc::wait`]: it is ready when one is waiting to be accepted.
impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.socket {
            Listening::Unix(unix) => unix.as_fd(),
            Listening::Tcp(tcp) => tcp.as_fd(),
        }
    }
}

/// One end of a connection between a [`Listener`] and a client (Python's
/// `Connection`, as `accept()` and `Client()` return it), in CPython's wire
/// format: see the [module docs](self).
///
/// Unlike a pipe's [`Connection`](crate::Connection), a message here
/// arrives as a stream of bytes that this end must read in order, so
/// sending and receiving take `&mut self`: one thread at a time.
pub struct PyConnection {
    stream: OwnedFd,
    /// A blocking receive first asks for a few microseconds whether
    /// anything came (see `ipc/spin.rs`): a quick reply is taken awake.
    spin: Spin,
    /// False once a message was refused as too long: its bytes are still
    /// there, and the next read would start inside them.
    readable: bool,
}

impl fmt::Debug for PyConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PyConnection")
            .field("fd", &self.stream.as_raw_fd())
            .field("readable", &self.readable)
            .finish()
    }
}

impl PyConnection {
    fn new(stream: OwnedFd) -> PyConnection {
        PyConnection {
            stream,
            spin: Spin::new(spin::CALLS),
            readable: true,
        }
    }

    /// Connect to a listener at `address` and, with a key, pass its
    /// handshake (Python: `Client(address, authkey=authkey)`).
    pub fn connect(address: &Address, authkey: Option<&[u8]>) -> Result<PyConnection, Error> {
        let stream: OwnedFd = match address {
            Address::Path(path) => UnixStream::connect(path)?.into(),
            Address::Abstract(name) => {
                UnixStream::connect_addr(&net::SocketAddr::from_abstract_name(name)?)?.into()
            }
            Address::Inet(at) => TcpStream::connect(at)?.into(),
        };
        let mut conn = PyConnection::new(stream);
        if let Some(key) = authkey {
            let wait = handshake_wait(Wait::Forever);
            answer_challenge(&mut conn, key, wait)?;
            deliver_challenge(&mut conn, key, wait)?;
        }
        Ok(conn)
    }

    /// Send `obj`, pickled (Python: `send(obj)`).
    pub fn send<T: Serialize + ?Sized>(&mut self, obj: &T) -> Result<(), Error> {
        let pickled = serde_pickle::to_vec(&obj, serde_pickle::SerOptions::new())
            .map_err(|err| Error::Encoding(err.to_string()))?;
        self.send_bytes(&pickled)
    }

    /// Receive one pickled object as a `T` (Python: `recv()`); plain data
    /// only (see the module docs). [`Error::Eof`] once the peer is gone.
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T, Error> {
        let pickled = self.recv_bytes()?;
        plain::check(&pickled)?;
        serde_pickle::from_slice(&pickled, serde_pickle::DeOptions::new())
            .map_err(|err| Error::Encoding(err.to_string()))
    }

    /// Receive one pickled object of whatever plain type came, as a
    /// [`Pickled`] to match on or print with [`repr`]. (`recv::<Pickled>()`
    /// would make a tuple a list: serde has no tuple of unknown length.)
    pub fn recv_pickled(&mut self) -> Result<Pickled, Error> {
        let pickled = self.recv_bytes()?;
        plain::check(&pickled)?;
        serde_pickle::value_from_slice(&pickled, serde_pickle::DeOptions::new())
            .map_err(|err| Error::Encoding(err.to_string()))
    }

    /// Send `buf` as one message (Python: `send_bytes(buf)`): its length,
    /// then its bytes, in one call to the kernel where it can.
    pub fn send_bytes(&mut self, buf: &[u8]) -> Result<(), Error> {
        let (header, used) = header(buf.len() as u64);
        self.send_parts(&header[..used], buf)
    }

    /// Write `header` then `body`, however many calls it takes.
    fn send_parts(&mut self, header: &[u8], body: &[u8]) -> Result<(), Error> {
        let mut sent = 0;
        let whole = header.len() + body.len();
        while sent < whole {
            let parts = if sent < header.len() {
                [IoSlice::new(&header[sent..]), IoSlice::new(body)]
            } else {
                [
                    IoSlice::new(&body[sent - header.len()..]),
                    IoSlice::new(&[]),
                ]
            };
            // MSG_NOSIGNAL: a peer gone is an EPIPE error, never a SIGPIPE.
            match sendmsg::<()>(
                self.stream.as_raw_fd(),
                &parts,
                &[],
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(n) => sent += n,
                Err(Errno::EINTR) => {}
                Err(errno) => return Err(errno.into()),
            }
        }
        Ok(())
    }

    /// Receive one message (Python: `recv_bytes()`). [`Error::Eof`] once
    /// the peer is gone and everything it sent was read.
    pub fn recv_bytes(&mut self) -> Result<Vec<u8>, Error> {
        self.recv_frame(u64::MAX, Wait::Forever)
    }

    /// Receive one message of at most `maxlength` bytes (Python:
    /// `recv_bytes(maxlength)`); a longer one is
    /// [`Error::BadMessageLength`], and this end receives no more, as in
    /// CPython (the rest of that message is still on the way).
    pub fn recv_bytes_max(&mut self, maxlength: usize) -> Result<Vec<u8>, Error> {
        self.recv_frame(maxlength as u64, Wait::Forever)
    }

    /// Receive one message into `buf` (Python: `recv_bytes_into(buf)`);
    /// its length. A longer one is [`Error::BufferTooShort`], with the
    /// whole message.
    pub fn recv_bytes_into(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let message = self.recv_bytes()?;
        match buf.get_mut(..message.len()) {
            Some(start) => {
                start.copy_from_slice(&message);
                Ok(message.len())
            }
            None => Err(Error::BufferTooShort(message)),
        }
    }

    /// Whether a message (or end-of-file) is waiting, waiting at most
    /// `timeout` (Python: `poll(timeout)`); takes nothing.
    pub fn poll(&self, timeout: Duration) -> Result<bool, Error> {
        Ok(!sys::wait_readable(&[self.as_fd()], Wait::timeout(timeout))?.is_empty())
    }

    /// Close this end (Python: `close()`); dropping it does the same.
    pub fn close(self) {}

    /// Read one frame whose length is at most `max`, all of it by `wait`.
    fn recv_frame(&mut self, max: u64, wait: Wait) -> Result<Vec<u8>, Error> {
        if !self.readable {
            let why = "connection is write-only"; // CPython's words, after a bad length
            return Err(io::Error::new(io::ErrorKind::Unsupported, why).into());
        }
        if let Wait::Forever = wait {
            self.spin.until(|| self.arrived());
        }
        let mut header = [0; 4];
        self.read_exact(&mut header, wait, false)?;
        let length = match i32::from_be_bytes(header) {
            -1 => {
                let mut long = [0; 8];
                self.read_exact(&mut long, wait, true)?;
                u64::from_be_bytes(long)
            }
            n => u64::try_from(n).unwrap_or(u64::MAX), // no length: refused below
        };
        if length > max || length == u64::MAX {
            self.readable = false;
            return Err(Error::BadMessageLength);
        }
        // Grow with what arrives, never to what the header claims.
        let mut message = Vec::new();
        let mut left = length;
        while left > 0 {
            let chunk = left.min(1 << 20) as usize;
            let start = message.len();
            message.resize(start + chunk, 0);
            self.read_exact(&mut message[start..], wait, true)?;
            left -= chunk as u64;
        }
        Ok(message)
    }

    /// Whether a byte (or end-of-file, or an error) waits to be read:
    /// asked without waiting, and without taking it.
    fn arrived(&self) -> bool {
        let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
        !matches!(
            recv(self.stream.as_raw_fd(), &mut [0], flags),
            Err(Errno::EAGAIN)
        )
    }

    /// Fill `buf` from the stream, sleeping in `poll(2)` when a deadline
    /// is set; [`Error::Eof`] if the peer ends before a message begins
    /// (`started`: the frame's first bytes), CPython's `OSError: got end
    /// of file during message` if inside one.
    fn read_exact(&mut self, buf: &mut [u8], wait: Wait, started: bool) -> Result<(), Error> {
        let mut got = 0;
        while got < buf.len() {
            if let Wait::Until(_) = wait
                && sys::wait_readable(&[self.as_fd()], wait)?.is_empty()
            {
                return Err(Error::Authentication(format!(
                    "the peer did not finish the handshake in time (at most {} s)",
                    HANDSHAKE_LIMIT.as_secs()
                )));
            }
            match recv(self.stream.as_raw_fd(), &mut buf[got..], MsgFlags::empty()) {
                Ok(0) | Err(Errno::ECONNRESET) if started || got > 0 => {
                    let why = "got end of file during message";
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, why).into());
                }
                Ok(0) | Err(Errno::ECONNRESET) => return Err(Error::Eof),
                Ok(n) => got += n,
                Err(Errno::EINTR) => {}
                Err(errno) => return Err(errno.into()),
            }
        }
        Ok(())
    }
}

/// The socket, to wait on with [`crate::ipc::wait`] among others.
impl AsFd for PyConnection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

/// A message's length as CPython frames it, and how many of the 12 bytes
/// it takes: 4 (a big-endian `i32`), or, past 2³¹−1 bytes, `-1` then 8 (a
/// big-endian `u64`).
fn header(length: u64) -> ([u8; 12], usize) {
    let mut header = [0; 12];
    match i32::try_from(length) {
        Ok(n) => {
            header[..4].copy_from_slice(&n.to_be_bytes());
            (header, 4)
        }
        Err(_) => {
            header[..4].copy_from_slice(&(-1i32).to_be_bytes());
            header[4..].copy_from_slice(&length.to_be_bytes());
            (header, 12)
        }
    }
}

/// How deep a received value may nest: plain data seldom goes past a few
/// levels, and decoding one nested deeper recurses (a peer could send a
/// list inside a list a hundred thousand times in 200 KB, enough to
/// overflow a thread's stack, which aborts the whole process).
pub const MOST_NESTED: usize = 100;

/// A look at a pickle's opcodes before it is decoded, so that no peer can
/// make decoding overflow the stack (nesting deeper than [`MOST_NESTED`])
/// or ask for memory out of all proportion to the message (each open
/// MARK costs the decoder a buffer). It follows what each opcode does to
/// the unpickler's stack, tracking only how deep each value nests.
mod plain {
    use std::collections::HashMap;

    use super::MOST_NESTED;
    use crate::Error;

    /// Whether `pickle` is one the decoder may be given: every opcode
    /// known, nothing nested deeper than [`MOST_NESTED`].
    pub(super) fn check(pickle: &[u8]) -> Result<(), Error> {
        match walk(pickle) {
            Some(true) => Ok(()),
            _ => Err(Error::Encoding(format!(
                "refused: not a pickle of plain data nested at most {MOST_NESTED} levels deep"
            ))),
        }
    }

    /// Follow the opcodes to STOP: `Some(true)` if all is well, `Some(false)`
    /// or `None` (cut short, or an opcode out of place) if not.
    fn walk(pickle: &[u8]) -> Option<bool> {
        // How deep each value on the unpickler's stack nests; `None`: a MARK.
        let mut stack: Vec<Option<usize>> = Vec::new();
        let mut memo: HashMap<u64, usize> = HashMap::new();
        let (mut open_marks, mut closed) = (0usize, 0usize);
        let mut at = 0;
        loop {
            let op = *pickle.get(at)?;
            at += 1;
            let mut take = |n: usize| -> Option<u64> {
                let bytes = pickle.get(at..at.checked_add(n)?)?;
                at += n;
                Some(
                    bytes
                        .iter()
                        .rev()
                        .fold(0, |acc, &b| acc << 8 | u64::from(b)),
                )
            };
            match op {
                b'.' => return Some(true), // STOP
                b'(' => stack.push(None),  // MARK
                // an empty list, dict, tuple or set
                b']' | b'}' | b')' | 0x8f => stack.push(Some(1)),
                // None, True, False, an extension code, the next buffer
                b'N' | 0x88 | 0x89 | 0x97 => stack.push(Some(0)),
                0x82..=0x84 => {
                    take(match op {
                        0x82 => 1,
                        0x83 => 2,
                        _ => 4,
                    })?;
                    stack.push(Some(0));
                }
                // integers and a float, of fixed width
                b'J' | b'K' | b'M' | b'G' => {
                    take(match op {
                        b'K' => 1,
                        b'M' => 2,
                        b'J' => 4,
                        _ => 8,
                    })?;
                    stack.push(Some(0));
                }
                // a length, then that many bytes: longs, strings, bytes
                0x8a | 0x8b | b'U' | b'T' | b'C' | b'B' | 0x8e | 0x8c | b'X' | 0x8d | 0x96 => {
                    let width = match op {
                        0x8a | b'U' | b'C' | 0x8c => 1,
                        0x8e | 0x8d | 0x96 => 8,
                        _ => 4,
                    };
                    let n = usize::try_from(take(width)?).ok()?;
                    at = at.checked_add(n).filter(|&end| end <= pickle.len())?;
                    stack.push(Some(0));
                }
                // protocol 0's values, and a global's two names: lines
                b'I' | b'L' | b'F' | b'S' | b'V' | b'P' | b'c' => {
                    for _ in 0..(if op == b'c' { 2 } else { 1 }) {
                        at += pickle.get(at..)?.iter().position(|&b| b == b'\n')? + 1;
                    }
                    stack.push(Some(0));
                }
                0x80 => _ = take(1)?,      // PROTO
                0x95 => _ = take(8)?,      // FRAME
                0x98 => _ = stack.last()?, // READONLY_BUFFER
                0x94 => _ = memo.insert(memo.len() as u64, (*stack.last()?)?), // MEMOIZE
                b'q' | b'r' | b'p' => {
                    let key = match op {
                        b'p' => number_line(pickle, &mut at)?,
                        b'q' => take(1)?,
                        _ => take(4)?,
                    };
                    memo.insert(key, (*stack.last()?)?);
                }
                b'h' | b'j' | b'g' => {
                    let key = match op {
                        b'g' => number_line(pickle, &mut at)?,
                        b'h' => take(1)?,
                        _ => take(4)?,
                    };
                    stack.push(Some(*memo.get(&key)?));
                }
                // into the container below: one item, a pair, or all to the mark
                b'a' | b's' | b'e' | b'u' | 0x90 => {
                    let deepest = match op {
                        b'a' => stack.pop()??,
                        b's' => stack.pop()??.max(stack.pop()??),
                        _ => {
                            closed = 1;
                            to_mark(&mut stack)?
                        }
                    };
                    let container = stack.last_mut()?.as_mut()?;
                    *container = (*container).max(deepest + 1);
                }
                // a new value of all to the mark: list, tuple, dict, frozenset, object
                b'l' | b't' | b'd' | 0x91 | b'o' | b'i' => {
                    if op == b'i' {
                        for _ in 0..2 {
                            at += pickle.get(at..)?.iter().position(|&b| b == b'\n')? + 1;
                        }
                    }
                    closed = 1;
                    let deepest = to_mark(&mut stack)?;
                    stack.push(Some(deepest + 1));
                }
                // a new value of the top one, two or three
                0x85 | 0x86 | 0x87 | b'R' | 0x81 | 0x93 | b'Q' | b'b' | 0x92 => {
                    let n = match op {
                        0x85 | b'Q' => 1,
                        0x86 | b'R' | 0x81 | 0x93 | b'b' => 2,
                        _ => 3,
                    };
                    let mut deepest = 0;
                    for _ in 0..n {
                        deepest = deepest.max(stack.pop()??);
                    }
                    stack.push(Some(deepest + 1));
                }
                b'0' => _ = stack.pop()?, // POP
                b'1' => {
                    closed = 1; // POP_MARK
                    to_mark(&mut stack)?;
                }
                b'2' => stack.push(*stack.last()?), // DUP
                _ => return Some(false),            // no opcode of pickle's
            }
            // Only the top can have grown deeper (a value pushed, or the
            // container an item went into), and each MARK opens a level.
            let marks = (op == b'(') as usize;
            open_marks = open_marks + marks - closed;
            closed = 0;
            if open_marks > MOST_NESTED || stack.last().copied().flatten() > Some(MOST_NESTED) {
                return Some(false);
            }
        }
    }

    /// Pop down to the last MARK: how deep the deepest value popped nests.
    fn to_mark(stack: &mut Vec<Option<usize>>) -> Option<usize> {
        let mut deepest = 0;
        loop {
            match stack.pop()? {
                None => return Some(deepest),
                Some(depth) => deepest = deepest.max(depth),
            }
        }
    }

    /// A memo key written as a line of digits (protocol 0).
    fn number_line(pickle: &[u8], at: &mut usize) -> Option<u64> {
        let end = *at + pickle.get(*at..)?.iter().position(|&b| b == b'\n')?;
        let key = std::str::from_utf8(&pickle[*at..end]).ok()?.parse().ok()?;
        *at = end + 1;
        Some(key)
    }
}

// The handshake (CPython's `deliver_challenge` and `answer_challenge`).

const CHALLENGE: &[u8] = b"#CHALLENGE#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";
/// The longest handshake message either side reads.
const HANDSHAKE_MAX: u64 = 256;
/// What Python 3.11 and older send and answer: a 20-byte challenge, a
/// 16-byte HMAC-MD5 answer, neither with a `{digest}` prefix.
const LEGACY_CHALLENGE: usize = 20;
const LEGACY_ANSWER: usize = 16;

/// The handshake's deadline: the caller's, or [`HANDSHAKE_LIMIT`] from
/// now if that comes first.
fn handshake_wait(wait: Wait) -> Wait {
    let limit = Instant::now() + HANDSHAKE_LIMIT;
    match wait.deadline() {
        Some(deadline) if deadline < limit => Wait::Until(deadline),
        _ => Wait::Until(limit),
    }
}

/// Send a challenge and check the answer (the listener first, then the
/// client): `{sha256}` and 40 random bytes, which a 3.11 peer answers
/// with a legacy MD5 digest of the whole, a 3.12 one with `{sha256}`.
fn deliver_challenge(conn: &mut PyConnection, key: &[u8], wait: Wait) -> Result<(), Error> {
    let mut message = b"{sha256}".to_vec();
    message.extend_from_slice(&random_bytes::<40>()?);
    conn.send_bytes(&[CHALLENGE, &message].concat())?;
    let answer = conn.recv_frame(HANDSHAKE_MAX, wait)?;
    match check_answer(key, &message, &answer) {
        Ok(()) => conn.send_bytes(WELCOME),
        Err(err) => {
            let _ = conn.send_bytes(FAILURE);
            Err(err)
        }
    }
}

/// Answer a challenge and read the verdict (the client first, then the
/// listener).
fn answer_challenge(conn: &mut PyConnection, key: &[u8], wait: Wait) -> Result<(), Error> {
    let challenge = conn.recv_frame(HANDSHAKE_MAX, wait)?;
    let Some(message) = challenge.strip_prefix(CHALLENGE) else {
        return Err(Error::Authentication(format!(
            "Protocol error, expected challenge: message=b'{}'",
            challenge.escape_ascii()
        )));
    };
    if message.len() < LEGACY_CHALLENGE {
        return Err(Error::Authentication(format!(
            "challenge too short: {} bytes",
            message.len()
        )));
    }
    let answer = match digest_of(message)? {
        // A legacy challenge gets a bare MD5 digest; any other, its digest named.
        (None, _) => Digest::Md5.sign(key, message),
        (Some(digest), _) => [digest.prefix(), &digest.sign(key, message)].concat(),
    };
    conn.send_bytes(&answer)?;
    if conn.recv_frame(HANDSHAKE_MAX, wait)? != WELCOME {
        return Err(Error::Authentication("digest sent was rejected".into()));
    }
    Ok(())
}

/// Check `answer` against the HMAC of `message` under `key`, in the
/// digest the answer names (MD5 if it names none).
fn check_answer(key: &[u8], message: &[u8], answer: &[u8]) -> Result<(), Error> {
    let (digest, mac) = digest_of(answer)?;
    if digest.unwrap_or(Digest::Md5).verify(key, message, mac) {
        Ok(())
    } else {
        Err(Error::Authentication("digest received was wrong".into()))
    }
}

/// The digests this end speaks: CPython 3.12's `_ALLOWED_DIGESTS`, SHA-256
/// (what it asks for) and MD5 (all that 3.11 and older know) among them.
#[derive(Clone, Copy)]
enum Digest {
    Md5,
    Sha256,
    Sha384,
    Sha3_256,
    Sha3_384,
}

/// Every digest, each with the name CPython writes in braces.
const DIGESTS: [(Digest, &[u8]); 5] = [
    (Digest::Sha256, b"{sha256}"),
    (Digest::Md5, b"{md5}"),
    (Digest::Sha384, b"{sha384}"),
    (Digest::Sha3_256, b"{sha3_256}"),
    (Digest::Sha3_384, b"{sha3_384}"),
];

impl Digest {
    fn prefix(self) -> &'static [u8] {
        let named = DIGESTS
            .iter()
            .find(|(digest, _)| *digest as u8 == self as u8);
        named.expect("every digest is listed").1
    }

    /// The HMAC of `message` under `key`.
    fn sign(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        fn sign<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
            keyed::<M>(key, message).finalize().into_bytes().to_vec()
        }
        match self {
            Digest::Md5 => sign::<Hmac<md5::Md5>>(key, message),
            Digest::Sha256 => sign::<Hmac<sha2::Sha256>>(key, message),
            Digest::Sha384 => sign::<Hmac<sha2::Sha384>>(key, message),
            Digest::Sha3_256 => sign::<Hmac<sha3::Sha3_256>>(key, message),
            Digest::Sha3_384 => sign::<Hmac<sha3::Sha3_384>>(key, message),
        }
    }

    /// Whether `mac` is the HMAC of `message` under `key`, compared in
    /// constant time (`verify_slice`), so the time taken tells nothing.
    fn verify(self, key: &[u8], message: &[u8], mac: &[u8]) -> bool {
        fn verify<M: Mac + KeyInit>(key: &[u8], message: &[u8], mac: &[u8]) -> bool {
            keyed::<M>(key, message).verify_slice(mac).is_ok()
        }
        match self {
            Digest::Md5 => verify::<Hmac<md5::Md5>>(key, message, mac),
            Digest::Sha256 => verify::<Hmac<sha2::Sha256>>(key, message, mac),
            Digest::Sha384 => verify::<Hmac<sha2::Sha384>>(key, message, mac),
            Digest::Sha3_256 => verify::<Hmac<sha3::Sha3_256>>(key, message, mac),
            Digest::Sha3_384 => verify::<Hmac<sha3::Sha3_384>>(key, message, mac),
        }
    }
}

/// A MAC `M` (an HMAC in some digest) of `message` under `key`, ready to
/// finish or check.
fn keyed<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> M {
    // An HMAC takes a key of any length: this cannot fail.
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("an HMAC takes any key");
    mac.update(message);
    mac
}

/// The digest a challenge or an answer names, and what follows the name:
/// none for the legacy lengths (20 and 16 bytes), else a `{name}` prefix
/// (CPython's `_get_digest_name_and_payload`).
fn digest_of(message: &[u8]) -> Result<(Option<Digest>, &[u8]), Error> {
    if [LEGACY_CHALLENGE, LEGACY_ANSWER].contains(&message.len()) {
        return Ok((None, message));
    }
    for (digest, prefix) in DIGESTS {
        if let Some(rest) = message.strip_prefix(prefix) {
            return Ok((Some(digest), rest));
        }
    }
    Err(Error::Authentication(format!(
        "unsupported message length, missing digest prefix, or unsupported digest: message=b'{}'",
        message.escape_ascii()
    )))
}

/// `N` bytes from the kernel's random source.
fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0; N];
    let mut got = 0;
    while got < N {
        got += rustix::rand::getrandom(&mut bytes[got..], rustix::rand::GetRandomFlags::empty())
            .map_err(io::Error::from)?;
    }
    Ok(bytes)
}

/// `n` random lowercase letters and digits, for a folder's or socket's name.
fn random_name(n: usize) -> Result<String, Error> {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";
    let bytes = random_bytes::<16>()?;
    Ok(bytes[..n]
        .iter()
        .map(|b| char::from(LETTERS[usize::from(*b) % LETTERS.len()]))
        .collect())
}

/// A received value as Python's `repr` prints it: `(2.25, None, 'junk')`,
/// `b'hi'`, `{'k': [1, 2]}`, `1e+16`. (A dict's keys come sorted, not in
/// the order they were sent: `Pickled` keeps them in a `BTreeMap`.)
pub fn repr(value: &Pickled) -> String {
    use serde_pickle::HashableValue as Key;
    let key = |key: &Key| repr(&key.clone().into_value());
    let items = |open: &str, items: Vec<String>, close: &str| match items.len() {
        1 if open == "(" => format!("({},)", items[0]),
        _ => format!("{open}{}{close}", items.join(", ")),
    };
    match value {
        Pickled::None => "None".to_owned(),
        Pickled::Bool(b) => crate::py::py_bool(*b).to_owned(),
        Pickled::I64(n) => n.to_string(),
        Pickled::Int(n) => n.to_string(),
        Pickled::F64(x) => crate::py::py_float(*x),
        Pickled::Bytes(bytes) => crate::py::py_bytes(bytes),
        Pickled::String(s) => crate::py::py_repr(s),
        Pickled::List(list) => items("[", list.iter().map(repr).collect(), "]"),
        Pickled::Tuple(tuple) => items("(", tuple.iter().map(repr).collect(), ")"),
        Pickled::Set(set) if set.is_empty() => "set()".to_owned(),
        Pickled::Set(set) => items("{", set.iter().map(key).collect(), "}"),
        Pickled::FrozenSet(set) if set.is_empty() => "frozenset()".to_owned(),
        Pickled::FrozenSet(set) => items("frozenset({", set.iter().map(key).collect(), "})"),
        Pickled::Dict(dict) => {
            let pairs = dict.iter().map(|(k, v)| format!("{}: {}", key(k), repr(v)));
            items("{", pairs.collect(), "}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Pickled, repr};

    /// Values print as Python's `repr` prints them.
    #[test]
    fn repr_is_pythons() {
        let floats = [
            (1e16, "1e+16"),
            (1.5e-7, "1.5e-07"),
            (2.25, "2.25"),
            (3.0, "3.0"),
        ];
        for (x, want) in floats {
            assert_eq!(repr(&Pickled::F64(x)), want);
        }
        assert_eq!(repr(&Pickled::F64(f64::NAN)), "nan");
        assert_eq!(repr(&Pickled::F64(-0.0)), "-0.0");
        assert_eq!(repr(&Pickled::Bytes(b"it's".to_vec())), "b\"it's\"");
        assert_eq!(
            repr(&Pickled::Bytes(b"a'\"\x00\n".to_vec())),
            "b'a\\'\"\\x00\\n'"
        );
        assert_eq!(repr(&Pickled::Set(Default::default())), "set()");
        assert_eq!(repr(&Pickled::Tuple(vec![Pickled::None])), "(None,)");
    }

    /// The two forms of the length, at their edge, without sending 2 GiB.
    #[test]
    fn a_length_past_two_gib_takes_the_long_form() {
        let (short, used) = super::header(0x7fff_ffff);
        assert_eq!(&short[..used], [0x7f, 0xff, 0xff, 0xff]);
        let (long, used) = super::header(1 << 31);
        assert_eq!(
            &long[..used],
            [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0]
        );
    }
}
