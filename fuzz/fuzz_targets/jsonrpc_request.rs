//! JSON-RPC bodies: `ledger::rpc::parse_body`, then every entry handled. The properties are in `edgeledger_fuzz::jsonrpc`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| edgeledger_fuzz::jsonrpc::check(data));
