//! The message layer under every pipe, queue and pool: whole messages of
//! any size on a Unix socket, and a wait that sleeps in the kernel.
//!
//! **One packet, one message.** A [`Socket`] is one end of a
//! `socketpair(AF_UNIX, SOCK_SEQPACKET)`. Such a socket keeps the edges of
//! each message: one `sendmsg` is one packet, and one `recvmsg` takes one
//! whole packet or nothing. So several processes may read the same end at
//! once (a queue's consumers do): the kernel hands each packet to exactly
//! one of them, and a reader killed at any moment takes at most the packet
//! it was given, never half of one, so the others never read a torn
//! message. (CPython frames its messages on a byte stream instead, a
//! length then the bytes, which is why its queue needs a read lock.)
//!
//! **A big message goes in a memory file.** A packet must fit the socket's
//! buffer (some hundred KiB). A message bigger than [`INLINE_MAX`] is
//! written to a fresh `memfd` (a file that lives in memory), and the packet
//! carries just the file descriptor (`SCM_RIGHTS`) and the length. The
//! send is done once the packet is queued: it never waits for a reader to
//! read the bytes, so a reader that dies mid-message cannot leave the
//! sender stuck, and a sender killed while writing the file sends nothing.
//! The sender seals the file's size and bytes before sending it, and the
//! reader maps it instead of copying it: see [`Bytes`].
//!
//! **Waiting is `poll(2)`.** [`Socket::poll`] asks the kernel whether a
//! packet (or end-of-file) is there, and sleeps until one comes or the time
//! is up; it never takes anything. A timed receive polls, then reads with
//! `MSG_DONTWAIT`, a flag of that one call: if another reader took the
//! packet in between, it polls again. (Making the *descriptor*
//! non-blocking would make it non-blocking for every process sharing it.)
//!
//! **A dead peer is seen at once.** When every copy of the other end is
//! closed (its process exited or was killed), `recvmsg` returns 0 bytes:
//! end-of-file, and `sendmsg` fails with `EPIPE` (or `ECONNRESET`, if it
//! left messages unread), which [`Socket::send`] reports as an
//! `io::ErrorKind::BrokenPipe` error (`MSG_NOSIGNAL`: no SIGPIPE that would
//! kill the sender).

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;

use super::{Bytes, Wait};
use crate::{Error, sys};

/// The largest message sent inside its packet; bigger ones go in a memfd.
pub(crate) const INLINE_MAX: usize = 64 * 1024;

/// The first byte of a packet: what follows.
const INLINE: u8 = 0; // the message itself
const IN_MEMFD: u8 = 1; // its length (8 bytes); the memfd rides along

/// One end of a connected pair of `SOCK_SEQPACKET` sockets.
#[derive(Debug)]
pub(crate) struct Socket(OwnedFd);

/// A socket travels to a spawned child as its descriptor, handed over
/// (see `handover::hand_over`); anywhere else it cannot be encoded.
impl serde::Serialize for Socket {
    fn serialize<S: serde::Serializer>(&self, to: S) -> Result<S::Ok, S::Error> {
        let place =
            crate::handover::hand_over(self.0.as_fd()).map_err(serde::ser::Error::custom)?;
        to.serialize_u32(place)
    }
}

impl<'de> serde::Deserialize<'de> for Socket {
    fn deserialize<D: serde::Deserializer<'de>>(from: D) -> Result<Socket, D::Error> {
        let place = u32::deserialize(from)?;
        crate::handover::take_over(place)
            .map(Socket)
            .map_err(serde::de::Error::custom)
    }
}

impl Socket {
    /// Two connected ends. Both are close-on-exec; `fork` copies them.
    pub(crate) fn pair() -> io::Result<(Socket, Socket)> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        Ok((Socket(a), Socket(b)))
    }

    /// Another descriptor for the same end (`dup`).
    pub(crate) fn try_clone(&self) -> io::Result<Socket> {
        self.0.try_clone().map(Socket)
    }

    /// Send `bytes` as one message; waits only while the socket's buffer is
    /// full. `BrokenPipe` once the other end is closed everywhere.
    pub(crate) fn send(&self, bytes: &[u8]) -> io::Result<()> {
        let message = Outgoing::new(bytes)?;
        while !self.try_send(&message)? {
            self.wait_writable(Wait::Forever)?;
        }
        Ok(())
    }

    /// Send a message made ready, if the socket's buffer has room for its
    /// packet now: `Ok(false)` (nothing sent) if it has not. Never waits:
    /// `MSG_DONTWAIT`, a flag of this one call.
    pub(crate) fn try_send(&self, message: &Outgoing<'_>) -> io::Result<bool> {
        let (head, fds) = match message {
            Outgoing::Inline(_) => ([INLINE; 9], None),
            Outgoing::InMemfd(file, len) => {
                let mut head = [IN_MEMFD; 9];
                head[1..].copy_from_slice(&len.to_le_bytes());
                (head, Some([file.as_raw_fd()]))
            }
        };
        let parts = match message {
            Outgoing::Inline(bytes) => [IoSlice::new(&head[..1]), IoSlice::new(bytes)],
            Outgoing::InMemfd(..) => [IoSlice::new(&head), IoSlice::new(&[])],
        };
        let cmsgs: Vec<ControlMessage<'_>> =
            fds.iter().map(|f| ControlMessage::ScmRights(f)).collect();
        loop {
            let flags = MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT;
            match sendmsg::<()>(self.0.as_raw_fd(), &parts, &cmsgs, flags, None) {
                Ok(_) => return Ok(true),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Ok(false),
                // The peer closed with messages unread: gone all the same.
                Err(Errno::ECONNRESET) => return Err(io::ErrorKind::BrokenPipe.into()),
                Err(errno) => return Err(errno.into()),
            }
        }
    }

    /// Wait, as `wait` says, until the socket's buffer has room again
    /// (`false` if the time ran out). The kernel says so once what is
    /// queued has drained to a quarter of the buffer; a peer gone counts as
    /// room, so the next send reports `BrokenPipe`.
    pub(crate) fn wait_writable(&self, wait: Wait) -> io::Result<bool> {
        Ok(!sys::wait_for(&[self.as_fd()], PollFlags::POLLOUT, wait)?.is_empty())
    }

    /// Receive one message, waiting as `wait` says: `Ok(None)` if the wait
    /// ran out, [`Error::Eof`] once the other end is closed everywhere and
    /// nothing is left. Any other error means a packet was taken but could
    /// not be made a message (no descriptor free for its memory file, say,
    /// or not a packet of ours): that message is lost, and a queue counts
    /// it gone. (So would a `recvmsg` failing outright, which a socket
    /// known to be open does only for want of kernel memory.)
    pub(crate) fn recv(&self, wait: Wait) -> Result<Option<Bytes>, Error> {
        loop {
            let flags = match wait {
                Wait::Forever => MsgFlags::empty(),
                _ if !self.poll(wait)? => return Ok(None),
                _ => MsgFlags::MSG_DONTWAIT,
            };
            match self.recv_packet(flags) {
                // Another reader took it between our poll and our read.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && !matches!(wait, Wait::No) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                got => return Ok(Some(got.map_err(eof_or_io)??.into_bytes()?)),
            }
        }
    }

    /// Receive one message into `buf`, waiting for it: its length, or
    /// [`Error::BufferTooShort`] with the whole message if it does not fit.
    /// A big message is read from its memory file straight into `buf`.
    pub(crate) fn recv_into(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let bytes = match self.recv_packet(MsgFlags::empty()).map_err(eof_or_io)?? {
            Packet::InMemfd(file, size) if size <= buf.len() as u64 => {
                // `pread` from the start: the sender's writes moved the offset we share.
                file.read_exact_at(&mut buf[..size as usize], 0)?;
                return Ok(size as usize);
            }
            packet => packet.into_bytes()?,
        };
        match buf.get_mut(..bytes.len()) {
            Some(room) => {
                room.copy_from_slice(&bytes);
                Ok(bytes.len())
            }
            None => Err(Error::BufferTooShort(bytes.into_vec())),
        }
    }

    /// Take one packet: `Err` if none could be taken (end-of-file is
    /// `UnexpectedEof`), `Ok(Err)` if one was taken but is no message.
    fn recv_packet(&self, flags: MsgFlags) -> io::Result<io::Result<Packet>> {
        thread_local! {
            /// Room for the largest packet, reused: most messages are small.
            static BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0; INLINE_MAX + 1]);
        }
        BUFFER.with_borrow_mut(|buffer| {
            // Room for more descriptors than a message has, so that extra
            // ones arrive (and are closed) rather than stay in the kernel.
            let mut space = nix::cmsg_space!([RawFd; 8]);
            let mut iov = [IoSliceMut::new(buffer)];
            let flags = flags | MsgFlags::MSG_CMSG_CLOEXEC;
            let msg = loop {
                match recvmsg::<()>(self.0.as_raw_fd(), &mut iov, Some(&mut space), flags) {
                    Err(Errno::EINTR) => continue,
                    Err(Errno::ECONNRESET) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    got => break got?,
                }
            };
            if msg.bytes == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into()); // nothing taken
            }
            // Every descriptor the packet brought is ours now, and closes
            // when dropped, whatever the packet turns out to be.
            let mut fds = Vec::new();
            for cmsg in msg.cmsgs().into_iter().flatten() {
                if let ControlMessageOwned::ScmRights(raw) = cmsg {
                    // SAFETY: the kernel just gave us these descriptors;
                    // nothing else owns them.
                    fds.extend(raw.iter().map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) }));
                }
            }
            // Only our own framing is a message: a packet another writer
            // made through the descriptor (too long, or carrying the wrong
            // descriptors) is refused, taken off the socket all the same.
            let (len, cut) = (msg.bytes, msg.flags.contains(MsgFlags::MSG_TRUNC));
            let fds_cut = msg.flags.contains(MsgFlags::MSG_CTRUNC);
            Ok(match (len, buffer[0], fds.len()) {
                _ if cut => Err(refused("a packet longer than any message")),
                (_, INLINE, 0) if !fds_cut => Ok(Packet::Inline(buffer[1..len].to_vec())),
                (9, IN_MEMFD, 1) if !fds_cut => {
                    let size = u64::from_le_bytes(buffer[1..9].try_into().expect("8 bytes"));
                    Ok(Packet::InMemfd(File::from(fds.remove(0)), size))
                }
                // The kernel could not give us the descriptor (MSG_CTRUNC):
                // this process has none free.
                (9, IN_MEMFD, 0) if fds_cut => Err(Errno::EMFILE.into()),
                (_, INLINE | IN_MEMFD, _) => Err(refused("a packet with the wrong descriptors")),
                _ => Err(refused("not a message")),
            })
        })
    }

    /// Whether a message or end-of-file is waiting, sleeping in the kernel
    /// for one at most as long as `wait` says. Takes nothing.
    pub(crate) fn poll(&self, wait: Wait) -> io::Result<bool> {
        Ok(!sys::wait_readable(&[self.as_fd()], wait)?.is_empty())
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// A message ready to send: small, its bytes go in the packet; big, they
/// are already in a memory file whose descriptor the packet will carry.
/// Making it ready touches nothing shared, so a sender killed meanwhile has
/// sent nothing and taken nothing (a queue reserves its place afterwards).
pub(crate) enum Outgoing<'a> {
    Inline(&'a [u8]),
    InMemfd(File, u64),
}

impl<'a> Outgoing<'a> {
    /// Ready `bytes` to go; a big message is written to a memory file now.
    pub(crate) fn new(bytes: &'a [u8]) -> io::Result<Outgoing<'a>> {
        if bytes.len() <= INLINE_MAX {
            return Ok(Outgoing::Inline(bytes));
        }
        let file = crate::sys::sealed_memfd(bytes)?;
        Ok(Outgoing::InMemfd(file, bytes.len() as u64))
        // Our descriptor closes when this is dropped; a queued packet holds its own.
    }
}

/// A packet as it arrived: the message, or the memory file holding it and
/// its length, still to be read.
enum Packet {
    Inline(Vec<u8>),
    InMemfd(File, u64),
}

impl Packet {
    /// The message; one in a sealed memory file is mapped, not copied.
    fn into_bytes(self) -> io::Result<Bytes> {
        match self {
            Packet::Inline(bytes) => Ok(Bytes::from(bytes)),
            Packet::InMemfd(file, size) => {
                let len = usize::try_from(size).map_err(|_| io::Error::from(Errno::EFBIG))?;
                Bytes::read(&file, len) // a mapping keeps the file; its descriptor closes here
            }
        }
    }
}

/// A packet that is not one of ours: `InvalidData`, saying what was wrong.
fn refused(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("refused {why}"))
}

/// End-of-file is [`Error::Eof`]; any other I/O error stays one.
fn eof_or_io(e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => Error::Eof,
        _ => Error::from(e),
    }
}
