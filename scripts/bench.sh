#!/usr/bin/env bash
# The benchmark harness: Swarmdate against aria2c, Transmission and qBittorrent (a large file, a
# folder of many files, an update in place), then one origin and 20 clients (an image, then a
# package folder), then 20 clients updating at once from a mirror, then the first byte of a switch and an update in a fresh swarm. Prints the tables and writes JSON, Markdown and SVG into the results folder
# (default tests/bench-results). Takes about half an hour on two cores; needs ~6 GB of scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
results="${1:-tests/bench-results}"
scripts/setup.sh
cargo build --release --locked -p swarmdate -p swarmdate-bench
bin=target/release/swarmdate-bench
mkdir -p "$results"
"$bin" clients --results "$results"
"$bin" swarm --clients 20 --size-mb 200 --results "$results"
"$bin" swarm --clients 20 --size-mb 200 --files 400 --runs random-pieces,super-seed,qbittorrent --results "$results"
"$bin" crowd --clients 20 --trend 5,10,40 --results "$results"
"$bin" first-byte --results "$results"
echo "Results in $results"
