//! [`Bytes`]: one message as received, read-only like Python's `bytes`.

use std::fmt;
use std::fs::File;
use std::io;
use std::ops::Deref;
use std::ptr::NonNull;

/// The bytes of one message, as [`Connection::recv_bytes`](super::Connection::recv_bytes)
/// returns them: read-only, as Python's `bytes` are. It dereferences to
/// `[u8]`, compares equal to any byte string, and
/// [`into_vec`](Self::into_vec) turns it into a `Vec<u8>`.
///
/// A small message is a `Vec` of its own. A big one (over 64 KiB) is the
/// memory file its sender wrote, *mapped* into this process rather than
/// copied: 100 MiB cost one `mmap`, not 100 MiB of fresh pages to fill.
/// Dropping it unmaps the file, and the memory goes back to the system.
///
/// ```
/// use shared::ipc::pipe;
///
/// # fn main() -> Result<(), shared::Error> {
/// let (a, b) = pipe(true)?;
/// a.send_bytes(b"hello")?;
/// let message = b.recv_bytes()?;
/// assert_eq!(message, b"hello");
/// assert_eq!(format!("{message:?}"), "b'hello'"); // Python's repr
/// assert_eq!(message.into_vec(), b"hello".to_vec());
/// # Ok(())
/// # }
/// ```
pub struct Bytes(Repr);

enum Repr {
    Owned(Vec<u8>),
    /// `len` bytes mapped read-only at `ptr`, unmapped on drop.
    Mapped {
        ptr: NonNull<u8>,
        len: usize,
    },
}

// SAFETY: the mapping is read-only and owned by this value alone, like a
// `Box<[u8]>`: sending it to or sharing it with another thread is safe.
unsafe impl Send for Bytes {}
// SAFETY: as above.
unsafe impl Sync for Bytes {}

impl Bytes {
    /// The first `len` bytes of `file`, a sender's memory file, mapped.
    ///
    /// A mapped file that shrinks kills the reader with `SIGBUS` when it
    /// touches the lost pages. So the sender seals its file against
    /// shrinking before sending it, and a file not sealed so, or shorter
    /// than `len`, is refused here. (What keeps the bytes unchanged: see
    /// `Deref` below.)
    pub(crate) fn map(file: &File, len: usize) -> io::Result<Bytes> {
        let ptr = crate::sys::map_sealed(file, len)?;
        Ok(Bytes(Repr::Mapped { ptr, len }))
    }

    /// The bytes as a `Vec` (a copy only if they are mapped).
    pub fn into_vec(mut self) -> Vec<u8> {
        match self.0 {
            Repr::Owned(ref mut bytes) => std::mem::take(bytes),
            Repr::Mapped { .. } => self.to_vec(),
        }
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Bytes {
        Bytes(Repr::Owned(bytes))
    }
}

impl From<Bytes> for Vec<u8> {
    fn from(bytes: Bytes) -> Vec<u8> {
        bytes.into_vec()
    }
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Owned(bytes) => bytes,
            // SAFETY: `len` bytes stay mapped until `drop`, and cannot
            // shrink away (the file's size is sealed; `map_sealed` checked).
            // What keeps them unchanged is how this crate sends: the sender
            // writes the file once, keeps no mapping of it, and closes its
            // descriptor once the packet is queued, so no process can write
            // it any more. (The seals do not forbid writing: a program of
            // its own that wrote a packet on our socket with a memory file
            // it kept open could change the bytes under this slice. The
            // sockets are shared only with this program's own children.)
            Repr::Mapped { ptr, len } => unsafe { std::slice::from_raw_parts(ptr.as_ptr(), *len) },
        }
    }
}

impl Drop for Bytes {
    fn drop(&mut self) {
        if let Repr::Mapped { ptr, len } = self.0 {
            // SAFETY: exactly what `map` mapped, unmapped once, here.
            unsafe { crate::sys::unmap(ptr, len) };
        }
    }
}

/// A copy of the bytes, of its own.
impl Clone for Bytes {
    fn clone(&self) -> Bytes {
        Bytes::from(self.to_vec())
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl<T: AsRef<[u8]> + ?Sized> PartialEq<T> for Bytes {
    fn eq(&self, other: &T) -> bool {
        **self == *other.as_ref()
    }
}

impl Eq for Bytes {}

/// Python's repr of `bytes`: `b'hello\n'`, or `b"it's"` when that needs
/// fewer escapes.
impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quote = match self.contains(&b'\'') && !self.contains(&b'"') {
            true => b'"',
            false => b'\'',
        };
        write!(f, "b{}", quote as char)?;
        for &byte in self.iter() {
            match byte {
                b'\t' => f.write_str("\\t")?,
                b'\n' => f.write_str("\\n")?,
                b'\r' => f.write_str("\\r")?,
                b'\\' => f.write_str("\\\\")?,
                _ if byte == quote => write!(f, "\\{}", byte as char)?,
                b' '..=b'~' => write!(f, "{}", byte as char)?,
                _ => write!(f, "\\x{byte:02x}")?,
            }
        }
        write!(f, "{}", quote as char)
    }
}
