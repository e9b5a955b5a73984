//! Named shared memory (Python's `multiprocessing.shared_memory`): a block
//! of bytes with a name, which any process can attach to by that name (no
//! inheritance needed), a Python one included.
//!
//! | Python | here |
//! |---|---|
//! | `SharedMemory(create=True, size=n)`, `SharedMemory(name, create=True, size=n)` | [`SharedMemory::create`]`(n)`, [`SharedMemory::create_named`]`(name, n)` |
//! | `SharedMemory(name)` | [`SharedMemory::attach`]`(name)` |
//! | `shm.name`, `shm.size`, `shm.close()`, `shm.unlink()` | [`SharedMemory::name`], [`SharedMemory::size`], [`SharedMemory::close`], [`SharedMemory::unlink`] |
//! | `bytes(shm.buf[a:b])`, `shm.buf[a:b] = data`, `bytes(shm.buf)` | [`SharedMemory::read`], [`SharedMemory::write`], [`SharedMemory::to_vec`] |
//! | `ShareableList([1, 'a', None])`, `ShareableList(name=n)` | [`ShareableList::create`], [`ShareableList::attach`] |
//! | `sl[i]`, `sl[i] = v`, `len(sl)` | [`ShareableList::get`], [`ShareableList::set`], [`ShareableList::len`] |
//!
//! # How it works
//!
//! A block is a file in `/dev/shm`, a file system that lives in memory,
//! opened with `shm_open` under a name such as `psm_1a2b3c4d` (CPython's
//! form, so either language finds the other's blocks) and mapped
//! `MAP_SHARED`: every process that maps it sees the same pages.
//!
//! # Memory another process writes at any time
//!
//! Rust's references promise that nothing changes what a `&[u8]` shows
//! while it lives, and nothing else reads what a `&mut [u8]` may change;
//! another process, which Rust cannot see, breaks both. So the block is
//! never a slice: [`read`](SharedMemory::read) and
//! [`write`](SharedMemory::write) copy bytes out and in, 8 at a time, as
//! atomic loads and stores of whole words (every access the same size, so
//! even two threads of one process that read and write at once are
//! defined), which cost what plain loads and stores cost on this machine.
//! What that does not give is agreement on a value of several words: a
//! reader may see half of a writer's change. Order them with a lock or an
//! event, as Python's users must too.
//!
//! # Leaks
//!
//! A block outlives the processes using it until it is unlinked. As in
//! CPython, a *resource tracker* (`resource_tracker.rs`), a small process
//! started with the first block a process creates, unlinks every block
//! the program created and did not unlink, once the program has ended,
//! however it ended (SIGKILL included), with CPython's warning
//! (`resource_tracker: There appear to be N leaked shared_memory objects
//! to clean up at shutdown`). "The program" is the creating process and
//! the children it starts after, by any start method, and theirs; a child
//! started before the first block has a tracker of its own for the blocks
//! it creates. A block only attached is
//! never unlinked by the attacher (CPython's tracker does unlink those in
//! 3.11 and 3.12; 3.13 added `track=False` to ask it not to).
//!
//! The tracker is this program run again, as a spawned child is: a
//! program that creates blocks calls [`freeze_support`](crate::freeze_support)
//! first in `main`, where the tracker stops to do its work.
//!
//! # Limits
//!
//! A block's pages are reserved when it is made, so a full `/dev/shm` is
//! an error at `create`. One thing no check can make safe, here or in
//! CPython: another process that *shrinks* a block (`ftruncate`) after
//! this one attached to it; touching a page past the new end then kills
//! this process with SIGBUS.

use std::fmt;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::Mode;
use rustix::shm;

use crate::Error;
use crate::sys::SharedSlice;

/// CPython's longest safe name, `psm_` and eight hex digits.
const NAME_LENGTH: usize = 14;

/// Python's `multiprocessing.shared_memory.SharedMemory`: a block of
/// shared bytes with a name.
pub struct SharedMemory {
    name: String,
    size: usize,
    /// Its inode in `/dev/shm`: which block the name named when this one
    /// was made or attached (the resource tracker's key).
    inode: u64,
    /// The block as 8-byte words, the last one running past its end into
    /// the rest of its page (which reads as zeros, and keeps no write).
    words: SharedSlice<AtomicU64>,
}

impl SharedMemory {
    /// A new block of `size` zero bytes under a fresh name (Python:
    /// `SharedMemory(create=True, size=size)`).
    pub fn create(size: usize) -> Result<SharedMemory, Error> {
        loop {
            let name = fresh_name()?;
            match SharedMemory::create_named(&name, size) {
                Err(e) if e.errno() == Some(nix::errno::Errno::EEXIST) => continue,
                made => return made,
            }
        }
    }

    /// A new block of `size` zero bytes named `name` (Python:
    /// `SharedMemory(name, create=True, size=size)`); `FileExistsError`
    /// if the name is taken.
    pub fn create_named(name: &str, size: usize) -> Result<SharedMemory, Error> {
        if size == 0 {
            return Err(Error::InvalidArgument(
                "ValueError: 'size' must be a positive number different from zero",
            ));
        }
        if !crate::process::spawn::freeze_support_called() {
            return Err(Error::Spawn(
                "creating named shared memory starts a resource tracker, which is this \
                 program run again: call shared::freeze_support() first in main"
                    .into(),
            ));
        }
        let flags = shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR;
        let file = shm::open(slashed(name), flags, Mode::RUSR | Mode::WUSR)
            .map_err(std::io::Error::from)?;
        // `fallocate`, not just `ftruncate`: the pages are reserved now, so a
        // full `/dev/shm` is an error here, not a SIGBUS at the first write.
        let reserve = rustix::fs::FallocateFlags::empty();
        let made = rustix::fs::fallocate(&file, reserve, 0, size as u64)
            .and_then(|()| rustix::fs::fstat(&file))
            .map_err(std::io::Error::from)
            .and_then(|stat| Ok((stat.st_ino, SharedSlice::from_file(file, size.div_ceil(8))?)));
        // Unlinked by the tracker if this program leaves it; a block that
        // cannot be tracked is not made (as CPython: a block half made goes).
        let tracked = made.map_err(Error::from).and_then(|(inode, words)| {
            crate::resource_tracker::register(name, inode).map(|()| (inode, words))
        });
        match tracked {
            Ok((inode, words)) => {
                let name = name.to_owned();
                Ok(SharedMemory {
                    name,
                    size,
                    inode,
                    words,
                })
            }
            Err(e) => {
                let _ = shm::unlink(slashed(name));
                Err(e)
            }
        }
    }

    /// Attach to the block named `name`, made by this program or another,
    /// in any language (Python: `SharedMemory(name)`); `FileNotFoundError`
    /// if there is none.
    pub fn attach(name: &str) -> Result<SharedMemory, Error> {
        let file: OwnedFd = shm::open(slashed(name), shm::OFlags::RDWR, Mode::empty())
            .map_err(std::io::Error::from)?;
        let stat = rustix::fs::fstat(&file).map_err(std::io::Error::from)?;
        let (size, inode) = (stat.st_size as usize, stat.st_ino);
        let words = SharedSlice::from_file(file, size.div_ceil(8))?;
        let name = name.to_owned();
        Ok(SharedMemory {
            name,
            size,
            inode,
            words,
        })
    }

    /// The block's name, without the leading `/` (Python: `name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its size in bytes (Python: `size`).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Copy `out.len()` bytes from `offset` out of the block (Python:
    /// `bytes(shm.buf[offset:offset + len(out)])`); panics past its end,
    /// as slicing does. A word (8 bytes) at a time, each an atomic load.
    pub fn read(&self, offset: usize, out: &mut [u8]) {
        let end = self.checked_end(offset, out.len());
        // Up to the first whole word, then whole words, then what is left.
        let head = ((8 - offset % 8) % 8).min(out.len());
        let (head_out, rest) = out.split_at_mut(head);
        self.read_part(offset, head_out);
        let mut chunks = rest.chunks_exact_mut(8);
        let first = (offset + head) / 8;
        for (chunk, word) in (&mut chunks).zip(&self.words[first..]) {
            chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
        }
        let tail = chunks.into_remainder();
        self.read_part(end - tail.len(), tail);
    }

    /// Read `out.len()` (fewer than 8) bytes within the word that holds `at`.
    fn read_part(&self, at: usize, out: &mut [u8]) {
        if !out.is_empty() {
            let word = self.words[at / 8].load(Ordering::Relaxed).to_ne_bytes();
            out.copy_from_slice(&word[at % 8..at % 8 + out.len()]);
        }
    }

    /// Copy `data` into the block at `offset` (Python: `shm.buf[offset:…]
    /// = data`); panics past its end. A whole word is stored; part of one
    /// is merged into it (compare-and-swap), the rest of it kept.
    pub fn write(&self, offset: usize, data: &[u8]) {
        let end = self.checked_end(offset, data.len());
        let mut at = offset;
        while at < end {
            let (from, to) = (at % 8, (end - at + at % 8).min(8));
            let part = &data[at - offset..at - offset + to - from];
            let word = &self.words[at / 8];
            if to - from == 8 {
                word.store(
                    u64::from_ne_bytes(part.try_into().expect("8 bytes")),
                    Ordering::Relaxed,
                );
            } else {
                let _ = word.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                    let mut bytes = old.to_ne_bytes();
                    bytes[from..to].copy_from_slice(part);
                    Some(u64::from_ne_bytes(bytes))
                });
            }
            at += to - from;
        }
    }

    /// The whole block, copied out (Python: `bytes(shm.buf)`).
    pub fn to_vec(&self) -> Vec<u8> {
        // Word by word (atomic loads: another process may write meanwhile),
        // each straight into its place: one pass over the block.
        let mut out: Vec<u8> = Vec::with_capacity(self.words.len() * 8);
        let spare = out.spare_capacity_mut().as_mut_ptr().cast::<u64>();
        for (i, word) in self.words.iter().enumerate() {
            // SAFETY: word `i` is within the capacity asked for, and an
            // unaligned write needs no alignment.
            unsafe { spare.add(i).write_unaligned(word.load(Ordering::Relaxed)) };
        }
        // SAFETY: every byte up to this length was written just above.
        unsafe { out.set_len(self.words.len() * 8) };
        out.truncate(self.size);
        out
    }

    /// `offset + len`, if it is within the block.
    fn checked_end(&self, offset: usize, len: usize) -> usize {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => end,
            _ => panic!(
                "bytes {offset}..{offset}+{len} are past the end of a block of {}",
                self.size
            ),
        }
    }

    /// Stop using the block in this process (Python: `close()`); dropping
    /// it does the same. The block lives on.
    pub fn close(self) {}

    /// Remove the block's name (Python: `unlink()`): no process can attach
    /// to it any more, and its memory goes once every process using it
    /// has closed it. Once, by one process, across all that use it.
    pub fn unlink(&self) -> Result<(), Error> {
        let unlinked = shm::unlink(slashed(&self.name));
        // Gone, by this call or another's: the tracker must not unlink a
        // later block of the same name, someone else's.
        if matches!(unlinked, Ok(()) | Err(rustix::io::Errno::NOENT)) {
            crate::resource_tracker::unregister(&self.name, self.inode);
        }
        unlinked.map_err(|e| std::io::Error::from(e).into())
    }
}

/// As Python prints it: `SharedMemory('psm_1a2b3c4d', size=16)`.
impl fmt::Display for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = crate::py::py_repr(&self.name);
        write!(f, "SharedMemory({name}, size={})", self.size())
    }
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `name` as `shm_open` takes it, with its leading `/`.
fn slashed(name: &str) -> String {
    format!("/{name}")
}

/// A fresh name as CPython makes them: `psm_` and eight random hex digits.
fn fresh_name() -> Result<String, Error> {
    let mut random = [0u8; (NAME_LENGTH - 6) / 2];
    rustix::rand::getrandom(&mut random, rustix::rand::GetRandomFlags::empty())
        .map_err(std::io::Error::from)?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("psm_{hex}"))
}

/// Python's `multiprocessing.shared_memory.ShareableList`: a list of
/// fixed length in a [`SharedMemory`] block, in CPython's exact layout,
/// so a list made by either language is read and changed by the other.
///
/// The layout (all little-endian on this machine, as CPython's `struct`
/// packs natively): the item count (8 bytes); each item's offset in the
/// data area, one more than there are items (8 bytes each); the data area,
/// 8 bytes an item, or a multiple of 8 for a `str` or `bytes`; each item's
/// `struct` format (8 bytes each: `q`, `d`, `xxxxxxx?`, `xxxxxx?x`, `16s`…);
/// and each item's back-transform code (1 byte: 0 as it is, 1 `str`, 2
/// `bytes`, 3 `None`).
pub struct ShareableList {
    shm: SharedMemory,
}

/// One item of a [`ShareableList`]: the types CPython allows there.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `int` (8 bytes, `q`).
    Int(i64),
    /// `float` (`d`).
    Float(f64),
    /// `bool` (`xxxxxxx?`).
    Bool(bool),
    /// `str`, UTF-8, its slot a multiple of 8 bytes.
    Str(String),
    /// `bytes`, its slot a multiple of 8 bytes.
    Bytes(Vec<u8>),
    /// `None` (`xxxxxx?x`).
    None,
}

/// As Python prints an item: `3`, `2.5`, `True`, `'a'`, `b'a'`, `None`.
impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Int(n) => write!(f, "{n}"),
            Item::Float(x) => f.write_str(&crate::py::py_float(*x)),
            Item::Bool(b) => f.write_str(crate::py::py_bool(*b)),
            Item::Str(s) => f.write_str(&crate::py::py_repr(s)),
            Item::Bytes(b) => f.write_str(&crate::py::py_bytes(b)),
            Item::None => f.write_str("None"),
        }
    }
}

impl Item {
    /// Its `struct` format, and its bytes: 8 for a number, a bool or None
    /// (as CPython packs them, whatever the slot), the slot's for a
    /// string or bytes; `None` if the slot's format would not fit the 8
    /// bytes CPython gives a format (a slot of 10 MB or more).
    fn packed(&self, slot: usize) -> Option<(String, Vec<u8>)> {
        let mut bytes = vec![0; 8];
        let format = match self {
            Item::Int(n) => {
                bytes.copy_from_slice(&n.to_ne_bytes());
                "q".to_owned()
            }
            Item::Float(x) => {
                bytes.copy_from_slice(&x.to_ne_bytes());
                "d".to_owned()
            }
            Item::Bool(b) => {
                bytes[7] = u8::from(*b);
                "xxxxxxx?".to_owned()
            }
            Item::None => "xxxxxx?x".to_owned(),
            Item::Str(_) | Item::Bytes(_) => {
                let text: &[u8] = match self {
                    Item::Str(s) => s.as_bytes(),
                    Item::Bytes(b) => b,
                    _ => unreachable!("a str or bytes"),
                };
                bytes = vec![0; slot];
                bytes.get_mut(..text.len())?.copy_from_slice(text);
                format!("{slot}s")
            }
        };
        (format.len() <= 8).then_some((format, bytes))
    }

    /// CPython's back-transform code.
    fn code(&self) -> i8 {
        match self {
            Item::Str(_) => 1,
            Item::Bytes(_) => 2,
            Item::None => 3,
            _ => 0,
        }
    }

    /// The slot a new list gives it: 8 bytes, or the next multiple of 8
    /// above a string's length (CPython's `8 * (len // 8 + 1)`).
    fn slot(&self) -> usize {
        match self {
            Item::Str(s) => 8 * (s.len() / 8 + 1),
            Item::Bytes(b) => 8 * (b.len() / 8 + 1),
            _ => 8,
        }
    }
}

/// Where item `i` of a list is, worked out from one read of the header:
/// another process may change the header at any moment, so every place
/// an operation touches comes from the same read, and is checked to lie
/// inside the block (a changed header makes garbage, never a bad access).
struct Place {
    /// The item's slot, and its length.
    at: usize,
    slot: usize,
    /// Its `struct` format (8 bytes) and its back-transform code (1).
    format: usize,
    code: usize,
}

impl ShareableList {
    /// A new list of `items` in a new block (Python:
    /// `ShareableList(items)`).
    pub fn create(items: &[Item]) -> Result<ShareableList, Error> {
        if items.iter().any(|item| item.packed(item.slot()).is_none()) {
            return Err(Error::InvalidArgument(
                "ValueError: a str or bytes of 10 MB or more has no format that fits 8 bytes",
            ));
        }
        let n = items.len();
        let mut offsets = vec![0usize];
        for item in items {
            offsets.push(offsets[offsets.len() - 1] + item.slot());
        }
        let data = offsets[n];
        let size = 8 + 8 * (n + 1) + data + 8 * n + n;
        let list = ShareableList {
            shm: SharedMemory::create(size)?,
        };
        list.shm.write(0, &(n as i64).to_ne_bytes());
        for (i, offset) in offsets.iter().enumerate() {
            list.shm.write(8 + 8 * i, &(*offset as i64).to_ne_bytes());
        }
        for (i, item) in items.iter().enumerate() {
            list.put(&list.place(i, "index out of range")?, item)?;
        }
        Ok(list)
    }

    /// Attach to the list in the block named `name` (Python:
    /// `ShareableList(name=name)`).
    pub fn attach(name: &str) -> Result<ShareableList, Error> {
        let list = ShareableList {
            shm: SharedMemory::attach(name)?,
        };
        // Its count is one the block can hold, and its tables lie inside.
        let count = usize::try_from(list.i64_at(0)).map_err(|_| no_list())?;
        if count > list.shm.size() / 17 {
            return Err(no_list());
        }
        if count > 0 {
            list.place(0, "index out of range")?;
        }
        Ok(list)
    }

    /// The block it lives in (Python: `shm`): its name is the list's.
    pub fn shm(&self) -> &SharedMemory {
        &self.shm
    }

    /// How many items (Python: `len(sl)`).
    pub fn len(&self) -> usize {
        // Never more than the block could hold, whatever its first bytes say.
        let most = self.shm.size() / 17;
        usize::try_from(self.i64_at(0)).map_or(0, |n| n.min(most))
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Item `i` (Python: `sl[i]`); `IndexError` past the end.
    pub fn get(&self, i: usize) -> Result<Item, Error> {
        let place = self.place(i, "index out of range")?;
        let format = self.bytes_at(place.format, 8)?;
        let format = &format[..format.iter().position(|&b| b == 0).unwrap_or(8)];
        let code = self.bytes_at(place.code, 1)?[0];
        let eight = || -> Result<[u8; 8], Error> {
            let bytes = self.bytes_at(place.at, 8)?;
            Ok(bytes.try_into().expect("8 bytes"))
        };
        Ok(match (code, format) {
            (3, _) => Item::None,
            (1 | 2, _) => {
                let mut bytes = self.bytes_at(place.at, place.slot)?;
                let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
                bytes.truncate(end); // CPython's `rstrip(b'\x00')`
                match code {
                    1 => Item::Str(String::from_utf8(bytes).map_err(|_| {
                        Error::InvalidArgument("UnicodeDecodeError: the str item is not UTF-8")
                    })?),
                    _ => Item::Bytes(bytes),
                }
            }
            (_, b"q") => Item::Int(i64::from_ne_bytes(eight()?)),
            (_, b"d") => Item::Float(f64::from_ne_bytes(eight()?)),
            (_, b"xxxxxxx?") => Item::Bool(eight()?[7] != 0),
            _ => return Err(no_list()),
        })
    }

    /// Set item `i` to `item` (Python: `sl[i] = item`): a `str` or `bytes`
    /// longer than the item's slot is CPython's `ValueError`.
    pub fn set(&self, i: usize, item: &Item) -> Result<(), Error> {
        let place = self.place(i, "assignment index out of range")?;
        let long = match item {
            Item::Str(s) => s.len() > place.slot,
            Item::Bytes(b) => b.len() > place.slot,
            _ => false,
        };
        if long {
            return Err(Error::InvalidArgument(
                "ValueError: bytes/str item exceeds available storage",
            ));
        }
        self.put(&place, item)
    }

    /// Write an item's format, code and bytes at its place.
    fn put(&self, place: &Place, item: &Item) -> Result<(), Error> {
        let (format, bytes) = item.packed(place.slot).ok_or_else(no_list)?;
        let mut format_bytes = [0u8; 8];
        format_bytes[..format.len()].copy_from_slice(format.as_bytes());
        self.write_at(place.format, &format_bytes)?;
        self.write_at(place.code, &[item.code() as u8])?;
        self.write_at(place.at, &bytes)
    }

    /// Item `i`'s [`Place`], from one read of the header; `IndexError`
    /// (with `index_error`'s words) past the end.
    fn place(&self, i: usize, index_error: &'static str) -> Result<Place, Error> {
        let n = self.len();
        if i >= n {
            return Err(Error::InvalidArgument(match index_error {
                "assignment index out of range" => "IndexError: assignment index out of range",
                _ => "IndexError: index out of range",
            }));
        }
        let offset = |k: usize| usize::try_from(self.i64_at(8 + 8 * k)).ok();
        let (Some(from), Some(to), Some(end)) = (offset(i), offset(i + 1), offset(n)) else {
            return Err(no_list());
        };
        let data = 8 * (n + 2); // n ≤ size / 17: no overflow
        let at = data.checked_add(from).ok_or_else(no_list)?;
        let slot = to.checked_sub(from).ok_or_else(no_list)?;
        let format = data.checked_add(end).ok_or_else(no_list)?;
        let code = format.checked_add(8 * n).ok_or_else(no_list)?;
        let inside =
            |start: usize, len: usize| start.checked_add(len).is_some_and(|e| e <= self.shm.size());
        if !inside(at, slot) || !inside(format, 8 * n) || !inside(code, n) {
            return Err(no_list());
        }
        Ok(Place {
            at,
            slot,
            format: format + 8 * i,
            code: code + i,
        })
    }

    /// `len` bytes at `at`, if they lie inside the block.
    fn bytes_at(&self, at: usize, len: usize) -> Result<Vec<u8>, Error> {
        let mut bytes = vec![0; len];
        match at.checked_add(len) {
            Some(end) if end <= self.shm.size() => self.shm.read(at, &mut bytes),
            _ => return Err(no_list()),
        }
        Ok(bytes)
    }

    /// Write `bytes` at `at`, if they lie inside the block.
    fn write_at(&self, at: usize, bytes: &[u8]) -> Result<(), Error> {
        match at.checked_add(bytes.len()) {
            Some(end) if end <= self.shm.size() => {
                self.shm.write(at, bytes);
                Ok(())
            }
            _ => Err(no_list()),
        }
    }

    /// The 8 bytes at `at` as an `i64`; 0 past the block's end.
    fn i64_at(&self, at: usize) -> i64 {
        self.bytes_at(at, 8).map_or(0, |bytes| {
            i64::from_ne_bytes(bytes.try_into().expect("8 bytes"))
        })
    }
}

/// The error for a block whose bytes are no list (or no longer one).
fn no_list() -> Error {
    Error::InvalidArgument("ValueError: the block holds no ShareableList")
}

/// As Python prints it: `ShareableList([1, 'a', None], name='psm_…')`.
impl fmt::Display for ShareableList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = (0..self.len())
            .map(|i| {
                self.get(i)
                    .map_or_else(|e| e.to_string(), |item| item.to_string())
            })
            .collect();
        let name = crate::py::py_repr(self.shm.name());
        write!(f, "ShareableList([{}], name={name})", items.join(", "))
    }
}
