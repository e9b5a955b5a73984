//! Placeholder: this section lands with its chapter.

fn main() {
    println!(
        "examples-ipc: the 'queue' section is not written yet; see the README for the chapters that are."
    );
}
