//! What a pool runs: a function, its arguments as a tuple, and what it
//! returns; and the *runner* that carries a call across to a worker.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ipc::socket::{decode, encode};

/// A function a [`Pool`](super::Pool) can run in a worker, taking its
/// arguments as the tuple `Args`: a function named by its path (`doubler`)
/// or a closure that captures nothing (`|x: u64| x * 2`).
///
/// Implemented for every such function of up to six arguments. A function
/// held in a variable of `fn` pointer type, or a closure that captures
/// something, is refused when the program is built; see
/// ["Why a capturing closure is refused"](super#why-a-capturing-closure-is-refused).
pub trait Function<Args>: sealed::Sealed<Args> + Copy + 'static {
    /// What the function returns.
    type Output: TaskResult;
    /// Call it with the arguments unpacked (Python's `func(*args)`).
    fn call(self, args: Args) -> Self::Output;
}

mod sealed {
    /// Only the implementations below: the pool relies on them.
    pub trait Sealed<Args> {}
}

macro_rules! function_of_arity {
    ($($arg:ident),*) => {
        impl<F, R, $($arg,)*> sealed::Sealed<($($arg,)*)> for F
        where
            F: Fn($($arg),*) -> R + Copy + 'static,
        {
        }

        impl<F, R, $($arg,)*> Function<($($arg,)*)> for F
        where
            F: Fn($($arg),*) -> R + Copy + 'static,
            R: TaskResult,
        {
            type Output = R;
            #[allow(non_snake_case)] // the type names double as argument names
            fn call(self, ($($arg,)*): ($($arg,)*)) -> R {
                self($($arg),*)
            }
        }
    };
}

function_of_arity!();
function_of_arity!(A);
function_of_arity!(A, B);
function_of_arity!(A, B, C);
function_of_arity!(A, B, C, D);
function_of_arity!(A, B, C, D, E);
function_of_arity!(A, B, C, D, E, G);

/// What a pool task may return: a plain value, which comes back as is, or
/// a `Result`, whose `Err` comes back to the caller as
/// [`Error::Remote`](crate::Error::Remote) carrying the error's message,
/// the way CPython re-raises a worker's exception in the caller.
///
/// Implemented for the standard types that serde can send (numbers, `bool`,
/// `char`, `String`, `()`, `Vec`, `Option`, maps, sets, tuples), for
/// [`serde_bytes::ByteBuf`] (the fast way to return bytes), and for
/// `Result<T, E: Display>`. For a type of your own, return
/// `Result<MyType, std::convert::Infallible>`, or implement this trait in
/// three lines with `type Value = Self` and `Ok(self)`.
pub trait TaskResult {
    /// The value the caller receives.
    type Value: Serialize + DeserializeOwned;
    /// The value, or the message of the error the task returned.
    fn into_result(self) -> Result<Self::Value, String>;
}

impl<T: Serialize + DeserializeOwned, E: fmt::Display> TaskResult for Result<T, E> {
    type Value = T;
    fn into_result(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

macro_rules! plain_result {
    ($($ty:ty),* $(,)?) => {
        $(impl TaskResult for $ty {
            type Value = $ty;
            fn into_result(self) -> Result<$ty, String> {
                Ok(self)
            }
        })*
    };
}

plain_result!((), bool, char, String, f32, f64);
plain_result!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);
// Bytes that serde copies in one go, not one `u8` at a time as a `Vec<u8>`.
plain_result!(serde_bytes::ByteBuf);

macro_rules! generic_plain_result {
    ($ty:ident < $($param:ident),* >) => {
        impl<$($param),*> TaskResult for $ty<$($param),*>
        where
            $ty<$($param),*>: Serialize + DeserializeOwned,
        {
            type Value = Self;
            fn into_result(self) -> Result<Self, String> {
                Ok(self)
            }
        }
    };
}

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
generic_plain_result!(Vec<T>);
generic_plain_result!(VecDeque<T>);
generic_plain_result!(Option<T>);
generic_plain_result!(Box<T>);
generic_plain_result!(BTreeMap<K, V>);
generic_plain_result!(HashMap<K, V>);
generic_plain_result!(BTreeSet<T>);
generic_plain_result!(HashSet<T>);

macro_rules! tuple_result {
    ($($param:ident),*) => {
        impl<$($param),*> TaskResult for ($($param,)*)
        where
            ($($param,)*): Serialize + DeserializeOwned,
        {
            type Value = Self;
            fn into_result(self) -> Result<Self, String> {
                Ok(self)
            }
        }
    };
}

tuple_result!(A);
tuple_result!(A, B);
tuple_result!(A, B, C);
tuple_result!(A, B, C, D);
tuple_result!(A, B, C, D, E);
tuple_result!(A, B, C, D, E, G);

/// What the caller receives from `F` called with `Args`: the function's
/// return value, or the `Ok` side of it if it returns a `Result`.
pub type Value<F, Args> = <<F as Function<Args>>::Output as TaskResult>::Value;

/// Runs one task in a worker: decodes a chunk of argument tuples, calls the
/// function on each, and encodes the values (or returns the first error).
pub(crate) type Runner = fn(&[u8]) -> Result<Vec<u8>, String>;

/// The runner for `F`: the only thing about `F` that travels to a worker.
///
/// `F` is zero-sized, so its type alone says which code to run, and
/// `run_chunk::<F, Args>` is an ordinary function compiled into this
/// program. A worker is a `fork` of this process: same program, loaded at
/// the same addresses, so the runner's address means the same function
/// there. The check below is evaluated when the program is built.
pub(crate) fn runner<F, Args>() -> Runner
where
    F: Function<Args>,
    Args: Serialize + DeserializeOwned,
{
    const {
        assert!(
            size_of::<F>() == 0,
            "a Pool runs a function, or a closure that captures nothing: what a closure \
             captures lives in this process's memory, which the pool's workers (forked \
             earlier) do not share; pass the values as arguments instead"
        )
    };
    run_chunk::<F, Args>
}

/// [`runner`] for the function `f`, its type inferred.
pub(crate) fn runner_of<F, Args>(_f: F) -> Runner
where
    F: Function<Args>,
    Args: Serialize + DeserializeOwned,
{
    runner::<F, Args>()
}

fn run_chunk<F, Args>(chunk: &[u8]) -> Result<Vec<u8>, String>
where
    F: Function<Args>,
    Args: Serialize + DeserializeOwned,
{
    // SAFETY: `runner` proved `F` zero-sized, so a value of it has no bytes
    // that could be invalid, and `F: Copy`, so making another value of it is
    // allowed; the parent held one (it passed it to the pool), so the type
    // is inhabited. This is how a worker gets hold of a function that was
    // never sent: its type is the whole of it.
    let f: F = unsafe { std::mem::zeroed() };
    let args: Vec<Args> = decode(chunk).map_err(|e| e.to_string())?;
    // Stop at the first error, as CPython's `list(map(f, chunk))` does.
    let values = args
        .into_iter()
        .map(|args| f.call(args).into_result())
        .collect::<Result<Vec<_>, String>>()?;
    encode(&values).map_err(|e| e.to_string())
}
