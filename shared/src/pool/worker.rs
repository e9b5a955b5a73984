//! The worker's side: what travels between the parent and a worker, and the
//! loop a worker runs until told to stop.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::Instant;

use ipc_channel::ipc::{IpcBytesReceiver, IpcSender};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::task::{Runner, encode};
use crate::current::ExitRequest;

/// The head of a task, or the order to stop. A message from the parent
/// holds either one `Stop`, or one or more tasks back to back, each a
/// `Run` followed by its `len` bytes of encoded arguments: the parent sends
/// a worker everything it has for it in one message, and the worker
/// answers them all in one message, which matters when tasks are tiny.
#[derive(Serialize, Deserialize)]
pub(crate) enum Order {
    /// Run the chunk that follows with the runner at this address.
    Run {
        job: u64,
        index: u32,
        runner: usize,
        len: usize,
    },
    /// Leave the loop (CPython's sentinel, `None`).
    Stop,
}

/// A worker's answer to one task.
#[derive(Serialize, Deserialize)]
pub(crate) struct Answer {
    pub job: u64,
    pub index: u32,
    /// How long the task took in the worker, so the parent learns how far
    /// ahead to feed it.
    pub elapsed_ns: u64,
    /// The encoded values, or the worker's message. `ByteBuf` makes serde
    /// copy the bytes in one go instead of one `u8` at a time.
    pub outcome: Result<ByteBuf, String>,
}

/// One task's part of a message: its `Run` head, then its chunk (the
/// encoded list of argument tuples).
pub(crate) fn task_message(
    job: u64,
    index: u32,
    runner: Runner,
    chunk: &[u8],
) -> Result<Vec<u8>, crate::Error> {
    let order = Order::Run {
        job,
        index,
        runner: runner as usize,
        len: chunk.len(),
    };
    let mut message = encode(&order)?;
    message.extend_from_slice(chunk);
    Ok(message)
}

/// What a worker needs to start: its channels and the pool's settings.
pub(crate) struct Setup {
    pub orders: IpcBytesReceiver,
    pub answers: IpcSender<Vec<Answer>>,
    /// The initializer's runner and its encoded arguments.
    pub initializer: Option<(Runner, Vec<u8>)>,
    pub maxtasks: Option<usize>,
}

/// The message of the last panic in this worker.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// A worker's life (CPython's `multiprocessing.pool.worker`): run the
/// initializer, then run orders until `Stop`, or until `maxtasks` are done.
pub(crate) fn serve(setup: Setup) -> Result<(), String> {
    // A task's panic is the caller's to report, as a task's exception is in
    // CPython: keep its message instead of printing it here.
    panic::set_hook(Box::new(|info| {
        *LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()) = Some(info.to_string());
    }));
    // CPython lets a failing initializer kill the worker, and then starts
    // replacements that fail the same way, forever. Here the worker stays
    // and answers every task with the initializer's error instead.
    let broken = setup
        .initializer
        .and_then(|(runner, args)| run(runner, &args).err())
        .map(|e| format!("the pool's initializer failed: {e}"));
    let mut completed = 0;
    while setup.maxtasks.is_none_or(|max| completed < max) {
        let Ok(message) = setup.orders.recv() else {
            log::debug!("worker got EOFError or OSError -- exiting");
            break;
        };
        let mut rest = &message[..];
        let mut answers = Vec::new();
        let mut stop = false;
        while !rest.is_empty() {
            let (order, after) = postcard::take_from_bytes::<Order>(rest)
                .map_err(|e| format!("bad order from the pool: {e}"))?;
            let Order::Run {
                job,
                index,
                runner,
                len,
            } = order
            else {
                stop = true;
                break;
            };
            let (chunk, after) = after.split_at_checked(len).ok_or("a task cut short")?;
            rest = after;
            // SAFETY: `runner` is the address of a `Runner` taken in the
            // parent (see `run_message`) and sent over this worker's private
            // channel. The worker is a fork of the parent, so the same
            // function sits at the same address here.
            let runner: Runner = unsafe { std::mem::transmute::<usize, Runner>(runner) };
            let started = Instant::now();
            let outcome = match &broken {
                Some(e) => Err(e.clone()),
                None => run(runner, chunk),
            };
            answers.push(Answer {
                job,
                index,
                elapsed_ns: started.elapsed().as_nanos().try_into().unwrap_or(u64::MAX),
                outcome: outcome.map(ByteBuf::from),
            });
            completed += 1;
        }
        if !answers.is_empty() && setup.answers.send(answers).is_err() {
            break; // the parent is gone
        }
        if stop {
            log::debug!("worker got sentinel -- exiting");
            break;
        }
    }
    log::debug!("worker exiting after {completed} tasks");
    Ok(())
}

/// Run one task, turning a panic into its message. `shared::exit` in a
/// task ends the worker, as `sys.exit` does in CPython.
fn run(runner: Runner, chunk: &[u8]) -> Result<Vec<u8>, String> {
    match panic::catch_unwind(AssertUnwindSafe(|| runner(chunk))) {
        Ok(outcome) => outcome,
        Err(payload) if payload.is::<ExitRequest>() => panic::resume_unwind(payload),
        Err(_) => Err(LAST_PANIC
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_else(|| "a task panicked".to_owned())),
    }
}
