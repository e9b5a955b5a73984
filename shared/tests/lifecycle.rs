//! The process lifecycle, checked from a program that owns its only thread.
//!
//! `harness = false`: this file's `main` runs each check in turn on the main
//! thread, because forking from the test harness's worker threads is unsafe.
//! Checks that need to watch a whole program (what it prints, what happens
//! when its `main` returns) re-run this same executable with
//! `LIFECYCLE_SCENARIO=<name>`, so the scenario is a real `main` of its own.

use std::thread::sleep;
use std::time::{Duration, Instant};

use log::LevelFilter;
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use shared::{Error, Event, Process, Run as _, active_children, current_process, parent_process};
use testkit::{normalize_pids, scenario};

/// How long a scenario may take before it counts as hung.
const LIMIT: Duration = Duration::from_secs(30);

fn states_before_during_after() {
    let mut p = Process::new(|| sleep(Duration::from_millis(200)));
    let parent = std::process::id();
    assert!(!p.is_alive());
    assert_eq!(p.exitcode(), None);
    assert_eq!(p.pid(), None);
    let name = p.name().to_owned();
    assert_eq!(
        p.to_string(),
        format!("<Process name='{name}' parent={parent} initial>")
    );

    p.start().unwrap();
    let pid = p.pid().unwrap();
    assert!(p.is_alive());
    assert_eq!(p.exitcode(), None);
    assert_eq!(
        p.to_string(),
        format!("<Process name='{name}' pid={pid} parent={parent} started>")
    );

    p.join().unwrap();
    assert!(!p.is_alive());
    assert_eq!(p.exitcode(), Some(0));
    assert_eq!(
        p.to_string(),
        format!("<Process name='{name}' pid={pid} parent={parent} stopped exitcode=0>")
    );
    p.join().unwrap(); // joining again is fine
}

fn join_timeout_returns_while_alive() {
    let mut p = Process::new(|| sleep(Duration::from_secs(10))).daemon(true);
    p.start().unwrap();
    let began = Instant::now();
    p.join_timeout(Duration::from_millis(100)).unwrap();
    assert!(began.elapsed() < Duration::from_secs(5));
    assert!(p.is_alive());
    assert_eq!(p.exitcode(), None);
    assert!(p.to_string().ends_with(" started daemon>"), "{p}");

    p.terminate().unwrap();
    // terminate only sends SIGTERM: right after it the child is usually,
    // not always, still alive, as in CPython.
    let code = p.exitcode(); // one look: the child may die at any moment
    assert!(matches!(code, None | Some(-15)), "{code:?}");
    if code.is_some() {
        assert!(!p.is_alive(), "reaped is for good");
    }
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(-15));
    assert!(
        p.to_string()
            .ends_with(" stopped exitcode=-SIGTERM daemon>"),
        "{p}"
    );
}

fn kill_gives_minus_nine() {
    let mut p = Process::new(|| sleep(Duration::from_secs(10)));
    p.start().unwrap();
    p.kill().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(-9));
    assert!(
        p.to_string().ends_with(" stopped exitcode=-SIGKILL>"),
        "{p}"
    );
}

/// CPython's `test_error_on_stdio_flush_2`: a child that closes its stdout
/// and stderr still exits with 0; flushing them on the way out fails
/// quietly.
fn closed_std_streams_do_not_change_the_exit_code() {
    let mut p = Process::new(|| {
        print!("left in the buffer, never written"); // no newline: still buffered
        // SAFETY: closing this child's own descriptors 1 and 2; nothing
        // else in the child uses them any more.
        unsafe {
            libc::close(1);
            libc::close(2);
        }
    });
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(0));
}

fn exit_codes() {
    fn finished(target: impl FnOnce() -> Result<(), String> + 'static) -> Option<i32> {
        let mut p = Process::new(target);
        p.start().unwrap();
        p.join().unwrap();
        p.exitcode()
    }
    assert_eq!(finished(|| Ok(())), Some(0));
    assert_eq!(finished(|| shared::exit(3)), Some(3));
    assert_eq!(finished(|| shared::exit(0)), Some(0));
    // Failures print to stderr; the `failures` scenario checks the text.
    let mut p = Process::new(|| 7); // a return value is not an exit code
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(0));
}

fn failures_print_name_and_message() {
    let run = scenario("failures", LIMIT);
    assert!(run.status.success(), "{run:?}");
    let out = run.output;
    assert!(
        out.contains("Process raises:\nError: There was an error!\n"),
        "{out}"
    );
    assert!(out.contains("Process panics:\npanicked at "), "{out}");
    assert!(out.contains("boom\n"), "{out}");
    assert!(
        out.contains("raises.exitcode = 1\n") && out.contains("panics.exitcode = 1\n"),
        "{out}"
    );
    assert!(
        out.contains("Process opens:\nError: No such file or directory (os error 2)\n"),
        "{out}"
    );
    assert!(out.contains("opens.exitcode = 1\n"), "{out}");
    assert!(
        !out.contains("RUST_BACKTRACE"),
        "no backtrace hint for learners: {out}"
    );
    let own_hook = out.matches("the program's own hook\n").count();
    assert_eq!(own_hook, 1, "the main process's one panic, only: {out}");
}

fn names_and_counters() {
    let a = Process::new(|| ());
    let b = Process::new(|| ()).named("given");
    let c = Process::new(|| ());
    let n = |p: &Process| {
        p.name()
            .rsplit('-')
            .next()
            .unwrap()
            .parse::<usize>()
            .unwrap()
    };
    assert_eq!(b.name(), "given");
    assert_eq!(n(&c), n(&a) + 2, "a given name still uses up a number");
    assert_eq!(current_process().name(), "MainProcess");
    assert!(parent_process().is_none());

    struct Worker;
    impl shared::Run for Worker {
        fn run(&mut self) {}
    }
    let w = Worker.into_process();
    assert!(w.name().starts_with("Worker-"), "{}", w.name());
    assert!(w.to_string().starts_with("<Worker name='Worker-"), "{w}");

    let run = scenario("nested_names", LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(
        normalize_pids(&run.output),
        "child: Process-3 parent: MainProcess\ngrandchild: Process-3:1 parent: Process-3\n\
         thread name: Process-3:1\n"
    );

    // A generic type is named by its own name, not its parameters'.
    struct Job<T>(T);
    impl<T: 'static> shared::Run for Job<T> {
        fn run(&mut self) {}
    }
    let generic = shared::Run::into_process(Job(String::new()));
    assert!(generic.name().starts_with("Job-"), "{}", generic.name());
}

fn misuse_is_an_error() {
    let mut p = Process::new(|| ());
    assert!(matches!(p.join(), Err(Error::NotStarted("join"))));
    assert!(matches!(p.terminate(), Err(Error::NotStarted("terminate"))));
    assert_eq!(
        p.join().unwrap_err().to_string(),
        "can only join a started process"
    );
    p.start().unwrap();
    let twice = p.start().unwrap_err();
    assert_eq!(twice.to_string(), "cannot start a process twice");
    p.join().unwrap();

    // The daemon flag is fixed once started (CPython: "process has already
    // started"); the builder leaves it as it was, no panic (and says so:
    // see builders_say_what_they_refuse).
    assert!(matches!(p.set_daemon(true), Err(Error::HasStarted)));
    assert_eq!(Error::HasStarted.to_string(), "process has already started");
    assert!(!p.is_daemon());
    // The name is not: as in CPython, renaming a started process renames
    // the parent's object (and what active_children lists), while the
    // child keeps the name it started with.
    let (parent_end, child_end) = shared::ipc::pipe(true).unwrap();
    let mut running = Process::new(move || -> Result<(), Error> {
        child_end.recv::<()>()?; // the parent has renamed us
        child_end.send(&current_process().name().to_owned())
    })
    .named("before");
    running.start().unwrap();
    running.set_name("after").unwrap();
    let listed: Vec<String> = active_children().iter().map(|c| c.name()).collect();
    assert_eq!(listed, ["after"]);
    assert!(running.to_string().contains("name='after'"), "{running}");
    parent_end.send(&()).unwrap();
    assert_eq!(parent_end.recv::<String>().unwrap(), "before");
    running.join().unwrap();
    p.set_name("late").unwrap();
    assert_eq!(p.name(), "late");

    // close(): refused while the child runs, then every use is an error.
    let gate = Event::new().unwrap();
    let child_gate = gate.clone();
    let mut running = Process::new(move || child_gate.wait());
    running.start().unwrap();
    let refused = running.close().unwrap_err();
    assert!(matches!(refused, Error::StillRunning), "{refused}");
    assert!(
        refused
            .to_string()
            .starts_with("Cannot close a process while it is still running.")
    );
    gate.set();
    running.join().unwrap();
    running.close().unwrap();
    running.close().unwrap(); // twice is fine, as in CPython
    assert!(matches!(running.join(), Err(Error::ProcessClosed)));
    assert!(matches!(running.start(), Err(Error::ProcessClosed)));
    assert!(matches!(running.terminate(), Err(Error::ProcessClosed)));
    assert!(matches!(running.sentinel(), Err(Error::ProcessClosed)));
    assert!(matches!(running.set_name("x"), Err(Error::ProcessClosed)));
    assert!(!running.is_alive());
    assert_eq!((running.pid(), running.exitcode()), (None, None));
    assert!(running.to_string().ends_with(" closed>"), "{running}");
    assert_eq!(Error::ProcessClosed.to_string(), "process object is closed");
    // A process never started can be closed, and then not started.
    p = Process::new(|| ());
    p.close().unwrap();
    assert!(matches!(p.start(), Err(Error::ProcessClosed)));

    // A daemon may not start children: its child reports the error by exit code.
    // (A process object made in a daemon is a daemon too, as in CPython.)
    let mut d = Process::new(|| -> () {
        let mut inner = Process::new(|| ());
        match (inner.is_daemon(), inner.start()) {
            (true, Err(Error::DaemonChildren)) => shared::exit(42),
            _ => shared::exit(1),
        }
    })
    .daemon(true);
    d.start().unwrap();
    d.join().unwrap();
    assert_eq!(d.exitcode(), Some(42));

    // A process object made here and carried into a child is not the
    // child's to start (CPython says the same).
    let mut made_here = Process::new(|| ());
    let mut carrier = Process::new(move || -> () {
        match made_here.start() {
            Err(Error::CreatedElsewhere) => shared::exit(43),
            _ => shared::exit(1),
        }
    });
    carrier.start().unwrap();
    carrier.join().unwrap();
    assert_eq!(carrier.exitcode(), Some(43));
    assert_eq!(
        Error::CreatedElsewhere.to_string(),
        "can only start a process object created by current process"
    );

    // While another thread runs, fork is refused (the child could hang on a
    // lock that thread held); once it is joined, fork works again.
    let (stop, parked) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || parked.recv());
    match Process::new(|| ()).start() {
        Err(e @ Error::Threads(2)) => assert!(e.to_string().contains("runs 2 threads"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(shared::Pool::new(1), Err(Error::Threads(2))));
    let mut anyway = Process::new(|| ());
    // SAFETY: the other thread is parked in `recv`, holding no lock.
    unsafe { anyway.start_unchecked() }.unwrap();
    anyway.join().unwrap();
    assert_eq!(anyway.exitcode(), Some(0));
    stop.send(()).unwrap();
    other.join().unwrap().unwrap();
    let mut after = Process::new(|| ());
    after.start().unwrap();
    after.join().unwrap();

    // interrupt() is SIGINT: -2. (The child first undoes any "ignore
    // SIGINT" it inherited, as a shell's background job has, and says so.)
    let ready = shared::Event::new().unwrap();
    let child_ready = ready.clone();
    let mut sleeper = Process::new(move || {
        // SAFETY: restoring the default action of a signal; no handler runs.
        unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
        child_ready.set();
        std::thread::sleep(std::time::Duration::from_secs(60));
    });
    sleeper.start().unwrap();
    assert!(ready.wait_timeout(std::time::Duration::from_secs(60)));
    sleeper.interrupt().unwrap();
    sleeper.join().unwrap();
    assert_eq!(sleeper.exitcode(), Some(-2));
    assert_eq!(
        Error::DaemonChildren.to_string(),
        "daemonic processes are not allowed to have children"
    );
}

/// Poll `is_alive` (no `join`) until it says the child is gone; fail,
/// rather than hang, if it never does.
fn wait_until_dead(p: &Process) {
    let started = std::time::Instant::now();
    while p.is_alive() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{p} still alive after 30 s"
        );
    }
}

/// With SIGCHLD ignored the kernel reaps children itself: `is_alive` says
/// so once the child is gone, and `join` is a clear error, never a hang.
fn sigchld_ignored_is_reported() {
    // SAFETY: setting a signal's disposition; no handler runs.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let mut p = Process::new(|| ());
    p.start().unwrap();
    wait_until_dead(&p);
    let joined = p.join();
    // SAFETY: as above, back to the default.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    match joined {
        Err(e @ Error::Unreapable) => assert!(e.to_string().contains("SIGCHLD is ignored"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(p.exitcode(), None, "the code is lost, not made up");
}

/// `sentinel` becomes readable when its child ends, so `ipc::wait` tells
/// which of several children ended first.
fn sentinels_say_which_child_ended() {
    use std::os::fd::AsFd;
    let mut quick = Process::new(|| ());
    let mut slow = Process::new(|| sleep(Duration::from_secs(60)));
    quick.start().unwrap();
    slow.start().unwrap();
    let sentinels = [quick.sentinel().unwrap(), slow.sentinel().unwrap()];
    let fds = [sentinels[0].as_fd(), sentinels[1].as_fd()];
    assert_eq!(
        shared::ipc::wait(&fds, Duration::from_secs(30)).unwrap(),
        [0]
    );
    quick.join().unwrap();
    // A joined child's sentinel is ready at once.
    let joined = quick.sentinel().unwrap();
    assert_eq!(
        shared::ipc::wait(&[joined.as_fd()], Duration::ZERO).unwrap(),
        [0]
    );
    // Nothing else is ready; then the slow one ends.
    assert!(
        shared::ipc::wait(&fds[1..], Duration::from_millis(50))
            .unwrap()
            .is_empty()
    );
    slow.kill().unwrap();
    assert_eq!(
        shared::ipc::wait(&fds[1..], Duration::from_secs(30)).unwrap(),
        [0]
    );
    slow.join().unwrap();
    assert!(matches!(
        Process::new(|| ()).sentinel(),
        Err(Error::NotStarted(_))
    ));
}

/// A process sees its parent alive, then waits for its end with
/// `parent_process().join_timeout`: here a grandchild, whose parent (the
/// middle process) is killed.
fn a_child_can_wait_for_its_parent() {
    let me = shared::current_process();
    assert!(me.is_alive());
    assert_eq!(me.exitcode(), None);
    let done: shared::Queue<bool> = shared::Queue::new().unwrap();
    let ready = shared::Event::new().unwrap();
    let (report, child_ready) = (done.clone(), ready.clone());
    let mut middle = Process::new(move || {
        let mut grandchild = Process::new(move || {
            let parent = shared::parent_process().expect("a parent");
            let alive_before = parent.is_alive();
            child_ready.set();
            parent.join_timeout(Duration::from_secs(30)).unwrap();
            report.put(alive_before && !parent.is_alive()).unwrap();
        });
        grandchild.start().unwrap();
        sleep(Duration::from_secs(60)); // until killed
    });
    middle.start().unwrap();
    assert!(ready.wait_timeout(Duration::from_secs(30)));
    middle.kill().unwrap();
    middle.join().unwrap();
    assert!(
        done.get_timeout(Duration::from_secs(30)).unwrap(),
        "alive, then seen gone"
    );
}

/// CPython's `test_many_processes`: a hundred children at once, first let
/// go to exit 0, then terminated (-15), every one reaped.
fn many_processes() {
    // A hundred children waiting for `event`, started.
    let hundred = |event: &Event| -> Vec<Process> {
        let mut procs: Vec<Process> = (0..100)
            .map(|_| {
                let event = event.clone();
                Process::new(move || event.wait())
            })
            .collect();
        procs.iter_mut().for_each(|p| p.start().unwrap());
        procs
    };
    let go = Event::new().unwrap();
    let procs = hundred(&go);
    go.set();
    for p in &procs {
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(0), "{p}");
    }
    let procs = hundred(&Event::new().unwrap()); // never set
    procs.iter().for_each(|p| p.terminate().unwrap());
    for p in &procs {
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(-15), "{p}");
    }
    assert!(active_children().is_empty());
}

fn active_children_lists_the_live_ones() {
    let mut quick = Process::new(|| ());
    let mut slow = Process::new(|| sleep(Duration::from_secs(10)));
    quick.start().unwrap();
    slow.start().unwrap();
    quick.join().unwrap();
    let names: Vec<String> = active_children()
        .iter()
        .map(|p| p.name().to_owned())
        .collect();
    assert_eq!(names, vec![slow.name().to_owned()]);
    slow.kill().unwrap();
    slow.join().unwrap();
    assert!(active_children().is_empty());

    // As in CPython, a terminated child is seen dead as soon as it is, with
    // no `join`: `is_alive` and `active_children` ask the kernel each time.
    let mut doomed = Process::new(|| sleep(Duration::from_secs(60)));
    doomed.start().unwrap();
    doomed.terminate().unwrap();
    wait_until_dead(&doomed);
    assert_eq!(doomed.exitcode(), Some(-15));
    assert!(active_children().is_empty(), "a dead child is not active");
    assert!(
        doomed.to_string().ends_with("stopped exitcode=-SIGTERM>"),
        "{doomed}"
    );
}

fn main_exit_terminates_daemons_and_joins_the_rest() {
    let run = scenario("main_exit", LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert!(!run.left_behind, "a child outlived the program: {run:?}");
    let lines = run.lines();
    assert!(lines.contains(&"non-daemon done"), "{run:?}");
    assert!(lines.contains(&"daemon started"), "{run:?}");
    assert!(!lines.contains(&"daemon done"), "{run:?}");
    let want = [
        "[INFO/MainProcess] process shutting down",
        "[DEBUG/MainProcess] running all \"atexit\" finalizers with priority >= 0",
        "[INFO/MainProcess] calling terminate() for daemon sleepy",
        "[INFO/MainProcess] calling join() for process sleepy",
        "[INFO/MainProcess] calling join() for process busy",
        "[DEBUG/MainProcess] running the remaining \"atexit\" finalizers",
    ];
    let main_lines: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("/MainProcess]"))
        .collect();
    // As in CPython, only children still alive are named: the terminated
    // daemon usually is, for a moment, but on a busy or single CPU it may
    // already have died, and then its "calling join()" line is absent.
    let without: Vec<&str> = want
        .iter()
        .copied()
        .filter(|l| !l.contains("join() for process sleepy"))
        .collect();
    assert!(main_lines == want || main_lines == without, "{run:?}");
    let done = lines.iter().position(|l| *l == "non-daemon done").unwrap();
    let last = lines
        .iter()
        .position(|l| l.contains("running the remaining"))
        .unwrap();
    assert!(done < last, "main waited for the non-daemon child");
}

fn daemons_die_with_a_killed_parent() {
    let run = scenario("killed_parent", LIMIT);
    assert!(
        !run.left_behind,
        "the daemon outlived its SIGKILLed parent: {run:?}"
    );
    assert!(run.output.contains("daemon started"), "{run:?}");
}

fn main_returning_an_error_prints_cpythons_sentence() {
    let run = scenario("main_error", LIMIT);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert_eq!(run.output, "Error: can only join a started process\n");
}

fn no_child_left_behind() {
    // Every check joined what it started: nothing for us to reap.
    assert!(matches!(
        waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)),
        Err(nix::errno::Errno::ECHILD)
    ));
}

fn builders_say_what_they_refuse() {
    let run = scenario("late_builders", LIMIT);
    assert!(run.status.success(), "{run:?}");
    let expected = [
        "Process-1: daemon() refused: process has already started; nothing changed (`set_daemon` returns this error)",
        "Process-2: named() refused: process object is closed; nothing changed (`set_name` returns this error)",
        "daemon after start: False",
        "name after close: Process-2",
    ];
    assert_eq!(run.lines(), expected, "{}", run.output);
}

fn run_scenario(name: &str) -> Result<(), Error> {
    match name {
        "late_builders" => {
            let mut started = Process::new(|| ());
            started.start()?;
            started.join()?;
            let started = started.daemon(true);
            let mut closed = Process::new(|| ());
            closed.close()?;
            let closed = closed.named("late");
            println!(
                "daemon after start: {}",
                shared::py::py_bool(started.is_daemon())
            );
            println!("name after close: {}", closed.name());
        }
        "failures" => {
            // A panic hook of the program's own, set before the first child:
            // the main process's panics still reach it; the children's are
            // kept, and printed under `Process <name>:`.
            std::panic::set_hook(Box::new(|_| println!("the program's own hook")));
            let mut raises = Process::new(|| Err::<(), _>("There was an error!")).named("raises");
            let mut panics = Process::new(|| -> () { panic!("boom") }).named("panics");
            // Any `Result<T, E: Display>` is a target, `T` no serde type.
            let mut opens = Process::new(|| std::fs::File::open("/no/such/file")).named("opens");
            for p in [&mut raises, &mut panics, &mut opens] {
                p.start()?;
                p.join()?;
                println!("{}.exitcode = {}", p.name(), p.exitcode().unwrap());
            }
            let _ = std::panic::catch_unwind(|| panic!("in the main process"));
        }
        "nested_names" => {
            Process::new(|| ()); // Process-1
            Process::new(|| ()).named("named"); // Process-2, named
            let mut child = Process::new(|| -> Result<(), Error> {
                let parent = parent_process()
                    .map(|p| p.name().to_owned())
                    .unwrap_or_default();
                println!("child: {} parent: {parent}", current_process().name());
                let mut grandchild = Process::new(|| {
                    let parent = parent_process().unwrap();
                    println!(
                        "grandchild: {} parent: {}",
                        current_process().name(),
                        parent.name()
                    );
                    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
                    println!("thread name: {}", comm.trim_end());
                });
                grandchild.start()?;
                grandchild.join()
            });
            child.start()?;
            child.join()?;
        }
        "main_exit" => {
            shared::log_to_stderr(LevelFilter::Debug);
            let started = Event::new()?;
            let daemon_started = started.clone();
            let mut sleepy = Process::new(move || {
                println!("daemon started");
                daemon_started.set();
                sleep(Duration::from_secs(20));
                println!("daemon done");
            })
            .named("sleepy")
            .daemon(true);
            let mut busy = Process::new(|| {
                sleep(Duration::from_millis(500));
                println!("non-daemon done");
            })
            .named("busy");
            sleepy.start()?;
            busy.start()?;
            // The daemon has printed its line: now it is alive for sure.
            assert!(started.wait_timeout(Duration::from_secs(20)));
            // Return with both alive and never joined.
        }
        "killed_parent" => {
            let started = Event::new()?;
            let daemon_started = started.clone();
            let mut sleepy = Process::new(move || {
                println!("daemon started");
                daemon_started.set();
                sleep(Duration::from_secs(20));
            })
            .daemon(true);
            sleepy.start()?;
            assert!(started.wait_timeout(Duration::from_secs(20)));
            nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL)?;
        }
        "main_error" => {
            let p = Process::new(|| ());
            p.join()?; // never started
        }
        other => panic!("unknown scenario {other}"),
    }
    Ok(())
}

fn main() {
    testkit::test_main(
        testkit::checks![
            states_before_during_after,
            join_timeout_returns_while_alive,
            kill_gives_minus_nine,
            closed_std_streams_do_not_change_the_exit_code,
            exit_codes,
            failures_print_name_and_message,
            names_and_counters,
            misuse_is_an_error,
            builders_say_what_they_refuse,
            sigchld_ignored_is_reported,
            sentinels_say_which_child_ended,
            a_child_can_wait_for_its_parent,
            many_processes,
            active_children_lists_the_live_ones,
            main_exit_terminates_daemons_and_joins_the_rest,
            daemons_die_with_a_killed_parent,
            main_returning_an_error_prints_cpythons_sentence,
            no_child_left_behind,
        ],
        run_scenario,
    );
}
