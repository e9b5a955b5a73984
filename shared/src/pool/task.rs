//! What a pool runs: a function, its arguments as a tuple, and what it
//! returns; and the *runner* that carries a call across to a worker.

use crate::sealed::Sealed;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::codec::{Arg, decode_onto, encode_seq};
pub use crate::returns::{Raised, TaskResult};

/// A function a [`Pool`](super::Pool) can run in a worker, taking its
/// arguments as the tuple `Args`: a function named by its path (`doubler`)
/// or a closure that captures nothing (`|x: u64| x * 2`).
///
/// Implemented for every such function of up to six arguments. A function
/// held in a variable of `fn` pointer type, or a closure that captures
/// something, is refused when the program is built; see
/// ["Why a capturing closure is refused"](super#why-a-capturing-closure-is-refused).
pub trait Function<Args>: Sealed<fn(Args)> + Copy + 'static {
    /// What the function returns.
    type Output: TaskResult;
    /// Call it with the arguments unpacked (Python's `func(*args)`).
    fn call(self, args: Args) -> Self::Output;
}

macro_rules! function_of_arity {
    ($($arg:ident),*) => {
        impl<F, R, $($arg,)*> Sealed<fn(($($arg,)*))> for F
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
pub type Returned<F, Args> = <<F as Function<Args>>::Output as TaskResult>::Value;

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

/// What the codec could not decode or encode (its text, `Error::Encoding`'s
/// included, is the reason).
impl From<Error> for Failed {
    fn from(e: Error) -> Failed {
        Failed::Unencodable(e.to_string())
    }
}

impl From<Failed> for Error {
    fn from(failed: Failed) -> Error {
        match failed {
            Failed::Raised(raised) => Error::Remote {
                kind: raised.kind,
                message: raised.message,
                value: raised.value,
            },
            Failed::Unencodable(why) => Error::Encoding(format!("Error sending result: {why}")),
        }
    }
}

/// The runner for the function `f`: the only thing about it that travels
/// to a worker. `F` is zero-sized, so its type alone says which code to
/// run, and the closure below, compiled once for each `F` and `Args`, is an
/// ordinary function of this program, sent as its distance (see
/// `functions.rs`).
pub(crate) fn runner_of<F: Function<Args>, Args: Arg>(_made_from: F) -> Runner {
    |chunk| {
        // SAFETY: the parent made this runner from a value of `F` (`runner_of`).
        let f: F = unsafe { crate::functions::conjure() };
        let mut args: Vec<Args> = Vec::new();
        decode_onto(chunk, &mut args)?;
        // Stop at the first error, as CPython's `list(map(f, chunk))` does.
        let results = args.into_iter().map(|args| f.call(args).into_result());
        let values: Vec<_> = results.collect::<Result<_, _>>().map_err(Failed::Raised)?;
        // About as many bytes as came in: room made once.
        Ok(encode_seq(&values, Vec::with_capacity(chunk.len() + 16))?)
    }
}
