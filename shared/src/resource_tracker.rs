//! CPython's resource tracker, for named shared memory: a small process
//! that unlinks the blocks a program created and left, once the program
//! has ended, however it ended.
//!
//! **Why a process of its own.** A block outlives every process that uses
//! it until someone unlinks it. The program's own exit steps cannot be
//! trusted with that: no code of a process killed by SIGKILL runs, and a
//! forked child leaves with `_exit`, skipping them. Something outside the
//! program must notice that the program has gone.
//!
//! **How it notices.** The first block a process creates starts the
//! tracker (this program again, as `spawn` starts a child), joined to the
//! process by a pair of `SOCK_SEQPACKET` sockets. Each block created sends
//! one packet, `REGISTER:<inode>:<name>`, and each unlinked one
//! `UNREGISTER:<inode>:<name>` (CPython's words, and the block's inode in
//! `/dev/shm`). Children forked later inherit the process's end, and
//! register through it too. The tracker reads until end-of-file, which the
//! kernel delivers when the last copy of that end is closed: when the
//! creator and every child forked from it have ended, whether they
//! returned, called `exit` or were killed. Then it unlinks what is still
//! registered and, if anything, says so in CPython's words.
//!
//! **Never another's block.** A name is only a name: once unlinked (by a
//! process that had no word with this tracker, say), it may be taken by a
//! new block, another program's. So the tracker unlinks a name only while
//! it still names the block registered, the same inode.
//!
//! A spawned or fork-server child is handed a copy of the end (it is not
//! forked from its parent, so it would not have one), as CPython hands
//! its tracker's pipe to its spawned children.
//!
//! **What it does not cover.** A child started *before* the first block
//! has no end to inherit or be handed: the first block it creates starts
//! a tracker of its own, which unlinks that block once the child and its
//! own children end (CPython's the same, for a forked child). A tracker
//! that is itself killed forgets its blocks; the next block created
//! starts a new one.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType, socketpair};
use rustix::fs::Mode;

use crate::Error;
use crate::sys::Wait;

/// The first argument of the tracker, as the spawned child's marker.
pub(crate) const MARKER: &str = "--multiprocessing-resource-tracker";

/// Where the tracker finds its end of the socket.
const REQUESTS_FD: RawFd = 3;

/// What the tracker says once it is tracking.
const READY: &[u8] = b"READY";

/// How long a tracker may take to say so, or to read a packet: a fresh
/// program takes a millisecond or so; one that takes this long is stuck
/// (stopped, say).
const PATIENCE: Duration = Duration::from_secs(10);

/// This process's end of its tracker's socket, once one runs.
static TRACKER: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// `name` (the block of inode `inode`) has been unlinked: the tracker, if
/// this process has one, forgets it. (A process that only attached to the
/// block has none to tell.)
pub(crate) fn unregister(name: &str, inode: u64) {
    crate::process::parent_side::reap_ended_helpers(); // a tracker killed meanwhile
    let tracker = TRACKER.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(ours) = tracker.as_ref() {
        let _ = send(ours, &format!("UNREGISTER:{inode}:{name}"));
    }
}

/// Have the tracker unlink `name` (the block of inode `inode`) when the
/// program ends, unless it is unregistered first; start a tracker if
/// there is none, or if the one there was has died (its end is closed:
/// its registered blocks are forgotten). An error if no tracker can be
/// started, or if it does not read.
pub(crate) fn register(name: &str, inode: u64) -> Result<(), Error> {
    crate::process::parent_side::reap_ended_helpers();
    let packet = format!("REGISTER:{inode}:{name}");
    let mut tracker = TRACKER.lock().unwrap_or_else(|p| p.into_inner());
    for attempt in 0..2 {
        if tracker.is_none() {
            *tracker = Some(start()?);
        }
        match send(tracker.as_ref().expect("just started"), &packet) {
            Ok(()) => return Ok(()),
            Err(Errno::EPIPE | Errno::ECONNRESET) if attempt == 0 => *tracker = None,
            Err(errno) => return Err(errno.into()),
        }
    }
    unreachable!("the second attempt returns")
}

/// A copy of this process's end, if it has a tracker, for a child it
/// spawns or has the fork server start: through it the child registers
/// with this tracker, as a forked child does, and its blocks are the
/// program's.
pub(crate) fn end_for_child() -> std::io::Result<Option<OwnedFd>> {
    let tracker = TRACKER.lock().unwrap_or_else(|p| p.into_inner());
    tracker.as_ref().map(OwnedFd::try_clone).transpose()
}

/// In such a child: the parent's end, this process's from now on.
pub(crate) fn adopt(end: OwnedFd) {
    *TRACKER.lock().unwrap_or_else(|p| p.into_inner()) = Some(end);
}

/// Send one packet, waiting at most [`PATIENCE`] for room: a tracker that
/// stopped reading must not stop the program.
fn send(ours: &OwnedFd, packet: &str) -> Result<(), Errno> {
    let flags = MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT;
    loop {
        match socket::send(ours.as_raw_fd(), packet.as_bytes(), flags) {
            Err(Errno::EAGAIN) => {
                let mut room = [PollFd::new(ours.as_fd(), PollFlags::POLLOUT)];
                let patience = PollTimeout::try_from(PATIENCE).expect("ten seconds fit");
                if nix::poll::poll(&mut room, patience)? == 0 {
                    return Err(Errno::EAGAIN); // it does not read
                }
            }
            Err(Errno::EINTR) => {}
            sent => return sent.map(drop),
        }
    }
}

/// Spawn a tracker: this program again, with the marker and its end of a
/// fresh socket pair as its descriptor 3, and wait for its word that it
/// tracks. It runs `main` again up to `freeze_support`, where it tracks
/// (the caller has checked that `main` calls it); one that ends or takes
/// too long first is killed and reaped, and `Err`.
fn start() -> Result<OwnedFd, Error> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    let pid = crate::sys::spawn_self(MARKER, &[theirs], true)?;
    let mut word = [0u8; 8];
    let ready = crate::sys::wait_readable(&[ours.as_fd()], Wait::timeout(PATIENCE))
        .is_ok_and(|ready| !ready.is_empty())
        && socket::recv(ours.as_raw_fd(), &mut word, MsgFlags::MSG_DONTWAIT)
            .is_ok_and(|n| &word[..n] == READY);
    if !ready {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        return Err(Error::Spawn(
            "the resource tracker ended, or said nothing, before it tracked: does this \
             program's main call shared::freeze_support() first?"
                .into(),
        ));
    }
    // It outlives this process on purpose, so nobody joins it: reaped if
    // it ends first (killed), or by init.
    crate::process::parent_side::reap_later(pid);
    Ok(ours)
}

/// The tracker's life, in the spawned program: say it tracks, read
/// packets until every copy of the other end is closed, then unlink what
/// is still registered. Never returns.
pub(crate) fn track() -> ! {
    if !crate::sys::is_seqpacket(REQUESTS_FD) {
        eprintln!(
            "this program was started with {MARKER} but not by a resource tracker's start: \
             its descriptor {REQUESTS_FD} is not a socket of packets"
        );
        crate::sys::exit_now(1);
    }
    // SAFETY: `posix_spawn` put the socket at 3 (checked just above), and
    // nothing else in this fresh process owns it.
    let requests = unsafe { OwnedFd::from_raw_fd(REQUESTS_FD) };
    crate::sys::set_thread_name("ResourceTracker"); // what `ps` shows
    // A Ctrl-C or a SIGTERM sent to the whole group must not end it before
    // the program it watches (CPython's ignores both too). They were
    // blocked from its start (`spawn_self`), and are let through now.
    for signal in [nix::sys::signal::SIGINT, nix::sys::signal::SIGTERM] {
        // SAFETY: setting a disposition to "ignore" runs no handler.
        let _ = unsafe { nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigIgn) };
    }
    crate::sys::unshield();
    // Its input and output are not the program's: whoever reads the
    // program's output sees its end when the program ends. (It keeps
    // stderr, for its warning.)
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
    }
    let _ = socket::send(requests.as_raw_fd(), READY, MsgFlags::MSG_NOSIGNAL);
    let mut registered = std::collections::BTreeSet::new();
    let mut packet = [0u8; 4096];
    loop {
        let n = match socket::recv(requests.as_raw_fd(), &mut packet, MsgFlags::empty()) {
            Err(Errno::EINTR) => continue,
            // An empty packet is not the end: the end is the other side gone.
            Ok(0) if !hung_up(&requests) => continue,
            Ok(0) | Err(_) => break, // end-of-file: the program has ended
            Ok(n) => n,
        };
        let text = String::from_utf8_lossy(&packet[..n]);
        let mut fields = text.splitn(3, ':');
        let (what, inode, name) = (fields.next(), fields.next(), fields.next());
        let (Some(inode), Some(name)) = (inode.and_then(|i| i.parse::<u64>().ok()), name) else {
            continue; // not one of ours
        };
        match what {
            Some("REGISTER") => registered.insert((name.to_owned(), inode)),
            Some("UNREGISTER") => registered.remove(&(name.to_owned(), inode)),
            _ => false,
        };
    }
    let leaked = registered
        .iter()
        .filter(|(name, inode)| unlink_if_same(name, *inode))
        .count();
    if leaked > 0 {
        eprintln!(
            "resource_tracker: There appear to be {leaked} leaked shared_memory objects to clean up at shutdown"
        );
    }
    crate::sys::exit_now(0)
}

/// Whether every copy of the other end of `socket` is closed.
fn hung_up(socket: &OwnedFd) -> bool {
    let mut polled = [PollFd::new(socket.as_fd(), PollFlags::empty())];
    let looked = nix::poll::poll(&mut polled, PollTimeout::ZERO);
    looked.is_ok()
        && polled[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLHUP))
}

/// Unlink `name` if it still names the block of inode `inode`; whether it
/// did.
fn unlink_if_same(name: &str, inode: u64) -> bool {
    let path = format!("/{name}");
    let same = rustix::shm::open(path.as_str(), rustix::shm::OFlags::RDONLY, Mode::empty())
        .and_then(|file| rustix::fs::fstat(&file))
        .is_ok_and(|stat| stat.st_ino == inode);
    same && rustix::shm::unlink(path.as_str()).is_ok()
}
