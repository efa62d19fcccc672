//! Native API bodies: `ledger::api::decode_batch` and `decode_single`. The properties are in `edgeledger_fuzz::batch`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| edgeledger_fuzz::batch::check(data));
