#!/usr/bin/env bash
# Measures the chain's CPU bound on this machine: the transfers per second its signature work
# alone allows, with every core doing that work at once.
#
#     scripts/cpu-bound.sh                 # validators 1 and 4
#     scripts/cpu-bound.sh 1 2 4 7
#
# Every transfer costs one sender recovery at the front door (`recover_sender`) and, per
# validator, its share of a block's batch check (`verify_all_1000_from_20_senders` / 1,000,
# ops bench's 20 senders). When a native batch names its senders' keys, the front door's part
# is its share of the batch check against them instead (`admit_1000_with_sender_keys` /
# 1,000, the nonce y's square root included), and when the batch gives each signature's nonce
# y too, that check without the square root (`admit_1000_with_sender_keys_and_nonce_ys` /
# 1,000, what `ops bench --protocol native` sends by default): the script prints the bound
# all three ways.
#
# The wasm32 signature benchmark runs once on each core at the same time (pinned with
# taskset), because one core's speed alone overstates what all of them give together on a
# shared host: here a recovery took 87-94 µs alone and 90-140 µs with the other core busy.
# With per-core times r_i and b_i the bound for V validators is
#
#     Σ_i 1 / (r_i + V × b_i)    transfers per second,
#
# and with sender keys the same with k_i, the keyed front door's share, in place of r_i (y_i
# with the nonce ys too).
set -euo pipefail

# shellcheck source=scripts/wasm-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/wasm-env.sh"

VALIDATOR_COUNTS=("$@")
[[ ${#VALIDATOR_COUNTS[@]} -gt 0 ]] || VALIDATOR_COUNTS=(1 4)

have taskset || die "taskset (util-linux) is needed to pin one benchmark to each core"

# The benchmark whose per-signature cost is a validator's share of a transfer, the one whose
# is the front door's with sender keys, and their size.
BATCH_BENCHMARK="verify_all_1000_from_20_senders"
KEYED_BENCHMARK="admit_1000_with_sender_keys"
KEYED_WITH_Y_BENCHMARK="admit_1000_with_sender_keys_and_nonce_ys"
BATCH_SIGNATURES=1000

# Builds the wasm32 benchmark (in the environment wasm-env.sh set) and prints its .wasm file.
build_benchmark() {
    cargo bench -p ledger --bench signatures --no-run --message-format=json 2>/dev/null |
        grep -o '"executable":"[^"]*/signatures-[^"]*\.wasm"' | cut -d'"' -f4 | tail -1
}

# The median of a Criterion result line's estimate, in microseconds.
median_us() {
    local name="$1" file="$2"
    sed 's/\x1b\[[0-9;]*m//g' "$file" | awk -v name="$name" '
        $0 ~ "^" name "($|[[:space:]])" { found = 1 }
        found && /time:/ {
            sub(/.*time:[[:space:]]*\[/, "")
            value = $3; unit = $4
            if (unit == "ns") value /= 1000
            else if (unit == "ms") value *= 1000
            else if (unit == "s") value *= 1000000
            print value; exit
        }'
}

main() {
    local wasm cores core outputs=() pids=()
    log "building the wasm32 signature benchmark"
    wasm="$(build_benchmark)"
    [[ -f "$wasm" ]] || die "the signature benchmark did not build (scripts/wasm-cargo bench -p ledger --bench signatures)"
    cores="$(nproc)"
    log "running it on each of the $cores cores at once (about 80 s)"
    for ((core = 0; core < cores; core++)); do
        outputs+=("$(mktemp)")
        (cd "$ROOT/ledger" && taskset -c "$core" "$CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER" \
            "$wasm" --bench >"${outputs[$core]}" 2>&1) &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || die "a benchmark run failed"
    done
    local recoveries=() batches=() keyed=() keyed_with_y=()
    for ((core = 0; core < cores; core++)); do
        recoveries+=("$(median_us recover_sender "${outputs[$core]}")")
        batches+=("$(median_us "$BATCH_BENCHMARK" "${outputs[$core]}")")
        keyed+=("$(median_us "$KEYED_BENCHMARK" "${outputs[$core]}")")
        keyed_with_y+=("$(median_us "$KEYED_WITH_Y_BENCHMARK" "${outputs[$core]}")")
        rm -f "${outputs[$core]}"
        [[ -n "${recoveries[$core]}" && -n "${batches[$core]}" && -n "${keyed[$core]}" &&
            -n "${keyed_with_y[$core]}" ]] ||
            die "core $core: the benchmark printed no recover_sender," \
                "$BATCH_BENCHMARK, $KEYED_BENCHMARK or $KEYED_WITH_Y_BENCHMARK"
        batches[core]="$(per_signature "${batches[$core]}")"
        keyed[core]="$(per_signature "${keyed[$core]}")"
        keyed_with_y[core]="$(per_signature "${keyed_with_y[$core]}")"
        printf 'core %d: recover_sender %.1f µs, batch check %.1f µs a signature, ' \
            "$core" "${recoveries[$core]}" "${batches[$core]}"
        printf 'front door with sender keys %.1f µs a transfer, with nonce ys %.1f µs\n' \
            "${keyed[$core]}" "${keyed_with_y[$core]}"
    done
    local validators
    for validators in "${VALIDATOR_COUNTS[@]}"; do
        awk -v v="$validators" -v r="${recoveries[*]}" -v k="${keyed[*]}" \
            -v y="${keyed_with_y[*]}" -v b="${batches[*]}" '
            BEGIN {
                n = split(r, rs, " "); split(k, ks, " "); split(y, ys, " "); split(b, bs, " ")
                for (i = 1; i <= n; i++) {
                    recovering += 1000000 / (rs[i] + v * bs[i])
                    with_keys += 1000000 / (ks[i] + v * bs[i])
                    with_nonce_ys += 1000000 / (ys[i] + v * bs[i])
                }
                printf "bound with %d validator%s: %.0f transfers/s recovering senders, ",
                    v, (v == 1 ? "" : "s"), recovering
                printf "%.0f with sender keys, %.0f with their nonce ys too\n", with_keys,
                    with_nonce_ys
            }'
    done
}

# A benchmark's time for a batch, per signature in it, in microseconds.
per_signature() {
    awk -v time="$1" -v count="$BATCH_SIGNATURES" 'BEGIN { print time / count }'
}

main
