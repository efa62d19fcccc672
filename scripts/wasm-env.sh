# shellcheck shell=bash
# The environment for wasm32 builds. Source it in a subshell, never in a shell that also runs
# native builds: it may put Debian's cargo and rustc first on PATH.
#
#     ( source scripts/wasm-env.sh && cargo test -p ledger --test wasm )
#
# or use scripts/wasm-cargo, which does exactly that. scripts/setup.sh installs what it needs.
# Everything is computed here at run time (nothing generated), from `wasm_toolchain` in lib.sh:
# - rustup: the rustup toolchain with its wasm32 target (a laptop with internet).
# - debian: Debian's rustc-web 1.96, which builds the standard library for wasm32 itself
#   (-Zbuild-std; RUSTC_BOOTSTRAP unlocks that on a stable compiler). See TOOLCHAIN.md §1.
# Either way wasm builds use their own target directory, target/wasm, so they and the native
# builds never invalidate each other's caches.

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EDGELEDGER_WASM_TOOLCHAIN="$(wasm_toolchain)"
export EDGELEDGER_WASM_TOOLCHAIN

if [[ "$EDGELEDGER_WASM_TOOLCHAIN" == debian ]]; then
    export PATH="/usr/bin:$PATH"
    export CARGO=/usr/bin/cargo
    export RUSTC=/usr/bin/rustc
    export RUSTDOC=/usr/bin/rustdoc
    export RUSTC_BOOTSTRAP=1
    export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
fi

export CARGO_TARGET_DIR="$ROOT/target/wasm"
export CARGO_BUILD_TARGET="$WASM_TARGET"
# `cargo test` on wasm32 runs each test binary through this runner, under Node.
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$(cargo_bin_dir)/wasm-bindgen-test-runner"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER
