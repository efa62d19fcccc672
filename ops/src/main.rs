//! `ops`: the operator's command-line tool for an edgeledger network.

fn main() {
    println!(
        "ops {}: operator tool for edgeledger",
        env!("CARGO_PKG_VERSION")
    );
}
