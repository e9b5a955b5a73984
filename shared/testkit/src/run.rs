//! One way to run a section: a command with stdout and stderr in one pipe
//! (as a terminal shows them, interleaved), for at most a time limit, and
//! for a test in a process group of its own (so a run can tell whether it
//! left a process behind, and clean up). The chapter tests, the guide's
//! answers and the instructor's `side_by_side` all run sections this way.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// What a run of a section showed.
#[derive(Debug)]
pub struct Run {
    /// How it exited.
    pub status: ExitStatus,
    /// stdout and stderr interleaved as written, as a terminal shows them.
    pub output: String,
    /// Whether a process of its group outlived it.
    pub left_behind: bool,
}

impl Run {
    /// The output's lines.
    pub fn lines(&self) -> Vec<&str> {
        self.output.lines().collect()
    }
}

/// Run `command` as a section: its output in one pipe, for at most
/// `limit`. With `own_group` it runs in a process group of its own, whose
/// every process is killed if the run goes over the limit, and which
/// `left_behind` looks at; without it (an instructor's run at a terminal)
/// it stays in ours, so that Ctrl-C reaches it too.
pub fn run_command(mut command: Command, limit: Duration, own_group: bool) -> Result<Run, String> {
    let what = format!("{:?}", command.get_program());
    let (mut reader, writer) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let err_writer = writer.try_clone().map_err(|e| format!("pipe: {e}"))?;
    command
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(err_writer);
    if own_group {
        command.process_group(0);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    drop(command); // closes our copies of the pipe's write end
    let group = Pid::from_raw(child.id() as i32);

    let (tx, rx) = mpsc::channel();
    let reading = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    let output = rx.recv_timeout(limit);
    if output.is_err() {
        match own_group {
            true => drop(killpg(group, Signal::SIGKILL)),
            false => drop(child.kill()),
        }
    }
    let status = child.wait().map_err(|e| format!("wait for {what}: {e}"))?;
    let _ = reading.join();
    let output = output.map_err(|_| format!("{what} ran over {limit:?}"))?;
    // The pipe closes when the last process holding it exits; a straggler
    // may need a moment more to die. Wait (at most 2 s) for each to end, on
    // a pidfd, which turns readable when its process exits, then look again.
    for pid in live_members(group).into_iter().filter(|_| own_group) {
        let pid = rustix::process::Pid::from_raw(pid.as_raw());
        let flags = rustix::process::PidfdFlags::empty();
        if let Some(pidfd) = pid.and_then(|pid| rustix::process::pidfd_open(pid, flags).ok()) {
            let _ = poll(
                &mut [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)],
                PollTimeout::from(2000u16),
            );
        }
    }
    let left_behind = own_group && !live_members(group).is_empty();
    if left_behind {
        let _ = killpg(group, Signal::SIGKILL);
    }
    Ok(Run {
        status,
        output,
        left_behind,
    })
}

/// The processes of `group` that are still running (zombies, already dead
/// and waiting to be reaped by whoever adopted them, do not count).
pub fn live_members(group: Pid) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            // /proc/<pid>/stat: `pid (comm) state ppid pgrp ...`; comm may hold spaces.
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            let fields: Vec<&str> = after.split_whitespace().collect();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == group.as_raw().to_string()
        })
        .map(Pid::from_raw)
        .collect()
}
