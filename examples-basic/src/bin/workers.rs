//! Placeholder: this section lands with its chapter.

fn main() {
    println!(
        "examples-basic: the 'workers' section is not written yet; see the README for the chapters that are."
    );
}
