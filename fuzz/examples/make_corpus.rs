//! Writes the seed corpus to `fuzz/corpus/<target>/` (see `edgeledger_fuzz::corpus`), after
//! checking every seed passes its target's checks.
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example make_corpus
//!
//! Seeds are deterministic, so running it again changes nothing unless the encoders changed.
//! Files in those folders that it did not write are left alone (a crash input committed as a
//! regression seed stays).

use std::path::{Path, PathBuf};

use edgeledger_fuzz::corpus;

/// The total size the committed corpus should stay under.
const CORPUS_BYTES_MAX: usize = 200 * 1024;

fn main() {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let seeds = corpus::seeds();
    let total: usize = seeds.iter().map(|seed| seed.bytes.len()).sum();
    assert!(total <= CORPUS_BYTES_MAX, "the corpus is {total} bytes");
    for seed in &seeds {
        corpus::check(seed.target, &seed.bytes);
        let folder = root.join(seed.target);
        std::fs::create_dir_all(&folder).expect("create the corpus folder");
        let path = folder.join(&seed.name);
        let unchanged = std::fs::read(&path).is_ok_and(|bytes| bytes == seed.bytes);
        if !unchanged {
            std::fs::write(&path, &seed.bytes).expect("write a seed");
            println!("wrote {} ({} bytes)", path.display(), seed.bytes.len());
        }
    }
    println!(
        "{} seeds, {total} bytes, in {}",
        seeds.len(),
        root.display()
    );
}
