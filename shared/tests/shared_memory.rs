//! `shared::shared_memory` against real CPython (blocks and
//! `ShareableList`s made by either language, read and changed by the
//! other), its errors, and what becomes of a block its creator left: at a
//! normal exit, unlinked with CPython's warning; after a SIGKILL, left.
//! No test forks: the other process is Python, or this test run again.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use shared::shared_memory::{Item, ShareableList, SharedMemory};

/// Python 3.11's tracker would unlink, at the Python program's exit, a
/// block it only attached to (3.13 adds `track=False`): these lines stop it.
const ATTACH: &str = r#"
import sys
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory, ShareableList
def untrack(shm):
    resource_tracker.unregister(shm._name, "shared_memory")
"#;

fn python() -> Option<Command> {
    let found = Command::new("python3").arg("--version").output();
    if found.is_ok_and(|o| o.status.success()) {
        Some(Command::new("python3"))
    } else {
        eprintln!("skipped: python3 is not installed");
        None
    }
}

/// Run `code` (after [`ATTACH`]) with `args`; its stdout, or a panic with
/// its stderr.
fn run_python(code: &str, args: &[&str]) -> Option<String> {
    let out = python()?
        .arg("-c")
        .arg(format!("{ATTACH}{code}"))
        .args(args)
        .output()
        .expect("python3 runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(out.status.success(), "{}", text(&out.stderr));
    Some(text(&out.stdout))
}

/// A Python program that holds a block open while the test works; killed
/// and reaped when dropped.
struct Holder(Child);

impl Holder {
    /// Start `code`, and read the first line it prints.
    fn start(code: &str) -> Option<(Holder, String)> {
        let child = python()?
            .arg("-c")
            .arg(format!("{ATTACH}{code}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut holder = Holder(child);
        let line = holder.line();
        Some((holder, line))
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        BufReader::new(self.0.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        line.trim_end().to_owned()
    }

    /// Tell it to go on, and read what it says next.
    fn go_on(&mut self) -> String {
        writeln!(self.0.stdin.as_mut().unwrap()).unwrap();
        self.line()
    }
}

/// Its input closed, it ends (at `input()` if it is still there, with
/// an `EOFError`), having unlinked what it made; then it is reaped.
impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

fn python_attaches_a_rust_block_by_name() {
    let shm = SharedMemory::create(16).unwrap();
    assert!(shm.name().starts_with("psm_") && shm.name().len() <= 14);
    assert_eq!(shm.size(), 16);
    shm.write(0, b"hello");
    let code = r#"
shm = SharedMemory(sys.argv[1])
untrack(shm)
print(bytes(shm.buf[:5]), shm.size >= 16)
shm.buf[:5] = b"HELLO"
shm.close()
"#;
    let Some(out) = run_python(code, &[shm.name()]) else {
        return;
    };
    assert_eq!(out, "b'hello' True\n");
    let mut back = [0; 5];
    shm.read(0, &mut back);
    assert_eq!(&back, b"HELLO");
    shm.unlink().unwrap();
}

fn rust_attaches_a_python_block_by_name() {
    let code = r#"
shm = SharedMemory(create=True, size=10)
shm.buf[:4] = b"from"
print(shm.name, flush=True)
input()
print(bytes(shm.buf[:4]), flush=True)
shm.close()
shm.unlink()
"#;
    let Some((mut python, name)) = Holder::start(code) else {
        return;
    };
    let shm = SharedMemory::attach(&name).unwrap();
    assert!(shm.size() >= 10);
    let mut got = [0; 4];
    shm.read(0, &mut got);
    assert_eq!(&got, b"from");
    shm.write(0, b"rust");
    assert_eq!(python.go_on(), "b'rust'");
    assert_eq!(
        shm.to_string(),
        format!("SharedMemory('{name}', size={})", shm.size())
    );
}

fn every_kind() -> Vec<Item> {
    vec![
        Item::Int(-7),
        Item::Float(2.5),
        Item::Bool(true),
        Item::Str("héllo".to_owned()),
        Item::Bytes(b"by\x00tes".to_vec()),
        Item::None,
        Item::Int(1 << 40),
        Item::Bool(false),
    ]
}

fn a_shareable_list_made_in_python_is_read_and_changed_in_rust() {
    let code = r#"
sl = ShareableList([-7, 2.5, True, "héllo", b"by\x00tes", None, 1 << 40, False])
print(sl.shm.name, flush=True)
input()
print(list(sl), flush=True)
sl.shm.close()
sl.shm.unlink()
"#;
    let Some((mut python, name)) = Holder::start(code) else {
        return;
    };
    let sl = ShareableList::attach(&name).unwrap();
    assert_eq!(sl.len(), 8);
    let items: Vec<Item> = (0..8).map(|i| sl.get(i).unwrap()).collect();
    // CPython 3.11 sizes a str's slot by its characters, so "héllo" (6
    // bytes, 5 characters) has 8: it fits. Its trailing zeros are cut,
    // as CPython's `rstrip` cuts them: b"by\x00tes" keeps its inner one.
    assert_eq!(items, every_kind());
    sl.set(0, &Item::Str("eight ch".to_owned())).unwrap();
    sl.set(5, &Item::Float(0.5)).unwrap();
    sl.set(6, &Item::None).unwrap();
    let refused = sl
        .set(3, &Item::Str("far too long".to_owned()))
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "ValueError: bytes/str item exceeds available storage"
    );
    assert_eq!(
        python.go_on(),
        "['eight ch', 2.5, True, 'héllo', b'by\\x00tes', 0.5, None, False]"
    );
}

fn a_shareable_list_made_in_rust_is_read_and_changed_in_python() {
    let sl = ShareableList::create(&every_kind()).unwrap();
    let code = r#"
sl = ShareableList(name=sys.argv[1])
untrack(sl.shm)
print(list(sl), sl.format)
sl[0] = 99
sl[3] = "bye"
sl[5] = True
sl.shm.close()
"#;
    let Some(out) = run_python(code, &[sl.shm().name()]) else {
        return;
    };
    assert_eq!(
        out,
        "[-7, 2.5, True, 'héllo', b'by\\x00tes', None, 1099511627776, False] \
         qdxxxxxxx?8s8sxxxxxx?xqxxxxxxx?\n"
    );
    assert_eq!(sl.get(0).unwrap(), Item::Int(99));
    assert_eq!(sl.get(3).unwrap(), Item::Str("bye".to_owned()));
    assert_eq!(sl.get(5).unwrap(), Item::Bool(true));
    assert_eq!(
        sl.to_string(),
        format!(
            "ShareableList([99, 2.5, True, 'bye', b'by\\x00tes', True, 1099511627776, False], name='{}')",
            sl.shm().name()
        )
    );
    sl.shm().unlink().unwrap();
}

fn reads_and_writes_land_at_any_offset() {
    // Word by word underneath: a write that starts and ends mid-word keeps
    // its neighbours, whatever the offsets.
    let shm = SharedMemory::create(45).unwrap();
    let mut model = vec![0u8; 45];
    for (offset, len) in [(0, 45), (3, 13), (8, 8), (7, 1), (40, 5), (1, 0), (17, 22)] {
        let data: Vec<u8> = (0..len).map(|i| (offset * 31 + i * 7 + 1) as u8).collect();
        shm.write(offset, &data);
        model[offset..offset + len].copy_from_slice(&data);
        assert_eq!(shm.to_vec(), model, "after writing {len} at {offset}");
        for (from, n) in [(0, 45), (5, 11), (44, 1), (9, 0)] {
            let mut out = vec![0; n];
            shm.read(from, &mut out);
            assert_eq!(out, model[from..from + n]);
        }
    }
    let quiet = std::panic::take_hook(); // the panic is expected: print nothing
    std::panic::set_hook(Box::new(|_| {}));
    let past = std::panic::catch_unwind(|| shm.read(40, &mut [0; 6]));
    std::panic::set_hook(quiet);
    assert!(past.is_err(), "past the end: a panic, as slicing");
    shm.unlink().unwrap();
}

/// A list whose header another process garbles, or changes while this one
/// reads and writes, gives errors or garbage, never a panic or a bad access.
fn a_garbled_or_changing_list_never_panics() {
    // Item 0's slot is 3 bytes, too short for a number: CPython writes 8
    // bytes there anyway, into the next item; here too, inside the block.
    let sl = ShareableList::create(&[Item::Int(1), Item::Int(2)]).unwrap();
    let shm = SharedMemory::attach(sl.shm().name()).unwrap();
    shm.write(16, &3i64.to_ne_bytes()); // item 1 starts 3 bytes in
    let _ = sl.get(0);
    let _ = sl.set(0, &Item::Float(0.5));
    let _ = sl.set(1, &Item::Bool(true));
    // Another thread flips the item count while this one reads and writes.
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for count in [2i64, 9, -1, i64::MAX, 0] {
                    shm.write(0, &count.to_ne_bytes());
                }
            }
        });
        for i in 0..20_000 {
            let _ = sl.get(i % 3);
            let _ = sl.set(i % 3, &Item::None);
            let _ = sl.len();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    sl.shm().unlink().unwrap();
    // A str too long for a format of 8 bytes (CPython: an AssertionError).
    let huge = Item::Bytes(vec![1; 10_000_000]);
    assert!(ShareableList::create(&[huge]).is_err());
}

fn errors_read_as_cpython_s() {
    let missing = SharedMemory::attach("psm_no_such_block").unwrap_err();
    assert_eq!(
        missing.to_string(),
        "FileNotFoundError: [Errno 2] No such file or directory"
    );
    let shm = SharedMemory::create(8).unwrap();
    let taken = SharedMemory::create_named(shm.name(), 8).unwrap_err();
    assert_eq!(taken.to_string(), "FileExistsError: [Errno 17] File exists");
    assert_eq!(
        SharedMemory::create(0).unwrap_err().to_string(),
        "ValueError: 'size' must be a positive number different from zero"
    );
    // A block of bytes that are no list is refused, not misread.
    shm.write(0, &i64::MAX.to_ne_bytes());
    assert!(ShareableList::attach(shm.name()).is_err());
    shm.unlink().unwrap();
    assert!(SharedMemory::attach(shm.name()).is_err(), "unlinked: gone");
}

/// Run this test binary again as the scenario `role` (see
/// [`run_scenario`]); it prints its block's name first.
fn creator(role: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env("SHARED_TEST_SCENARIO", role)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A creator: makes a block it never unlinks (and one it does), prints the
/// first's name, then ends (`leave`) or waits to be killed (`hold`).
fn run_scenario(role: &str) -> Result<(), shared::Error> {
    let shm = SharedMemory::create(64)?;
    let unlinked = SharedMemory::create(8)?;
    unlinked.unlink()?; // unlinked by itself: no warning for it
    println!("{}", shm.name());
    std::io::stdout().flush().unwrap();
    if role == "hold" {
        std::thread::sleep(std::time::Duration::from_secs(600));
    }
    std::mem::forget(shm); // never unlinked: the exit steps must
    Ok(())
}

fn exists(name: &str) -> bool {
    std::path::Path::new("/dev/shm").join(name).exists()
}

fn a_block_left_at_exit_is_unlinked_with_cpythons_warning() {
    let out = creator("leave").wait_with_output().unwrap();
    assert!(out.status.success());
    let name = String::from_utf8_lossy(&out.stdout);
    let name = name.lines().next().unwrap().trim();
    assert!(!exists(name), "{name} unlinked at exit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("resource_tracker:"))
            .collect::<Vec<_>>(),
        [
            "resource_tracker: There appear to be 1 leaked shared_memory objects to clean up at shutdown"
        ]
    );
}

fn a_creator_killed_outright_leaves_its_block_as_documented() {
    let mut child = creator("hold");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let name = line.trim().to_owned();
    child.kill().unwrap();
    child.wait().unwrap();
    // No code runs in a process killed by SIGKILL: the block stays, and
    // anyone can attach to it, and unlink it, by its name.
    let left = SharedMemory::attach(&name).unwrap();
    assert_eq!(left.size(), 64);
    left.unlink().unwrap();
    assert!(!exists(&name));
}

fn main() {
    testkit::test_main(
        testkit::checks![
            python_attaches_a_rust_block_by_name,
            rust_attaches_a_python_block_by_name,
            a_shareable_list_made_in_python_is_read_and_changed_in_rust,
            a_shareable_list_made_in_rust_is_read_and_changed_in_python,
            reads_and_writes_land_at_any_offset,
            a_garbled_or_changing_list_never_panics,
            errors_read_as_cpython_s,
            a_block_left_at_exit_is_unlinked_with_cpythons_warning,
            a_creator_killed_outright_leaves_its_block_as_documented,
        ],
        run_scenario,
    );
}
