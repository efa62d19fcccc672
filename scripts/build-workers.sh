#!/usr/bin/env bash
# Builds the four Worker crates to wasm with worker-build: each writes <crate>/build/index.js
# (and its wasm), which the wrangler configs load. One after another: they share the target
# folder, so later crates reuse the dependencies the first one compiled.
#
# A crate whose build is newer than every input (its sources and embedded assets, ledger,
# worker-shell, the manifests and Cargo.lock) is skipped, so a second run takes a second.
#
#     scripts/build-workers.sh            # all four
#     scripts/build-workers.sh validator  # just one
set -euo pipefail

# shellcheck source=scripts/wasm-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/wasm-env.sh"

WORKER_CRATES=(sequencer shards validator archiver)

# The tools worker-build would otherwise download (TOOLCHAIN.md §2).
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(cargo_bin_dir)/wasm-bindgen}"
export ESBUILD_BIN="${ESBUILD_BIN:-$ROOT/node_modules/.bin/esbuild}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$ROOT/node_modules/binaryen/bin/wasm-opt}"
# worker-build sets its own target; the wasm-env default would be harmless but is not needed.
unset CARGO_BUILD_TARGET

# True when <crate>/build/index.js exists and no input is newer.
is_fresh() {
    local crate="$1" output="$ROOT/$1/build/index.js"
    [[ -f "$output" ]] || return 1
    local newer inputs=("$ROOT/$crate/src" "$ROOT/$crate/Cargo.toml" "$ROOT/ledger/src"
        "$ROOT/ledger/Cargo.toml" "$ROOT/worker-shell" "$ROOT/Cargo.toml" "$ROOT/Cargo.lock"
        "$ROOT/.cargo/config.toml")
    # Files a crate embeds with include_str! (the sequencer's dashboard).
    [[ -d "$ROOT/$crate/dashboard" ]] && inputs+=("$ROOT/$crate/dashboard")
    newer="$(find "${inputs[@]}" -newer "$output" -print -quit 2>/dev/null)"
    [[ -z "$newer" ]]
}

build_worker() {
    local crate="$1" started=$SECONDS
    if is_fresh "$crate"; then
        log "$crate: up to date"
        return 0
    fi
    log "$crate: worker-build --release"
    (cd "$ROOT/$crate" && "$(cargo_bin_dir)/worker-build" --release) >"$ROOT/target/worker-build-$crate.log" 2>&1 ||
        { tail -40 "$ROOT/target/worker-build-$crate.log" >&2; die "building $crate failed"; }
    log "$crate: built in $((SECONDS - started)) s"
}

main() {
    local crates=("$@") crate
    [[ ${#crates[@]} -gt 0 ]] || crates=("${WORKER_CRATES[@]}")
    mkdir -p "$ROOT/target"
    for crate in "${crates[@]}"; do
        build_worker "$crate"
    done
}

main "$@"
