#!/usr/bin/env bash
# Sets up the machine, builds Swarmdate and runs the demo (a local distribution on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo run --release --locked -- demo "$@"
