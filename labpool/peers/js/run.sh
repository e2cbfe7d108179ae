#!/usr/bin/env bash
# Runs the JavaScript peer test (npm `xen-api`, Vates' connector) against a freshly started
# xapi-labpool. Usage: labpool/peers/js/run.sh   (from anywhere; builds the binary if needed)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cargo build -q -p labpool --bin xapi-labpool --manifest-path "$root/Cargo.toml"
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
exec node --test peer.test.mjs
