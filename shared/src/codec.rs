//! The one encoding of every message, for queues, pipes and the pool:
//! serde turns a value into bytes in postcard's format (compact: a number
//! takes as few bytes as it needs), where Python uses pickle.
//!
//! **A fast path for sequences of integers.** A pool's `map` over numbers
//! spends most of its time here: every item is encoded and decoded four
//! times on its way to a worker and back. Going through serde, one `u64`
//! costs some fifty instructions each way. So a sequence of `u64`, `i64`,
//! `u32` or `i32` (or of 1-tuples of one: a `map`'s argument tuples) is
//! written and read by the loops at the bottom of this file instead:
//! the same bytes postcard writes (a length, then each number as a
//! *varint*: 7 bits a byte, the top bit saying "more follows"; signed ones
//! zigzagged first so that small negatives stay small), checked against
//! postcard in the tests. Which path a value takes is decided by its type
//! (`Any`), so every other type goes through serde as before.

use std::any::Any;

use serde::Serialize;
use serde::de::{DeserializeOwned, DeserializeSeed, SeqAccess, Visitor};

use crate::Error;

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
        Err(e) => Err(Error::Encoding(format!("cannot encode the value: {e}"))),
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
        fn all(out: &mut Vec<u8>, len: usize, values: impl Iterator<Item = u64>) {
            out.reserve(10 * (len + 1)); // room made once: a varint is 10 bytes at most
            put_varint(out, len as u64);
            values.for_each(|v| put_varint(out, v));
        }
        let zig = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
        match self {
            Ints::U64(v) => all(out, v.len(), v.iter().copied()),
            Ints::U64s(v) => all(out, v.len(), v.iter().map(|t| t.0)),
            Ints::I64(v) => all(out, v.len(), v.iter().map(|&v| zig(v))),
            Ints::I64s(v) => all(out, v.len(), v.iter().map(|t| zig(t.0))),
            Ints::U32(v) => all(out, v.len(), v.iter().map(|&v| v.into())),
            Ints::U32s(v) => all(out, v.len(), v.iter().map(|t| t.0.into())),
            Ints::I32(v) => all(out, v.len(), v.iter().map(|&v| zig(v.into()))),
            Ints::I32s(v) => all(out, v.len(), v.iter().map(|t| zig(t.0.into()))),
        }
    }
}

/// `v` as a varint: 7 bits a byte, low ones first, the top bit set on
/// every byte but the last.
#[inline(always)]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Read `bytes` onto `values` if they are integers of the fast path:
/// `None` for any other type, `Some(None)` for bytes that are not such a
/// sequence (too short, too long, a number out of range).
fn read_ints(bytes: &[u8], values: &mut dyn Any) -> Option<Option<()>> {
    let unzig = |v: u64| (v >> 1) as i64 ^ -((v & 1) as i64);
    macro_rules! onto {
        ($ty:ty, $from:expr) => {
            if let Some(values) = values.downcast_mut::<Vec<$ty>>() {
                return Some(read_all(bytes, values, $from));
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

/// A length, then that many varints, then nothing: each made a `T` by
/// `from` and pushed onto `values`.
fn read_all<T>(bytes: &[u8], values: &mut Vec<T>, from: impl Fn(u64) -> Option<T>) -> Option<()> {
    let mut at = 0;
    let len = get_varint(bytes, &mut at)?;
    // Each number takes a byte at least: a length past that is a lie.
    values.reserve(usize::try_from(len).ok().filter(|&n| n <= bytes.len())?);
    for _ in 0..len {
        values.push(from(get_varint(bytes, &mut at)?)?);
    }
    (at == bytes.len()).then_some(())
}

/// The varint at `bytes[*at..]`, `at` moved past it; `None` if the bytes
/// end first or it holds more than 64 bits.
#[inline(always)]
fn get_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    // Where ten bytes are left (all but the last few numbers), a fixed-size
    // window: the compiler can then drop the bounds check of every byte.
    let window: &[u8; 10] = match bytes.get(*at..*at + 10) {
        Some(window) => window.try_into().expect("ten bytes"),
        None => return get_varint_near_end(bytes, at),
    };
    let mut value = 0;
    for (i, &byte) in window.iter().enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            *at += i + 1;
            return (i < 9 || byte <= 1).then_some(value); // else more than 64 bits
        }
    }
    None
}

/// [`get_varint`] byte by byte, for the last few numbers.
fn get_varint_near_end(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        if shift == 63 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path writes what postcard writes, and reads it back.
    #[test]
    fn the_fast_path_is_postcards_format() {
        fn same<T>(values: Vec<T>)
        where
            T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + 'static,
        {
            let fast = encode_seq(&values, Vec::new()).unwrap();
            assert_eq!(fast, postcard::to_stdvec(&values).unwrap());
            let mut back: Vec<T> = Vec::new();
            decode_onto(&fast, &mut back).unwrap();
            assert_eq!(back, values);
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
    }

    /// Bytes that are not such a sequence are an error, never a wrong value.
    #[test]
    fn the_fast_path_refuses_what_postcard_refuses() {
        let mut out: Vec<u32> = Vec::new();
        let too_big = postcard::to_stdvec(&vec![u64::from(u32::MAX) + 1]).unwrap();
        assert!(decode_onto(&too_big, &mut out).is_err());
        let mut out: Vec<u64> = Vec::new();
        assert!(decode_onto(&[3, 1, 2], &mut out).is_err(), "too short");
        assert!(
            decode_onto(&[1, 1, 2], &mut out).is_err(),
            "bytes left over"
        );
        assert!(decode_onto(&[200], &mut out).is_err(), "a length cut short");
        assert!(
            decode_onto(
                &[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2],
                &mut out
            )
            .is_err()
        );
        assert!(
            decode_onto(&[0xff, 0xff, 0xff, 0x0f], &mut out).is_err(),
            "a length past the bytes"
        );
    }
}
