//! Backup envelopes, the snapshot inside, and the backup index. The properties are in `edgeledger_fuzz::backup`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| edgeledger_fuzz::backup::check(data));
