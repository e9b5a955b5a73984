//! Handing descriptors to a spawned child.
//!
//! A spawned child gets the descriptors of what its argument holds (a
//! pipe's socket, an event's or a lock's memory file) at its start, as its
//! descriptors 5, 6, … (3 and 4 are its briefing and the pipe it answers
//! on, see `spawn.rs`): the parent lists them while it encodes the argument,
//! and each is encoded as its place in that list; the child takes them back
//! from the same places while it decodes. CPython's spawn passes its
//! descriptors so too, and refuses, as here, to pickle such an object
//! anywhere else ("... should only be shared between processes through
//! inheritance").
//!
//! A forked child needs none of this: it has its parent's descriptors
//! already, at the same numbers.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::sys::{Shareable, SharedMem, SharedSlice};

thread_local! {
    static HANDING: std::cell::RefCell<Option<Vec<OwnedFd>>> = const { std::cell::RefCell::new(None) };
    static HANDED: std::cell::RefCell<Vec<Option<OwnedFd>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Encode `value` for a spawned child: its bytes, and the descriptors to
/// hand over with them.
pub(crate) fn encode_handing<R>(encode: impl FnOnce() -> R) -> (R, Vec<OwnedFd>) {
    HANDING.with(|handing| *handing.borrow_mut() = Some(Vec::new()));
    let encoded = encode();
    (
        encoded,
        HANDING
            .with(|handing| handing.borrow_mut().take())
            .unwrap_or_default(),
    )
}

/// Put `fd` into the argument being encoded for a spawn; its place. Outside
/// such an encoding: CPython's refusal. Either way the reason is kept for
/// [`take_refusal`], since the encoder keeps only that there was an error,
/// not its words: with no descriptor free, `EMFILE`.
pub(crate) fn hand_over(fd: BorrowedFd<'_>) -> Result<u32, String> {
    let place = HANDING.with(|handing| match &mut *handing.borrow_mut() {
        Some(fds) => {
            fds.push(fd.try_clone_to_owned()?);
            Ok(fds.len() as u32 - 1)
        }
        None => Err(io::Error::other(NOT_HERE)),
    });
    place.map_err(|e| {
        let why = e.to_string();
        REFUSED.with(|refused| *refused.borrow_mut() = Some(e));
        why
    })
}

const NOT_HERE: &str = "RuntimeError: queues, pipes, events, locks and shared values should only be \
     shared between processes through inheritance (or as the argument of a spawned process)";

thread_local! {
    static REFUSED: std::cell::RefCell<Option<io::Error>> = const { std::cell::RefCell::new(None) };
}

/// Why the last encoding failed, if [`hand_over`] refused it.
pub(crate) fn take_refusal() -> Option<io::Error> {
    REFUSED.with(|refused| refused.borrow_mut().take())
}

/// In a spawned child: the descriptors it was handed, before it decodes.
pub(crate) fn handed(fds: Vec<OwnedFd>) {
    HANDED.with(|handed| *handed.borrow_mut() = fds.into_iter().map(Some).collect());
}

/// The descriptor handed over at `place`, taken (once).
pub(crate) fn take_over(place: u32) -> Result<OwnedFd, String> {
    HANDED
        .with(|handed| {
            handed
                .borrow_mut()
                .get_mut(place as usize)
                .and_then(Option::take)
        })
        .ok_or_else(|| format!("no descriptor was handed over at place {place}"))
}

/// Descriptors that an encoded value held (see [`encode_handing`]), kept
/// with its bytes; in a spawn's argument, each is handed over in turn.
#[derive(Default)]
pub(crate) struct Descriptors(pub Vec<OwnedFd>);

impl Descriptors {
    pub(crate) fn try_clone(&self) -> io::Result<Descriptors> {
        let copies = self.0.iter().map(OwnedFd::try_clone);
        copies.collect::<io::Result<_>>().map(Descriptors)
    }
}

impl serde::Serialize for Descriptors {
    fn serialize<Z: serde::Serializer>(&self, to: Z) -> Result<Z::Ok, Z::Error> {
        let places: Result<Vec<u32>, _> = self.0.iter().map(|fd| hand_over(fd.as_fd())).collect();
        places.map_err(serde::ser::Error::custom)?.serialize(to)
    }
}

impl<'de> serde::Deserialize<'de> for Descriptors {
    fn deserialize<D: serde::Deserializer<'de>>(from: D) -> Result<Self, D::Error> {
        let places = Vec::<u32>::deserialize(from)?;
        let fds: Result<Vec<OwnedFd>, String> = places.into_iter().map(take_over).collect();
        fds.map(Descriptors).map_err(serde::de::Error::custom)
    }
}

impl<S: Shareable> serde::Serialize for SharedMem<S> {
    fn serialize<Z: serde::Serializer>(&self, to: Z) -> Result<Z::Ok, Z::Error> {
        let place = hand_over(self.file()).map_err(serde::ser::Error::custom)?;
        to.serialize_u32(place)
    }
}

impl<'de, S: Shareable> serde::Deserialize<'de> for SharedMem<S> {
    fn deserialize<D: serde::Deserializer<'de>>(from: D) -> Result<Self, D::Error> {
        let file = take_over(u32::deserialize(from)?).map_err(serde::de::Error::custom)?;
        SharedMem::from_file(file).map_err(serde::de::Error::custom)
    }
}

impl<S: Shareable> serde::Serialize for SharedSlice<S> {
    fn serialize<Z: serde::Serializer>(&self, to: Z) -> Result<Z::Ok, Z::Error> {
        let place = hand_over(self.file()).map_err(serde::ser::Error::custom)?;
        (place, self.len()).serialize(to)
    }
}

impl<'de, S: Shareable> serde::Deserialize<'de> for SharedSlice<S> {
    fn deserialize<D: serde::Deserializer<'de>>(from: D) -> Result<Self, D::Error> {
        let (place, len) = <(u32, usize)>::deserialize(from)?;
        let file = take_over(place).map_err(serde::de::Error::custom)?;
        SharedSlice::from_file(file, len).map_err(serde::de::Error::custom)
    }
}
