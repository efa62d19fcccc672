#!/usr/bin/env bash
# Starts the local network: sets up the tools (scripts/setup.sh), builds the Workers
# (scripts/build-workers.sh), then runs every service on 127.0.0.1 (in several workerd
# processes: two gateways behind a balancer on the API port, the core, two of validators) and
# prints the API URL. Ctrl-C stops it; running this again resumes the same chain.
#
#     scripts/net.sh                                   # 4 validators, 4 shards, port 8787
#     scripts/net.sh --validators 7 --shards 16 --port 9000
#     scripts/net.sh --fresh                           # delete the chain and start a new one
#
# Keys, genesis, secrets (.dev.vars) and state live in the git-ignored .local/net folder.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$ROOT/scripts/setup.sh"
"$ROOT/scripts/build-workers.sh"
cd "$ROOT"
exec cargo run --quiet -p ops -- net start "$@"
