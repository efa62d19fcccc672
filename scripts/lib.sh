# shellcheck shell=bash
# Helpers shared by the scripts in this folder. Source it; it defines functions and ROOT only.

# The repository root, whatever the caller's working directory.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT

# The Rust target the Workers run on.
WASM_TARGET="wasm32-unknown-unknown"

# Where `cargo install` puts binaries.
cargo_bin_dir() {
    echo "${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin"
}

# Prints a progress line to stderr.
log() {
    printf '  %s\n' "$*" >&2
}

# Prints an error to stderr and exits.
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# True when a command is on PATH.
have() {
    command -v "$1" >/dev/null 2>&1
}

# The version of a package in Cargo.lock (the first entry of that name), or nothing.
locked_version() {
    awk -v name="$1" '
        $0 == "name = \"" name "\"" { found = 1; next }
        found && /^version = / { gsub(/"/, "", $3); print $3; exit }
    ' "$ROOT/Cargo.lock"
}

# True when the wasm32 standard library is installed in the active rustup toolchain.
rustup_has_wasm_target() {
    have rustup && rustup target list --installed 2>/dev/null | grep -qx "$WASM_TARGET"
}

# Which toolchain builds for wasm32: `rustup` (its wasm32 target is installed) or `debian`
# (Debian's rustc-web with -Zbuild-std). EDGELEDGER_WASM_TOOLCHAIN=rustup|debian forces one.
wasm_toolchain() {
    case "${EDGELEDGER_WASM_TOOLCHAIN:-auto}" in
        rustup | debian) echo "$EDGELEDGER_WASM_TOOLCHAIN" ;;
        auto) if rustup_has_wasm_target; then echo rustup; else echo debian; fi ;;
        *) die "EDGELEDGER_WASM_TOOLCHAIN must be auto, rustup or debian" ;;
    esac
}
