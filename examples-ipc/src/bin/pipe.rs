//! Sending a message from a child to its parent through a `Pipe`.
//!
//! Python twin: `python/pipe.py` (tutorial 004, "Process Communication").
//!
//! ```console
//! $ cargo run -p examples-ipc --bin pipe
//! Received message : Hello World
//! [child] send a message to pipe : Hello World
//! ```
//! The two lines can come in either order: `recv` returns as soon as the
//! child has sent, and then parent and child print at the same time.

use shared::ipc::{Connection, pipe};
use shared::{Process, current_process};

fn child(pipe: Connection) -> Result<(), shared::Error> {
    let p = current_process();

    let msg = "Hello World";
    pipe.send(msg)?;

    println!("[{}] send a message to pipe : {msg}", p.name());
    Ok(())
}

fn main() -> Result<(), shared::Error> {
    let (parent_pipe, child_pipe) = pipe(true)?; // Python: Pipe()

    // `child_pipe` moves into the closure: the child gets it, and the
    // parent's copy is closed once `start` returns.
    let mut p = Process::new(move || child(child_pipe)).named("child");
    p.start()?;

    println!("Received message : {}", parent_pipe.recv::<String>()?);
    p.join()?;
    Ok(())
}
