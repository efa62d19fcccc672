//! Internal MessagePack bodies (`ledger::wire::decode`) and canonical encodings. The properties are in `edgeledger_fuzz::wire`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| edgeledger_fuzz::wire::check(data));
