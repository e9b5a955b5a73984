//! Memory with a name: a block made by the parent, written by a child
//! that attaches to it by name, read back; a `ShareableList` changed by a
//! child; and the same block attached from Python by its name.
//!
//! Python twin: `python/shared_memory.py` (beyond the tutorials: the
//! CPython docs, `multiprocessing.shared_memory`, whose example this is).
//!
//! ```console
//! $ cargo run -p examples-ipc --bin shared_memory
//! the child sees [22, 33, 44, 55, 100]
//! the parent reads b'howdy'
//! python, attached by name, sees b'howdy'
//! the list after the child: ['HOWDY', 43, 0.5, True, None]
//! ```
//! Where Rust differs: the block is no `buf` to slice but bytes copied
//! out and in (`read`, `write`, as atomic words), since another process
//! may change them at any moment; `main` calls `freeze_support` first,
//! because the resource tracker that unlinks leaked blocks is this program
//! run again (CPython's is a fresh interpreter); without `python3` the
//! third line says it was not found.

use std::process::Command;

use shared::shared_memory::{Item, ShareableList, SharedMemory};
use shared::{Error, Process};

/// Python 3.11 attaches, prints, and forgets the block: its resource
/// tracker would otherwise unlink it when Python exits (3.13 adds
/// `track=False` for that).
const PYTHON: &str = "
import sys
from multiprocessing import resource_tracker, shared_memory
shm = shared_memory.SharedMemory(sys.argv[1])
resource_tracker.unregister(shm._name, 'shared_memory')
print('python, attached by name, sees', bytes(shm.buf[:5]))
";

fn child_writes(name: String) -> Result<(), Error> {
    let shm = SharedMemory::attach(&name)?; // by name: nothing inherited
    let mut seen = [0u8; 5];
    shm.read(0, &mut seen);
    println!("the child sees {seen:?}");
    shm.write(0, b"howdy");
    Ok(())
}

fn child_changes_the_list(name: String) -> Result<(), Error> {
    let sl = ShareableList::attach(&name)?;
    sl.set(0, &Item::Str("HOWDY".to_owned()))?;
    sl.set(1, &Item::Int(43))?;
    Ok(())
}

fn main() -> Result<(), Error> {
    shared::freeze_support(); // the resource tracker stops here, and works
    let shm = SharedMemory::create(10)?;
    shm.write(0, &[22, 33, 44, 55, 100]);
    let name = shm.name().to_owned();
    let mut p = Process::new(move || child_writes(name));
    p.start()?;
    p.join()?;
    let mut read = [0u8; 5];
    shm.read(0, &mut read);
    println!("the parent reads b'{}'", read.escape_ascii());

    match Command::new("python3")
        .args(["-c", PYTHON, shm.name()])
        .status()
    {
        Ok(_) => {}
        Err(_) => println!("python3 not found: no Python to attach the block by name"),
    }
    shm.unlink()?; // once, by one process: the name goes, and the memory with the last user

    let items = [
        Item::Str("howdy".to_owned()),
        Item::Int(42),
        Item::Float(0.5),
        Item::Bool(true),
        Item::None,
    ];
    let sl = ShareableList::create(&items)?;
    let name = sl.shm().name().to_owned();
    let mut p = Process::new(move || child_changes_the_list(name));
    p.start()?;
    p.join()?;
    let now: Vec<String> = (0..sl.len())
        .map(|i| sl.get(i).map(|item| item.to_string()))
        .collect::<Result<_, _>>()?;
    println!("the list after the child: [{}]", now.join(", "));
    sl.shm().unlink()?;
    Ok(())
}
