//! Placeholder: this section lands with its chapter.

fn main() {
    println!(
        "examples-pool: the 'pool_map' section is not written yet; see the README for the chapters that are."
    );
}
