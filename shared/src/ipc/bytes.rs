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
/// memory file its sender wrote, sealed so that nobody can change it, and
/// *mapped* into this process rather than copied: 100 MiB cost one
/// `mmap`, not 100 MiB of fresh pages to fill. Dropping it unmaps the
/// file, and the memory goes back to the system. (A file its sender could
/// still write is copied instead.)
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
    /// The first `len` bytes of `file`, a sender's memory file: mapped if
    /// its bytes are sealed (nobody can change them, nor shrink the file
    /// under the mapping, which would kill this reader with `SIGBUS`), and
    /// copied otherwise, since what is mapped must not change under a
    /// `&[u8]`. A file shorter than `len`, or not a file, is refused.
    pub(crate) fn read(file: &File, len: usize) -> io::Result<Bytes> {
        if crate::sys::write_sealed(file) {
            let ptr = crate::sys::map_sealed(file, len)?;
            return Ok(Bytes(Repr::Mapped { ptr, len }));
        }
        let meta = file.metadata()?;
        if !meta.is_file() || meta.len() < len as u64 {
            let why = "refused a memory file shorter than its message";
            return Err(io::Error::new(io::ErrorKind::InvalidData, why));
        }
        // Room asked for, not assumed: a peer's file may claim more than
        // this process can hold, which must be an error, not an abort.
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(len)
            .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
        bytes.resize(len, 0);
        std::os::unix::fs::FileExt::read_exact_at(file, &mut bytes, 0)?;
        Ok(Bytes::from(bytes))
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
            // SAFETY: `len` bytes stay mapped until `drop`, and can neither
            // shrink away nor change: the file's size and bytes are sealed
            // (`read` mapped it only then, and the kernel keeps seals for
            // good), so no process, its sender included, can write it.
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
