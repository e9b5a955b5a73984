//! `shared::shared_memory` against real CPython (blocks and
//! `ShareableList`s made by either language, read and changed by the
//! other), its errors, and what becomes of a block its creator left:
//! unlinked by the resource tracker once the program has ended, however
//! it ended, with CPython's warning.
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

/// A creator: makes a block it never unlinks (and one it does), prints the
/// first's name, then ends (`leave`) or waits to be killed (`hold`); or a
/// forked child of it does so and ends, then the creator, the child
/// forked before the first block (`child_before`, its own tracker) or
/// after it (`child_after`, the creator's); or (`tracker_killed`) its
/// tracker is killed after the first block, and a second block starts
/// another, which unlinks only that one.
fn run_scenario(role: &str) -> Result<(), shared::Error> {
    match role {
        "no_freeze_support" => {
            let refused = SharedMemory::create(8).unwrap_err();
            println!("refused: {refused}");
        }
        "spawned" | "forkserver" => {
            leave_a_block("")?; // the tracker starts: the children are handed its end
            let method = match role {
                "spawned" => shared::StartMethod::Spawn,
                _ => shared::StartMethod::Forkserver,
            };
            let name = format!("psm_test_{}", std::process::id());
            let mut child = shared::get_context(method).process(left_by_a_child, name.clone());
            child.start()?;
            child.join()?;
            if SharedMemory::attach(&name).is_ok() {
                println!("the child's block outlives the child");
            }
        }
        "child_before" | "child_after" => {
            if role == "child_after" {
                leave_a_block("")?;
            }
            let name = format!("psm_test_{}", std::process::id());
            let mut child = shared::Process::new(move || leave_a_block(&name).unwrap());
            child.start()?;
            child.join()?;
            // With the creator's tracker, the child's block is the program's.
            let name = format!("psm_test_{}", std::process::id());
            if role == "child_after" && SharedMemory::attach(&name).is_ok() {
                println!("the child's block outlives the child");
            }
        }
        "descriptors" => {
            // A pipe not marked close-on-exec, as a program may hold.
            let (_read, _write) = nix::unistd::pipe()?;
            let shm = SharedMemory::create(8)?;
            let tracker = tracker_of(std::process::id()).expect("a tracker runs");
            let held = std::fs::read_dir(format!("/proc/{tracker}/fd"))?;
            let mut fds: Vec<u32> = held
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect();
            fds.sort();
            println!("the tracker holds {fds:?}");
            shm.unlink()?;
        }
        "taken_by_another" => {
            let shm = SharedMemory::create(8)?;
            println!("block {}", shm.name());
            // Unlinked behind the tracker's back, and the name taken by a
            // file of another program's.
            let path = std::path::Path::new("/dev/shm").join(shm.name());
            std::fs::remove_file(&path)?;
            std::fs::write(&path, b"another program's")?;
            std::mem::forget(shm);
        }
        "ctrl_c" => {
            // A Ctrl-C to the whole group: this process carries on (its
            // handler); the tracker too (it ignores it).
            extern "C" fn carry_on(_: i32) {}
            let handler = nix::sys::signal::SigHandler::Handler(carry_on);
            // SAFETY: the handler does nothing, so anything may be interrupted by it.
            unsafe { nix::sys::signal::signal(nix::sys::signal::SIGINT, handler) }?;
            leave_a_block("")?;
            nix::sys::signal::killpg(nix::unistd::getpgrp(), nix::sys::signal::SIGINT)?;
        }
        "tracker_exits_early" => {
            let refused = SharedMemory::create(8).unwrap_err();
            println!("refused: {refused}");
        }
        "tracker_killed" => {
            let first = SharedMemory::create(8)?;
            println!("block {}", first.name());
            let tracker = tracker_of(std::process::id()).expect("a tracker runs");
            nix::sys::signal::kill(tracker, nix::sys::signal::Signal::SIGKILL)?;
            // Its end closes as it dies; reap it, then the next block sees so.
            nix::sys::wait::waitpid(tracker, None)?;
            std::mem::forget(first);
            leave_a_block("")?;
        }
        _ => {
            leave_a_block("")?;
            if role == "hold" {
                std::thread::sleep(LIMIT);
            }
        }
    }
    Ok(())
}

/// A spawned or fork-server child's task: [`leave_a_block`] named `name`.
fn left_by_a_child(name: String) -> Result<(), String> {
    leave_a_block(&name).map_err(|e| e.to_string())
}

/// Make a block (named `name`, or a fresh name if empty) and never unlink
/// it (and one that is unlinked: no warning for it), printing its name.
fn leave_a_block(name: &str) -> Result<(), shared::Error> {
    let shm = match name {
        "" => SharedMemory::create(64)?,
        name => SharedMemory::create_named(name, 64)?,
    };
    let unlinked = SharedMemory::create(8)?;
    unlinked.unlink()?;
    println!("block {}", shm.name());
    std::io::stdout().flush().unwrap();
    std::mem::forget(shm);
    Ok(())
}

/// The pid of the resource tracker process `parent` started.
fn tracker_of(parent: u32) -> Option<nix::unistd::Pid> {
    let entries = std::fs::read_dir("/proc").ok()?.flatten();
    entries
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .find_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (comm, rest) = stat.split_once(") ")?;
            let ppid: u32 = rest.split(' ').nth(1)?.parse().ok()?;
            (comm.ends_with("(ResourceTracker") && ppid == parent)
                .then(|| nix::unistd::Pid::from_raw(pid))
        })
}

fn exists(name: &str) -> bool {
    std::path::Path::new("/dev/shm").join(name).exists()
}

/// Blocks a check saw made: unlinked when dropped, whatever became of
/// them, so that a failed check leaves nothing in `/dev/shm`.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = std::fs::remove_file(std::path::Path::new("/dev/shm").join(name));
        }
    }
}

/// How long a scenario, and its tracker after it, may take.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

fn leaked(n: usize) -> String {
    format!(
        "resource_tracker: There appear to be {n} leaked shared_memory objects to clean up at shutdown"
    )
}

/// Run scenario `role` to its end and its tracker's (the tracker holds the
/// scenario's output, so the output is whole only once the tracker has
/// done its work), within [`LIMIT`]: the blocks it printed (to clean up),
/// and the rest of its lines.
fn creator_run(role: &str) -> (Cleanup, Vec<String>) {
    let run = testkit::scenario(role, LIMIT);
    assert!(run.status.success(), "{run:?}");
    let (names, said): (Vec<&str>, Vec<&str>) = run
        .lines()
        .into_iter()
        .partition(|l| l.starts_with("block "));
    let names = names
        .iter()
        .map(|l| l["block ".len()..].to_owned())
        .collect();
    (
        Cleanup(names),
        said.into_iter().map(str::to_owned).collect(),
    )
}

fn a_block_left_at_exit_is_unlinked_with_cpythons_warning() {
    let (blocks, said) = creator_run("leave");
    assert!(!exists(&blocks.0[0]), "{:?} unlinked at exit", blocks.0);
    assert_eq!(said, [leaked(1)]);
}

/// A child forked before the first block has a tracker of its own: its
/// block goes as it ends. One forked after shares its parent's: its block
/// outlives it, and goes with the program.
fn a_forked_child_s_block_goes_with_its_tracker() {
    let (blocks, said) = creator_run("child_before");
    assert!(blocks.0.iter().all(|b| !exists(b)), "{:?}", blocks.0);
    assert_eq!(said, [leaked(1)]);
    let (blocks, said) = creator_run("child_after");
    assert!(blocks.0.iter().all(|b| !exists(b)), "{:?}", blocks.0);
    assert_eq!(
        said,
        ["the child's block outlives the child".to_owned(), leaked(2)]
    );
}

/// A spawned or a fork-server child started after the first block is
/// handed its parent's tracker: its block outlives it, and goes with the
/// program, one warning for both.
fn a_spawned_child_s_block_is_the_program_s() {
    for method in ["spawned", "forkserver"] {
        let (blocks, said) = creator_run(method);
        assert!(
            blocks.0.iter().all(|b| !exists(b)),
            "{method}: {:?}",
            blocks.0
        );
        assert_eq!(
            said,
            ["the child's block outlives the child".to_owned(), leaked(2)]
        );
    }
}

/// Read from `pipe` to its end, for at most `limit`.
fn read_to_end_within(
    pipe: &mut impl std::io::Read,
    fd: std::os::fd::BorrowedFd,
    limit: std::time::Duration,
) -> String {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let deadline = std::time::Instant::now() + limit;
    let mut text = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        assert!(
            poll(&mut fds, timeout).unwrap() > 0,
            "no end within {limit:?}: {text:?}"
        );
        let mut chunk = [0u8; 4096];
        match pipe.read(&mut chunk).unwrap() {
            0 => return String::from_utf8_lossy(&text).into_owned(),
            n => text.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A child process killed when dropped (a failed check included).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn a_creator_killed_outright_has_its_block_unlinked_by_the_tracker() {
    use std::os::fd::AsFd;
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.env("SHARED_TEST_SCENARIO", "hold");
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut creator = Killed(command.spawn().unwrap());
    let stdout = creator.0.stdout.take().unwrap();
    let (fd, mut stdout) = (stdout.as_fd().try_clone_to_owned().unwrap(), stdout);
    let mut line = String::new();
    {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        assert!(poll(&mut fds, PollTimeout::try_from(LIMIT).unwrap()).unwrap() > 0);
        let mut chunk = [0u8; 256];
        let n = std::io::Read::read(&mut stdout, &mut chunk).unwrap();
        line.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    let name = line.trim().trim_start_matches("block ").to_owned();
    let _cleanup = Cleanup(vec![name.clone()]);
    assert!(exists(&name), "{line:?}");
    creator.0.kill().unwrap();
    creator.0.wait().unwrap();
    // The tracker holds the creator's stderr: its end is the tracker's.
    let mut stderr = creator.0.stderr.take().unwrap();
    let fd = stderr.as_fd().try_clone_to_owned().unwrap();
    let said = read_to_end_within(&mut stderr, fd.as_fd(), LIMIT);
    assert!(!exists(&name), "{name} unlinked after the SIGKILL");
    assert_eq!(said.lines().collect::<Vec<_>>(), [leaked(1)]);
}

fn a_killed_tracker_forgets_its_blocks_and_the_next_block_starts_another() {
    let (blocks, said) = creator_run("tracker_killed");
    let [first, second] = &blocks.0[..] else {
        panic!("{:?}", blocks.0)
    };
    assert!(!exists(second), "the new tracker unlinked {second}");
    assert!(
        exists(first),
        "the killed tracker's block is left, as documented"
    );
    assert_eq!(said, [leaked(1)]);
}

/// A program whose `main` does not call `freeze_support` cannot create a
/// block (its tracker would run `main` again), and says so.
/// The tracker holds nothing of the program's but stdin, stdout and
/// stderr (at `/dev/null` for the first two) and its socket: a pipe the
/// program holds, even one not marked close-on-exec, sees its end when
/// the program closes it.
fn the_tracker_holds_no_descriptor_of_the_program_s() {
    let (_blocks, said) = creator_run("descriptors");
    assert_eq!(said, ["the tracker holds [0, 1, 2, 3]"]);
}

/// A name unlinked behind the tracker's back and taken by another
/// program's file: the tracker leaves that file alone.
fn the_tracker_never_unlinks_another_s_block() {
    let (blocks, said) = creator_run("taken_by_another");
    assert!(exists(&blocks.0[0]), "another program's file was unlinked");
    assert!(said.is_empty(), "{said:?}");
}

/// A Ctrl-C to the whole group: the tracker lives on, and does its work.
/// (In its first moments, before it ignores SIGINT, it has it blocked;
/// `create` returns only once it tracks, so this Ctrl-C comes after.)
fn a_ctrl_c_to_the_group_does_not_end_the_tracker() {
    let (blocks, said) = creator_run("ctrl_c");
    assert!(!exists(&blocks.0[0]), "{:?} unlinked at exit", blocks.0);
    assert_eq!(said, [leaked(1)]);
}

/// Scenario `role`, with the environment variable `env` set, is refused
/// its block with `why`.
fn refused(role: &str, env: &str, why: &str) {
    let run = testkit::scenario_with(role, &[(env, "1")], LIMIT);
    assert!(run.status.success(), "{run:?}");
    let said = format!("refused: cannot spawn: {why}");
    assert!(run.output.contains(&said), "{run:?}");
}

/// A tracker that never reaches `freeze_support` (its `main` ends first):
/// `create` says so, and leaves no block.
fn a_tracker_that_never_tracks_is_an_error() {
    let why = "the resource tracker ended, or said nothing, before it tracked: does this \
               program's main call shared::freeze_support() first?";
    refused("tracker_exits_early", "TRACKER_EXITS_EARLY", why);
}

fn a_program_without_freeze_support_is_refused_a_block() {
    let why = "creating named shared memory starts a resource tracker, which is this \
               program run again: call shared::freeze_support() first in main";
    refused("no_freeze_support", "SKIP_FREEZE_SUPPORT", why);
}

fn main() {
    let tracker = std::env::args()
        .nth(1)
        .is_some_and(|a| a.contains("resource-tracker"));
    if tracker && std::env::var_os("TRACKER_EXITS_EARLY").is_some() {
        std::process::exit(2); // a main that ends before its freeze_support
    }
    if std::env::var_os("SKIP_FREEZE_SUPPORT").is_none() {
        shared::freeze_support(); // where the resource tracker works
    }
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
            a_forked_child_s_block_goes_with_its_tracker,
            a_spawned_child_s_block_is_the_program_s,
            a_creator_killed_outright_has_its_block_unlinked_by_the_tracker,
            a_killed_tracker_forgets_its_blocks_and_the_next_block_starts_another,
            a_program_without_freeze_support_is_refused_a_block,
            the_tracker_holds_no_descriptor_of_the_program_s,
            the_tracker_never_unlinks_another_s_block,
            a_tracker_that_never_tracks_is_an_error,
            a_ctrl_c_to_the_group_does_not_end_the_tracker,
        ],
        run_scenario,
    );
}
