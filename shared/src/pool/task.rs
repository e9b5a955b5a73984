//! What a pool runs: a function, its arguments as a tuple, and what it
//! returns; and the *runner* that carries a call across to a worker.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::codec::{decode_onto, encode_seq};
pub use crate::returns::{Raised, TaskResult};

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

/// What the caller receives from `F` called with `Args`: the function's
/// return value, or the `Ok` side of it if it returns a `Result`.
pub type Value<F, Args> = <<F as Function<Args>>::Output as TaskResult>::Value;

/// Runs one task in a worker: decodes a chunk of argument tuples, calls the
/// function on each, and encodes the values (or returns the first error).
pub(crate) type Runner = fn(&[u8]) -> Result<Vec<u8>, Failed>;

/// Why a task has no values for the caller.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Failed {
    /// The function returned an `Err` or panicked.
    Raised(Raised),
    /// The values could not be encoded (CPython's `MaybeEncodingError`).
    Unencodable(String),
}

impl From<Failed> for Error {
    fn from(failed: Failed) -> Error {
        match failed {
            Failed::Raised(Raised {
                kind,
                message,
                value,
            }) => Error::Remote {
                kind,
                message,
                value,
            },
            Failed::Unencodable(why) => Error::Encoding(format!("Error sending result: {why}")),
        }
    }
}

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
    Args: Serialize + DeserializeOwned + 'static,
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
    Args: Serialize + DeserializeOwned + 'static,
{
    runner::<F, Args>()
}

fn run_chunk<F, Args>(chunk: &[u8]) -> Result<Vec<u8>, Failed>
where
    F: Function<Args>,
    Args: Serialize + DeserializeOwned + 'static,
{
    // SAFETY: `runner` proved `F` zero-sized, so a value of it has no bytes
    // that could be invalid, and `F: Copy`, so making another value of it is
    // allowed; the parent held one (it passed it to the pool), so the type
    // is inhabited. This is how a worker gets hold of a function that was
    // never sent: its type is the whole of it.
    let f: F = unsafe { std::mem::zeroed() };
    let mut args: Vec<Args> = Vec::new();
    decode_onto(chunk, &mut args).map_err(unencodable)?;
    // Stop at the first error, as CPython's `list(map(f, chunk))` does.
    let values = args
        .into_iter()
        .map(|args| f.call(args).into_result())
        .collect::<Result<Vec<_>, Raised>>()
        .map_err(Failed::Raised)?;
    // About as many bytes as came in: room made once.
    encode_seq(&values, Vec::with_capacity(chunk.len() + 16)).map_err(unencodable)
}

fn unencodable(e: Error) -> Failed {
    match e {
        Error::Encoding(why) => Failed::Unencodable(why),
        e => Failed::Unencodable(e.to_string()),
    }
}
