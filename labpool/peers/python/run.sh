#!/usr/bin/env bash
# Runs the Python peer test (PyPI `xenapi`, XML-RPC) against a freshly started xapi-labpool.
# Usage: labpool/peers/python/run.sh   (from anywhere; builds the binary if needed)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cargo build -q -p labpool --bin xapi-labpool --manifest-path "$root/Cargo.toml"
venv="$root/target/labpool-peer-python"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r "$here/requirements.txt"
exec "$venv/bin/python" "$here/test_peer.py"
