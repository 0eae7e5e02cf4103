#!/usr/bin/env bash
# Sets up the machine and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The window's tests need a display and a session bus: a virtual one of each. The cairo renderer
# spares the CPU that GL emulation would take (docs/platform.md §1).
GSK_RENDERER=cairo xvfb-run -a dbus-run-session -- cargo test --locked --workspace --all-targets
