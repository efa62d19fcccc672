#!/usr/bin/env bash
# Fuzzes the ledger's decoders with cargo-fuzz (libFuzzer): builds every target in fuzz/ once,
# then runs each for a bounded time, starting from the committed seed corpus. Fails on the first
# input that crashes a target (a panic, an overflow, a timeout, too much memory), printing the
# input and the command that reproduces it; the other targets still run.
#
#     scripts/fuzz.sh                               # every target, FUZZ_SECONDS (20 s) each
#     scripts/fuzz.sh --seconds 300                 # five minutes each
#     scripts/fuzz.sh --seconds 600 backup_envelope # only the named targets
#     scripts/fuzz.sh -- -jobs=2                    # extra libFuzzer flags after --
#
# The committed corpus, fuzz/corpus/<target>, is only read. What libFuzzer adds goes to
# fuzz/target/corpus/<target> (kept between runs, so longer sessions build on earlier ones;
# delete it to start afresh), crash inputs to fuzz/artifacts/<target>/, logs to
# fuzz/target/logs/. None of them is committed. A crash input worth keeping as a regression seed
# is copied into fuzz/corpus/<target>/ once the bug is fixed.
#
# Toolchain: cargo-fuzz passes -Z flags (sanitizer, coverage), so it needs a nightly compiler.
# `cargo +nightly fuzz` when rustup has a nightly toolchain; otherwise the default toolchain
# with RUSTC_BOOTSTRAP=1, which lets a stable compiler take them. EDGELEDGER_FUZZ_TOOLCHAIN
# names a rustup toolchain to use instead (for example `stable`).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# For ensure_cargo_fuzz and CARGO_FUZZ_VERSION (sourcing it only defines them).
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"

# Seconds each target runs when neither --seconds nor FUZZ_SECONDS says.
FUZZ_SECONDS_DEFAULT=20

FUZZ_DIR="$ROOT/fuzz"

# libFuzzer's limits: an input that takes 10 s, or a single allocation of 256 MiB (the largest
# legitimate one is a 4 MiB backup chunk), is a bug, as a Worker would die of it too.
LIBFUZZER_FLAGS=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 -print_final_stats=1)

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit "${1:-0}"
}

# The rustup toolchain cargo-fuzz runs under: a nightly when one is installed, else empty
# (cargo's default toolchain, with RUSTC_BOOTSTRAP=1).
fuzz_toolchain() {
    if [[ -n "${EDGELEDGER_FUZZ_TOOLCHAIN:-}" ]]; then
        echo "$EDGELEDGER_FUZZ_TOOLCHAIN"
    elif have rustup; then
        local nightly
        nightly="$(rustup toolchain list 2>/dev/null | awk '/^nightly/ { print $1; exit }')"
        # `nightly-<host>` is `+nightly`; a dated nightly goes by its full name.
        if [[ "$nightly" =~ ^nightly-[0-9]{4}- ]]; then
            echo "$nightly"
        elif [[ -n "$nightly" ]]; then
            echo nightly
        fi
    fi
}

# The command that runs cargo-fuzz, as words: for running it and for printing it.
cargo_fuzz_command() {
    local toolchain="$1"
    case "$toolchain" in
        nightly*) echo "cargo +$toolchain fuzz" ;;
        "") echo "RUSTC_BOOTSTRAP=1 cargo fuzz" ;;
        *) echo "RUSTC_BOOTSTRAP=1 cargo +$toolchain fuzz" ;;
    esac
}

cargo_fuzz() {
    local command
    read -r -a command <<<"$(cargo_fuzz_command "$FUZZ_TOOLCHAIN")"
    if [[ "${command[0]}" == RUSTC_BOOTSTRAP=1 ]]; then
        RUSTC_BOOTSTRAP=1 "${command[@]:1}" "$@"
    else
        "${command[@]}" "$@"
    fi
}

# Number after `stat::<name>:` in a libFuzzer log, or `?`.
final_stat() {
    local value
    value="$(awk -v name="stat::$1:" '$1 == name { print $2 }' "$2" | tail -1)"
    echo "${value:-?}"
}

# Prints what crashed, the input, the stack and how to reproduce it.
report_crash() {
    local target="$1" log="$2" artifact
    artifact="$(grep -o 'Test unit written to .*' "$log" | tail -1 | sed 's/^Test unit written to //')"
    printf '\n' >&2
    if [[ -z "$artifact" || ! -f "$artifact" ]]; then
        tail -40 "$log" >&2
        log "$target: failed without a crash input; log: $log"
        return
    fi
    # The panic or sanitizer report and its stack, without libFuzzer's statistics.
    sed -n '/panicked at\|==[0-9]*==ERROR\|ALARM: working on the last Unit\|out-of-memory/,/^SUMMARY\|^MS: /p' "$log" |
        head -80 >&2
    log "$target: CRASH, input: ${artifact#"$ROOT"/} ($(wc -c <"$artifact") bytes)"
    log "input (hex$( (($(wc -c <"$artifact") > 512)) && echo ', first 512 bytes')):" \
        "$(od -An -v -tx1 "$artifact" | tr -d ' \n' | head -c 1024)"
    # A panic reproduces as it is; running out of time or memory needs the same limits.
    local limits=""
    case "$(basename "$artifact")" in
        oom-* | timeout-* | slow-unit-*) limits=" -- ${LIBFUZZER_FLAGS[*]:0:3} ${EXTRA_FLAGS[*]}" ;;
    esac
    log "reproduce (from the repository root):" \
        "$(cargo_fuzz_command "$FUZZ_TOOLCHAIN") run $target ${artifact#"$ROOT"/}${limits% }"
    log "full log: $log"
}

# Runs one built target for `seconds`, as `cargo fuzz run` would but without building again (so
# every target fuzzes the code built once, even if the tree changes meanwhile); false if it
# crashed.
run_target() {
    local target="$1" seconds="$2" grown="$FUZZ_DIR/target/corpus/$1"
    local binary="$FUZZ_DIR/target/$HOST_TRIPLE/release/$1" log="$FUZZ_DIR/target/logs/$1.log"
    local status=0
    [[ -x "$binary" ]] || die "$binary was not built"
    mkdir -p "$grown" "$FUZZ_DIR/artifacts/$target" "$FUZZ_DIR/target/logs"
    # The grown corpus first: libFuzzer writes new inputs only to the first folder.
    ASAN_OPTIONS="detect_odr_violation=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" "$binary" \
        -artifact_prefix="$FUZZ_DIR/artifacts/$target/" -max_total_time="$seconds" \
        "${LIBFUZZER_FLAGS[@]}" "${EXTRA_FLAGS[@]}" "$grown" "$FUZZ_DIR/corpus/$target" \
        >"$log" 2>&1 || status=$?
    local runs per_second added corpus
    runs="$(final_stat number_of_executed_units "$log")"
    per_second="$(final_stat average_exec_per_sec "$log")"
    added="$(final_stat new_units_added "$log")"
    corpus="$(find "$grown" -type f | wc -l)"
    if [[ $status -ne 0 ]]; then
        report_crash "$target" "$log"
        return 1
    fi
    log "$target: ok, $runs runs ($per_second/s), $added new inputs, grown corpus $corpus files"
}

main() {
    local seconds="${FUZZ_SECONDS:-$FUZZ_SECONDS_DEFAULT}" targets=() target
    EXTRA_FLAGS=()
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --seconds) [[ $# -ge 2 ]] || usage 2; seconds="$2"; shift 2 ;;
            --seconds=*) seconds="${1#--seconds=}"; shift ;;
            -h | --help) usage ;;
            --) shift; EXTRA_FLAGS=("$@"); break ;;
            -*) usage 2 ;;
            *) targets+=("$1"); shift ;;
        esac
    done
    [[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die "--seconds must be a positive number of seconds"
    ensure_cargo_fuzz
    export PATH="$(cargo_bin_dir):$PATH"
    FUZZ_TOOLCHAIN="$(fuzz_toolchain)"
    # Where cargo-fuzz puts the binaries: fuzz/target/<host>/release/<target>.
    HOST_TRIPLE="$(cargo_fuzz_rustc -vV | sed -n 's/^host: //p')"
    cd "$ROOT"
    log "toolchain: $(cargo_fuzz_command "$FUZZ_TOOLCHAIN") ($(cargo_fuzz_rustc --version))"
    local all
    all="$(cargo_fuzz list)"
    if [[ ${#targets[@]} -eq 0 ]]; then
        mapfile -t targets <<<"$all"
    fi
    for target in "${targets[@]}"; do
        grep -qx "$target" <<<"$all" || die "unknown fuzz target '$target' (targets: ${all//$'\n'/ })"
    done
    local started=$SECONDS
    log "building the fuzz targets"
    mkdir -p "$FUZZ_DIR/target"
    cargo_fuzz build >"$FUZZ_DIR/target/build.log" 2>&1 ||
        { tail -40 "$FUZZ_DIR/target/build.log" >&2; die "cargo fuzz build failed"; }
    log "built in $((SECONDS - started)) s; fuzzing each target for $seconds s"
    local crashed=()
    for target in "${targets[@]}"; do
        run_target "$target" "$seconds" || crashed+=("$target")
    done
    [[ ${#crashed[@]} -eq 0 ]] || die "fuzzing failed: ${crashed[*]}"
    log "fuzzing done in $((SECONDS - started)) s: no crashes"
}

# rustc under the chosen toolchain.
cargo_fuzz_rustc() {
    if [[ -n "$FUZZ_TOOLCHAIN" ]]; then
        rustc "+$FUZZ_TOOLCHAIN" "$@"
    else
        rustc "$@"
    fi
}

main "$@"
