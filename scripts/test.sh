#!/usr/bin/env bash
# THE test command: every check CI runs, in order, stopping at the first failure.
#
#     scripts/test.sh              # all steps
#     scripts/test.sh wasm_tests   # only the named steps (see TEST_STEPS), setup not included
#
# Native steps use the default (rustup) toolchain; wasm steps go through scripts/wasm-cargo
# (the environment of scripts/wasm-env.sh), so the two never share a target directory.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The steps, in order. Add new ones (end-to-end tests against the local network, ...) here, as
# functions below.
TEST_STEPS=(
    setup
    format
    clippy
    docs
    ledger_purity
    native_tests
    wasm_tests
)

setup() {
    "$ROOT/scripts/setup.sh"
}

format() {
    cargo fmt --all -- --check
}

clippy() {
    cargo clippy --workspace --all-targets -- -D warnings
}

# API documentation builds without warnings: broken intra-doc links and missing docs fail here.
docs() {
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
}

# The pure ledger must not pull in randomness or JavaScript on wasm32: no getrandom (k256's
# "std" feature would bring it back, see the root Cargo.toml) and no wasm-bindgen bindings.
ledger_purity() {
    local forbidden
    forbidden="$(cargo tree -p ledger -e normal --target "$WASM_TARGET" --prefix none |
        awk '{ print $1 }' | sort -u | grep -xE 'getrandom|wasm-bindgen|js-sys|web-sys' || true)"
    [[ -z "$forbidden" ]] || die "ledger's wasm32 dependencies include: $(echo "$forbidden" | xargs)"
}

# Unit, integration and doc tests of every crate, natively. cargo-nextest when installed
# (parallel, one process per test); it does not run doc tests, so those run with cargo test.
native_tests() {
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --workspace --no-tests=warn
        cargo test --workspace --doc
    else
        cargo test --workspace
    fi
}

# The ledger's wasm32 suite (ledger/tests/wasm.rs) under Node, through wasm-bindgen-test-runner.
# Only that test target: the library's unit tests use proptest, which is native only.
wasm_tests() {
    "$ROOT/scripts/wasm-cargo" test -p ledger --test wasm --target "$WASM_TARGET"
}

CURRENT_STEP=""

# On exit: say which step failed, so the cause is easy to find in a long CI log.
report_exit() {
    local status=$?
    if [[ $status -ne 0 && -n "$CURRENT_STEP" ]]; then
        printf '\n==> FAILED: %s (exit %d)\n' "$CURRENT_STEP" "$status" >&2
    fi
}

run_step() {
    local started=$SECONDS
    CURRENT_STEP="$1"
    printf '\n==> %s\n' "$1"
    "$1"
    printf '==> %s: ok (%d s)\n' "$1" "$((SECONDS - started))"
    CURRENT_STEP=""
}

main() {
    local steps=("$@") step
    if [[ ${#steps[@]} -eq 0 ]]; then
        steps=("${TEST_STEPS[@]}")
    fi
    for step in "${steps[@]}"; do
        if [[ " ${TEST_STEPS[*]} " != *" $step "* ]]; then
            die "unknown step '$step' (steps: ${TEST_STEPS[*]})"
        fi
    done
    trap report_exit EXIT
    cd "$ROOT"
    local started=$SECONDS
    for step in "${steps[@]}"; do
        run_step "$step"
    done
    printf '\n==> all passed: %s (%d s)\n' "${steps[*]}" "$((SECONDS - started))"
}

main "$@"
