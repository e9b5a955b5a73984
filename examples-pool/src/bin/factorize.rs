//! Tutorial 002's CPU-bound race: the same four factorizations run
//! sequentially, one process per number, in a pool, and in threads.
//!
//! Python twin: `python/factorize.py` (tutorial 002).
//!
//! ```console
//! $ cargo run --release -p examples-pool --bin factorize
//! sequential:
//! [1, 5501, 9733, 53541233]
//! [1, 21235343]
//! [1, 11, 383, 2711, 4213, 29821, 1038313, 11421443]
//! [1, 5423123]
//! Took [..] seconds
//! one process per number:
//! …
//! threads:
//! …
//! Took [..] seconds
//! ideal on [..] cores: [..] seconds (largest task alone [..], total / cores [..])
//! efficiency: sequential [..]%, one process per number [..]%, pool [..]%, threads [..]%
//! ```
//! `[..]` marks the timings, which vary: on this project's 2-core machine,
//! about 0.21 s sequentially and 0.12 s for the pool and the threads, with
//! efficiencies of about 57 %, 87 %, 100 % and 105 % (CPython takes about
//! 6 s sequentially). No variant can beat
//! the ideal by much, only by noise: it cannot finish before its largest
//! number is done, nor before the total work is shared out over the cores.
//! The pool has four workers on two cores, as in the twin; a pool of two
//! hands the next number to whichever worker is free. Longer than most
//! sections: four variants, timed.
//!
//! Differs from Python: a `threads` variant, because Rust has no GIL, so
//! threads run on all cores as processes do.

use std::time::{Duration, Instant};

use examples_pool::{NUMBERS, factorize};
use shared::pool::Pool;
use shared::{Error, Process, Queue, Run, cpu_count, timeline};

type Factors = Vec<Vec<u64>>;
type Variant = fn() -> Result<Factors, Error>;

struct FactorizeProcess {
    index: usize,
    number: u64,
    results: Queue<(usize, Vec<u64>)>,
}

impl Run for FactorizeProcess {
    fn run(&mut self) {
        // The child's memory dies with it: send the factors back.
        let factors = {
            let _work = timeline::span("factorize"); // a bar in the timeline (TIMELINE=1)
            factorize(self.number)
        };
        let _ = self.results.put((self.index, factors));
    }
}

fn sequential() -> Result<Factors, Error> {
    let one = |&number: &u64| {
        let _work = timeline::span("factorize");
        factorize(number)
    };
    Ok(NUMBERS.iter().map(one).collect())
}

fn one_process_per_number() -> Result<Factors, Error> {
    let results = Queue::new()?;
    let mut procs: Vec<Process> = NUMBERS
        .iter()
        .enumerate()
        .map(|(index, &number)| {
            let results = results.clone();
            FactorizeProcess {
                index,
                number,
                results,
            }
            .into_process()
        })
        .collect();
    for proc in &mut procs {
        proc.start()?;
    }
    // Read the results before joining: a child that has put a big item on
    // a queue does not exit until the item has been taken.
    let mut factors = vec![Vec::new(); NUMBERS.len()];
    for _ in &procs {
        let (index, divisors) = results.get()?;
        factors[index] = divisors;
    }
    for proc in &procs {
        proc.join()?;
    }
    Ok(factors)
}

fn pool() -> Result<Factors, Error> {
    Pool::new(NUMBERS.len())?.map(factorize, NUMBERS) // one worker per number, as the twin
}

fn threads() -> Result<Factors, Error> {
    std::thread::scope(|s| {
        let handles: Vec<_> = NUMBERS
            .iter()
            .map(|&n| s.spawn(move || factorize(n)))
            .collect();
        let joined = handles.into_iter().map(|h| h.join());
        Ok(joined
            .map(|r| r.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect())
    })
}

fn main() -> Result<(), Error> {
    let variants: [(&str, Variant); 4] = [
        ("sequential", sequential),
        ("one process per number", one_process_per_number),
        ("pool", pool),
        ("threads", threads), // New! No GIL: threads use every core too
    ];
    let mut took = Vec::new();
    for (title, variant) in variants {
        println!("{title}:");
        timeline::part(title); // with TIMELINE=1, each variant is drawn on its own
        let start = Instant::now();
        let results = variant()?;
        let elapsed = start.elapsed();
        for result in results {
            println!("{result:?}");
        }
        println!("Took {:.3} seconds", elapsed.as_secs_f64());
        took.push((title, elapsed));
    }

    // The best any variant could do here: not before the largest number is
    // done, and not before the total work is spread over every core.
    timeline::part("the largest number alone");
    let start = Instant::now();
    std::hint::black_box(factorize(NUMBERS[0])); // unused: keep the optimiser from skipping it
    let largest = start.elapsed();
    let per_core = took[0].1 / cpu_count() as u32;
    let ideal = largest.max(per_core);
    let secs = Duration::as_secs_f64;
    println!(
        "ideal on {} cores: {:.3} seconds (largest task alone {:.3}, total / cores {:.3})",
        cpu_count(),
        secs(&ideal),
        secs(&largest),
        secs(&per_core)
    );
    let efficiency: Vec<String> = took
        .iter()
        .map(|(title, t)| format!("{title} {:.0}%", 100.0 * secs(&ideal) / secs(t)))
        .collect();
    println!("efficiency: {}", efficiency.join(", "));
    Ok(())
}
