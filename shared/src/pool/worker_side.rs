//! The worker's side: what travels between the parent and a worker, and the
//! loop a worker runs until told to stop (CPython's `pool.worker`).

use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::task::{Failed, Raised, Runner};
use crate::Error;
use crate::codec::{decode, encode};
use crate::ipc::Connection;
use crate::process::current::ExitRequest;

/// One chunk of a call, as the parent sends it. A message to a worker is a
/// `Vec<Task>`, a batch; an empty one tells it to stop (CPython's sentinel).
#[derive(Serialize, Deserialize)]
pub(crate) struct Task {
    /// The runner, as its distance from a fixed point of the program: see
    /// "How a function reaches a worker".
    pub runner: isize,
    /// The chunk's argument tuples, encoded. `ByteBuf`: serde copies the
    /// bytes in one go instead of one `u8` at a time.
    pub args: ByteBuf,
    /// Which call of the pool, and which of its chunks: for the parent to
    /// know what each answer answers, and for the timeline.
    pub call: u64,
    pub chunk: u32,
}

/// A worker's answer to one task: the encoded values, or why there are
/// none. It answers each call of a batch in one message, with how long its
/// tasks kept it busy, one answer per task in order (the parent knows
/// which chunks it sent), and whether the batch is done.
pub(crate) type Answer = Result<ByteBuf, Failed>;

/// The initializer, as a worker is given it: its runner's distance (see
/// `functions.rs`), its encoded arguments, and the descriptors of any
/// queue, pipe, event or lock among them.
pub(crate) type Initializer = (isize, ByteBuf, crate::handover::Descriptors);

/// What a worker needs to start: the same, forked or spawned (then it is
/// its argument, encoded, its socket and descriptors handed over).
#[derive(Serialize, Deserialize)]
pub(crate) struct Setup {
    /// Its end of its own pipe with the parent.
    pub socket: Connection,
    /// The parent's ends of every worker's socket, this one's included,
    /// which `fork` copied into this process: closed first thing, so that
    /// when the parent dies (or a sibling worker does) nobody else holds
    /// its end open, and end-of-file comes. (None crosses a spawn.)
    #[serde(skip)]
    pub inherited: Vec<std::os::fd::RawFd>,
    pub initializer: Option<Initializer>,
    pub maxtasks: Option<usize>,
}

/// A worker's life: run the initializer, then run batches until an empty
/// one, end-of-file, or `maxtasks` tasks done.
pub(crate) fn serve(setup: Setup) -> Result<(), String> {
    // SAFETY: the parent's ends, copied by `fork`; nothing in this process
    // uses them (their owners, in the copy of the parent's pool, are never
    // dropped here: a worker leaves with `_exit`).
    unsafe { crate::sys::close_all(&setup.inherited) };
    crate::sys::keep_freed_memory(); // each task's buffers reuse the last one's pages
    crate::timeline::quiet(); // its waits for work are not the program's
    // CPython lets a failing initializer kill the worker, and then starts
    // replacements that fail the same way, forever. Here the worker stays
    // and answers every task with the initializer's error instead.
    let broken = setup.initializer.and_then(|(distance, args, fds)| {
        crate::handover::handed(fds.0); // for its queues and locks to take
        // SAFETY: the parent sent the distance of the initializer's runner.
        let failed = run(unsafe { crate::functions::at(distance) }, &args).err()?;
        // Every task fails with this: say it is the initializer's.
        Some(Failed::Raised(match failed {
            Failed::Raised(raised) => Raised {
                message: format!("the pool's initializer failed: {}", raised.message),
                ..raised
            },
            Failed::Unencodable(why) => Raised {
                kind: "InitializerError".to_owned(),
                message: format!("the pool's initializer could not take its arguments: {why}"),
                value: None,
            },
        }))
    });
    let mut completed = 0;
    'serve: while setup.maxtasks.is_none_or(|max| completed < max) {
        let Ok(message) = setup.socket.recv_bytes() else {
            log::debug!("worker got EOFError or OSError -- exiting");
            break;
        };
        let tasks: Vec<Task> = decode(&message).map_err(|e| e.to_string())?;
        if tasks.is_empty() {
            log::debug!("worker got sentinel -- exiting");
            break;
        }
        // The answers go back a call at a time: a batch may hold several
        // calls of one function, and a call's answers must not wait on (or
        // be lost with) the next call's tasks.
        let (mut started, mut answers) = (Instant::now(), Vec::new());
        let mut tasks = tasks.into_iter().peekable();
        while let Some(task) = tasks.next() {
            // SAFETY: the parent sent a `Runner`'s distance over this
            // worker's own socket, and the worker runs the same executable,
            // forked or spawned.
            let runner: Runner = unsafe { crate::functions::at(task.runner) };
            completed += 1;
            let began = crate::timeline::now_if_on();
            answers.push(match &broken {
                Some(e) => Err(e.clone()),
                None => run(runner, &task.args).map(ByteBuf::from),
            });
            crate::timeline::task(task.call as u32, task.chunk, began);
            let next = tasks.peek().map(|next| next.call);
            if next != Some(task.call) {
                let answered = std::mem::take(&mut answers);
                if !answer(&setup.socket, started.elapsed(), answered, next.is_none()) {
                    break 'serve; // the parent is gone
                }
                started = Instant::now();
            }
        }
    }
    log::debug!("worker exiting after {completed} tasks");
    Ok(())
}

/// Send the answers to a call's tasks, with how long they kept the worker
/// busy and whether they end the batch; `false` if the parent is gone. An
/// answer that cannot go (too big for the file-size limit, no descriptor
/// free) is said instead, in a message that can.
fn answer(socket: &Connection, busy: Duration, answers: Vec<Answer>, last: bool) -> bool {
    let count = answers.len();
    let send = |answers| encode(&(busy, answers, last)).and_then(|b| socket.send_bytes(&b));
    match send(answers) {
        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => false,
        Err(e) => {
            let why = Failed::Unencodable(format!("the answer could not be sent: {e}"));
            send(vec![Err(why); count]).is_ok()
        }
        Ok(()) => true,
    }
}

/// Run one task, turning a panic into its message. `shared::exit` in a
/// task ends the worker, as `sys.exit` does in CPython.
fn run(runner: Runner, chunk: &[u8]) -> Result<Vec<u8>, Failed> {
    match panic::catch_unwind(AssertUnwindSafe(|| runner(chunk))) {
        Ok(outcome) => outcome,
        Err(payload) if payload.is::<ExitRequest>() => panic::resume_unwind(payload),
        Err(_) => {
            // A task's panic is the caller's to report, as a task's exception
            // is in CPython: a child's panic hook kept its message for us.
            let message = crate::process::child_side::last_panic();
            let message = message.unwrap_or_else(|| "a task panicked".to_owned());
            Err(Failed::Raised(Raised {
                kind: "panic".to_owned(),
                message,
                value: None,
            }))
        }
    }
}
