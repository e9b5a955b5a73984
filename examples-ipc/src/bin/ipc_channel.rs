//! The Rust crate a learner meets next, `ipc-channel`: a spawned child
//! finds its parent through an `IpcOneShotServer`'s name, and typed
//! messages go both ways; then the same exchange over `shared`'s `pipe`.
//!
//! Python twin: `python/ipc_channel.py` (beyond the tutorials: the
//! `ipc-channel` crate; the twin does the same over
//! `multiprocessing.connection`, a listener's address for the server's
//! name, and over a `Pipe`).
//!
//! ```console
//! $ cargo run -p examples-ipc --bin ipc_channel
//! ipc-channel: asked 3, got 9
//! ipc-channel: asked 4, got 16
//! ipc-channel: the child got 2 questions
//! pipe: asked 3, got 9
//! pipe: asked 4, got 16
//! pipe: the child got 2 questions
//! ```
//! Where Rust differs: `ipc-channel` types each channel (`IpcSender<u32>`
//! sends only `u32`s), and a channel end is itself a message: the child
//! sends its ends to the parent through the server. A Python connection
//! sends whatever pickles, and its address is the name.

use ipc_channel::ipc::{self, IpcOneShotServer, IpcReceiver, IpcSender};
use shared::ipc::{Connection, pipe};
use shared::{Error, Process, StartMethod, get_context};

/// What the child sends the parent first, through the server: an end to
/// send it questions, and an end to read its answers.
type Ends = (IpcSender<Option<u32>>, IpcReceiver<Answer>);

/// The child's answer: a square, or how many questions it got.
type Answer = Result<u64, usize>;

/// An `ipc-channel` error as this crate's.
fn ipc_error(e: impl std::fmt::Display) -> Error {
    Error::Ipc(e.to_string())
}

/// The spawned child: connect to the server by its name, hand over the
/// ends, then answer until told to stop.
fn ipc_child(server_name: String) -> Result<(), Error> {
    let (ask, questions) = ipc::channel::<Option<u32>>()?;
    let (answers, answer) = ipc::channel::<Answer>()?;
    let server = IpcSender::<Ends>::connect(server_name)?;
    server.send((ask, answer)).map_err(ipc_error)?;
    let mut got = 0;
    while let Ok(Some(n)) = questions.recv() {
        got += 1;
        let _ = answers.send(Ok(u64::from(n) * u64::from(n)));
    }
    let _ = answers.send(Err(got));
    Ok(())
}

/// The same child over a pipe: no name to find, the end is inherited.
fn pipe_child(conn: Connection) -> Result<(), Error> {
    let mut got = 0;
    while let Some(n) = conn.recv::<Option<u32>>()? {
        got += 1;
        conn.send(&Ok::<u64, usize>(u64::from(n) * u64::from(n)))?;
    }
    conn.send(&Err::<u64, usize>(got))
}

fn report(label: &str, answer: Answer, asked: Option<u32>) {
    match (answer, asked) {
        (Ok(square), Some(n)) => println!("{label}: asked {n}, got {square}"),
        (Err(got), _) => println!("{label}: the child got {got} questions"),
        (Ok(square), None) => println!("{label}: an answer to nothing: {square}"),
    }
}

fn main() -> Result<(), Error> {
    // A spawned child runs its task here and exits; the parent goes on.
    shared::freeze_support();

    let (server, name) = IpcOneShotServer::<Ends>::new()?;
    let mut child = get_context(StartMethod::Spawn).process(ipc_child, name);
    child.start()?;
    let (_, (ask, answers)) = server.accept().map_err(ipc_error)?;
    for n in [Some(3), Some(4), None] {
        ask.send(n).map_err(ipc_error)?;
        let answer = answers.recv().map_err(ipc_error)?;
        report("ipc-channel", answer, n);
    }
    child.join()?;

    let (mine, theirs) = pipe(true)?;
    let mut child = Process::new(move || pipe_child(theirs));
    child.start()?;
    for n in [Some(3), Some(4), None] {
        mine.send(&n)?;
        report("pipe", mine.recv::<Answer>()?, n);
    }
    child.join()?;
    Ok(())
}
