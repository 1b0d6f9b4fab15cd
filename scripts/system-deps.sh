#!/usr/bin/env bash
# Install the system programs the test suite needs, when missing: bubblewrap (the process
# runtime's sandbox) and Node.js with npm (npm-packaged servers, the TypeScript SDK client).
# Then, as root on a machine with apt-get, the container engines and their test images
# (scripts/container-env.sh: docker and podman, started, with mcpkit-test/* images).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
is_root_apt() { [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; }

missing=()
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v npm >/dev/null || missing+=(nodejs npm)
command -v git >/dev/null || missing+=(git)
if [ ${#missing[@]} -gt 0 ]; then
  if ! is_root_apt; then
    echo "missing: ${missing[*]} — install them with your package manager (needs root)" >&2
    exit 1
  fi
  echo "installing ${missing[*]}…" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if is_root_apt; then
  "$here/container-env.sh"
else
  echo "container engines: not root or no apt-get, not set up here; the container tests skip (scripts/container-env.sh as root sets them up)" >&2
fi
