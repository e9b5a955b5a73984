//! `shared::connection` against real CPython (a 3.11 client of a Rust
//! listener, a 3.12 listener of a Rust client), and against hostile peers
//! that lie about lengths, go silent, drop mid-handshake or are killed
//! mid-message. No test forks: each peer is a thread or a program.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_bytes::ByteBuf;
use shared::Error;
use shared::connection::{Address, HANDSHAKE_LIMIT, Listener, PyConnection};

/// `python{minor}`, from the PATH or through pyenv; `None` (and a line
/// saying the test is skipped) where that interpreter is absent.
fn python(minor: &str, test: &str) -> Option<Command> {
    let mut command = Command::new(format!("python{minor}"));
    let installed = Command::new("pyenv").args(["versions", "--bare"]).output();
    if let Ok(out) = installed {
        let prefix = format!("{minor}.");
        if let Some(v) = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|v| v.trim().starts_with(&prefix))
        {
            command.env("PYENV_VERSION", v.trim());
        }
    }
    let works = Command::new(command.get_program())
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !works {
        eprintln!("{test}: skipped, python{minor} is not installed");
        return None;
    }
    Some(command)
}

/// A Python program, its stdout piped; killed and reaped when dropped.
struct Program(Child);

impl Program {
    fn run(mut python: Command, code: &str, args: &[&str]) -> Program {
        let child = python
            .arg("-c")
            .arg(code)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python runs");
        Program(child)
    }

    /// The first line it prints (waiting for it).
    fn first_line(&mut self) -> String {
        let mut line = String::new();
        BufReader::new(self.0.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        line
    }

    /// Its whole output once it ended: (success, stdout, stderr).
    fn finish(mut self) -> (bool, String, String) {
        let out = std::mem::replace(&mut self.0, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const CLIENT: &str = r#"
import sys
from multiprocessing.connection import Client
with Client(sys.argv[1], authkey=sys.argv[2].encode()) as conn:
    print(repr(conn.recv()))
    print(repr(conn.recv_bytes()))
    conn.send([1, 'hello', None, 2.5, b'\x00\xff', (True, False), {'k': 7}])
    conn.send_bytes(b'')
    conn.send_bytes(b'x' * 65536)
"#;

#[test]
fn a_python_311_client_talks_to_a_rust_listener() {
    let Some(python) = python("3.11", "a_python_311_client_talks_to_a_rust_listener") else {
        return;
    };
    let mut listener = Listener::bind(None, Some(b"key")).unwrap();
    let Address::Path(path) = listener.address().clone() else {
        panic!("no address given: a Unix socket")
    };
    let client = Program::run(python, CLIENT, &[path.to_str().unwrap(), "key"]);
    let mut conn = listener.accept_timeout(Duration::from_secs(60)).unwrap();
    conn.send(&(2.25, (), "junk")).unwrap();
    conn.send_bytes(b"raw bytes").unwrap();
    type Sent = (
        i64,
        String,
        Option<()>,
        f64,
        ByteBuf,
        (bool, bool),
        std::collections::HashMap<String, i64>,
    );
    let (n, word, nothing, x, bytes, pair, dict): Sent = conn.recv().unwrap();
    assert_eq!((n, word.as_str(), nothing, x), (1, "hello", None, 2.5));
    assert_eq!(
        (bytes.as_slice(), pair, dict["k"]),
        (&b"\x00\xff"[..], (true, false), 7)
    );
    assert_eq!(conn.recv_bytes().unwrap(), b"");
    assert_eq!(conn.recv_bytes().unwrap(), vec![b'x'; 65536]);
    let (ok, out, err) = client.finish();
    assert!(ok, "{err}");
    assert_eq!(out, "(2.25, None, 'junk')\nb'raw bytes'\n");
    drop(listener);
    assert!(!path.exists(), "the socket's file goes with its listener");
    assert!(
        !path.parent().unwrap().exists(),
        "and the folder made for it"
    );
}

#[test]
fn typed_values_cross_from_python() {
    let Some(python) = python("3.11", "typed_values_cross_from_python") else {
        return;
    };
    let mut listener = Listener::bind(Some(Address::loopback(0)), Some(b"k")).unwrap();
    let Address::Inet(at) = listener.address().clone() else {
        panic!("asked for TCP")
    };
    assert_ne!(at.port(), 0, "the port the kernel picked");
    let code = r#"
import sys
from multiprocessing.connection import Client
with Client(('127.0.0.1', int(sys.argv[1])), authkey=b'k') as conn:
    conn.send([1, 'hello', None])
    conn.send(b'bytes')
    print(conn.recv())
"#;
    let client = Program::run(python, code, &[&at.port().to_string()]);
    let mut conn = listener.accept_timeout(Duration::from_secs(60)).unwrap();
    let (n, word, nothing): (i64, String, Option<u8>) = conn.recv().unwrap();
    assert_eq!((n, word.as_str(), nothing), (1, "hello", None));
    assert_eq!(conn.recv::<ByteBuf>().unwrap().as_slice(), b"bytes");
    conn.send(&vec![3u8, 4]).unwrap();
    let (ok, out, err) = client.finish();
    assert!(ok, "{err}");
    assert_eq!(out, "[3, 4]\n");
    assert!(matches!(listener.last_accepted(), Some(Address::Inet(peer)) if peer.ip() == at.ip()));
}

const LISTENER: &str = r#"
import sys
from multiprocessing.connection import Listener
with Listener(sys.argv[1], authkey=sys.argv[2].encode()) as listener:
    print('listening', flush=True)
    try:
        with listener.accept() as conn:
            print(repr(conn.recv()))
            conn.send_bytes(b'from python')
            conn.send({'answer': 42})
    except Exception as e:
        print(type(e).__name__ + ':', e)
"#;

/// A Python listener at a fresh path; returns once it listens.
fn python_listener(python: Command, key: &str) -> (Program, tempdir::Dir) {
    let dir = tempdir::Dir::new();
    let path = dir.path.join("listener");
    let mut program = Program::run(python, LISTENER, &[path.to_str().unwrap(), key]);
    assert_eq!(program.first_line(), "listening\n");
    (program, dir)
}

#[test]
fn a_rust_client_talks_to_a_python_312_and_313_listener() {
    for minor in ["3.12", "3.13"] {
        let test = "a_rust_client_talks_to_a_python_312_and_313_listener";
        if let Some(python) = python(minor, test) {
            talk_to_python_listener(python);
        }
    }
}

fn talk_to_python_listener(python: Command) {
    let (listener, dir) = python_listener(python, "key");
    let address = Address::Path(dir.path.join("listener"));
    let mut conn = PyConnection::connect(&address, Some(b"key")).unwrap();
    conn.send(&("from rust", 7)).unwrap();
    assert_eq!(conn.recv_bytes().unwrap(), b"from python");
    let answer: std::collections::HashMap<String, i32> = conn.recv().unwrap();
    assert_eq!(answer["answer"], 42);
    let (ok, out, err) = listener.finish();
    assert!(ok, "{err}");
    assert_eq!(out, "('from rust', 7)\n");
}

#[test]
fn a_wrong_key_is_refused_on_both_sides_with_python_311_and_312() {
    let test = "a_wrong_key_is_refused_on_both_sides_with_python_311_and_312";
    // A Python 3.11 client (the MD5 form) with the wrong key.
    if let Some(python) = python("3.11", test) {
        let mut listener = Listener::bind(None, Some(b"right")).unwrap();
        let Address::Path(path) = listener.address().clone() else {
            unreachable!()
        };
        let client = Program::run(python, CLIENT, &[path.to_str().unwrap(), "wrong"]);
        let refused = listener
            .accept_timeout(Duration::from_secs(60))
            .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "AuthenticationError: digest received was wrong"
        );
        let (ok, _, err) = client.finish();
        assert!(!ok);
        assert!(
            err.contains("multiprocessing.context.AuthenticationError: digest sent was rejected"),
            "{err}"
        );
    }
    // A Python 3.12 listener (the SHA-256 form) and a Rust client with the wrong key.
    if let Some(python) = python("3.12", test) {
        let (listener, dir) = python_listener(python, "right");
        let address = Address::Path(dir.path.join("listener"));
        let refused = PyConnection::connect(&address, Some(b"wrong")).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "AuthenticationError: digest sent was rejected"
        );
        let (_, out, _) = listener.finish();
        assert_eq!(out, "AuthenticationError: digest received was wrong\n");
    }
}

#[test]
fn rust_ends_agree_on_every_kind_of_address() {
    let name = format!("shared-test-{}", std::process::id()).into_bytes();
    for address in [
        None,
        Some(Address::Abstract(name)),
        Some(Address::loopback(0)),
    ] {
        let mut listener = Listener::bind(address, Some(b"k")).unwrap();
        let at = listener.address().clone();
        let client = std::thread::spawn(move || {
            let mut conn = PyConnection::connect(&at, Some(b"k")).unwrap();
            for size in [0, 1, 65536, 1 << 20] {
                let got = conn.recv_bytes().unwrap();
                assert_eq!(got, vec![7; size]);
                conn.send_bytes(&got).unwrap();
            }
        });
        let mut conn = listener.accept().unwrap();
        for size in [0, 1, 65536, 1 << 20] {
            conn.send_bytes(&vec![7; size]).unwrap();
            assert_eq!(conn.recv_bytes().unwrap().len(), size);
        }
        client.join().unwrap();
    }
}

#[test]
fn a_wrong_key_between_rust_ends_is_refused_on_both_sides() {
    let mut listener = Listener::bind(None, Some(b"right")).unwrap();
    let at = listener.address().clone();
    let client = std::thread::spawn(move || PyConnection::connect(&at, Some(b"wrong")));
    let refused = listener.accept().unwrap_err();
    assert_eq!(
        refused.to_string(),
        "AuthenticationError: digest received was wrong"
    );
    assert_eq!(
        client.join().unwrap().unwrap_err().to_string(),
        "AuthenticationError: digest sent was rejected"
    );
}

/// A raw stream to `listener`, with no handshake of ours: a hostile peer.
fn raw_peer(listener: &Listener) -> UnixStream {
    let Address::Path(path) = listener.address() else {
        unreachable!()
    };
    UnixStream::connect(path).unwrap()
}

/// A raw pair: a `PyConnection` of a listener without a key, and the
/// client's stream, which the test writes whatever it likes into.
fn connection_and_raw_peer() -> (PyConnection, UnixStream) {
    let mut listener = Listener::bind(None, None).unwrap();
    let peer = raw_peer(&listener);
    (listener.accept().unwrap(), peer)
}

#[test]
fn a_length_refused_allocates_nothing_and_says_bad_message_length() {
    // 2⁶³ announced, nothing behind it: refused at once by a bounded receive.
    let (mut conn, mut peer) = connection_and_raw_peer();
    peer.write_all(&(-1i32).to_be_bytes()).unwrap();
    peer.write_all(&(1u64 << 63).to_be_bytes()).unwrap();
    let refused = conn.recv_bytes_max(1 << 20).unwrap_err();
    assert_eq!(refused.to_string(), "OSError: bad message length");
    assert_eq!(
        conn.recv_bytes().unwrap_err().to_string(),
        "OSError: connection is write-only",
        "after a refused length, this end reads no more (CPython)"
    );
    // 2³¹ bytes announced in the 8-byte form, and a 2⁶³ one to an
    // unbounded receive: it grows with what arrives, so a peer that
    // stops short costs what it sent, then end-of-file.
    for announced in [1u64 << 31, 1 << 63] {
        let (mut conn, mut peer) = connection_and_raw_peer();
        peer.write_all(&(-1i32).to_be_bytes()).unwrap();
        peer.write_all(&announced.to_be_bytes()).unwrap();
        peer.write_all(b"only this").unwrap();
        drop(peer);
        assert_eq!(conn.recv_bytes().unwrap_err().to_string(), CUT_SHORT);
    }
    // A negative length other than -1 is no length.
    let (mut conn, mut peer) = connection_and_raw_peer();
    peer.write_all(&(-7i32).to_be_bytes()).unwrap();
    assert!(matches!(conn.recv_bytes(), Err(Error::BadMessageLength)));
}

/// CPython's words for a peer gone in the middle of a message.
const CUT_SHORT: &str = "OSError: got end of file during message";

#[test]
fn a_truncated_frame_is_end_of_file_and_a_short_buffer_gets_the_message_back() {
    let (mut conn, mut peer) = connection_and_raw_peer();
    peer.write_all(&5i32.to_be_bytes()).unwrap();
    peer.write_all(b"abc").unwrap();
    drop(peer);
    assert_eq!(conn.recv_bytes().unwrap_err().to_string(), CUT_SHORT);
    // A peer gone between messages is end-of-file (CPython's EOFError).
    let (mut conn, peer) = connection_and_raw_peer();
    drop(peer);
    assert!(matches!(conn.recv_bytes(), Err(Error::Eof)));

    let (mut conn, mut peer) = connection_and_raw_peer();
    peer.write_all(&5i32.to_be_bytes()).unwrap();
    peer.write_all(b"hello").unwrap();
    let mut small = [0; 3];
    match conn.recv_bytes_into(&mut small) {
        Err(Error::BufferTooShort(message)) => assert_eq!(message, b"hello"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_instead_of_a_challenge_is_an_authentication_error() {
    let mut listener = Listener::bind(None, None).unwrap();
    let at = listener.address().clone();
    let client = std::thread::spawn(move || PyConnection::connect(&at, Some(b"k")));
    let mut conn = listener.accept().unwrap();
    conn.send_bytes(b"#HELLO#").unwrap();
    let refused = client.join().unwrap().unwrap_err();
    assert_eq!(
        refused.to_string(),
        "AuthenticationError: Protocol error, expected challenge: message=b'#HELLO#'"
    );
    // A frame longer than any handshake message is refused unread.
    let client = {
        let at = listener.address().clone();
        std::thread::spawn(move || PyConnection::connect(&at, Some(b"k")))
    };
    let mut conn = listener.accept().unwrap();
    conn.send_bytes(&[b'#'; 257]).unwrap();
    assert!(matches!(
        client.join().unwrap(),
        Err(Error::BadMessageLength)
    ));
}

#[test]
fn a_silent_peer_is_given_up_and_the_listener_serves_the_next() {
    let mut listener = Listener::bind(None, Some(b"k")).unwrap();
    // Nobody there: a bounded accept says so.
    let began = Instant::now();
    assert!(matches!(
        listener.accept_timeout(Duration::from_millis(50)),
        Err(Error::Timeout)
    ));
    assert!(began.elapsed() < Duration::from_secs(5));
    // A peer that connects and never answers the challenge: given up.
    let silent = raw_peer(&listener);
    let refused = listener.accept().unwrap_err();
    assert!(
        refused.to_string().contains("did not finish the handshake"),
        "{refused}"
    );
    drop(silent);
    // The next client is served.
    let at = listener.address().clone();
    let client = std::thread::spawn(move || PyConnection::connect(&at, Some(b"k")));
    listener.accept().unwrap();
    client.join().unwrap().unwrap();
    // And a Rust client of a listener that never challenges gives up too.
    let quiet = Listener::bind(None, None).unwrap();
    let began = Instant::now();
    let refused = PyConnection::connect(quiet.address(), Some(b"k")).unwrap_err();
    assert!(
        refused.to_string().contains("did not finish the handshake"),
        "{refused}"
    );
    assert!(began.elapsed() < HANDSHAKE_LIMIT * 2);
}

#[test]
fn a_hostile_pickle_is_refused_and_never_aborts_the_receiver() {
    // Each is sent as raw bytes, as any peer may send them.
    let deep_list = [&b"\x80\x02"[..], &[b']'; 100_000], &[b'a'; 99_999], b"."].concat();
    let marks = vec![b'('; 1 << 20]; // a million MARKs: each would cost the decoder a buffer
    let global = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00idR.".to_vec();
    let unknown = b"\x80\x02\xff.".to_vec();
    for (what, pickle) in [
        ("a list in a list 100 000 deep", deep_list),
        ("a million MARKs", marks),
        ("os.system, called", global),
        ("no opcode of pickle's", unknown),
    ] {
        let (mut conn, mut peer) = connection_and_raw_peer();
        // From a thread: a message bigger than the socket's buffer waits
        // for the reader.
        let writer = std::thread::spawn(move || {
            let len = i32::try_from(pickle.len()).unwrap();
            peer.write_all(&len.to_be_bytes()).unwrap();
            peer.write_all(&pickle).unwrap();
            // ...and the connection reads on: the next message is whole.
            peer.write_all(&4i32.to_be_bytes()).unwrap();
            peer.write_all(b"next").unwrap();
            peer
        });
        let refused = conn.recv_pickled();
        assert!(refused.is_err(), "{what}: {refused:?}");
        assert_eq!(conn.recv_bytes().unwrap(), b"next", "{what}");
        drop(writer.join().unwrap());
    }
    // Plain data nested MOST_NESTED deep is still plain data.
    let depth = shared::connection::MOST_NESTED - 1;
    let fine = [
        &b"\x80\x02"[..],
        &vec![b']'; depth],
        &vec![b'a'; depth - 1],
        b".",
    ]
    .concat();
    let (mut conn, mut peer) = connection_and_raw_peer();
    peer.write_all(&i32::try_from(fine.len()).unwrap().to_be_bytes())
        .unwrap();
    peer.write_all(&fine).unwrap();
    assert!(conn.recv_pickled().is_ok());
}

#[test]
fn a_python_312_listener_may_ask_for_any_digest_it_allows() {
    let test = "a_python_312_listener_may_ask_for_any_digest_it_allows";
    for digest in ["sha384", "sha3_256", "sha3_384", "md5"] {
        let Some(python) = python("3.12", test) else {
            return;
        };
        let code = r#"
import sys
from multiprocessing.connection import Listener, deliver_challenge, answer_challenge
with Listener(sys.argv[1]) as listener:
    print('listening', flush=True)
    with listener.accept() as conn:
        deliver_challenge(conn, b'key', digest_name=sys.argv[2])
        answer_challenge(conn, b'key')
        print(conn.recv())
"#;
        let dir = tempdir::Dir::new();
        let path = dir.path.join("listener");
        let mut program = Program::run(python, code, &[path.to_str().unwrap(), digest]);
        assert_eq!(program.first_line(), "listening\n");
        let mut conn = PyConnection::connect(&Address::Path(path), Some(b"key")).unwrap();
        conn.send(&digest).unwrap();
        let (ok, out, err) = program.finish();
        assert!(ok, "{digest}: {err}");
        assert_eq!(out, format!("{digest}\n"));
    }
}

#[test]
fn the_folder_made_for_a_listener_is_its_users_alone() {
    use std::os::unix::fs::PermissionsExt;
    let listener = Listener::bind(None, None).unwrap();
    let Address::Path(path) = listener.address() else {
        unreachable!()
    };
    let folder = std::fs::metadata(path.parent().unwrap()).unwrap();
    assert_eq!(
        folder.permissions().mode() & 0o777,
        0o700,
        "as CPython's, whatever the umask"
    );
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn two_hundred_clients_at_once_half_dropping_mid_handshake() {
    let mut listener = Listener::bind(None, Some(b"k")).unwrap();
    let before = open_descriptors();
    let clients: Vec<_> = (0..200)
        .map(|i| {
            let at = listener.address().clone();
            std::thread::spawn(move || {
                if i % 2 == 0 {
                    let mut conn = PyConnection::connect(&at, Some(b"k"))?;
                    conn.send(&i)?;
                    Ok(true)
                } else {
                    // Read the challenge, then leave without answering.
                    let Address::Path(path) = at else {
                        unreachable!()
                    };
                    let mut raw = UnixStream::connect(path)?;
                    let mut header = [0; 4];
                    std::io::Read::read_exact(&mut raw, &mut header)?;
                    Ok::<bool, Error>(false)
                }
            })
        })
        .collect();
    let (mut served, mut refused) = (0, 0);
    while served + refused < 200 {
        match listener.accept() {
            Ok(mut conn) => {
                let i: i32 = conn.recv().unwrap();
                assert_eq!(i % 2, 0);
                served += 1;
            }
            Err(Error::Eof) => refused += 1,
            Err(other) => panic!("{other}"),
        }
    }
    for client in clients {
        client.join().unwrap().unwrap();
    }
    assert_eq!((served, refused), (100, 100));
    assert_eq!(open_descriptors(), before, "no descriptor kept");
}

#[test]
fn a_client_killed_mid_message_is_end_of_file() {
    let Some(python) = python("3", "a_client_killed_mid_message_is_end_of_file") else {
        return;
    };
    let mut listener = Listener::bind(None, None).unwrap();
    let Address::Path(path) = listener.address().clone() else {
        unreachable!()
    };
    let code = r#"
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(struct.pack('!i', 1000) + b'part of it')
print('sent', flush=True)
time.sleep(600)
"#;
    let mut client = Program::run(python, code, &[path.to_str().unwrap()]);
    let mut conn = listener.accept().unwrap();
    assert_eq!(client.first_line(), "sent\n");
    assert!(conn.poll(Duration::from_secs(60)).unwrap());
    client.0.kill().unwrap();
    assert_eq!(conn.recv_bytes().unwrap_err().to_string(), CUT_SHORT);
}

#[test]
fn waiting_on_a_listener_blocks_nothing_else() {
    let mut listener = Listener::bind(None, None).unwrap();
    let (mine, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    // Nothing there: the wait returns when its time is up.
    let idle = shared::ipc::wait(&[listener.as_fd(), mine.as_fd()], Duration::from_millis(10));
    assert!(idle.unwrap().is_empty());
    // Other work is seen while the listener waits for clients...
    (&theirs).write_all(b"x").unwrap();
    let ready = shared::ipc::wait(&[listener.as_fd(), mine.as_fd()], Duration::from_secs(60));
    assert_eq!(ready.unwrap(), [1]);
    // ...and a client is seen among it, ready to accept.
    let at = listener.address().clone();
    let client = std::thread::spawn(move || PyConnection::connect(&at, None));
    let ready = shared::ipc::wait(&[listener.as_fd()], Duration::from_secs(60));
    assert_eq!(ready.unwrap(), [0]);
    let mut conn = listener.accept().unwrap();
    let mut other = client.join().unwrap().unwrap();
    other.send_bytes(b"hi").unwrap();
    assert!(conn.poll(Duration::from_secs(60)).unwrap());
    assert_eq!(conn.recv_bytes().unwrap(), b"hi");
}

/// A temporary folder, removed with what is in it when dropped.
mod tempdir {
    pub struct Dir {
        pub path: std::path::PathBuf,
    }

    impl Dir {
        pub fn new() -> Dir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "connection-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir(&path).unwrap();
            Dir { path }
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
