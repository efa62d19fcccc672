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
    fuzz
    wasm_tests
    build_workers
    wrangler_dry_run
    network_tests
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
# Every native test except the live-network suite, which needs the Workers built and runs in
# its own step (network_tests).
native_tests() {
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --workspace --no-tests=warn -E 'not binary_id(ops::network)'
        cargo test --workspace --doc
    else
        cargo test --workspace --exclude ops
        cargo test -p ops --lib --bins
    fi
}

# Every fuzz target (fuzz/, scripts/fuzz.sh) for FUZZ_SECONDS (20 s) each, from the committed
# seed corpus: about two minutes with the build. A crash fails the step, printing the input and
# how to reproduce it.
fuzz() {
    # The seeds first, on the stable compiler: each still decodes as its generator says, and
    # the committed corpus is what fuzz/examples/make_corpus.rs writes.
    cargo test --manifest-path "$ROOT/fuzz/Cargo.toml" --test corpus
    "$ROOT/scripts/fuzz.sh" --seconds "${FUZZ_SECONDS:-20}"
}

# The ledger's wasm32 suite (ledger/tests/wasm.rs) under Node, through wasm-bindgen-test-runner.
# Only that test target: the library's unit tests use proptest, which is native only.
wasm_tests() {
    "$ROOT/scripts/wasm-cargo" test -p ledger --test wasm --target "$WASM_TARGET"
}

# The four Worker crates, built to wasm with worker-build (skipped when up to date).
build_workers() {
    "$ROOT/scripts/build-workers.sh"
}

# `wrangler deploy --dry-run` for every committed config, as a team deploys them: the root
# (sequencer), shards, archiver, and each validator environment. Run from each config's folder
# so its [build] command (worker-build) works; the builds above make those quick.
wrangler_dry_run() {
    local out="$ROOT/target/dry-run" wrangler="$ROOT/node_modules/.bin/wrangler" environment
    # shellcheck source=scripts/wasm-env.sh
    (
        source "$ROOT/scripts/wasm-env.sh"
        unset CARGO_BUILD_TARGET
        export WASM_BINDGEN_BIN="$(cargo_bin_dir)/wasm-bindgen" ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild" \
            WASM_OPT_BIN="$ROOT/node_modules/binaryen/bin/wasm-opt" WRANGLER_SEND_METRICS=false
        export PATH="$(cargo_bin_dir):$PATH"
        dry_run() { "$wrangler" deploy --dry-run --outdir "$out/$1" "${@:2}" >"$out/$1.log" 2>&1 ||
            { tail -30 "$out/$1.log" >&2; die "wrangler deploy --dry-run failed for $1"; }; log "$1: ok"; }
        mkdir -p "$out"
        cd "$ROOT" && dry_run sequencer
        cd "$ROOT/shards" && dry_run shards
        cd "$ROOT/archiver" && dry_run archiver
        cd "$ROOT/validator"
        for environment in v0 v1 v2 v3 v4 v5 v6; do
            dry_run "validator-$environment" --env "$environment"
        done
    )
}

# The end-to-end suite against live local networks (ops/tests/network), one test at a time.
network_tests() {
    cargo test -p ops --test network -- --test-threads=1
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
