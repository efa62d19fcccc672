//! Ethereum raw transactions: `ledger::transaction::decode` and `recover`. The properties are in `edgeledger_fuzz::transaction`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| edgeledger_fuzz::transaction::check(data));
