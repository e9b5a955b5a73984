//! The `forkserver` start method, checked from a program that owns its
//! main thread (`harness = false`): `main` calls `shared::freeze_support()`
//! first, where the fork server (a fresh run of this executable) serves,
//! and where nothing else runs in it. Each child reports what it saw
//! through its exit code.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use shared::pool::Pool;
use shared::{Error, Process, StartMethod, current_process, get_context, parent_process};

const LIMIT: Duration = Duration::from_secs(30);

fn forkserver() -> shared::Context {
    get_context(StartMethod::Forkserver)
}

/// Exit with `code`, having checked its name and parent.
fn report(code: i32) -> Result<(), String> {
    let me = current_process();
    let parent = parent_process().ok_or("no parent")?;
    if !me.name().starts_with("ForkServerProcess-") || parent.name() != "MainProcess" {
        return Err(format!("saw {} under {}", me.name(), parent.name()));
    }
    if shared::get_start_method() != StartMethod::Forkserver {
        return Err("its start method is not forkserver".into());
    }
    shared::exit(code)
}

fn sleep_long(_: ()) {
    std::thread::sleep(Duration::from_secs(600));
}

fn panic_now(_: ()) {
    panic!("on purpose")
}

/// Exit 0 if glibc knows this process as its own fork would have left it:
/// its main thread by the right id (so that another thread can signal
/// it), and a list of robust mutexes registered (so that one held by a
/// process that dies is given up).
fn glibc_knows_me(_: ()) -> Result<(), String> {
    // SAFETY: pthread_self takes and returns plain values.
    let main = unsafe { libc::pthread_self() } as usize;
    let from_another = std::thread::spawn(move || {
        // SAFETY: signal 0 only checks that the thread exists.
        unsafe { libc::pthread_kill(main as libc::pthread_t, 0) }
    });
    let signalled = from_another.join().map_err(|_| "the thread panicked")?;
    let (mut head, mut len): (*mut libc::c_void, libc::size_t) = (std::ptr::null_mut(), 0);
    // SAFETY: get_robust_list writes a pointer and a length to these.
    unsafe { libc::syscall(libc::SYS_get_robust_list, 0, &raw mut head, &raw mut len) };
    match (signalled, head.is_null()) {
        (0, false) => Ok(()),
        seen => Err(format!(
            "pthread_kill of the main thread, no robust list: {seen:?}"
        )),
    }
}

fn abort_now(_: ()) {
    std::process::abort()
}

/// Exit with 0 if the argument is `len` bytes of 1.
fn check_len((len, bytes): (usize, serde_bytes::ByteBuf)) -> Result<(), String> {
    match bytes.len() == len && bytes.iter().all(|&b| b == 1) {
        true => Ok(()),
        false => Err(format!("saw {} bytes, not {len}", bytes.len())),
    }
}

/// Arguments of every size about the largest briefing sent in the packet
/// itself (32 KiB, the rest in a memory file), to daemons and not: each
/// arrives whole.
fn arguments_about_the_largest_inline_briefing_arrive_whole() {
    for daemon in [false, true] {
        for len in (32_600..32_800).step_by(3) {
            let bytes = serde_bytes::ByteBuf::from(vec![1u8; len]);
            let mut p = forkserver().process(check_len, (len, bytes)).daemon(daemon);
            p.start().unwrap();
            p.join().unwrap();
            assert_eq!(p.exitcode(), Some(0), "{len} bytes, daemon {daemon}");
        }
    }
}

/// Become `sleep 600` (after saying so): a daemon that is another program.
fn exec_sleep(started: shared::Event) -> Result<(), String> {
    started.set();
    let e =
        std::os::unix::process::CommandExt::exec(std::process::Command::new("sleep").arg("600"));
    Err(e.to_string())
}

/// A daemon that became another program (`exec`), then the program
/// SIGKILLed: its lifeline went through the `exec`.
fn exec_daemon_then_killed_parent() -> Result<(), Error> {
    let daemon = announced_daemon(exec_sleep)?;
    let comm = format!("/proc/{}/comm", daemon.pid().expect("started"));
    let began = Instant::now();
    while std::fs::read_to_string(&comm)? != "sleep\n" {
        assert!(began.elapsed() < LIMIT, "the daemon never became sleep");
        std::thread::yield_now();
    }
    println!("daemon started");
    nix::sys::signal::raise(Signal::SIGKILL)?;
    unreachable!("killed")
}

/// Exit with 0 if the argument is the 50 MiB it should be.
fn check_big(bytes: serde_bytes::ByteBuf) -> Result<(), String> {
    let sum: u64 = bytes.iter().map(|&b| u64::from(b)).sum();
    match (bytes.len(), sum) {
        (50_000_000, 50_000_000) => Ok(()),
        seen => Err(format!("saw {seen:?}")),
    }
}

fn exit_codes_names_and_signals() {
    let mut p = forkserver().process(report, 3);
    p.start().unwrap();
    assert!(p.name().starts_with("ForkServerProcess-"));
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(3), "{p}");

    let mut p = forkserver().process(panic_now, ());
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(1));

    // `abort` raises SIGABRT on the child itself, though glibc's note of
    // its thread id is the server's (see `sys::fork_as_sibling`).
    let mut p = forkserver().process(glibc_knows_me, ());
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(0), "glibc's records of the child");

    let mut p = forkserver().process(abort_now, ());
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(-(Signal::SIGABRT as i32)));

    let mut p = forkserver().process(sleep_long, ());
    p.start().unwrap();
    assert!(p.is_alive());
    p.join_timeout(Duration::from_millis(50)).unwrap();
    assert_eq!(p.exitcode(), None, "still running");
    // Its sentinel turns readable when it ends.
    let sentinel = p.sentinel().unwrap();
    assert!(
        shared::ipc::wait(&[sentinel.as_fd()], Duration::ZERO)
            .unwrap()
            .is_empty()
    );
    p.terminate().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(-(Signal::SIGTERM as i32)));
    assert_eq!(shared::ipc::wait(&[sentinel.as_fd()], LIMIT).unwrap(), [0]);
    assert!(!p.is_alive());
}

fn beside_eight_threads_and_with_a_big_argument() {
    let _threads = testkit::parked_threads(8);
    // A fork here is refused; the fork server's child is forked elsewhere.
    let mut forked = get_context(StartMethod::Fork).process(report, 0);
    assert!(matches!(forked.start(), Err(Error::Threads(_))));
    let big = serde_bytes::ByteBuf::from(vec![1u8; 50_000_000]);
    let mut p = forkserver().process(check_big, big);
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(0));
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// This process's children: each one's pid, state (`R`, `S`, `Z`…) and
/// name (`ForkServer`, `ForkServerSpare`…).
fn children() -> Vec<(u32, char, String)> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let mut fields = stat.rsplit(')').next()?.split_whitespace();
            let state = fields.next()?.chars().next()?;
            let ppid: u32 = fields.next()?.parse().ok()?;
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (ppid == me).then(|| (pid, state, name.trim_end().to_owned()))
        })
        .collect()
}

/// The pid of this process's live child named `name`.
fn child_named(name: &str) -> Option<u32> {
    children()
        .into_iter()
        .find_map(|(pid, state, named)| (named == name && state != 'Z').then_some(pid))
}

/// The fork server's pid.
fn server() -> Option<u32> {
    child_named("ForkServer")
}

/// The spare waiting (killed while it waits, say) is passed over, and
/// reaped by the next start: no zombie stays.
fn a_killed_spare_is_passed_over_and_reaped() {
    let mut p = forkserver().process(report, 0);
    p.start().unwrap();
    p.join().unwrap();
    let spare = child_named("ForkServerSpare").expect("a spare waits");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(spare as i32), Signal::SIGKILL).unwrap();
    let began = Instant::now();
    while !children().contains(&(spare, 'Z', "ForkServerSpare".to_owned())) {
        assert!(began.elapsed() < LIMIT, "the spare never died");
        std::thread::yield_now();
    }
    // (It may be the second in line.)
    for code in [7, 8, 9] {
        let mut p = forkserver().process(report, code);
        p.start().unwrap();
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(code));
    }
    assert!(
        !std::path::Path::new(&format!("/proc/{spare}")).exists(),
        "the killed spare, still a zombie"
    );
}

fn two_hundred_starts_leak_nothing() {
    let mut p = forkserver().process(report, 0);
    p.start().unwrap(); // the server, started once
    p.join().unwrap();
    let before = open_descriptors();
    for _ in 0..200 {
        let mut p = forkserver().process(report, 0);
        p.start().unwrap();
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(0));
    }
    assert_eq!(open_descriptors(), before, "no descriptor kept");
    assert!(shared::active_children().is_empty());
}

/// A Ctrl-C meant for the program (a SIGINT) does not end the server: the
/// program may still start and join its children (CPython's ignores it).
fn a_sigint_does_not_end_the_server() {
    let mut p = forkserver().process(report, 0);
    p.start().unwrap();
    p.join().unwrap();
    let before = server().expect("a fork server runs");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(before as i32), Signal::SIGINT).unwrap();
    let mut p = forkserver().process(report, 4);
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(4));
    assert_eq!(server(), Some(before), "the same server, still there");
}

fn a_killed_server_is_started_again() {
    let mut running = forkserver().process(sleep_long, ());
    running.start().unwrap();
    let server = server().expect("a fork server runs");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(server as i32), Signal::SIGKILL).unwrap();
    // The child it left is this process's own: it still runs, and once
    // killed its exit code is known, the server gone or not.
    assert!(running.is_alive());
    running.kill().unwrap();
    running.join().unwrap();
    assert_eq!(running.exitcode(), Some(-(Signal::SIGKILL as i32)));
    // The spares the server forked before it died start the next two
    // children; then a new server is started for the one after.
    for code in [5, 6, 7] {
        let mut p = forkserver().process(report, code);
        p.start().unwrap();
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(code));
    }
    assert!(self::server().is_some_and(|new| new != server));
}

fn a_pool_of_the_fork_server() {
    let pool = Pool::builder()
        .processes(2)
        .start_method(StartMethod::Forkserver)
        .start()
        .unwrap();
    let squares = pool.map(square, (0..100).collect::<Vec<u64>>()).unwrap();
    assert_eq!(squares, (0..100).map(|n| n * n).collect::<Vec<u64>>());
    let names = pool.map(worker_name, vec![(); 4]).unwrap();
    assert!(
        names.iter().all(|n| n.starts_with("ForkServerPoolWorker-")),
        "{names:?}"
    );
}

fn square(n: u64) -> u64 {
    n * n
}

fn worker_name(_: ()) -> String {
    current_process().name().to_owned()
}

fn at_the_descriptor_limit_a_clear_error_then_it_works_again() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    use std::os::fd::AsRawFd;
    let mut p = forkserver().process(report, 0); // the server runs, two spares wait
    p.start().unwrap();
    p.join().unwrap();
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    // The limit bounds descriptor numbers: a few above the lowest free
    // one, every descriptor left is taken before each start.
    let lowest_free = std::fs::File::open("/dev/null").unwrap().as_raw_fd() as u64;
    setrlimit(Resource::RLIMIT_NOFILE, lowest_free + 8, hard).unwrap();
    let mut taken = Vec::new();
    // The spares waiting start a child each (their sockets are open
    // already, and a start closes ours); the next start needs a new pair,
    // and is refused.
    let mut started = Vec::new();
    let refused = loop {
        while let Ok(file) = std::fs::File::open("/dev/null") {
            taken.push(file);
        }
        let mut p = forkserver().process(report, 0);
        match p.start() {
            Ok(()) if started.len() < 2 => started.push(p),
            Ok(()) => break Err("a third start at the limit"),
            Err(e) => break Ok(e),
        }
    };
    drop(taken);
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    let refused = refused.unwrap();
    assert!(refused.to_string().contains("Errno 24"), "{refused}");
    assert_eq!(started.len(), 2, "each spare waiting started a child");
    for p in &started {
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(0));
    }
    let mut p = forkserver().process(report, 0);
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(0));
}

/// Exit 0 if the parent is alive, and the working directory is `dir`.
fn check_parent_and_dir(dir: String) -> Result<(), String> {
    let parent = parent_process().ok_or("no parent")?;
    let here = std::env::current_dir().map_err(|e| e.to_string())?;
    match (parent.is_alive(), here == std::path::Path::new(&dir)) {
        (true, true) => Ok(()),
        seen => Err(format!("parent alive, in {dir}: {seen:?}")),
    }
}

fn the_child_sees_its_parent_and_its_directory() {
    let before = std::env::current_dir().unwrap();
    std::env::set_current_dir("/tmp").unwrap();
    let mut p = forkserver().process(check_parent_and_dir, "/tmp".to_owned());
    p.start().unwrap();
    p.join().unwrap();
    std::env::set_current_dir(before).unwrap();
    assert_eq!(
        p.exitcode(),
        Some(0),
        "the parent seen alive, /tmp its directory"
    );
}

fn a_join_in_one_thread_blocks_nobody_else() {
    use std::sync::atomic::{AtomicI32, Ordering};
    let joining = AtomicI32::new(0); // the joining thread's id, once it joins
    std::thread::scope(|s| {
        let joiner = s.spawn(|| {
            let mut p = forkserver().process(sleep_long, ());
            p.start()?;
            joining.store(nix::unistd::gettid().as_raw(), Ordering::SeqCst);
            p.join()?;
            Ok::<_, Error>(p.exitcode())
        });
        // Until the joiner is asleep in its join (its state `S`)...
        let began = Instant::now();
        loop {
            let tid = joining.load(Ordering::SeqCst);
            let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"));
            if tid != 0
                && stat.is_ok_and(|stat| {
                    stat.rsplit(')')
                        .next()
                        .unwrap()
                        .trim_start()
                        .starts_with('S')
                })
            {
                break;
            }
            assert!(began.elapsed() < LIMIT, "never seen joining");
        }
        // ...another thread sees the child running, and terminates it.
        let began = Instant::now();
        let running = shared::active_children();
        assert_eq!(running.len(), 1);
        running[0].terminate().unwrap();
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "blocked by the join"
        );
        let code = joiner.join().unwrap().unwrap();
        assert_eq!(code, Some(-(Signal::SIGTERM as i32)));
    });
}

/// At the user's process limit (`RLIMIT_NPROC`), filled by sleeping
/// children: the server's fork is refused, and `start` says so (EAGAIN);
/// once one of them has ended, the fork server starts children again.
/// A scenario of its own: it becomes, for good, a user no other process
/// runs as (root is exempt from the limit, and another user's processes
/// would count against it), with no supplementary groups.
fn process_limit() -> Result<(), Error> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if !become_a_lone_user() {
        return Ok(());
    }
    let (_, hard) = getrlimit(Resource::RLIMIT_NPROC)?;
    setrlimit(Resource::RLIMIT_NPROC, 16.min(hard), hard)?;
    let mut p = forkserver().process(report, 0);
    p.start()?; // the server runs, under the same limit
    p.join()?;
    let eagain = |e: &Error| e.errno() == Some(nix::errno::Errno::EAGAIN);
    let mut sleepers = Vec::new();
    loop {
        let mut sleeper = Process::new(|| std::thread::sleep(LIMIT)).daemon(true);
        match sleeper.start() {
            Ok(()) => sleepers.push(sleeper),
            Err(e) if eagain(&e) => break,
            Err(e) => return Err(e),
        }
    }
    // The spares forked ahead (two, if the limit left room for them)
    // start a child each; the server can fork no other.
    let mut spares = Vec::new();
    loop {
        let mut p = forkserver().process(report, 0);
        match p.start() {
            Ok(()) if spares.len() < 2 => spares.push(p),
            Ok(()) => panic!("a fork server's child past the limit"),
            Err(e) => {
                assert!(eagain(&e), "start: {e}");
                break;
            }
        }
    }
    for p in &spares {
        p.join()?;
        assert_eq!(p.exitcode(), Some(0));
    }
    println!(
        "at the limit: Err(EAGAIN) after {} sleepers",
        sleepers.len()
    );
    let one = sleepers.pop().expect("a sleeper at least");
    one.terminate()?;
    one.join()?;
    let mut p = forkserver().process(report, 0);
    p.start()?;
    p.join()?;
    assert_eq!(p.exitcode(), Some(0));
    for sleeper in &sleepers {
        sleeper.terminate()?;
        sleeper.join()?;
    }
    assert!(shared::active_children().is_empty());
    println!("one ended: the fork server starts children again");
    Ok(())
}

/// Become, for good, a user no other process runs as, with no
/// supplementary groups (root is exempt from the limits these scenarios
/// reach, and another user's processes would count against them);
/// `false`, having said it is skipped, where that needs root it has not.
fn become_a_lone_user() -> bool {
    // SAFETY: getuid, setgroups, setgid and setuid take and return plain
    // numbers (setgroups reads no list when given none); a scenario
    // process has one thread.
    if unsafe { libc::getuid() } != 0 {
        println!("skipped: becoming a user of its own needs root");
        return false;
    }
    let lone = 3_000_000_000 + std::process::id(); // a uid nobody runs as
    // SAFETY: as above.
    unsafe {
        assert_eq!(libc::setgroups(0, std::ptr::null()), 0, "setgroups");
        assert_eq!(libc::setgid(lone), 0, "setgid");
        assert_eq!(libc::setuid(lone), 0, "setuid");
    }
    true
}

/// Run scenario `name`, which needs root, and check it left nothing
/// behind; `None`, said on stderr, where it was skipped.
fn root_scenario(name: &str) -> Option<testkit::Run> {
    let run = testkit::scenario(name, LIMIT);
    testkit::assert_clean(&run);
    if run.output.starts_with("skipped:") {
        eprintln!("{}", run.output.trim());
        return None;
    }
    Some(run)
}

fn at_the_process_limit_a_clear_error_then_it_works_again() {
    let Some(run) = root_scenario("process_limit") else {
        return;
    };
    assert!(run.output.contains("at the limit: Err(EAGAIN)"), "{run:?}");
    assert!(run.output.contains("starts children again"), "{run:?}");
}

/// The fork server killed and reaped by the program itself (a `waitpid`
/// of its own), then a child of ours given the server's number (as root,
/// by `ns_last_pid`) that exits with 7: the next start reaps the helpers
/// it knows of by pidfd, never by that number, so `join` reads the code.
fn helper_number_taken() -> Result<(), Error> {
    // SAFETY: getuid takes and returns plain numbers.
    if unsafe { libc::getuid() } != 0 {
        println!("skipped: choosing a pid needs root");
        return Ok(());
    }
    let mut p = forkserver().process(report, 0);
    p.start()?;
    p.join()?;
    let server = nix::unistd::Pid::from_raw(server().expect("a fork server runs") as i32);
    nix::sys::signal::kill(server, Signal::SIGKILL)?;
    nix::sys::wait::waitpid(server, None)?;
    for _ in 0..10 {
        let before = (server.as_raw() - 1).to_string();
        std::fs::write("/proc/sys/kernel/ns_last_pid", before)?;
        let mut child = Process::new(|| -> () { shared::exit(7) });
        child.start()?;
        let taken = child.pid() == Some(server.as_raw() as u32);
        let pid = child.pid().expect("started");
        assert!(ended(&pidfd(pid)), "the child ended"); // unreaped
        let mut p = forkserver().process(report, 0);
        p.start()?; // reaps the helpers that ended, the killed server's pidfd among them
        p.join()?;
        child.join()?;
        if taken {
            println!(
                "under the server's number: exit code {:?}",
                child.exitcode()
            );
            return Ok(());
        }
    }
    println!("skipped: other processes took the number first, ten times");
    Ok(())
}

fn a_helper_is_reaped_by_pidfd_never_by_number() {
    let Some(run) = root_scenario("helper_number_taken") else {
        return;
    };
    assert_eq!(
        run.output, "under the server's number: exit code Some(7)\n",
        "{run:?}"
    );
}

/// More descriptors in flight than the descriptor limit, as a user no
/// other process runs as (root is exempt): the kernel refuses to send any
/// more (`ETOOMANYREFS`), so no spare can be asked for. The spares waiting
/// start a child each, then `start` says why it cannot; the server is kept
/// (its daemon runs on), and once the descriptors have landed, the fork
/// server starts children again.
fn in_flight_limit() -> Result<(), Error> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    if !become_a_lone_user() {
        return Ok(());
    }
    let daemon = sleeping_daemon()?; // the server runs, two spares wait
    let before = server();
    let (a, b) = nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::SeqPacket,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )?;
    let files: Vec<std::fs::File> = (0..200)
        .map(|_| std::fs::File::open("/dev/null"))
        .collect::<Result<_, _>>()?;
    let raw: Vec<i32> = files.iter().map(std::os::fd::AsRawFd::as_raw_fd).collect();
    let iov = [std::io::IoSlice::new(b"x")];
    let rights = [ControlMessage::ScmRights(&raw)];
    sendmsg::<()>(
        std::os::fd::AsRawFd::as_raw_fd(&a),
        &iov,
        &rights,
        MsgFlags::empty(),
        None,
    )?;
    drop(files);
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    setrlimit(Resource::RLIMIT_NOFILE, 100, hard)?;
    let mut started = 0;
    let refused = loop {
        let mut p = forkserver().process(report, 0);
        match p.start() {
            Ok(()) => {
                p.join()?;
                started += 1;
            }
            Err(e) => break e,
        }
        assert!(started <= 2, "a start past the spares waiting");
    };
    println!("{started} started, then: {refused}");
    let kept = server() == before && daemon.is_alive();
    println!("server kept, daemon running: {kept}");
    drop((a, b)); // the descriptors in flight land nowhere
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard)?;
    let mut p = forkserver().process(report, 0);
    p.start()?;
    p.join()?;
    println!("then exit code {:?}", p.exitcode());
    daemon.terminate()?;
    daemon.join()?;
    Ok(())
}

fn past_the_descriptors_in_flight_a_clear_error_then_it_works_again() {
    let Some(run) = root_scenario("in_flight_limit") else {
        return;
    };
    let expected = "2 started, then: OSError: [Errno 109] Too many references: cannot splice\n\
                    server kept, daemon running: true\nthen exit code Some(0)\n";
    assert_eq!(run.output, expected, "{run:?}");
}

/// SIGCHLD ignored in the program: its children, the fork server's
/// included, are reaped by the kernel, and `join` says their exit status
/// is lost, as for a forked child (CPython's server, their parent there,
/// would know it).
fn sigchld_ignored() -> Result<(), Error> {
    use nix::sys::signal::{SigHandler, signal};
    // SAFETY: SIG_IGN runs no code of ours.
    unsafe { signal(Signal::SIGCHLD, SigHandler::SigIgn) }?;
    let mut p = forkserver().process(report, 3);
    p.start()?;
    let lost = matches!(p.join(), Err(Error::Unreapable));
    println!("lost {lost}, exit code {:?}", p.exitcode());
    Ok(())
}

fn with_sigchld_ignored_the_exit_status_is_lost_as_for_fork() {
    let run = testkit::scenario("sigchld_ignored", LIMIT);
    testkit::assert_clean(&run);
    assert_eq!(run.output, "lost true, exit code None\n", "{run:?}");
}

fn announce_then_sleep(started: shared::Event) {
    started.set();
    std::thread::sleep(Duration::from_secs(600));
}

/// A daemon of the fork server that runs `target`, started and seen
/// running (it sets the event it is given).
fn announced_daemon(
    target: impl shared::process::spawn::Target<shared::Event>,
) -> Result<Process, Error> {
    let started = shared::Event::new()?;
    let mut daemon = forkserver().process(target, started.clone()).daemon(true);
    daemon.start()?;
    assert!(started.wait_timeout(LIMIT));
    Ok(daemon)
}

/// A daemon of the fork server, started and seen running.
fn sleeping_daemon() -> Result<Process, Error> {
    announced_daemon(announce_then_sleep)
}

/// A daemon the fork server started, whose program is then SIGKILLed.
fn killed_parent() -> Result<(), Error> {
    let _daemon = sleeping_daemon()?;
    println!("daemon started");
    nix::sys::signal::raise(Signal::SIGKILL)?;
    unreachable!("killed")
}

/// Two daemons started, and the program SIGKILLed at once: the server may
/// not have read yet that they are daemons (its words unread, the kernel
/// says ECONNRESET first, then gives them).
fn killed_at_once() -> Result<(), Error> {
    for _ in 0..2 {
        let mut daemon = forkserver().process(sleep_long, ()).daemon(true);
        daemon.start()?;
    }
    nix::sys::signal::raise(Signal::SIGKILL)?;
    unreachable!("killed")
}

/// A daemon started, its server SIGKILLed and another started by later
/// starts, then the program SIGKILLed, the daemon running until then.
fn killed_server_then_parent() -> Result<(), Error> {
    let daemon = sleeping_daemon()?;
    let old = server().expect("a fork server runs");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(old as i32), Signal::SIGKILL)?;
    for code in [1, 2, 3] {
        let mut p = forkserver().process(report, code);
        p.start()?;
        p.join()?;
    }
    assert!(server().is_some_and(|new| new != old), "a new server");
    assert!(daemon.is_alive(), "the daemon runs");
    println!("daemon started");
    nix::sys::signal::raise(Signal::SIGKILL)?;
    unreachable!("killed")
}

/// A pidfd of process `pid`, which turns readable when it ends.
fn pidfd(pid: u32) -> std::os::fd::OwnedFd {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a pid");
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).expect("pidfd_open")
}

/// Wait until the process `pidfd` names has ended, at most 10 s;
/// whether it had.
fn ended(pidfd: &std::os::fd::OwnedFd) -> bool {
    let mut polled = [nix::poll::PollFd::new(
        pidfd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    nix::poll::poll(&mut polled, nix::poll::PollTimeout::from(10_000u16)) == Ok(1)
}

/// A daemon started, its server SIGKILLed, then the program SIGKILLed
/// before any other start: nobody runs to kill the daemon, which dies by
/// its lifeline.
fn killed_server_then_parent_at_once() -> Result<(), Error> {
    let _daemon = sleeping_daemon()?;
    let server = pidfd(server().expect("a fork server runs"));
    let kill = rustix::process::pidfd_send_signal(&server, rustix::process::Signal::KILL);
    assert!(kill.is_ok() && ended(&server), "the server killed");
    println!("daemon started");
    nix::sys::signal::raise(Signal::SIGKILL)?;
    unreachable!("killed")
}

/// A daemon of the fork server, then a forked child (no daemon), then the
/// program SIGKILLed: the forked child closed, as it started, its copy of
/// the write end of the daemon's lifeline, so the daemon dies with the
/// program. The forked child outlives the program, sees it, and says so.
fn forked_child_then_killed_parent() -> Result<(), Error> {
    let daemon = sleeping_daemon()?;
    let daemon = daemon.pid().expect("started");
    let program = std::process::id();
    let watching = shared::Event::new()?;
    let ready = watching.clone();
    let mut watcher = Process::new(move || {
        let (program, daemon) = (pidfd(program), pidfd(daemon));
        ready.set();
        let gone = ended(&program) && ended(&daemon);
        println!("the daemon died with its program: {gone}");
    });
    watcher.start()?;
    assert!(watching.wait_timeout(LIMIT));
    nix::sys::signal::raise(Signal::SIGKILL)?;
    unreachable!("killed")
}

/// The server, its spares and the daemons all end with a killed program
/// (the daemons by their lifelines: see `forkserver.rs`), however soon
/// after their start, after a new server took over, with their server
/// killed first, and beside a forked child that outlives the program.
fn daemons_die_with_a_killed_parent() {
    let run = testkit::scenario("forked_child_then_killed_parent", LIMIT);
    assert!(!run.left_behind, "a daemon outlived the program: {run:?}");
    assert!(
        run.output.contains("died with its program: true"),
        "{run:?}"
    );
    for scenario in [
        "killed_parent",
        "killed_server_then_parent",
        "killed_server_then_parent_at_once",
        "exec_daemon_then_killed_parent",
    ] {
        let run = testkit::scenario(scenario, LIMIT);
        assert!(!run.left_behind, "a daemon outlived the program: {run:?}");
        assert!(run.output.contains("daemon started"), "{run:?}");
    }
    for _ in 0..10 {
        let run = testkit::scenario("killed_at_once", LIMIT);
        assert!(!run.left_behind, "a daemon outlived the program: {run:?}");
    }
}

/// A daemon running when the thread that started the server ends: with
/// `PR_SET_PDEATHSIG` it would be killed then (its parent thread is that
/// one); the fork server's daemons are not. A scenario of its own, so
/// that this thread is the one that starts the server.
fn thread_started_the_server() -> Result<(), Error> {
    let (go, end) = std::sync::mpsc::channel::<()>();
    let starter = std::thread::spawn(move || {
        let mut p = forkserver().process(report, 0);
        p.start()?;
        p.join()?;
        let _ = end.recv(); // until the daemon runs
        Ok::<_, Error>(nix::unistd::gettid())
    });
    while server().is_none() {
        std::thread::yield_now(); // the starter thread's server, once spawned
    }
    let daemon = sleeping_daemon()?;
    drop(go); // the starter thread ends
    let tid = starter.join().expect("the starter thread")?;
    // Until the thread is gone from the kernel's list: its children's
    // death signals, if any, are sent before that.
    let began = Instant::now();
    while std::path::Path::new(&format!("/proc/self/task/{tid}")).exists() {
        assert!(began.elapsed() < LIMIT, "the thread never ended");
        std::thread::yield_now();
    }
    let pid = daemon.pid().expect("started");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name)).expect(name);
        u64::from_str_radix(line.split_whitespace().nth(1).expect(name), 16).expect(name)
    };
    let sigkill = 1 << (Signal::SIGKILL as u64 - 1);
    let killed = (field("SigPnd:") | field("ShdPnd:")) & sigkill != 0;
    println!("killed {killed}, alive {}", daemon.is_alive());
    daemon.terminate()?;
    daemon.join()?;
    println!("exit code {:?}", daemon.exitcode());
    Ok(())
}

fn a_daemon_outlives_the_thread_that_started_the_server() {
    let run = testkit::scenario("thread_started_the_server", LIMIT);
    testkit::assert_clean(&run);
    assert_eq!(
        run.output, "killed false, alive true\nexit code Some(-15)\n",
        "{run:?}"
    );
}

fn run_scenario(name: &str) -> Result<(), Error> {
    match name {
        "killed_parent" => killed_parent(),
        "killed_at_once" => killed_at_once(),
        "killed_server_then_parent" => killed_server_then_parent(),
        "killed_server_then_parent_at_once" => killed_server_then_parent_at_once(),
        "forked_child_then_killed_parent" => forked_child_then_killed_parent(),
        "exec_daemon_then_killed_parent" => exec_daemon_then_killed_parent(),
        "thread_started_the_server" => thread_started_the_server(),
        "sigchld_ignored" => sigchld_ignored(),
        "process_limit" => process_limit(),
        "helper_number_taken" => helper_number_taken(),
        "in_flight_limit" => in_flight_limit(),
        other => panic!("no scenario {other}"),
    }
}

fn main() {
    shared::freeze_support();
    testkit::test_main(
        testkit::checks![
            exit_codes_names_and_signals,
            the_child_sees_its_parent_and_its_directory,
            a_join_in_one_thread_blocks_nobody_else,
            two_hundred_starts_leak_nothing,
            a_sigint_does_not_end_the_server,
            a_killed_server_is_started_again,
            a_killed_spare_is_passed_over_and_reaped,
            a_pool_of_the_fork_server,
            at_the_descriptor_limit_a_clear_error_then_it_works_again,
            beside_eight_threads_and_with_a_big_argument,
            arguments_about_the_largest_inline_briefing_arrive_whole,
            at_the_process_limit_a_clear_error_then_it_works_again,
            a_helper_is_reaped_by_pidfd_never_by_number,
            past_the_descriptors_in_flight_a_clear_error_then_it_works_again,
            with_sigchld_ignored_the_exit_status_is_lost_as_for_fork,
            daemons_die_with_a_killed_parent,
            a_daemon_outlives_the_thread_that_started_the_server,
        ],
        run_scenario,
    );
}
