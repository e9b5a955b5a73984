//! A `Value` and an `Array` in shared memory, changed by a child and read
//! by the parent.
//!
//! Python twin: `python/value_array.py` (beyond the tutorials: the CPython
//! docs' "Sharing state between processes").
//!
//! ```console
//! $ cargo run -p examples-ipc --bin value_array
//! 3.1415927
//! [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]
//! ```
//! The child's writes reach the parent because both map the same memory
//! (made before the fork), not because anything is sent. Python's `'d'`
//! and `'i'` type codes are the Rust types `f64` and `i32`.

use shared::{Array, Error, Process, Value};

#[allow(clippy::approx_constant)] // the CPython docs' number, not π
fn f(n: &Value<f64>, a: &Array<i32>) {
    n.set(3.1415927);
    for i in 0..a.len() {
        a.set(i, -a.get(i));
    }
}

fn main() -> Result<(), Error> {
    let num = Value::new(0.0f64)?;
    let arr = Array::new(&(0..10).collect::<Vec<i32>>())?;

    let (n, a) = (num.clone(), arr.clone());
    let mut p = Process::new(move || f(&n, &a));
    p.start()?;
    p.join()?;

    println!("{}", num.get());
    println!("{arr:?}"); // Python: print(arr[:])
    Ok(())
}
