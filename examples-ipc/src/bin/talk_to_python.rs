//! A Rust listener and a Python client: they prove they share a key and
//! exchange a pickled list and raw bytes both ways, each in its own
//! language.
//!
//! Python twin: `python/talk_to_python.py` (beyond the tutorials: CPython's
//! wire format). Given an address it is the client, which this section
//! runs; run alone it is both ends, in Python.
//!
//! ```console
//! $ cargo run -p examples-ipc --bin talk_to_python
//! client got: [('apples', 3), ('pears', 5)]
//! client got: b'bytes from the listener'
//! listener got: {'apples': 3, 'pears': 5, 'total': 8}
//! listener got: b'bytes from the client'
//! ```
//! The client's lines are Python's `print`, the listener's Rust's
//! `println!`. Without `python3` the section says so, and shows what the
//! two ends printed when the transcript was made.

use std::os::fd::AsFd;
use std::process::{Child, Command};
use std::time::Duration;

use examples_ipc::{TALK_TO_PYTHON_TRANSCRIPT, TWINS};
use shared::connection::{Address, Listener, Pickled, repr};

const KEY: &[u8] = b"shared key";

/// The Python client, killed and reaped if this end gives up first.
struct PythonClient(Child);

impl Drop for PythonClient {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> Result<(), shared::Error> {
    // No address: a Unix socket in a fresh folder, removed with the listener.
    let mut listener = Listener::bind(None, Some(KEY))?;
    let Address::Path(path) = listener.address() else {
        unreachable!("no address given: a Unix socket");
    };
    let twin = format!("{TWINS}/talk_to_python.py");
    let Ok(child) = Command::new("python3").arg(twin).arg(path).spawn() else {
        println!("python3 not found; when there was one, the two ends printed:");
        print!("{TALK_TO_PYTHON_TRANSCRIPT}");
        return Ok(());
    };
    let mut python = PythonClient(child);

    // Python's start takes a few tens of milliseconds: wait for it to
    // connect (for a minute at most), watching that it does not end first
    // (a python3 that is not CPython's, say). Waiting on a listener is
    // waiting for a client: `ipc::wait` says when one is there.
    let mut tenths = 0;
    while shared::ipc::wait(&[listener.as_fd()], Duration::from_millis(100))?.is_empty() {
        if let Some(status) = python.0.try_wait()? {
            let why = format!("the Python client ended ({status}) before it connected");
            return Err(shared::Error::Ipc(why));
        }
        tenths += 1;
        if tenths == 600 {
            return Err(shared::Error::Ipc(
                "no Python client within a minute".into(),
            ));
        }
    }
    let mut conn = listener.accept()?;
    conn.send(&vec![("apples", 3), ("pears", 5)])?;
    conn.send_bytes(b"bytes from the listener")?;
    println!("listener got: {}", repr(&conn.recv_pickled()?));
    let bytes = Pickled::Bytes(conn.recv_bytes()?);
    println!("listener got: {}", repr(&bytes));

    let status = python.0.wait()?;
    if !status.success() {
        println!("the Python client ended with {status}");
    }
    Ok(())
}
