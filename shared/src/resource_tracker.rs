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
//! one packet, `REGISTER:<name>`, and each unlinked one `UNREGISTER:<name>`
//! (CPython's words). Children forked later inherit the process's end, and
//! register through it too. The tracker reads until end-of-file, which the
//! kernel delivers when the last copy of that end is closed: when the
//! creator and every child forked from it have ended, whether they
//! returned, called `exit` or were killed. Then it unlinks what is still
//! registered and, if anything, says so in CPython's words.
//!
//! **What it does not cover.** A spawned or fork-server child does not
//! inherit the end (it is not forked from its parent), so the first block
//! it creates starts a tracker of its own, which unlinks that block once
//! the child and its own forked children end (CPython's children share
//! their parent's tracker instead). A tracker that is itself killed
//! forgets its blocks; the next block created starts a new one.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, recv, send, socketpair};

use crate::Error;

/// The first argument of the tracker, as the spawned child's marker.
pub(crate) const MARKER: &str = "--multiprocessing-resource-tracker";

/// Where the tracker finds its end of the socket.
const REQUESTS_FD: RawFd = 3;

/// This process's end of its tracker's socket, once one runs.
static TRACKER: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// `name` has been unlinked: the tracker, if this process has one, forgets
/// it. (A process that only attached to the block has none to tell.)
pub(crate) fn unregister(name: &str) {
    let tracker = TRACKER.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(ours) = tracker.as_ref() {
        let _ = send(
            ours.as_raw_fd(),
            format!("UNREGISTER:{name}").as_bytes(),
            MsgFlags::MSG_NOSIGNAL,
        );
    }
}

/// Have the tracker unlink `name` when the program ends, unless it is
/// unregistered first, starting one if there is none, or if the one there
/// was has died (its end is closed: its registered blocks are forgotten).
/// An error if no tracker can be started.
pub(crate) fn register(name: &str) -> Result<(), Error> {
    let packet = format!("REGISTER:{name}");
    let mut tracker = TRACKER.lock().unwrap_or_else(|p| p.into_inner());
    for attempt in 0..2 {
        if tracker.is_none() {
            *tracker = Some(start()?);
        }
        let ours = tracker.as_ref().expect("just started");
        match send(ours.as_raw_fd(), packet.as_bytes(), MsgFlags::MSG_NOSIGNAL) {
            Ok(_) => return Ok(()),
            Err(Errno::EPIPE | Errno::ECONNRESET) if attempt == 0 => *tracker = None,
            Err(errno) => return Err(errno.into()),
        }
    }
    unreachable!("the second attempt returns")
}

/// Spawn a tracker: this program again, with the marker and its end of a
/// fresh socket pair as its descriptor 3. It runs `main` again up to
/// `freeze_support`, where it tracks (the caller has checked that `main`
/// calls it: without that, `main` would run a second time).
fn start() -> Result<OwnedFd, Error> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    let pid = crate::sys::spawn_self(MARKER, &[theirs])?;
    // It outlives this process on purpose, so nobody joins it: reaped if
    // it ends first (killed), or by init.
    crate::process::parent_side::reap_later(pid);
    Ok(ours)
}

/// The tracker's life, in the spawned program: read packets until every
/// copy of the other end is closed, then unlink what is still registered.
/// Never returns.
pub(crate) fn track() -> ! {
    // SAFETY: `posix_spawn` put the socket at 3, and nothing else in this
    // fresh process owns it.
    let requests = unsafe { OwnedFd::from_raw_fd(REQUESTS_FD) };
    crate::sys::set_thread_name("ResourceTracker"); // what `ps` shows
    // A Ctrl-C or a SIGTERM sent to the whole group must not end it before
    // the program it watches (CPython's ignores both too).
    for signal in [nix::sys::signal::SIGINT, nix::sys::signal::SIGTERM] {
        // SAFETY: setting a disposition to "ignore" runs no handler.
        let _ = unsafe { nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigIgn) };
    }
    // Its input and output are not the program's: whoever reads the
    // program's output sees its end when the program ends. (It keeps
    // stderr, for its warning.)
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
    }
    let mut registered = std::collections::BTreeSet::new();
    let mut packet = [0u8; 4096];
    loop {
        let n = match recv(requests.as_raw_fd(), &mut packet, MsgFlags::empty()) {
            Err(Errno::EINTR) => continue,
            Ok(0) | Err(_) => break, // end-of-file: the program has ended
            Ok(n) => n,
        };
        let text = String::from_utf8_lossy(&packet[..n]);
        match text.split_once(':') {
            Some(("REGISTER", name)) => registered.insert(name.to_owned()),
            Some(("UNREGISTER", name)) => registered.remove(name),
            _ => false, // not one of ours
        };
    }
    // Only those still there: unlinked by name meanwhile, a block is gone.
    let leaked = registered
        .iter()
        .filter(|name| rustix::shm::unlink(format!("/{name}")).is_ok())
        .count();
    if leaked > 0 {
        eprintln!(
            "resource_tracker: There appear to be {leaked} leaked shared_memory objects to clean up at shutdown"
        );
    }
    crate::sys::exit_now(0)
}
