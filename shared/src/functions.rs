//! How another process gets hold of a function that was never sent.
//!
//! Code cannot travel in a message, and a spawned child or a pool worker
//! must still run the function its parent named. Two facts make it work:
//!
//! - **A function is its type.** A function named by its path (`square`),
//!   or a closure that captures nothing, is a *zero-sized* type: its value
//!   has no bytes, and the type alone says which code it is. A worker that
//!   knows the type makes a value of it from nothing ([`conjure`]), as
//!   long as a value of it existed somewhere in the program (a zero-sized
//!   type may have none: a closure that captures a value of an empty
//!   enum); a closure that captures something is not zero-sized, and is
//!   refused when the program is built.
//! - **A function has a place in the program.** The executable is loaded
//!   at another address each run (ASLR), but *whole*: every function moves
//!   by the same amount. So a function pointer travels as its distance
//!   from a fixed point of the program ([`distance`]), and the other
//!   process, running the same file (forked, or spawned from
//!   `/proc/self/exe`), adds its own address of that point ([`at`]).
//!
//! A pool sends each task's *runner*, a function generic over the task's
//! function type, as its distance; the runner conjures the function (the
//! parent made the runner from a value of it). A spawned child is sent its
//! *entry* so. A barrier's action is conjured by whichever process runs
//! it, if a value of it was [`seen`] there or in a parent: a barrier can
//! be decoded, so its type alone proves nothing.

use std::any::TypeId;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Fingerprints of the function types a value of which was seen (by
/// [`seen`]) in this process, or in the one it was forked or spawned from:
/// only theirs are made by [`conjure_seen`].
static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// The same number for the same type in every run of this executable.
fn fingerprint<F: 'static>() -> u64 {
    let mut hasher = DefaultHasher::new(); // fixed keys: the same in every run
    TypeId::of::<F>().hash(&mut hasher);
    hasher.finish()
}

fn seen_list() -> MutexGuard<'static, Vec<u64>> {
    SEEN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Note that a value of `F` exists: from now on [`conjure`] makes one,
/// here and in the children started from now on.
pub(crate) fn seen<F: Copy + 'static>(_value: &F) {
    let (fingerprint, mut seen) = (fingerprint::<F>(), seen_list());
    if !seen.contains(&fingerprint) {
        seen.push(fingerprint);
    }
}

/// A value of the zero-sized function type `F`, made from nothing; `None`
/// if no value of `F` was [`seen`] here or in a parent.
pub(crate) fn conjure_seen<F: Copy + 'static>() -> Option<F> {
    let seen = seen_list().contains(&fingerprint::<F>());
    // SAFETY: a value of `F` was seen.
    seen.then(|| unsafe { conjure() })
}

/// A value of the zero-sized function type `F`, made from nothing.
///
/// # Safety
///
/// A value of `F` has existed in this program: the parent made the
/// runner or entry that led here from one, or it was [`seen`]. So the type
/// is inhabited; `F` is zero-sized (checked as the program is built), so
/// a value has no bytes that could be invalid; and `F: Copy`, so making
/// another value of it is as good as copying that one. Its type is the
/// whole of it.
pub(crate) unsafe fn conjure<F: Copy + 'static>() -> F {
    const {
        assert!(
            size_of::<F>() == 0,
            "another process runs this: pass a function, or a closure that captures nothing \
             (what a closure captures would not be there); pass the values as arguments"
        )
    };
    // SAFETY: as the caller promises, above.
    unsafe { std::mem::zeroed() }
}

/// The types seen, for a child to be spawned, which [`inherit`]s them.
pub(crate) fn seen_types() -> Vec<u64> {
    seen_list().clone()
}

/// In a spawned child: the types its parent had seen.
pub(crate) fn inherit(types: Vec<u64>) {
    seen_list().extend(types);
}

/// The fixed point of the program that distances count from: a static,
/// of which there is exactly one. (A small function will not do: an
/// optimised build may keep a copy of it in each part of the program that
/// uses it, each at its own address.)
static ANCHOR: u8 = 0;

fn anchor() -> isize {
    std::ptr::addr_of!(ANCHOR) as isize
}

/// A function pointer's address as its distance from the anchor: the same
/// in every run of this executable.
pub(crate) fn distance(address: usize) -> isize {
    address as isize - anchor()
}

/// The function pointer of type `P` that `distance` names in this run.
///
/// # Safety
///
/// `distance` is what [`distance`] gave for a pointer of type `P`, in a
/// run of this same executable (the parent's: a forked child is the same
/// run, a spawned one runs the same file).
pub(crate) unsafe fn at<P: Copy>(distance: isize) -> P {
    const { assert!(size_of::<P>() == size_of::<usize>()) };
    let address = (anchor() + distance) as usize;
    // SAFETY: as the caller promises, `address` is a `P` of this run.
    unsafe { std::mem::transmute_copy::<usize, P>(&address) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy)]
    enum Void {}

    /// A zero-sized closure type of which no value can ever exist.
    fn never(void: Void) -> impl Fn() + Copy {
        move || match void {}
    }

    fn conjures<F: Fn() + Copy + 'static, G: Fn(Void) -> F>(_: G) -> bool {
        conjure_seen::<F>().is_some()
    }

    /// Only a type a value of which was seen is made from nothing: a type
    /// with no value, or one never seen, is refused, never conjured.
    #[test]
    fn only_a_type_seen_is_conjured() {
        assert!(!conjures(never), "a type with no value was conjured");
        fn square(n: u64) -> u64 {
            n * n
        }
        let twice = |n: u64| 2 * n;
        fn make<F: Copy + 'static>(_: &F) -> Option<F> {
            conjure_seen::<F>()
        }
        assert!(make(&twice).is_none(), "conjured before it was seen");
        seen(&twice);
        assert_eq!(make(&twice).map(|f| f(21)), Some(42));
        seen(&square);
        assert_eq!(make(&square).map(|f| f(7)), Some(49));
    }
}
