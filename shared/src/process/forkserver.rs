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
//! **How a child is asked for.** The parent and the server share a pair of
//! `SOCK_SEQPACKET` sockets. For each child the parent sends one packet:
//! no bytes of note, and descriptors (`SCM_RIGHTS`): the briefing (a
//! sealed memory file, exactly as `spawn` writes it: the function's
//! distance from a fixed point, the encoded argument, the name…), one end
//! of a fresh socket pair for the answers, and the descriptors the
//! argument holds. The server forks; the child becomes what the briefing
//! says and runs it, as a spawned child does; the server answers on that
//! socket with the child's pid and a pidfd of it, and later, once it has
//! reaped the child, with its exit code (CPython's server sends back the
//! pid, then the status, the same way).
//!
//! **The parent is not the child's parent.** So it cannot `waitpid`: it
//! learns the exit code from the server, signals the child through the
//! pidfd (which names that process and no other, even once its number is
//! reused), and waits on the pidfd, which turns readable when the child
//! ends. The server ends when the program does: its socket then reads as
//! end-of-file. Its daemonic children die with it (`PR_SET_PDEATHSIG`),
//! as a forked daemon dies with its parent.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::Duration;

use nix::cmsg_space;
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use nix::unistd::{ForkResult, Pid, fork};

use crate::Error;
use crate::process::parent_side::Remote;
use crate::sys::{self, Wait};

/// The first argument of the fork server, as the spawned child's marker.
pub(crate) const MARKER: &str = "--multiprocessing-forkserver";

/// Where the server finds its end of the request socket.
const REQUESTS_FD: RawFd = 3;

/// The most descriptors one request carries: the briefing, the answer
/// socket, and those the argument holds.
const MOST_FDS: usize = 64;

/// This process's server: its end of the request socket, once started.
static SERVER: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// Ask the server for a child that becomes what `briefing` (a sealed
/// memory file) says, holding `handed`: its pid, and how to reach it.
pub(crate) fn start(briefing: OwnedFd, handed: Vec<OwnedFd>) -> Result<(Pid, Remote), Error> {
    if handed.len() + 2 > MOST_FDS {
        return Err(Error::Spawn(format!(
            "an argument holding {} descriptors (at most {} go to a fork server)",
            handed.len(),
            MOST_FDS - 2
        )));
    }
    // A server found dead (killed, say) is started again: at once if the
    // request cannot be sent, or if the server ends before answering (it
    // died as the request went).
    for attempt in 0..2 {
        let (answers, theirs) = pair()?;
        let mut fds: Vec<RawFd> = vec![briefing.as_raw_fd(), theirs.as_raw_fd()];
        fds.extend(handed.iter().map(AsRawFd::as_raw_fd));
        let mut server = SERVER.lock().unwrap_or_else(|p| p.into_inner());
        let sent = match server.as_ref() {
            Some(requests) => send(requests, &fds),
            None => Err(Errno::EPIPE),
        };
        if sent.is_err() {
            *server = Some(start_server()?);
            send(server.as_ref().expect("just started"), &fds)?;
        }
        drop(server);
        drop(theirs); // the server has its copy now
        // Its answer: the pid and a pidfd, or end-of-file if it died first.
        let wait = Wait::timeout(Duration::from_secs(60));
        if sys::wait_readable(&[answers.as_fd()], wait)?.is_empty() {
            return Err(Error::Spawn(
                "the fork server did not answer within a minute".into(),
            ));
        }
        let (bytes, mut fds) = receive(&answers)?;
        let word = <[u8; 4]>::try_from(&bytes[..]).map(i32::from_ne_bytes);
        match (word, fds.pop()) {
            (Ok(pid), Some(pidfd)) if pid > 0 => {
                let remote = Remote {
                    answers,
                    pidfd,
                    server_gone: false,
                };
                return Ok((Pid::from_raw(pid), remote));
            }
            // Its fork failed (no process free, say): the server sent the errno.
            (Ok(errno), None) if errno < 0 => return Err(Errno::from_raw(-errno).into()),
            _ => {}
        }
        // No answer. A server that lives dropped the request (it could not
        // take its descriptors, at its own limit, say): an error, and the
        // server kept. One that died is let go, the first time, and the
        // request sent again to a new one.
        let mut server = SERVER.lock().unwrap_or_else(|p| p.into_inner());
        let dead = server.as_ref().is_some_and(hung_up);
        if !dead || attempt == 1 {
            return Err(Error::Spawn(
                "the fork server could not start the child (at its descriptor limit?)".into(),
            ));
        }
        *server = None;
    }
    unreachable!("the second attempt returns")
}

/// Whether the server's end of `requests` is closed: it died.
fn hung_up(requests: &OwnedFd) -> bool {
    let mut polled = [nix::poll::PollFd::new(
        requests.as_fd(),
        nix::poll::PollFlags::empty(),
    )];
    nix::poll::poll(&mut polled, nix::poll::PollTimeout::ZERO).is_ok()
        && polled[0].revents().is_some_and(|r| {
            r.intersects(nix::poll::PollFlags::POLLHUP | nix::poll::PollFlags::POLLERR)
        })
}

/// In a child forked from a process that started a server: the server is
/// its parent's, and a copy of the socket here would keep it alive.
pub(crate) fn forget_after_fork() {
    let mut server = SERVER.lock().unwrap_or_else(|p| p.into_inner());
    drop(server.take());
}

/// Spawn the server: this program again, with the marker and its end of
/// a fresh socket pair as its descriptor 3.
fn start_server() -> Result<OwnedFd, Error> {
    let (ours, theirs) = pair()?;
    let pid = sys::spawn_self(MARKER, &[theirs], true)?;
    // It is nobody's child to join: a thread of its own would be one more
    // thread; instead the exit steps never list it, and it is reaped when
    // it ends (below, by whichever start comes next) or by init.
    crate::process::parent_side::reap_later(pid);
    Ok(ours)
}

/// A connected pair of `SOCK_SEQPACKET` sockets, close-on-exec.
fn pair() -> Result<(OwnedFd, OwnedFd), Error> {
    Ok(socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?)
}

/// Send one packet: a byte (a packet must have one) and `fds`.
fn send(socket: &OwnedFd, fds: &[RawFd]) -> Result<(), Errno> {
    send_bytes(socket, &[0], fds)
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

/// Receive one packet: its bytes (empty at end-of-file) and descriptors.
fn receive(socket: &OwnedFd) -> Result<(Vec<u8>, Vec<OwnedFd>), Errno> {
    let mut bytes = [0u8; 16];
    let mut space = cmsg_space!([RawFd; MOST_FDS]);
    loop {
        let mut iov = [IoSliceMut::new(&mut bytes)];
        let flags = MsgFlags::MSG_CMSG_CLOEXEC;
        let got = match recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut space), flags) {
            Err(Errno::EINTR) => continue,
            got => got?,
        };
        let mut fds = Vec::new();
        for cmsg in got.cmsgs()? {
            if let ControlMessageOwned::ScmRights(raw) = cmsg {
                // SAFETY: the kernel just made these descriptors ours.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        let n = got.bytes;
        return Ok((bytes[..n].to_vec(), fds));
    }
}

/// The server's life: for each request, read its briefing (`read`), fork
/// a child, which becomes what the briefing says (`run`, given it, the
/// descriptors handed over, the server's pid and a pidfd of the parent),
/// answer with its pid and a pidfd, and with its exit code once it ends;
/// end when the parent closes the socket. Never returns.
///
/// The briefing is read here, before the fork, and a pidfd of the parent
/// taken once for all children: the child then finds them in memory. A
/// child touching little is a child started quickly: each page it writes
/// is copied, each system call and each first use of a library function
/// costs it what it would have cost the server only once.
pub(crate) fn serve<T>(
    read: fn(OwnedFd) -> T,
    run: fn(T, Vec<OwnedFd>, u32, Option<OwnedFd>) -> !,
) -> ! {
    // SAFETY: `posix_spawn` put the request socket at 3, and nothing else
    // in this fresh process owns it.
    let requests = unsafe { OwnedFd::from_raw_fd(REQUESTS_FD) };
    let me = std::process::id();
    // The parent, the only one who asks (each process has its own server).
    let mut parent = sys::pidfd_open(nix::unistd::getppid().as_raw()).ok();
    // A Ctrl-C at the terminal reaches the whole process group: the server
    // outlives it, as CPython's does, so that the program may still join
    // its children. (Each child gets the default back.)
    let ignore = nix::sys::signal::SigHandler::SigIgn;
    // SAFETY: setting a signal's disposition to "ignore" runs no handler.
    let _ = unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGINT, ignore) };
    sys::unshield(); // blocked until now (`spawn_self`): its children start unblocked
    sys::set_thread_name("ForkServer"); // what `ps` and `top` show
    // (pid, its pidfd, where to send its exit code)
    let mut children: Vec<(Pid, OwnedFd, OwnedFd)> = Vec::new();
    loop {
        let mut watched = vec![requests.as_fd()];
        watched.extend(children.iter().map(|(_, pidfd, _)| pidfd.as_fd()));
        let Ok(ready) = sys::wait_readable(&watched, Wait::Forever) else {
            continue;
        };
        drop(watched);
        // Children that ended: reap each, and say how it ended.
        for &i in ready.iter().filter(|&&i| i > 0).rev() {
            let (pid, _, answers) = children.swap_remove(i - 1);
            // Its status, or (lost, never made up) nothing: the parent
            // then sees the child's end and no word, an error.
            let code = match nix::sys::wait::waitpid(pid, None) {
                Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => Some(code),
                Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => Some(-(sig as i32)),
                _ => None,
            };
            if let Some(code) = code {
                let _ = send_bytes(&answers, &code.to_ne_bytes(), &[]);
            }
        }
        if ready.first() != Some(&0) {
            continue;
        }
        let (bytes, fds) = match receive(&requests) {
            Ok(request) => request,
            Err(_) => continue,
        };
        if bytes.is_empty() {
            sys::exit_now(0); // the program has ended
        }
        let mut fds = fds.into_iter();
        let (Some(briefing), Some(answers)) = (fds.next(), fds.next()) else {
            continue; // not one of ours
        };
        let handed: Vec<OwnedFd> = fds.collect();
        let briefing = read(briefing);
        // SAFETY: this server runs one thread (a fresh program that starts
        // none), so the child may take any lock.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                // Nothing of the server's is the child's.
                drop(requests);
                drop(children);
                drop(answers);
                let default = nix::sys::signal::SigHandler::SigDfl;
                // SAFETY: setting a signal's disposition to its default runs no handler.
                let _ =
                    unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGINT, default) };
                run(briefing, handed, me, parent.take()) // this copy is the child's
            }
            Ok(ForkResult::Parent { child }) => match sys::pidfd_open(child.as_raw()) {
                Ok(pidfd) => {
                    let pid = child.as_raw().to_ne_bytes();
                    let _ = send_bytes(&answers, &pid, &[pidfd.as_raw_fd()]);
                    children.push((child, pidfd, answers));
                }
                Err(errno) => {
                    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                    let _ = nix::sys::wait::waitpid(child, None);
                    let _ = send_bytes(&answers, &(-(errno as i32)).to_ne_bytes(), &[]);
                }
            },
            Err(errno) => {
                // No process free, say: the parent's start says so.
                let _ = send_bytes(&answers, &(-(errno as i32)).to_ne_bytes(), &[]);
            }
        }
    }
}
