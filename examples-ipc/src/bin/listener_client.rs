//! A listener with a key accepts a client; plain data and bytes cross; a
//! client with the wrong key is refused on both sides.
//!
//! Python twin: `python/listener_client.py` (beyond the tutorials: the
//! CPython docs, "Listeners and Clients", whose example this is, with the
//! client in a child so that one program shows both ends).
//!
//! ```console
//! $ cargo run -p examples-ipc --bin listener_client
//! connection accepted from 127.0.0.1
//! (2.25, None, 'junk')
//! b'hello'
//! 8
//! [42, 1729, 0, 0, 0]
//! client with the wrong key: AuthenticationError: digest sent was rejected
//! listener: AuthenticationError: digest received was wrong
//! ```
//! Where Rust differs: the docs' example also sends `float`, the class
//! itself, which pickle names and Python looks up when it unpickles; a
//! Rust end receives plain data only, so it is left out.

use shared::Process;
use shared::connection::{Address, Listener, Pickled, PyConnection, repr};

const KEY: &[u8] = b"secret password";

/// The client's side (Python: `with Client(address, authkey=...) as conn`).
fn client(address: Address) -> Result<(), shared::Error> {
    let mut conn = PyConnection::connect(&address, Some(KEY))?;
    println!("{}", repr(&conn.recv_pickled()?));
    println!("{}", repr(&Pickled::Bytes(conn.recv_bytes()?)));
    let mut arr = [0u8; 5 * 4]; // Python: array('i', [0, 0, 0, 0, 0])
    println!("{}", conn.recv_bytes_into(&mut arr)?);
    let ints: Vec<i32> = arr
        .chunks(4)
        .map(|int| i32::from_ne_bytes(int.try_into().expect("4 bytes")))
        .collect();
    println!("{ints:?}");
    Ok(())
}

/// A client that holds the wrong key.
fn impostor(address: Address) {
    if let Err(e) = PyConnection::connect(&address, Some(b"wrong password")) {
        println!("client with the wrong key: {e}");
    }
}

fn main() -> Result<(), shared::Error> {
    // Port 0: the kernel picks a free one, and `address()` says which.
    let mut listener = Listener::bind(Some(Address::loopback(0)), Some(KEY))?;
    let address = listener.address().clone();

    let mut p = Process::new({
        let address = address.clone();
        move || client(address)
    });
    p.start()?;
    let mut conn = listener.accept()?;
    if let Some(Address::Inet(peer)) = listener.last_accepted() {
        println!("connection accepted from {}", peer.ip());
    }
    conn.send(&(2.25, (), "junk"))?;
    conn.send_bytes(b"hello")?;
    let ints: Vec<u8> = [42i32, 1729].iter().flat_map(|i| i.to_ne_bytes()).collect();
    conn.send_bytes(&ints)?; // Python: conn.send_bytes(array('i', [42, 1729]))
    p.join()?;

    let mut p = Process::new(move || impostor(address));
    p.start()?;
    let refused = listener.accept();
    p.join()?; // the client's line first, then the listener's
    if let Err(e) = refused {
        println!("listener: {e}");
    }
    Ok(())
}
