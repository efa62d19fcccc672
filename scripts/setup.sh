#!/usr/bin/env bash
# Installs what building and testing edgeledger needs. Idempotent: every step checks first and
# skips what is already in place, so a second run takes seconds.
#
# Works on a laptop with internet (rustup's wasm32 target) and on an offline machine that reaches
# only crates.io, npm, PyPI and Debian's packages (Debian's rustc-web, see TOOLCHAIN.md). Runs as
# root or with sudo when it has to install Debian packages.
#
# Environment:
#   EDGELEDGER_WASM_TOOLCHAIN=auto|rustup|debian   which compiler builds wasm32 (default auto)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The steps, in order. Add new ones (worker-build, wrangler from npm, ...) here.
SETUP_STEPS=(
    ensure_native_toolchain
    ensure_wasm_toolchain
    ensure_wasm_c_compiler
    ensure_node
    ensure_wasm_bindgen_cli
    ensure_worker_build
    ensure_cargo_fuzz
    ensure_npm_tools
    ensure_chromium
)

# Debian's Rust 1.96 with the source of its standard library, and the wasm linker.
DEBIAN_WASM_PACKAGES=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22)

# worker-build only checks that this directory exists (TOOLCHAIN.md §1).
DEBIAN_WASM_SYSROOT_DIR=/usr/lib/rustlib/wasm32-unknown-unknown/lib

# How long `rustup target add` may try before we fall back to Debian's toolchain.
RUSTUP_TIMEOUT_SECONDS=300

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif have sudo; then
        sudo "$@"
    else
        die "'$*' needs root and sudo is not installed"
    fi
}

# True when every named Debian package is installed.
apt_installed() {
    local package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
            return 1
    done
}

# Installs the named Debian packages that are missing; `apt-get update` only if some are.
ensure_apt_packages() {
    local missing=() package
    for package in "$@"; do
        apt_installed "$package" || missing+=("$package")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi
    have apt-get || die "missing ${missing[*]} and no apt-get to install them"
    log "installing ${missing[*]} (apt)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
}

# cargo with rustfmt and clippy, for the native build, lints and tests.
ensure_native_toolchain() {
    have cargo || die "cargo not found: install Rust with rustup (https://rustup.rs)"
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        have rustup || die "cargo fmt and cargo clippy are needed: install rustfmt and clippy"
        log "adding rustfmt and clippy (rustup)"
        rustup component add rustfmt clippy
    fi
    log "native: $(cargo --version)"
}

# True when Debian's wasm toolchain is fully installed.
debian_wasm_ready() {
    apt_installed "${DEBIAN_WASM_PACKAGES[@]}" && [[ -d "$DEBIAN_WASM_SYSROOT_DIR" ]]
}

ensure_debian_wasm_toolchain() {
    ensure_apt_packages "${DEBIAN_WASM_PACKAGES[@]}"
    [[ -d "$DEBIAN_WASM_SYSROOT_DIR" ]] || as_root mkdir -p "$DEBIAN_WASM_SYSROOT_DIR"
    [[ -x /usr/bin/rust-lld ]] || die "/usr/bin/rust-lld is missing (it comes with lld-22)"
}

# Tries rustup's prebuilt wasm32 standard library; false when rustup cannot download it.
try_rustup_wasm_target() {
    have rustup || return 1
    log "trying: rustup target add $WASM_TARGET"
    (cd "$ROOT" && timeout "$RUSTUP_TIMEOUT_SECONDS" rustup target add "$WASM_TARGET") ||
        { log "rustup could not add $WASM_TARGET (offline?)"; return 1; }
}

# A compiler that targets wasm32. Once one is installed, later runs use it without a network.
ensure_wasm_toolchain() {
    case "${EDGELEDGER_WASM_TOOLCHAIN:-auto}" in
        rustup) rustup_has_wasm_target || rustup target add "$WASM_TARGET" ;;
        debian) ensure_debian_wasm_toolchain ;;
        auto)
            if ! rustup_has_wasm_target && ! debian_wasm_ready && ! try_rustup_wasm_target; then
                ensure_debian_wasm_toolchain
            fi
            ;;
        *) die "EDGELEDGER_WASM_TOOLCHAIN must be auto, rustup or debian" ;;
    esac
    case "$(wasm_toolchain)" in
        rustup) log "wasm32: rustup toolchain ($(cd "$ROOT" && rustc --version))" ;;
        debian) log "wasm32: Debian $(/usr/bin/rustc --version) with -Zbuild-std" ;;
    esac
}

# libsecp256k1 (the `secp256k1` crate, for sender recovery) is C: cc-rs compiles it for
# wasm32 with clang and archives it with llvm-ar. Debian's clang has the WebAssembly target.
ensure_wasm_c_compiler() {
    if ! have clang || ! have llvm-ar; then
        ensure_apt_packages clang llvm
    fi
    clang --print-targets | grep -q wasm32 ||
        die "$(command -v clang) cannot target wasm32: install a clang with the WebAssembly target"
    log "wasm32 C: $(clang --version | head -1)"
}

# Node.js runs the wasm tests (wasm-bindgen-test-runner) and, later, wrangler.
ensure_node() {
    have node || ensure_apt_packages nodejs
    log "node: $(node --version)"
}

# Installs crate `crate` at exactly `version` with cargo, unless `binary --version` already
# prints `expected`; `how_long` is for the log line.
ensure_cargo_tool() {
    local crate="$1" version="$2" binary="$3" expected="$4" how_long="$5"
    if [[ "$("$(cargo_bin_dir)/$binary" --version 2>/dev/null)" == "$expected" ]]; then
        log "$crate $version: installed"
        return 0
    fi
    log "installing $crate $version ($how_long on 2 cores)"
    # --locked builds with the versions the tool was released with; if the registry lacks one
    # of them (seen: a yanked webpki-roots), resolve afresh.
    cargo install "$crate" --version "=$version" --locked --force ||
        cargo install "$crate" --version "=$version" --force
}

# wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock: the generated glue must
# match the library, and it brings wasm-bindgen-test-runner.
ensure_wasm_bindgen_cli() {
    local version
    version="$(locked_version wasm-bindgen)"
    [[ -n "$version" ]] || die "wasm-bindgen is not in Cargo.lock"
    # The runner comes with it: a copy without the runner is installed again.
    [[ -x "$(cargo_bin_dir)/wasm-bindgen-test-runner" ]] ||
        rm -f "$(cargo_bin_dir)/wasm-bindgen"
    ensure_cargo_tool wasm-bindgen-cli "$version" wasm-bindgen "wasm-bindgen $version" \
        "about 5 minutes"
}

# worker-build builds the Worker crates (scripts/build-workers.sh); the tools it would download
# come from wasm-bindgen-cli above and npm below.
WORKER_BUILD_VERSION=0.8.7

ensure_worker_build() {
    ensure_cargo_tool worker-build "$WORKER_BUILD_VERSION" worker-build "$WORKER_BUILD_VERSION" \
        "a few minutes"
}

# cargo-fuzz runs the fuzz targets in fuzz/ (scripts/fuzz.sh, the test command's `fuzz` step).
# libfuzzer-sys compiles libFuzzer from C++ source, so it needs a C++ compiler too. The nightly
# toolchain is not required: scripts/fuzz.sh falls back to stable with RUSTC_BOOTSTRAP=1.
CARGO_FUZZ_VERSION=0.13.2

ensure_cargo_fuzz() {
    have c++ || ensure_apt_packages g++
    ensure_cargo_tool cargo-fuzz "$CARGO_FUZZ_VERSION" cargo-fuzz "cargo-fuzz $CARGO_FUZZ_VERSION" \
        "about 2 minutes"
}

# wrangler (with workerd), esbuild and binaryen's wasm-opt, exactly as package-lock.json pins
# them. npm 11 skips packages' install scripts; workerd and esbuild work without them.
ensure_npm_tools() {
    have npm || ensure_apt_packages npm
    local stamp="$ROOT/node_modules/.package-lock.json"
    if [[ -x "$ROOT/node_modules/.bin/wrangler" && -f "$stamp" && ! "$ROOT/package-lock.json" -nt "$stamp" ]]; then
        log "npm tools: installed ($("$ROOT/node_modules/.bin/wrangler" --version 2>/dev/null | tail -1))"
        return 0
    fi
    log "installing npm tools (npm ci)"
    (cd "$ROOT" && npm ci --no-audit --no-fund)
}

# Debian's Chromium for the dashboard's browser test (ops/tests/browser/dashboard.mjs drives it
# with playwright-core, which never downloads a browser of its own).
ensure_chromium() {
    if [[ -x /usr/bin/chromium ]]; then
        log "chromium: installed"
        return 0
    fi
    ensure_apt_packages chromium
}

main() {
    local started=$SECONDS step
    cd "$ROOT"
    for step in "${SETUP_STEPS[@]}"; do
        "$step"
    done
    log "setup done in $((SECONDS - started)) s"
}

# Sourcing this file only defines the functions (to test them); running it sets up.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
