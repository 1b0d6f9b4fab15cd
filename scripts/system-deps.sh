#!/usr/bin/env bash
# Install the system programs the test suite needs, when missing: bubblewrap (the process
# runtime's sandbox) and Node.js with npm (npm-packaged servers, the TypeScript SDK client).
set -euo pipefail
missing=()
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v npm >/dev/null || missing+=(nodejs npm)
command -v git >/dev/null || missing+=(git)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing: ${missing[*]} — install them with your package manager (needs root)" >&2
  exit 1
fi
echo "installing ${missing[*]}…" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
