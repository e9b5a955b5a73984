//! What a process target may return ([`Outcome`]), and what a pool task
//! may return ([`TaskResult`]): a pool task's value travels back, so it
//! must be a serde type; a target's value is dropped, so it may be anything.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Display;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What a [`Pool`](crate::Pool) task may return: a plain value, or a
/// `Result` whose `Err` is the failure, the way a Python function raises.
/// The value comes back to the caller; an `Err` comes back as
/// [`Error::Remote`](crate::Error::Remote) carrying the error's type name
/// and message, the way CPython re-raises a worker's exception (say
/// `ValueError: bad input`) in the caller.
///
/// Implemented for the standard types that serde can send (numbers, `bool`,
/// `char`, `String`, `()`, `Vec`, `Option`, maps, sets, tuples), for
/// [`serde_bytes::ByteBuf`] (the fast way to return bytes), for
/// `Result<T, E: Display>`, and for `Result<T, Typed<E>>`, whose error
/// travels back whole (see [`Typed`]). For a type of your own, return
/// `Result<MyType, std::convert::Infallible>`, or implement this trait in
/// three lines with `type Value = Self` and `Ok(self)`.
pub trait TaskResult {
    /// The value the caller receives.
    type Value: Serialize + DeserializeOwned + 'static;
    /// The value, or what the task raised.
    fn into_result(self) -> Result<Self::Value, Raised>;
}

/// What a failed task or target "raised": the type of its error and the
/// error's message, as Python shows `ValueError: bad input`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Raised {
    /// The error type's own name, without its path: `ParseIntError`,
    /// `String`, `&str`; `panic` for a panic.
    pub kind: String,
    /// The error's `Display` text, or the panic's message.
    pub message: String,
    /// For an error wrapped in [`Typed`]: its full type name and the error
    /// itself, encoded.
    #[serde(with = "serde_bytes")]
    pub value: Option<Vec<u8>>,
}

/// A pool task's error that travels back whole, not only as its text:
/// return `Result<T, Typed<MyError>>` (where `MyError` is a serde type
/// with `Display`), and the caller gets `MyError` back from
/// [`Error::remote`](crate::Error::remote). Plain `Result<T, E>` sends the
/// type's name and text only: Rust cannot tell, in general, whether `E` can
/// be serialised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Typed<E>(pub E);

impl<T: Serialize + DeserializeOwned + 'static, E: Serialize + Display> TaskResult
    for Result<T, Typed<E>>
{
    type Value = T;
    fn into_result(self) -> Result<T, Raised> {
        self.map_err(|Typed(e)| Raised {
            kind: type_name::<E>().to_owned(),
            message: e.to_string(),
            // Its full type name first: `Error::remote` decodes it only as that type.
            value: postcard::to_stdvec(&(std::any::type_name::<E>(), &e)).ok(),
        })
    }
}

impl<T: Serialize + DeserializeOwned + 'static, E: Display> TaskResult for Result<T, E> {
    type Value = T;
    fn into_result(self) -> Result<T, Raised> {
        self.map_err(|e| Raised {
            kind: type_name::<E>().to_owned(),
            message: e.to_string(),
            value: None,
        })
    }
}

/// `T`'s name without its path or parameters, as Python names a class:
/// `core::num::error::ParseIntError` is `ParseIntError`, `my::Worker<u8>`
/// is `Worker`.
pub(crate) fn type_name<T: ?Sized>() -> &'static str {
    let full = std::any::type_name::<T>();
    let path = full.split('<').next().unwrap_or(full);
    path.rsplit("::").next().unwrap_or(path)
}

/// `TaskResult` for types that come back as they are.
macro_rules! as_is {
    ($(<$($param:ident),*> $ty:ty),* $(,)?) => {$(
        impl<$($param),*> TaskResult for $ty where $ty: Serialize + DeserializeOwned + 'static {
            type Value = Self;
            fn into_result(self) -> Result<Self, Raised> {
                Ok(self)
            }
        }
    )*};
}

as_is!(<> (), <> bool, <> char, <> String, <> f32, <> f64, <> serde_bytes::ByteBuf);
as_is!(<> u8, <> u16, <> u32, <> u64, <> u128, <> usize);
as_is!(<> i8, <> i16, <> i32, <> i64, <> i128, <> isize);
as_is!(<T> Vec<T>, <T> VecDeque<T>, <T> Option<T>, <T> Box<T>, <T> BTreeSet<T>, <T> HashSet<T>);
as_is!(<K, V> BTreeMap<K, V>, <K, V> HashMap<K, V>);
as_is!(<A> (A,), <A, B> (A, B), <A, B, C> (A, B, C), <A, B, C, D> (A, B, C, D));

/// What a [`Process`](crate::Process) target may return: `()`, a value
/// (dropped: a return value is not an exit code, in Python either; call
/// [`crate::exit`] for that), or a `Result<T, E: Display>` for any `T`,
/// whose `Err` is printed under `Process <name>:` and gives exit code 1,
/// as an uncaught exception does in Python. So `|| File::open("x")` is a
/// target.
///
/// Implemented for `()`, every `Result<T, E: Display>`, and the standard
/// values (numbers, `bool`, `char`, `String`, `Vec`, `Option`, `Box`, maps,
/// sets, tuples), none of which need serde. A value of your own type: end
/// the closure with `;`. (Rust cannot say "any value, but a `Result`
/// differently" in one rule, so the values are listed.)
pub trait Outcome {
    /// The message of the failure, if it is one.
    fn failure(self) -> Option<String>;
}

impl<T, E: Display> Outcome for Result<T, E> {
    fn failure(self) -> Option<String> {
        self.err().map(|e| e.to_string())
    }
}

/// `Outcome` for values that never fail.
macro_rules! never_fails {
    ($(<$($param:ident),*> $ty:ty),* $(,)?) => {$(
        impl<$($param),*> Outcome for $ty {
            fn failure(self) -> Option<String> {
                None
            }
        }
    )*};
}

never_fails!(<> (), <> bool, <> char, <> String, <> &'static str, <> f32, <> f64);
never_fails!(<> u8, <> u16, <> u32, <> u64, <> u128, <> usize);
never_fails!(<> i8, <> i16, <> i32, <> i64, <> i128, <> isize);
never_fails!(<T> Vec<T>, <T> VecDeque<T>, <T> Option<T>, <T> Box<T>, <T> BTreeSet<T>, <T> HashSet<T>);
never_fails!(<K, V> BTreeMap<K, V>, <K, V> HashMap<K, V>);
never_fails!(<A> (A,), <A, B> (A, B), <A, B, C> (A, B, C), <A, B, C, D> (A, B, C, D));
