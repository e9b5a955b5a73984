//! The one encoding of every message, for queues, pipes and the pool:
//! serde turns a value into bytes in postcard's format (compact: a number
//! takes as few bytes as it needs), where Python uses pickle.
//!
//! **A fast path for sequences of integers.** A pool's `map` over numbers
//! spends most of its time here: every item is encoded and decoded four
//! times on its way to a worker and back. Going through serde, one `u64`
//! costs some fifty instructions each way, and even a hand-written loop
//! over postcard's *varints* (7 bits a byte, the top bit saying "more
//! follows") takes about 3 ns a number, a byte at a time. So a sequence
//! of `u64`, `i64`, `u32` or `i32` (or of 1-tuples of one: a `map`'s
//! argument tuples) is written and read by the loops at the bottom of
//! this file instead, in a format of its own: one width for the whole
//! sequence (1, 2, 4 or 8 bytes, the fewest that hold its largest number;
//! signed ones zigzagged first, so that small negatives stay narrow), the
//! count, then every number in that width. Fixed-size copies in a loop
//! are what the compiler turns into vector instructions: 0.3 ns a number
//! to write, 0.7 to read, and a `map` of 100,000 numbers ran in half the
//! time. Which path a value takes is decided by its type (`Any`), the
//! same on both ends of a pool's message (the worker's function has the
//! type of the parent's call), so every other type goes through serde as
//! before, and a queue's or a pipe's messages are always postcard's.

use std::any::Any;

use serde::Serialize;
use serde::de::{DeserializeOwned, DeserializeSeed, SeqAccess, Visitor};

use crate::Error;

/// What can travel to another process as an argument (of a spawned
/// target, of a pool task): any serde type that owns its data.
pub trait Arg: Serialize + DeserializeOwned + 'static {}
impl<T: Serialize + DeserializeOwned + 'static> Arg for T {}

/// A value as the bytes of a message.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    encode_into(value, Vec::new())
}

/// [`encode`] onto the end of `bytes`: a `Vec` with room made beforehand
/// is not grown (and copied) again and again as the value is written.
pub(crate) fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    mut bytes: Vec<u8>,
) -> Result<Vec<u8>, Error> {
    let mut serializer = postcard::Serializer {
        output: Appender(&mut bytes),
    };
    match value.serialize(&mut serializer) {
        Ok(()) => Ok(bytes),
        // A descriptor that could not be handed over says why: with none
        // free, CPython's `OSError: [Errno 24] Too many open files`.
        Err(e) => Err(match crate::handover::take_refusal() {
            Some(os) if os.raw_os_error().is_some() => Error::from(os),
            Some(why) => Error::Encoding(format!("cannot encode the value: {why}")),
            None => Error::Encoding(format!("cannot encode the value: {e}")),
        }),
    }
}

/// [`encode_into`] for a sequence, integers taking the fast path.
pub(crate) fn encode_seq<T: Serialize + 'static>(
    values: &Vec<T>,
    mut bytes: Vec<u8>,
) -> Result<Vec<u8>, Error> {
    let any: &dyn Any = values;
    match Ints::of(any) {
        Some(ints) => {
            ints.write(&mut bytes);
            Ok(bytes)
        }
        None => encode_into(values, bytes),
    }
}

/// The value [`encode`] made these bytes from. A message with bytes left
/// over after the value, or too few for it, was not one of a `T`: an
/// [`Error::Encoding`]. (postcard writes no type names, so a message of
/// another type with the same layout still decodes: see the `ipc` docs.)
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    decode_seed(bytes, std::marker::PhantomData)
}

/// The values of a message that [`encode`] made from a sequence, pushed
/// onto the end of `values` (integers by the fast path): no `Vec` of their
/// own to copy over, as a pool's `map` gathers every chunk's values.
pub(crate) fn decode_onto<V: DeserializeOwned + 'static>(
    bytes: &[u8],
    values: &mut Vec<V>,
) -> Result<(), Error> {
    let any: &mut dyn Any = values;
    match read_ints(bytes, any) {
        Some(read) => read.ok_or_else(|| wrong("not a sequence of such numbers".into())),
        None => decode_seed(bytes, Onto(values)),
    }
}

fn wrong(why: String) -> Error {
    Error::Encoding(format!("cannot decode the message: {why}"))
}

/// [`decode`] through a serde seed: a value that is all the message holds.
fn decode_seed<'de, S: DeserializeSeed<'de>>(bytes: &'de [u8], seed: S) -> Result<S::Value, Error> {
    let mut deserializer = postcard::Deserializer::from_bytes(bytes);
    let value = seed
        .deserialize(&mut deserializer)
        .map_err(|e| wrong(e.to_string()))?;
    match deserializer.finalize().map_err(|e| wrong(e.to_string()))? {
        [] => Ok(value),
        rest => Err(wrong(format!(
            "{} bytes left over: not the type that was sent",
            rest.len()
        ))),
    }
}

/// Where postcard writes: a `Vec` it appends to. postcard hands over each
/// number as a slice of 1 to 10 bytes; pushing those one by one beats a
/// call to `memcpy` for each, which took a third of a pool's time. Both
/// methods run once per number, so they are inlined into the serializer
/// (left to itself, the compiler called them, and `map` ran a quarter slower).
struct Appender<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Appender<'_> {
    type Output = ();
    #[inline(always)]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }
    #[inline(always)]
    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        match bytes.len() {
            0..=16 => bytes.iter().for_each(|&b| self.0.push(b)),
            _ => self.0.extend_from_slice(bytes),
        }
        Ok(())
    }
    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// A seed that reads a sequence onto the end of a `Vec`.
struct Onto<'a, V>(&'a mut Vec<V>);

impl<'de, V: DeserializeOwned> DeserializeSeed<'de> for Onto<'_, V> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, V: DeserializeOwned> Visitor<'de> for Onto<'_, V> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.reserve(seq.size_hint().unwrap_or(0));
        while let Some(value) = seq.next_element()? {
            self.0.push(value);
        }
        Ok(())
    }
}

// ------------------------------------------------------------ the fast path

/// A sequence of integers that takes the fast path, as plain `u64`s to
/// write (signed ones zigzagged).
enum Ints<'a> {
    U64(&'a [u64]),
    U64s(&'a [(u64,)]),
    I64(&'a [i64]),
    I64s(&'a [(i64,)]),
    U32(&'a [u32]),
    U32s(&'a [(u32,)]),
    I32(&'a [i32]),
    I32s(&'a [(i32,)]),
}

impl<'a> Ints<'a> {
    fn of(values: &'a dyn Any) -> Option<Ints<'a>> {
        let v = values;
        None.or_else(|| v.downcast_ref::<Vec<u64>>().map(|v| Ints::U64(v)))
            .or_else(|| v.downcast_ref::<Vec<(u64,)>>().map(|v| Ints::U64s(v)))
            .or_else(|| v.downcast_ref::<Vec<i64>>().map(|v| Ints::I64(v)))
            .or_else(|| v.downcast_ref::<Vec<(i64,)>>().map(|v| Ints::I64s(v)))
            .or_else(|| v.downcast_ref::<Vec<u32>>().map(|v| Ints::U32(v)))
            .or_else(|| v.downcast_ref::<Vec<(u32,)>>().map(|v| Ints::U32s(v)))
            .or_else(|| v.downcast_ref::<Vec<i32>>().map(|v| Ints::I32(v)))
            .or_else(|| v.downcast_ref::<Vec<(i32,)>>().map(|v| Ints::I32s(v)))
    }

    fn write(self, out: &mut Vec<u8>) {
        let zig = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
        match self {
            Ints::U64(v) => put_all(out, v.iter().copied()),
            Ints::U64s(v) => put_all(out, v.iter().map(|t| t.0)),
            Ints::I64(v) => put_all(out, v.iter().map(|&v| zig(v))),
            Ints::I64s(v) => put_all(out, v.iter().map(|t| zig(t.0))),
            Ints::U32(v) => put_all(out, v.iter().map(|&v| v.into())),
            Ints::U32s(v) => put_all(out, v.iter().map(|t| t.0.into())),
            Ints::I32(v) => put_all(out, v.iter().map(|&v| zig(v.into()))),
            Ints::I32s(v) => put_all(out, v.iter().map(|t| zig(t.0.into()))),
        }
    }
}

/// The numbers' width (1, 2, 4 or 8: the fewest bytes that hold the
/// largest), their count as 8 bytes, then each in that width.
fn put_all(out: &mut Vec<u8>, values: impl ExactSizeIterator<Item = u64> + Clone) {
    let len = values.len();
    let width = match values.clone().fold(0, |all, v| all | v) {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xffff_ffff => 4,
        _ => 8,
    };
    out.push(width as u8);
    out.extend_from_slice(&(len as u64).to_le_bytes());
    match width {
        1 => put::<1>(out, values, len),
        2 => put::<2>(out, values, len),
        4 => put::<4>(out, values, len),
        _ => put::<8>(out, values, len),
    }
}

/// Each number's low `W` bytes, little-endian, onto `out`: a loop of
/// fixed-size copies, which the compiler turns into vector instructions.
fn put<const W: usize>(out: &mut Vec<u8>, values: impl Iterator<Item = u64>, len: usize) {
    let start = out.len();
    out.resize(start + W * len, 0);
    for (to, v) in out[start..].chunks_exact_mut(W).zip(values) {
        to.copy_from_slice(&v.to_le_bytes()[..W]);
    }
}

/// Read `bytes` onto `values` if they are integers of the fast path:
/// `None` for any other type, `Some(None)` for bytes that are not such a
/// sequence (cut short, too long, a number out of range).
fn read_ints(bytes: &[u8], values: &mut dyn Any) -> Option<Option<()>> {
    let unzig = |v: u64| (v >> 1) as i64 ^ -((v & 1) as i64);
    macro_rules! onto {
        ($ty:ty, $from:expr) => {
            if let Some(values) = values.downcast_mut::<Vec<$ty>>() {
                return Some(get_all(bytes, values, $from));
            }
        };
    }
    onto!(u64, Some);
    onto!((u64,), |v| Some((v,)));
    onto!(i64, |v| Some(unzig(v)));
    onto!((i64,), |v| Some((unzig(v),)));
    onto!(u32, |v| u32::try_from(v).ok());
    onto!((u32,), |v| Some((u32::try_from(v).ok()?,)));
    onto!(i32, |v| i32::try_from(unzig(v)).ok());
    onto!((i32,), |v| Some((i32::try_from(unzig(v)).ok()?,)));
    None
}

/// What [`put_all`] wrote, each number made a `T` by `from` and pushed
/// onto `values`; nothing pushed if the bytes are not of that shape.
fn get_all<T>(bytes: &[u8], values: &mut Vec<T>, from: impl Fn(u64) -> Option<T>) -> Option<()> {
    let (&width, rest) = bytes.split_first()?;
    let (len, body) = rest.split_first_chunk::<8>()?;
    let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
    if !matches!(width, 1 | 2 | 4 | 8) || len.checked_mul(width.into()) != Some(body.len()) {
        return None;
    }
    let start = values.len();
    values.reserve(len);
    let read = match width {
        1 => get::<1, T>(body, values, from),
        2 => get::<2, T>(body, values, from),
        4 => get::<4, T>(body, values, from),
        _ => get::<8, T>(body, values, from),
    };
    if read.is_none() {
        values.truncate(start);
    }
    read
}

fn get<const W: usize, T>(
    body: &[u8],
    values: &mut Vec<T>,
    from: impl Fn(u64) -> Option<T>,
) -> Option<()> {
    for number in body.chunks_exact(W) {
        let mut word = [0; 8];
        word[..W].copy_from_slice(number);
        values.push(from(u64::from_le_bytes(word))?);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path reads back what it wrote, in the width the largest
    /// number needs; other types go through postcard.
    #[test]
    fn the_fast_path_reads_back_what_it_wrote() {
        fn same<T>(values: Vec<T>) -> Vec<u8>
        where
            T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + 'static,
        {
            let fast = encode_seq(&values, Vec::new()).unwrap();
            let mut back: Vec<T> = Vec::new();
            decode_onto(&fast, &mut back).unwrap();
            assert_eq!(back, values);
            fast
        }
        same(vec![0u64, 1, 127, 128, 300, 1 << 35, u64::MAX]);
        same(vec![(0u64,), (99,), (u64::MAX,)]);
        same(vec![0i64, -1, 1, -64, 64, i64::MIN, i64::MAX]);
        same(vec![(i64::MIN,), (-3,)]);
        same(vec![0u32, 200, u32::MAX]);
        same(vec![(7u32,)]);
        same(vec![i32::MIN, -1, 0, i32::MAX]);
        same(vec![(i32::MIN,), (5,)]);
        same(Vec::<u64>::new());
        // The width is the fewest bytes that hold the largest number.
        for (bits, width) in [
            (0, 1),
            (8, 1),
            (9, 2),
            (16, 2),
            (17, 4),
            (32, 4),
            (33, 8),
            (64, 8),
        ] {
            let largest = if bits == 0 {
                0
            } else {
                u64::MAX >> (64 - bits)
            };
            let bytes = same(vec![0, largest, 1]);
            assert_eq!(
                (bytes[0], bytes.len()),
                (width, 9 + 3 * usize::from(width)),
                "{bits} bits"
            );
        }
        assert_eq!(same(vec![-1i64, 1])[0], 1, "-1 zigzags to 1: one byte");
        // Any other type is postcard's.
        assert_eq!(
            encode_seq(&vec![1u8, 2], Vec::new()).unwrap(),
            postcard::to_stdvec(&vec![1u8, 2]).unwrap()
        );
    }

    /// Bytes that are not such a sequence are an error, never a wrong value.
    #[test]
    fn the_fast_path_refuses_what_it_did_not_write() {
        let wide = encode_seq(&vec![u64::from(u32::MAX) + 1], Vec::new()).unwrap();
        let mut out: Vec<u32> = Vec::new();
        assert!(decode_onto(&wide, &mut out).is_err(), "out of range");
        assert!(out.is_empty(), "nothing half read");
        let good = encode_seq(&vec![1u64, 2, 3], Vec::new()).unwrap();
        let mut out: Vec<u64> = Vec::new();
        assert!(
            decode_onto(&good[..good.len() - 1], &mut out).is_err(),
            "too short"
        );
        assert!(
            decode_onto(&[&good[..], &[0]].concat(), &mut out).is_err(),
            "bytes left over"
        );
        assert!(
            decode_onto(&good[..5], &mut out).is_err(),
            "a count cut short"
        );
        let mut odd = good.clone();
        odd[0] = 3;
        assert!(decode_onto(&odd, &mut out).is_err(), "no such width");
        let mut huge = good;
        huge[1..9].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(
            decode_onto(&huge, &mut out).is_err(),
            "a count past the bytes"
        );
        assert!(out.is_empty());
    }
}
