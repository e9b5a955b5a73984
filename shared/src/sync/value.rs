//! [`Value`], [`Array`], [`RawValue`] and [`RawArray`]: numbers in shared
//! memory (CPython's `multiprocessing.sharedctypes`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use super::lock::{AnyLock, RLock};
use crate::Error;
use crate::sys::SharedSlice;

/// A plain number (or a `bool`) that can live in shared memory: its bits
/// are kept in a 64-bit word, so that every read and every write of one
/// element is whole (never half another process's write).
pub trait Plain: Copy + fmt::Display + crate::sealed::Sealed + 'static {
    /// ctypes' name for it, for the reprs (`c_double`, `c_int`, …).
    const CTYPE: &'static str;
    #[doc(hidden)]
    fn to_bits(self) -> u64;
    #[doc(hidden)]
    fn from_bits(bits: u64) -> Self;
}

macro_rules! plain {
    ($($ty:ty => $ctype:literal, $to:expr, $from:expr;)*) => {$(
        impl crate::sealed::Sealed for $ty {}
        impl Plain for $ty {
            const CTYPE: &'static str = $ctype;
            fn to_bits(self) -> u64 { $to(self) }
            fn from_bits(bits: u64) -> Self { $from(bits) }
        }
    )*};
}

plain! {
    f64 => "c_double", f64::to_bits, f64::from_bits;
    f32 => "c_float", |v: f32| u64::from(v.to_bits()), |b| f32::from_bits(b as u32);
    i64 => "c_long", |v| v as u64, |b| b as i64;
    i32 => "c_int", |v| v as u64, |b| b as i32;
    i16 => "c_short", |v| v as u64, |b| b as i16;
    i8 => "c_byte", |v| v as u64, |b| b as i8;
    u64 => "c_ulong", |v| v, |b| b;
    u32 => "c_uint", u64::from, |b| b as u32;
    u16 => "c_ushort", u64::from, |b| b as u16;
    u8 => "c_ubyte", u64::from, |b| b as u8;
    bool => "c_bool", u64::from, |b| b != 0;
}

/// How Python prints a number: a float always with a point (`0.0`), a
/// bool as `True`/`False`.
fn py_number<T: Plain>(v: T) -> String {
    let text = v.to_string();
    match T::CTYPE {
        "c_double" | "c_float" if !text.contains(['.', 'e', 'N', 'i']) => format!("{text}.0"),
        "c_bool" => crate::py::py_bool(text == "true").to_owned(),
        _ => text,
    }
}

/// Python's `multiprocessing.RawValue(type, v)`: one number in shared
/// memory, with no lock. Each `get` and each `set` is whole, but
/// `v.set(v.get() + 1)` is two steps: another process may write between
/// them, and its update is then lost. (A [`RawArray`] of one.)
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct RawValue<T: Plain>(RawArray<T>);

impl<T: Plain> RawValue<T> {
    /// A shared number, `value` to start with.
    pub fn new(value: T) -> Result<RawValue<T>, Error> {
        RawArray::new(&[value]).map(RawValue)
    }

    /// The number now (Python: `v.value`).
    pub fn get(&self) -> T {
        self.0.get(0)
    }

    /// Make it `value` (Python: `v.value = value`).
    pub fn set(&self, value: T) {
        self.0.set(0, value)
    }
}

/// ctypes' repr: `c_double(3.1415927)`.
impl<T: Plain> fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", T::CTYPE, py_number(self.get()))
    }
}

/// Python's `multiprocessing.Value(type, v)`: a [`RawValue`] with a lock
/// of its own, an [`RLock`] as in CPython (or the caller's, with
/// [`with_lock`](Value::with_lock)). `get` and `set` each hold it, so
/// neither sees half of the other; a read-modify-write such as `+= 1` is
/// exact only inside `let _held = v.get_lock().lock();`, where no other
/// process can come between the read and the write.
pub type Value<T> = Synchronized<RawValue<T>>;

/// CPython's `Synchronized` wrappers: a raw shared object with the lock
/// that its `get`, `set` (and an array's `to_vec`) hold: a [`Value`] or
/// an [`Array`].
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Synchronized<R> {
    raw: R,
    lock: AnyLock,
}

impl<R> Synchronized<R> {
    /// Its lock (Python: `get_lock()`), to make several steps one.
    pub fn get_lock(&self) -> &AnyLock {
        &self.lock
    }

    /// The object without its lock (Python: `get_obj()`): a [`RawValue`]
    /// or a [`RawArray`] sharing the same memory.
    pub fn get_obj(&self) -> &R {
        &self.raw
    }

    /// Do `step` on the raw object, holding the lock.
    fn held<U>(&self, step: impl FnOnce(&R) -> U) -> U {
        let _held = self.lock.lock();
        step(&self.raw)
    }
}

impl<T: Plain> Value<T> {
    /// A shared number with its lock (Python: `Value('d', 0.0)`).
    pub fn new(value: T) -> Result<Value<T>, Error> {
        Value::with_lock(value, RLock::new()?)
    }

    /// A shared number guarded by `lock`, a [`Lock`](super::Lock) or an
    /// [`RLock`] of the caller's (Python: `Value('i', 5, lock=lock)`): one
    /// lock may guard several values. (With a `Lock`, `get` and `set` must
    /// not be called while holding it: it is not re-entrant.)
    pub fn with_lock(value: T, lock: impl Into<AnyLock>) -> Result<Value<T>, Error> {
        let (raw, lock) = (RawValue::new(value)?, lock.into());
        Ok(Synchronized { raw, lock })
    }

    /// The number, read holding the lock (Python: `v.value`).
    pub fn get(&self) -> T {
        self.held(RawValue::get)
    }

    /// Write it, holding the lock (Python: `v.value = x`).
    pub fn set(&self, value: T) {
        self.held(|raw| raw.set(value))
    }
}

/// CPython's repr: `<Synchronized wrapper for c_double(0.0)>`.
impl<T: Plain> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Synchronized wrapper for {:?}>", self.raw)
    }
}

/// Python's `multiprocessing.RawArray(type, values)`: a fixed number of
/// numbers in shared memory, with no lock.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct RawArray<T: Plain> {
    bits: Arc<SharedSlice<AtomicU64>>,
    _type: std::marker::PhantomData<T>,
}

impl<T: Plain> RawArray<T> {
    /// A shared array holding `values` (Python: `RawArray('i', range(10))`).
    pub fn new(values: &[T]) -> Result<RawArray<T>, Error> {
        let bits = SharedSlice::<AtomicU64>::new(values.len())?;
        for (word, v) in bits.iter().zip(values) {
            word.store(v.to_bits(), Relaxed);
        }
        let (bits, _type) = (Arc::new(bits), std::marker::PhantomData);
        Ok(RawArray { bits, _type })
    }

    /// How many numbers it holds (Python: `len(a)`).
    pub fn len(&self) -> usize {
        self.bits.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.bits.is_empty()
    }

    /// The `i`th number (Python: `a[i]`); panics past the end, as slices do.
    pub fn get(&self, i: usize) -> T {
        T::from_bits(self.bits[i].load(Acquire))
    }

    /// Make the `i`th number `value` (Python: `a[i] = value`).
    pub fn set(&self, i: usize, value: T) {
        self.bits[i].store(value.to_bits(), Release)
    }

    /// Every number, in order (Python: `a[:]`).
    pub fn to_vec(&self) -> Vec<T> {
        (0..self.len()).map(|i| self.get(i)).collect()
    }
}

/// As Python prints `a[:]`: `[0, -1, -2]`.
impl<T: Plain> fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self.to_vec().into_iter().map(py_number).collect();
        write!(f, "[{}]", items.join(", "))
    }
}

/// Python's `multiprocessing.Array(type, values)`: a [`RawArray`] with its
/// own [`RLock`] (or the caller's lock), held by each `get`, `set` and
/// `to_vec`.
pub type Array<T> = Synchronized<RawArray<T>>;

impl<T: Plain> Array<T> {
    /// A shared array holding `values`, with its lock.
    pub fn new(values: &[T]) -> Result<Array<T>, Error> {
        Array::with_lock(values, RLock::new()?)
    }

    /// A shared array guarded by `lock` (Python: `Array('i', 10, lock=lock)`).
    pub fn with_lock(values: &[T], lock: impl Into<AnyLock>) -> Result<Array<T>, Error> {
        let (raw, lock) = (RawArray::new(values)?, lock.into());
        Ok(Synchronized { raw, lock })
    }

    /// How many numbers it holds.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The `i`th number, read holding the lock.
    pub fn get(&self, i: usize) -> T {
        self.held(|raw| raw.get(i))
    }

    /// Write the `i`th number, holding the lock.
    pub fn set(&self, i: usize, value: T) {
        self.held(|raw| raw.set(i, value))
    }

    /// Every number, read in one hold of the lock (Python: `a[:]`).
    pub fn to_vec(&self) -> Vec<T> {
        self.held(RawArray::to_vec)
    }
}

/// As Python prints `a[:]`.
impl<T: Plain> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.held(|raw| fmt::Debug::fmt(raw, f))
    }
}
