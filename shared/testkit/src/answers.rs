//! Every answer of a chapter's guide, checked by running it, so that no
//! guide can go stale.
//!
//! A guide's **Try this** that edits its program carries the edit as a
//! ` ```diff ` block (a unified diff of `src/bin/NAME.rs`, as `diff -u`
//! makes it), and a run other than the plain one as a ` ```console ` block
//! of `$ ` lines. Every answer, in the guide's **Answers** part, quotes
//! what a run must show in ` ```text ` blocks, whose info string says how
//! its lines are matched (`[..]` stands for any text, as in the headers):
//!
//! | block | its lines |
//! |---|---|
//! | ` ```text ` | each appears in every run, anywhere |
//! | ` ```text in order ` | appear in every run, in this order (others may come between) |
//! | ` ```text whole ` | are the whole output of every run (a line `...` for any lines) |
//! | ` ```text absent ` | appear in no run |
//! | ` ```text varies ` | each appears in at least one of twenty runs: timing decides |
//! | ` ```text not always ` | each is missing from at least one of twenty runs: timing decides |
//! | ` ```text compile ` | the edit does not build, and the compiler says these |
//!
//! A block whose first line is `$ ` and a command checks that command's
//! run (one of the question's console block); otherwise the question's
//! first command, or the plain run of the section (edited, for a Try
//! this). The edited programs are built together, in a scratch workspace
//! under `target/guide-answers` (one target directory for every chapter),
//! as bins `NAME_try_this` of a package `answers-CHAPTER` that has the
//! chapter's own dependencies and the chapter itself (for its library).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::{Run, prints, run_command};

/// How long one run of an answer may take.
const LIMIT: Duration = Duration::from_secs(60);

/// How many runs a `varies` block gets to show each of its lines, and a
/// `not always` block to miss each (the runs stop once all have).
const TRIES: usize = 20;

/// What one question of the guide says and asks.
struct Question {
    /// `1. thread_workers`, for messages.
    title: String,
    bin: String,
    /// The edit, a unified diff, for a Try this that edits.
    diff: Option<String>,
    /// The `$ ` lines of its console block: the commands to run.
    commands: Vec<String>,
    blocks: Vec<Block>,
}

/// A ` ```text ` block of an answer.
struct Block {
    mode: String,
    command: Option<String>,
    lines: Vec<String>,
}

const MODES: [&str; 7] = [
    "",
    "in order",
    "whole",
    "absent",
    "varies",
    "not always",
    "compile",
];

/// The fenced blocks of `text`: each one's info string and lines.
fn fences(text: &str) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    let mut open: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_owned(), Vec::new())),
            (Some(_), Some("")) => found.extend(open.take()),
            (Some((_, lines)), _) => lines.push(line.to_owned()),
            (None, None) => {}
        }
    }
    found
}

/// The questions of the guide at `dir`, with their answers.
fn questions(chapter: &str, guide: &str) -> Vec<Question> {
    let (body, answers) = guide
        .split_once("\n## Answers\n")
        .unwrap_or_else(|| panic!("{chapter}: the guide has no `## Answers` part"));
    let mut answered: BTreeMap<String, Vec<Block>> = BTreeMap::new();
    for part in answers.split("\n### ").skip(1) {
        let heading = part.lines().next().unwrap_or_default().to_owned();
        let blocks = fences(part)
            .into_iter()
            .filter_map(|(info, lines)| {
                let mode = info.strip_prefix("text")?.trim().to_owned();
                assert!(
                    MODES.contains(&mode.as_str()),
                    "{chapter}, {heading}: ```text {mode}?"
                );
                let (command, lines) = match lines.split_first() {
                    Some((first, rest)) if first.starts_with("$ ") => {
                        (Some(first[2..].to_owned()), rest.to_vec())
                    }
                    _ => (None, lines),
                };
                Some(Block {
                    mode,
                    command,
                    lines,
                })
            })
            .collect();
        answered.insert(heading, blocks);
    }
    let mut questions = Vec::new();
    for part in body.split("\n## ").skip(1).filter(|p| p.contains(". `")) {
        let heading = part.lines().next().unwrap_or_default();
        let number = heading.split('.').next().unwrap_or_default();
        let bin = heading.split('`').nth(1).unwrap_or_default().to_owned();
        let (predict, try_this) = part
            .split_once("**Try this:**")
            .unwrap_or_else(|| panic!("{chapter}, {heading}: no Try this"));
        for (kind, asked) in [("predict", predict), ("try this", try_this)] {
            let title = format!("{number}. `{bin}`: {kind}");
            let blocks = answered
                .remove(&title)
                .unwrap_or_else(|| panic!("{chapter}: no answer headed `### {title}`"));
            assert!(
                !blocks.is_empty(),
                "{chapter}, {title}: the answer quotes nothing a run could check"
            );
            let fenced = fences(asked);
            let diff = fenced.iter().find(|(info, _)| info == "diff");
            let console = fenced.iter().find(|(info, _)| info == "console");
            questions.push(Question {
                title: format!("{number}. {bin}, {kind}"),
                bin: bin.clone(),
                diff: diff.map(|(_, lines)| lines.join("\n") + "\n"),
                commands: console.map_or_else(Vec::new, |(_, lines)| {
                    let commands = lines.iter().filter_map(|l| l.strip_prefix("$ "));
                    commands.map(str::to_owned).collect()
                }),
                blocks,
            });
        }
    }
    assert!(
        answered.is_empty(),
        "{chapter}: answers with no question: {:?}",
        answered.keys().collect::<Vec<_>>()
    );
    questions
}

/// The workspace's root, and its `target/<profile>` (beside this test).
fn places() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().expect("this test's path");
    let bins = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    (root.canonicalize().expect("the workspace"), bins.to_owned())
}

/// Check every answer of the guide of the chapter at `manifest_dir` by
/// running what it answers (see the module docs); panics with the section,
/// the quoted line and what ran instead.
pub fn check_answers(manifest_dir: &str) {
    let dir = Path::new(manifest_dir);
    let chapter = dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a chapter folder");
    let guide = std::fs::read_to_string(dir.join("README.md")).expect("the chapter's README.md");
    let questions = questions(chapter, &guide);
    let (root, bins) = places();
    let edited = build_edits(chapter, dir, &root, &bins, &questions);
    let mut failures = Vec::new();
    for question in &questions {
        let program = match &question.diff {
            None => bins.join(&question.bin),
            Some(_) => match &edited[&question.bin] {
                Ok(exe) => exe.clone(),
                Err(compiler) => {
                    failures.extend(check_compile(question, compiler));
                    continue;
                }
            },
        };
        failures.extend(check_runs(chapter, question, &root, &program));
    }
    assert!(
        failures.is_empty(),
        "{chapter}: {} answer(s) no longer hold:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Build every edited program of the chapter (the Try this diffs, each
/// applied to its section's file), all at once; each bin's path, or the
/// compiler's words if it does not build.
fn build_edits(
    chapter: &str,
    dir: &Path,
    root: &Path,
    bins: &Path,
    questions: &[Question],
) -> BTreeMap<String, Result<PathBuf, String>> {
    let scratch = bins.join("../guide-answers");
    let package = scratch.join(format!("answers-{chapter}"));
    std::fs::create_dir_all(&scratch).expect("the scratch workspace");
    write_workspace(&scratch, root);
    let _ = std::fs::remove_dir_all(package.join("src"));
    std::fs::create_dir_all(package.join("src/bin")).expect("the scratch package");
    let own = std::fs::read_to_string(dir.join("Cargo.toml")).expect("the chapter's Cargo.toml");
    let deps: String = table(&own, "[dependencies]");
    let manifest = format!(
        "[package]\nname = \"answers-{chapter}\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\
         publish = false\nautobins = false\n\n[dependencies]\n{chapter} = {{ path = {:?} }}\n{deps}\n",
        dir.display().to_string()
    );
    let mut manifest = manifest;
    let mut edits = Vec::new();
    for q in questions.iter().filter(|q| q.diff.is_some()) {
        let source = dir.join(format!("src/bin/{}.rs", q.bin));
        let original = std::fs::read_to_string(&source).expect("the section's file");
        let diff = q.diff.as_deref().expect("filtered");
        let patch = diffy::Patch::from_str(diff)
            .unwrap_or_else(|e| panic!("{chapter}, {}: the diff does not parse: {e}", q.title));
        let wanted = format!("b/src/bin/{}.rs", q.bin);
        assert!(
            patch.modified().is_some_and(|m| m == wanted),
            "{chapter}, {}: the diff must edit src/bin/{}.rs (`+++ {wanted}`)",
            q.title,
            q.bin
        );
        let edited = diffy::apply(&original, &patch).unwrap_or_else(|e| {
            panic!(
                "{chapter}, {}: the diff no longer applies to {}: {e}",
                q.title,
                source.display()
            )
        });
        let name = format!("{}_try_this", q.bin);
        std::fs::write(package.join(format!("src/bin/{name}.rs")), edited).expect("write");
        manifest.push_str(&format!(
            "\n[[bin]]\nname = {name:?}\npath = \"src/bin/{name}.rs\"\n"
        ));
        edits.push((
            q.bin.clone(),
            name,
            q.blocks.iter().any(|b| b.mode == "compile"),
        ));
    }
    std::fs::write(package.join("Cargo.toml"), manifest).expect("write");
    let cargo = |names: &[&String]| {
        let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        command
            .args(["build", "--offline", "--manifest-path"])
            .arg(package.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", scratch.join("target"));
        for name in names {
            command.args(["--bin", name]);
        }
        command.output().expect("cargo")
    };
    let mut built = BTreeMap::new();
    let building: Vec<&String> = edits.iter().filter(|e| !e.2).map(|e| &e.1).collect();
    if !building.is_empty() {
        let out = cargo(&building);
        assert!(
            out.status.success(),
            "{chapter}: an edited program does not build:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for (bin, name, fails) in edits {
        let exe = scratch.join("target/debug").join(&name);
        let result = match fails {
            false => Ok(exe),
            true => {
                let out = cargo(&[&name]);
                match out.status.success() {
                    true => Ok(exe),
                    false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
                }
            }
        };
        built.insert(bin, result);
    }
    built
}

/// The scratch workspace: the real one's dependency table, its paths made
/// absolute, and its lock file, so the same versions build offline.
fn write_workspace(scratch: &Path, root: &Path) {
    let top = std::fs::read_to_string(root.join("Cargo.toml")).expect("the workspace's Cargo.toml");
    let deps: String = table(&top, "[workspace.dependencies]")
        .lines()
        .map(|line| match line.split_once("path = \"") {
            Some((before, after)) => format!("{before}path = \"{}/{after}", root.display()),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let manifest = format!(
        "[workspace]\nresolver = \"3\"\nmembers = [\"answers-*\"]\n\n[workspace.dependencies]\n{deps}\n"
    );
    std::fs::write(scratch.join("Cargo.toml"), manifest).expect("write");
    // Packages left by a checkout elsewhere (a target directory copied or
    // reused) name that checkout's crates: they go.
    let here = root.display().to_string();
    for entry in std::fs::read_dir(scratch).into_iter().flatten().flatten() {
        let manifest = std::fs::read_to_string(entry.path().join("Cargo.toml"));
        let ours = manifest.is_ok_and(|m| m.contains(&here));
        if entry.file_name().to_string_lossy().starts_with("answers-") && !ours {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    // The project's own lock, each time, for the same reason.
    std::fs::copy(root.join("Cargo.lock"), scratch.join("Cargo.lock")).expect("the lock file");
}

/// The lines of a TOML table, up to the next one.
fn table(toml: &str, name: &str) -> String {
    let lines = toml.lines().skip_while(|l| l.trim() != name).skip(1);
    let lines = lines.take_while(|l| !l.starts_with('['));
    lines.collect::<Vec<_>>().join("\n")
}

/// An edit the answer says does not build: it must not, and the compiler
/// must say what the answer quotes.
fn check_compile(question: &Question, compiler: &str) -> Vec<String> {
    let mut failures = Vec::new();
    for block in &question.blocks {
        if block.mode != "compile" {
            failures.push(format!(
                "{}: a `{}` block, but the edit does not build",
                question.title, block.mode
            ));
            continue;
        }
        for line in &block.lines {
            if !prints(compiler, line) {
                failures.push(format!(
                    "{}: the compiler never says `{line}`; it said:\n{compiler}",
                    question.title
                ));
            }
        }
    }
    failures
}

/// Run what each block of `question` checks, and check it.
fn check_runs(chapter: &str, question: &Question, root: &Path, program: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    let mut by_command: BTreeMap<Option<String>, Vec<&Block>> = BTreeMap::new();
    for block in &question.blocks {
        let command = block
            .command
            .clone()
            .or_else(|| question.commands.first().cloned());
        by_command.entry(command).or_default().push(block);
    }
    for (command, blocks) in by_command {
        if blocks.iter().any(|b| b.mode == "compile") {
            failures.push(format!(
                "{}: the answer says the edit does not build, but it does",
                question.title
            ));
            continue;
        }
        let shown = command.as_deref().unwrap_or("the plain run");
        if command.as_deref().is_some_and(|c| c.contains("python3")) && crate::python().is_none() {
            eprintln!(
                "{chapter}, {}: not checked: python3 is not here",
                question.title
            );
            continue;
        }
        let loose = |mode: &str| -> Vec<&String> {
            let blocks = blocks.iter().filter(|b| b.mode == mode);
            blocks.flat_map(|b| &b.lines).collect()
        };
        let (mut unseen, mut always) = (loose("varies"), loose("not always"));
        let tries = if unseen.is_empty() && always.is_empty() {
            1
        } else {
            TRIES
        };
        let mut runs: Vec<Run> = Vec::new();
        for _ in 0..tries {
            let run = run_one(command.as_deref(), root, program)
                .unwrap_or_else(|why| panic!("{chapter}, {}: {why}", question.title));
            unseen.retain(|line| !prints(&run.output, line));
            always.retain(|line| prints(&run.output, line));
            runs.push(run);
            if unseen.is_empty() && always.is_empty() {
                break;
            }
        }
        let fail = |what: String, run: &Run| {
            format!(
                "{} ({shown}): {what}; what ran instead:\n{}",
                question.title, run.output
            )
        };
        for line in unseen {
            failures.push(fail(
                format!("no run of {} printed `{line}`", runs.len()),
                &runs[0],
            ));
        }
        for line in always {
            failures.push(fail(
                format!("every run of {} printed `{line}`", runs.len()),
                &runs[0],
            ));
        }
        for run in &runs {
            for block in &blocks {
                let failed = match block.mode.as_str() {
                    "" => block
                        .lines
                        .iter()
                        .find(|l| !prints(&run.output, l))
                        .map(|l| format!("the answer quotes `{l}`")),
                    "absent" => block
                        .lines
                        .iter()
                        .find(|l| prints(&run.output, l))
                        .map(|l| format!("the answer says `{l}` never shows")),
                    "in order" => (!in_order(&run.output, &block.lines))
                        .then(|| format!("the answer quotes, in this order: {:?}", block.lines)),
                    "whole" => (!whole(&run.output, &block.lines))
                        .then(|| format!("the answer quotes the whole output: {:?}", block.lines)),
                    _ => None,
                };
                failures.extend(failed.map(|what| fail(what, run)));
            }
        }
    }
    failures
}

/// Run `command` (a console line, its `cargo run … --bin NAME` standing for
/// `program`) from the workspace's root, or `program` alone.
fn run_one(command: Option<&str>, root: &Path, program: &Path) -> Result<Run, String> {
    let line = match command {
        None => format!("'{}'", program.display()),
        Some(line) => match line.find("cargo run") {
            None => line.to_owned(),
            Some(at) => {
                let rest = &line[at..];
                let after_bin = rest.split_once(" --bin ").map_or("", |(_, r)| r);
                let after_name = after_bin.split_once(' ').map_or("", |(_, r)| r);
                let args = after_name.strip_prefix("-- ").unwrap_or(after_name);
                format!("{}'{}' {args}", &line[..at], program.display())
            }
        },
    };
    let mut sh = Command::new("sh");
    sh.args(["-c", &line]).current_dir(root);
    run_command(sh, LIMIT, true)
}

/// Whether `lines` appear in `output` in this order.
fn in_order(output: &str, lines: &[String]) -> bool {
    let mut rest = output.lines();
    lines
        .iter()
        .all(|want| rest.any(|line| matches(line, want)))
}

/// Whether `line` is `pattern`, where `[..]` stands for any text.
fn matches(line: &str, pattern: &str) -> bool {
    let mut parts = pattern.split("[..]");
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Whether `lines` are the whole of `output` (`...` for any lines).
fn whole(output: &str, lines: &[String]) -> bool {
    let expected = snapbox::Data::text(lines.join("\n") + "\n");
    let actual = snapbox::Data::text(output.to_owned());
    snapbox::Assert::new()
        .action(snapbox::assert::Action::Verify)
        .try_eq(None, actual, expected)
        .is_ok()
}
