//! The fork server: CPython's third start method, `forkserver`, the
//! default on Linux since Python 3.14.
//!
//! **Why.** `fork` is quick but copies a parent that may run threads, whose
//! locks then stay locked in the child; `spawn` is safe but starts the
//! whole program again. A fork server is both: on first use the parent
//! *spawns* one small server (a fresh run of the program, so it has no
//! threads and holds no lock), and each child is then *forked from the
//! server*, cheaply, whatever the parent runs.
//!
//! **Spares, forked ahead.** The parent keeps [`SPARES`] *spares* asked
//! for: for each, it makes a socket pair, keeps one end and hands the
//! server the other (`SCM_RIGHTS`, over the `SOCK_SEQPACKET` pair the two
//! share); the server forks a spare that waits on it, and both say its
//! pid on it (the spare, should the server die first; the server, should
//! the spare), or the server says why it could not fork. To start a
//! child, the parent sends the next spare its briefing
//! (what `spawn` writes: the function's distance from a fixed point, the
//! encoded argument, the name…), in the packet itself or, past [`INLINE`]
//! bytes, in a sealed memory file, and the descriptors the argument holds;
//! then it asks for a replacement. The spare becomes what the briefing
//! says and runs it, as a spawned child does. So a start costs the parent
//! two messages and no wait: the fork happened earlier, and its
//! replacement is forked while the child starts (CPython's server forks
//! on request, and sends the pid back). The pair is the parent's, not the
//! server's, so that a socket is in flight only until the server reads
//! its request: while one is, the kernel runs its collector of socket
//! cycles at every socket closed.
//!
//! **Whose child.** The server forks with `CLONE_PARENT`: each spare is a
//! child of the program, not of the server (its sibling). So the program
//! joins, signals and reaps it as a forked child, by `waitpid`, and knows
//! its exit code even if the server is killed (CPython's parent is not
//! its children's parent: its server sends each exit code back).
//!
//! **Ends.** The server ends when the program does: its socket then reads
//! as end-of-file, as does a spare's. A daemon dies with the program
//! however it ends, killed included, as a forked daemon does by
//! `PR_SET_PDEATHSIG`. That signal cannot serve here: it fires when the
//! *thread* that is the child's parent ends, and a sibling of the server
//! has for parent the thread that started the server, not the thread that
//! asked for the child. Instead each daemon is handed the read end of a
//! pipe, its *lifeline*, whose write end only the program holds (closed
//! on exec, and in its forked children), and asks the kernel for SIGKILL
//! once every write end is closed: when the program ends, however it ends.

use std::collections::VecDeque;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::Duration;

use nix::cmsg_space;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use nix::unistd::Pid;

use crate::Error;
use crate::sys::{self, Sibling, Wait};

/// The first argument of the fork server, as the spawned child's marker.
pub(crate) const MARKER: &str = "--multiprocessing-forkserver";

/// Where the server finds its end of the socket it shares with the parent.
const REQUESTS_FD: RawFd = 3;

/// The most descriptors one start carries: a daemon's lifeline, the
/// briefing and those the argument holds.
const MOST_FDS: usize = 64;

/// The largest briefing sent in the packet itself: a spare keeps a buffer
/// this size. A larger one goes in a sealed memory file (as `spawn`'s
/// always does), which costs the parent a file and the spare a read.
const INLINE: usize = 32 * 1024;

/// A start's first byte: the briefing follows (after the second byte, 1
/// if a lifeline comes first), or is in the file sent (after the lifeline).
const FOLLOWS: u8 = b'B';
const IN_FILE: u8 = b'F';
/// Those two bytes: the largest packet a start sends is this and [`INLINE`].
const HEADER: usize = 2;

/// How many spares wait, forked ahead: two, so that starts one after the
/// other find one ready though the server has not yet forked the last
/// one's replacement (a fork here takes a tenth of a millisecond or more).
const SPARES: usize = 2;

/// This process's server, once started.
static SERVER: Mutex<Option<Server>> = Mutex::new(None);

/// The write ends of the lifelines of this process's daemons, by pid: held
/// while each may run, and closed, killing it, when this process ends.
static LIFELINES: Mutex<Vec<(Pid, OwnedFd)>> = Mutex::new(Vec::new());

/// The parent's end of its server.
struct Server {
    /// The socket shared with the server: asks for spares go out.
    socket: OwnedFd,
    /// The server itself, to kill should it stop answering.
    pidfd: Option<OwnedFd>,
    /// Our ends of the sockets of the spares asked for, in the order asked.
    pending: VecDeque<OwnedFd>,
}

/// What the server says of the spare it forked.
enum Spare {
    /// Its pid: it waits for its briefing.
    Ready(Pid),
    /// Its fork failed (no process free, say).
    Failed(Errno),
    /// The server has ended, or sent what no server sends.
    Gone,
}

/// Start a child of the fork server that becomes what `briefing` (encoded)
/// says, holding `handed`: its pid. It is this process's own child
/// (`CLONE_PARENT`), joined as a forked one is.
pub(crate) fn start(briefing: Vec<u8>, daemon: bool, handed: Vec<OwnedFd>) -> Result<Pid, Error> {
    if handed.len() + 2 > MOST_FDS {
        return Err(Error::Spawn(format!(
            "an argument holding {} descriptors (at most {} go to a fork server)",
            handed.len(),
            MOST_FDS - 2
        )));
    }
    // Spares found dead at earlier starts, reaped (`reap_later`, below);
    // lifelines of daemons that have ended, closed: before this start
    // makes descriptors of its own.
    crate::process::parent_side::reap_ended_helpers();
    let mut lifelines = LIFELINES.lock().unwrap_or_else(|p| p.into_inner());
    lifelines.retain(|(pid, _)| sys::running_child(pid.as_raw()));
    let lifeline = match daemon {
        true => Some(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?),
        false => None,
    };
    let file = match briefing.len() > INLINE {
        true => Some(sys::sealed_memfd(&briefing)?),
        false => None,
    };
    let mut packet = vec![FOLLOWS, u8::from(daemon)];
    match file {
        Some(_) => packet[0] = IN_FILE,
        None => packet.extend_from_slice(&briefing),
    }
    let fds: Vec<RawFd> = (lifeline.iter().map(|(read, _)| read.as_raw_fd()))
        .chain(file.iter().map(AsRawFd::as_raw_fd))
        .chain(handed.iter().map(AsRawFd::as_raw_fd))
        .collect();
    let mut server = SERVER.lock().unwrap_or_else(|p| p.into_inner());
    // A spare found dead (killed, say) is let go and the next one taken; a
    // server found dead is started again. A few of each, not for ever. A
    // failed fork is this start's error only if it was asked for by this
    // start: one asked for earlier may have failed when no process was
    // free, and one may be now.
    let mut earlier = server.as_ref().map_or(0, |current| current.pending.len());
    // Why the last spare could not be briefed, if one could not.
    let mut last = String::from("the server kept ending");
    for _ in 0..2 * SPARES + 2 {
        if server.is_none() {
            *server = Some(start_server()?);
            earlier = 0; // its first spares are forked now
        }
        let current = server.as_mut().expect("just started");
        // After a failed fork, no spare was asked for in its place.
        while current.pending.len() < SPARES {
            let asked = pair().and_then(|(ours, theirs)| {
                ask(&current.socket, &theirs)?;
                Ok(ours)
            });
            match asked {
                Ok(ours) => current.pending.push_back(ours),
                Err(Errno::EPIPE | Errno::ECONNRESET | Errno::ENOTCONN) => break, // it has ended
                Err(_) if !current.pending.is_empty() => break, // a spare waits all the same
                // This process at its descriptor limit, say: the start's error.
                Err(errno) => return Err(errno.into()),
            }
        }
        let Some(spare) = current.pending.pop_front() else {
            *server = None; // gone: a new one, next time round
            continue;
        };
        let asked_earlier = earlier > 0;
        earlier = earlier.saturating_sub(1);
        let word = match next_spare(&spare, current) {
            Ok(word) => word,
            Err(e) => {
                // It does not answer (stopped, say): killed, and the next
                // start starts another, rather than count on its late word.
                if let Some(pidfd) = &current.pidfd {
                    let _ = sys::pidfd_send_signal(pidfd.as_fd(), Signal::SIGKILL);
                }
                *server = None;
                return Err(e);
            }
        };
        match word {
            Spare::Ready(pid) => {
                let briefed = send_bytes(&spare, &packet, &fds);
                drop(spare); // before the ask, which puts a socket in flight
                // Its replacement, forked while this one starts (if no
                // pair can be made here, the next start says so).
                if let Ok((ours, theirs)) = pair()
                    && ask(&current.socket, &theirs).is_ok()
                {
                    current.pending.push_back(ours);
                }
                let Err(errno) = briefed else {
                    lifelines.extend(lifeline.map(|(_, write)| (pid, write)));
                    return Ok(pid);
                };
                // It died waiting: reap it, and take the next. Otherwise
                // (more descriptors in flight than the limit, say) the
                // error is this start's, and the spare, its socket closed,
                // leaves.
                crate::process::parent_side::reap_later(pid);
                if !matches!(errno, Errno::EPIPE | Errno::ECONNRESET | Errno::ENOTCONN) {
                    return Err(errno.into());
                }
                last = errno.desc().to_owned();
            }
            Spare::Failed(_) if asked_earlier => {} // ask afresh (above)
            Spare::Failed(errno) => return Err(errno.into()),
            Spare::Gone => *server = None,
        }
    }
    Err(Error::Spawn(format!(
        "the fork server could not start the child: its spares or itself kept dying ({last})"
    )))
}

/// Read the word on a spare asked for, on its own socket: its pid (said
/// by the server and by the spare itself: the first to come counts, the
/// other is never read), or why the server could not fork it; waiting at
/// most a minute.
fn next_spare(spare: &OwnedFd, server: &Server) -> Result<Spare, Error> {
    let wait = Wait::timeout(Duration::from_secs(60));
    if sys::wait_readable(&[spare.as_fd()], wait)?.is_empty() {
        return Err(Error::Spawn(
            "the fork server did not answer within a minute".into(),
        ));
    }
    let mut word = [0u8; 4];
    let n = match receive(spare, &mut word) {
        Ok((n, _)) => n,
        Err(Errno::ECONNRESET) => 0,
        Err(errno) => return Err(errno.into()),
    };
    Ok(match i32::from_ne_bytes(word) {
        // Closed unsaid: the server ended (its socket to us, which carries
        // nothing our way, hung up: it is closed before the sockets it was
        // handed), or, at its descriptor limit, never got the socket.
        _ if n != 4 => match sys::wait_readable(&[server.socket.as_fd()], Wait::No)? {
            hung_up if hung_up.is_empty() => Spare::Failed(Errno::EMFILE),
            _ => Spare::Gone,
        },
        pid if pid > 0 => Spare::Ready(Pid::from_raw(pid)),
        errno if errno < 0 => Spare::Failed(Errno::from_raw(-errno)),
        _ => Spare::Gone,
    })
}

/// In a child forked from a process that started a server: the server is
/// its parent's, and a copy of the socket here would keep it alive.
pub(crate) fn forget_after_fork() {
    let mut server = SERVER.lock().unwrap_or_else(|p| p.into_inner());
    drop(server.take());
    // Nor are the lifelines: held here, they would keep the daemons alive.
    drop(std::mem::take(
        &mut *LIFELINES.lock().unwrap_or_else(|p| p.into_inner()),
    ));
}

/// Spawn the server: this program again, with the marker and its end of
/// a fresh socket pair as its descriptor 3.
fn start_server() -> Result<Server, Error> {
    let (ours, theirs) = pair()?;
    let pid = sys::spawn_self(MARKER, &[theirs], true)?;
    // It is nobody's child to join: a thread of its own would be one more
    // thread; instead the exit steps never list it, and it is reaped when
    // it ends (below, by whichever start comes next) or by init.
    let pidfd = sys::pidfd_open(pid.as_raw()).ok(); // before it can be reaped
    crate::process::parent_side::reap_later(pid);
    Ok(Server {
        socket: ours,
        pidfd,
        pending: VecDeque::new(),
    })
}

/// A connected pair of `SOCK_SEQPACKET` sockets, close-on-exec.
fn pair() -> Result<(OwnedFd, OwnedFd), Errno> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
}

/// Ask the server for a spare waiting on `waits`: a byte, and the socket.
fn ask(server: &OwnedFd, waits: &OwnedFd) -> Result<(), Errno> {
    send_bytes(server, b"S", &[waits.as_raw_fd()])
}

fn send_bytes(socket: &OwnedFd, bytes: &[u8], fds: &[RawFd]) -> Result<(), Errno> {
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &rights };
    let iov = [IoSlice::new(bytes)];
    loop {
        match sendmsg::<()>(
            socket.as_raw_fd(),
            &iov,
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(Errno::EINTR) => continue,
            sent => return sent.map(drop),
        }
    }
}

/// Receive one packet into `bytes`: how many it filled (0 at end-of-file)
/// and the descriptors it carried.
fn receive(socket: &OwnedFd, bytes: &mut [u8]) -> Result<(usize, Vec<OwnedFd>), Errno> {
    let mut space = cmsg_space!([RawFd; MOST_FDS]);
    loop {
        let mut iov = [IoSliceMut::new(bytes)];
        let flags = MsgFlags::MSG_CMSG_CLOEXEC;
        let got = match recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut space), flags) {
            // A SOCK_SEQPACKET peer that closed with packets of ours
            // unread sets ECONNRESET, which the kernel reports *before*
            // the packets the peer sent us: read those (then end-of-file).
            Err(Errno::EINTR | Errno::ECONNRESET) => continue,
            got => got?,
        };
        let mut fds = Vec::new();
        // Cut short (this process at its descriptor limit: the kernel
        // closed what it could not give): as if none came, which each
        // caller takes for an error.
        let Ok(cmsgs) = got.cmsgs() else {
            return Ok((got.bytes, fds));
        };
        for cmsg in cmsgs {
            if let ControlMessageOwned::ScmRights(raw) = cmsg {
                // SAFETY: the kernel just made these descriptors ours.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        return Ok((got.bytes, fds));
    }
}

/// The server's life: fork a spare each time the parent asks (a packet
/// with the socket it is to wait on, on which the spare says its pid, or
/// the server why it could not fork), until the parent has ended
/// (end-of-file: leave). Never returns. A spare waits for its
/// briefing, decodes it (`read`) and becomes what it says (`run`, given it
/// and the descriptors handed over).
pub(crate) fn serve<T>(read: fn(&[u8]) -> T, run: fn(T, Vec<OwnedFd>) -> !) -> ! {
    // SAFETY: `posix_spawn` put the socket at 3, and nothing else in this
    // fresh process owns it.
    let requests = unsafe { OwnedFd::from_raw_fd(REQUESTS_FD) };
    // A Ctrl-C at the terminal reaches the whole process group: the server
    // and its spares outlive it, as CPython's server does, so that the
    // program may still start and join children. (Each child, once it has
    // its task, gets the default back.)
    let ignore = nix::sys::signal::SigHandler::SigIgn;
    // SAFETY: setting a signal's disposition to "ignore" runs no handler.
    let _ = unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGINT, ignore) };
    sys::unshield(); // blocked until now (`spawn_self`): its spares start unblocked
    sys::set_thread_name("ForkServer"); // what `ps` and `top` show
    loop {
        let mut asked = [0u8; 1];
        let mut waits = match receive(&requests, &mut asked) {
            Ok((1, fds)) => fds,
            Err(Errno::ENOMEM | Errno::ENOBUFS) => continue, // the kernel short of memory
            // The program has ended (killed, say), or sent what it never sends.
            _ => sys::exit_now(0),
        };
        let Some(spare) = waits.pop() else {
            continue; // its socket lost on the way (this server at its descriptor limit)
        };
        // SAFETY: this server runs one thread (a fresh program that starts
        // none), so the spare may take any lock.
        match unsafe { sys::fork_as_sibling() } {
            Ok(Sibling::Child) => {
                drop((requests, waits)); // nothing of the server's is the spare's
                await_briefing(spare, read, run)
            }
            Ok(Sibling::Parent(pid)) => drop(send_bytes(&spare, &pid.to_ne_bytes(), &[])),
            // No process free, say.
            Err(errno) => drop(send_bytes(&spare, &(-(errno as i32)).to_ne_bytes(), &[])),
        }
    }
}

/// A spare's life: wait for a briefing on `waits`, then become what it
/// says; leave if the parent ends first.
fn await_briefing<T>(waits: OwnedFd, read: fn(&[u8]) -> T, run: fn(T, Vec<OwnedFd>) -> !) -> ! {
    // Its pid, for the parent, which knows so every spare it may reap. It
    // may have the server's word already, and have briefed us and closed
    // its end (the send then fails): the briefing is read all the same.
    let _ = send_bytes(&waits, &(std::process::id() as i32).to_ne_bytes(), &[]);
    sys::set_thread_name("ForkServerSpare"); // what `ps` shows until it has a task
    // A buffer the size of this briefing, not of the largest: every page
    // it writes is the server's until then, and copied at a fault.
    let mut packet = vec![0u8; next_size(&waits).clamp(1, HEADER + INLINE)];
    let (n, fds) = match receive(&waits, &mut packet) {
        Ok((0, _)) => sys::exit_now(0), // never taken: the program has ended
        Ok((n, _)) if n < HEADER => not_taken(Errno::EBADMSG),
        Ok(packet) => packet,
        Err(errno) => not_taken(errno),
    };
    // Closed only as it ends: closed now, most likely while the parent's
    // ask for its replacement is in flight, it would set the kernel's
    // collector running (see the module's docs).
    std::mem::forget(waits);
    let mut fds = fds.into_iter();
    if packet[1] == 1 {
        let lifeline = fds.next().ok_or(Errno::EMFILE.into());
        if let Err(e) = lifeline.and_then(sys::die_when_closed) {
            not_taken(Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        }
    }
    let briefing = match packet[0] {
        FOLLOWS => read(&packet[HEADER..n]),
        _ => {
            let file = fds.next().unwrap_or_else(|| not_taken(Errno::EMFILE));
            let mut file = std::fs::File::from(file);
            packet.clear();
            // The parent wrote it: its offset is at the end.
            let whole = std::io::Seek::rewind(&mut file)
                .and_then(|()| std::io::Read::read_to_end(&mut file, &mut packet));
            if let Err(e) = whole {
                not_taken(Errno::from_raw(e.raw_os_error().unwrap_or(0)))
            }
            read(&packet)
        }
    };
    let default = nix::sys::signal::SigHandler::SigDfl;
    // SAFETY: setting a signal's disposition to its default runs no handler.
    let _ = unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGINT, default) };
    run(briefing, fds.collect())
}

/// A spare that could not read its task: it says so, and ends with 1.
fn not_taken(errno: Errno) -> ! {
    eprintln!("a child of the fork server could not take its task: {errno}");
    sys::exit_now(1)
}

/// How long the next packet on `socket` is, once one comes (0 at
/// end-of-file; the largest a start sends if it cannot tell).
fn next_size(socket: &OwnedFd) -> usize {
    let peek = MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC;
    loop {
        match nix::sys::socket::recv(socket.as_raw_fd(), &mut [], peek) {
            Err(Errno::EINTR) => continue,
            size => return size.unwrap_or(HEADER + INLINE),
        }
    }
}
