#!/usr/bin/env bash
# container-env.sh: the container engines the test suite needs, on a Debian bookworm machine, as root,
# where no container registry is reachable (only PyPI, npm and Debian's mirror).
#
# Idempotent; each step is skipped when already in place (a second run takes a few seconds):
#   1. Debian packages: docker.io, podman (+ catatonit for --init), mmdebstrap, busybox-static,
#      cgroupfs-mount, curl, ca-certificates. /etc/docker/daemon.json (no bridge, no iptables) is
#      written BEFORE docker.io is installed.
#   2. dockerd on /var/run/docker.sock (a running one is left alone).
#   3. podman: default_ulimits in /etc/containers/containers.conf (root here lacks CAP_SYS_RESOURCE,
#      so podman's default nofile of 1048576 fails every run), then `podman system service` on
#      /run/podman/podman.sock (Docker-compatible API).
#   4. base image mcpkit-test/base:bookworm in both engines: an mmdebstrap rootfs (python3, venv,
#      CA certificates, tzdata, libstdc++6; reproducible for a fixed SOURCE_DATE_EPOCH), imported, never pulled.
#      MCPKIT_BASE_METHOD=hostcopy copies the host's python3.11 instead (no mirror needed); the
#      mmdebstrap method falls back to it when the mirror fails.
#   5. mcpkit-test/node-base:bookworm in both engines: the base + the host's node binary, built
#      with --network none.
#   7. a local OCI registry (Debian docker-registry, distribution 2.8) on 127.0.0.1:5000, storage in
#      $STATE/registry (a running one is left alone).
# Images carry the label mcpkit.test.inputs=<hash of their inputs>; a matching label means up to date.
#
# Not root, or not Debian: nothing is installed; the script exits 0 only if both engines answer.
set -euo pipefail

STATE=${MCPKIT_CI_STATE:-/var/lib/mcpkit-ci}
DOCKER_SOCK=${MCPKIT_DOCKER_SOCK:-/var/run/docker.sock}
PODMAN_SOCK=${MCPKIT_PODMAN_SOCK:-/run/podman/podman.sock}
BASE_IMAGE=${MCPKIT_BASE_IMAGE:-mcpkit-test/base:bookworm}
NODE_IMAGE=${MCPKIT_NODE_IMAGE:-mcpkit-test/node-base:bookworm}
BASE_METHOD=${MCPKIT_BASE_METHOD:-mmdebstrap}        # mmdebstrap | hostcopy
NODE_BIN=${MCPKIT_NODE_BIN:-/usr/bin/node}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
# libstdc++6: node (node-base) and C++ wheels need it; the essential variant has only libgcc-s1
BASE_PACKAGES=python3,python3-venv,ca-certificates,tzdata,libstdc++6
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1735689600}   # fixed => byte-identical rootfs tar
PACKAGES=(docker.io podman catatonit docker-registry mmdebstrap busybox-static cgroupfs-mount curl ca-certificates)
DAEMON_JSON=/etc/docker/daemon.json
REGISTRY_ADDR=${MCPKIT_REGISTRY_ADDR:-127.0.0.1:5000}
CONTAINERS_CONF=/etc/containers/containers.conf
LABEL=mcpkit.test.inputs
# one variable per ENV: podman import takes `ENV A=1 B=2` as A="1 B=2"
IMAGE_CHANGES=(-c 'ENV LANG=C.UTF-8' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
               -c 'CMD ["python3"]')
export DEBIAN_FRONTEND=noninteractive
# The Debian client matches dockerd 20.10 (a newer CLI earlier on PATH falls back to the legacy
# builder with a deprecation notice); -H pins the socket whatever DOCKER_HOST says.
DOCKER_CLI=$(command -v /usr/bin/docker || command -v docker || true)
docker_() { "$DOCKER_CLI" -H "unix://$DOCKER_SOCK" "$@"; }
podman_() { podman "$@"; }

T0=$(date +%s.%N)
log() { printf '[container-env] %s\n' "$*"; }
die() { printf '[container-env] ERROR: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}'; }
timed() { local name=$1 t; shift; t=$(date +%s.%N); "$@"; log "$name: $(elapsed "$t")s"; }

ping_sock() {  # $1 = unix socket path; true when an engine answers /_ping there
  [ -S "$1" ] || return 1
  if command -v curl >/dev/null; then
    curl -fsS -m 5 -o /dev/null --unix-socket "$1" http://d/_ping 2>/dev/null
  else
    python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
sys.exit(0 if s.recv(64).startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")) else 1)
PY
  fi
}

# ------------------------------------------------------------------------------- not root / not Debian
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || [ ! -f /etc/debian_version ]; then
  why=(); [ "$(id -u)" = 0 ] || why+=("not root"); { command -v apt-get >/dev/null && [ -f /etc/debian_version ]; } || why+=("not Debian")
  bad=()
  ping_sock "$DOCKER_SOCK" || bad+=("docker (no answer at unix://$DOCKER_SOCK, or no access)")
  ping_sock "$PODMAN_SOCK" || bad+=("podman (no answer at unix://$PODMAN_SOCK, or no access)")
  if [ ${#bad[@]} -eq 0 ]; then
    log "${why[*]}: installing nothing; both engines answer (their test images are not checked)"
    exit 0
  fi
  printf '[container-env] %s: cannot set up %s\n' "${why[*]}" "$(printf '%s; ' "${bad[@]}" | sed 's/; $//')" >&2
  # shellcheck disable=SC2016  # literal on purpose
  printf '[container-env] hint: run `sudo scripts/container-env.sh` on Debian bookworm, or start dockerd and `podman system service --time=0 unix://%s` yourself\n' "$PODMAN_SOCK" >&2
  exit 1
fi
mkdir -p "$STATE"

# ------------------------------------------------------------------------------- 1. packages
write_daemon_json() {
  # No bridge: dockerd creates no docker0, no private subnet, no iptables/NAT (only --network none|host).
  mkdir -p "$(dirname "$DAEMON_JSON")"
  if [ -s "$DAEMON_JSON" ]; then
    python3 - "$DAEMON_JSON" <<'PY' || die "cannot merge $DAEMON_JSON (is it valid JSON?)"
import json, sys
path = sys.argv[1]
with open(path) as f:
    data = json.load(f)
want = {"bridge": "none", "iptables": False, "ip-forward": False, "ip-masq": False}
if any(data.get(k) != v for k, v in want.items()):
    data.update(want)
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
    print("[container-env] merged bridge none / no iptables into", path)
PY
  else
    echo '{"bridge":"none","iptables":false,"ip-forward":false,"ip-masq":false}' >"$DAEMON_JSON"
    log "wrote $DAEMON_JSON"
  fi
}

install_packages() {
  local missing=() p
  while read -r p status; do
    [ "$status" = installed ] || missing+=("$p")
  done < <(for p in "${PACKAGES[@]}"; do
             printf '%s %s\n' "$p" "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || echo absent)"
           done)
  if [ ${#missing[@]} -eq 0 ]; then log "packages: all present"; return; fi
  # before docker.io is configured, in case anything starts the daemon at install time
  write_daemon_json
  log "packages: installing ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -q >"$STATE/apt.log" 2>&1 \
    || { tail -5 "$STATE/apt.log" >&2; die "apt-get update failed (log $STATE/apt.log)"; }
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >>"$STATE/apt.log" 2>&1 \
    || { tail -15 "$STATE/apt.log" >&2; die "apt-get install ${missing[*]} failed (log $STATE/apt.log)"; }
}
timed "packages" install_packages
DOCKER_CLI=$(command -v /usr/bin/docker || command -v docker || true)
[ -n "$DOCKER_CLI" ] || die "no docker client after installing docker.io"

# ------------------------------------------------------------------------------- 2. dockerd
start_dockerd() {
  if ping_sock "$DOCKER_SOCK"; then
    log "dockerd: already answering on $DOCKER_SOCK (server $(docker_ version --format '{{.Server.Version}}'))"
  else
    write_daemon_json
    # cgroup v1 hierarchies are mounted by this machine kind's init; mount them where they are not
    if ! grep -q ' /sys/fs/cgroup/memory ' /proc/mounts && ! grep -q 'cgroup2 /sys/fs/cgroup ' /proc/mounts; then
      cgroupfs-mount || log "WARNING: cgroupfs-mount failed"
    fi
    log "dockerd: starting (log $STATE/dockerd.log)"
    # From /: a daemon keeps its working directory, and a checkout removed later would break it.
    (cd / && setsid -f dockerd -H "unix://$DOCKER_SOCK" >>"$STATE/dockerd.log" 2>&1 </dev/null)
    for _ in $(seq 1 120); do ping_sock "$DOCKER_SOCK" && break; sleep 0.25; done
    ping_sock "$DOCKER_SOCK" || { tail -20 "$STATE/dockerd.log" >&2; die "dockerd did not answer within 30 s (log $STATE/dockerd.log)"; }
  fi
  if docker_ network ls --format '{{.Driver}}' | grep -qx bridge; then
    log "WARNING: this dockerd has a bridge network; the tests expect bridge none (only --network none|host)"
  fi
}
timed "dockerd" start_dockerd

# ------------------------------------------------------------------------------- 3. podman
configure_podman() {
  # Containers inherit podman's default nofile 1048576, above this machine's hard limit, and root
  # cannot raise it (no CAP_SYS_RESOURCE): every run fails with "error setting rlimit type 7".
  local nofile=20000 hard
  hard=$(ulimit -Hn)
  [ "$hard" = unlimited ] || [ "$hard" -ge "$nofile" ] || nofile=$hard
  local line="default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=32768:32768\"]"
  mkdir -p "$(dirname "$CONTAINERS_CONF")"
  local rc=0
  python3 - "$CONTAINERS_CONF" "$line" <<'PY' || rc=$?
import os, re, sys, tomllib
path, line = sys.argv[1], sys.argv[2]
text = open(path).read() if os.path.exists(path) else ""
if "default_ulimits" in tomllib.loads(text).get("containers", {}):
    sys.exit(0)  # the admin chose ulimits: keep them
lines = text.splitlines()
for i, current in enumerate(lines):
    if re.fullmatch(r"\s*\[containers\]\s*(#.*)?", current):
        lines.insert(i + 1, line)
        break
else:
    # a [containers] table must come before any other table's keys: prepend it
    lines = ["[containers]", line, ""] + lines
with open(path + ".tmp", "w") as f:
    f.write("\n".join(lines) + "\n")
os.replace(path + ".tmp", path)
print("[container-env] set default_ulimits in", path)
sys.exit(3)
PY
  [ "$rc" = 0 ] || [ "$rc" = 3 ] || die "cannot update $CONTAINERS_CONF (is it valid TOML?)"
  if [ "$rc" = 3 ] && ping_sock "$PODMAN_SOCK"; then
    log "WARNING: a podman service already runs on $PODMAN_SOCK with the old settings: restart it"
  fi
}
timed "podman config" configure_podman

start_podman_service() {
  local pidfile=$STATE/podman-service.pid
  if ping_sock "$PODMAN_SOCK"; then
    log "podman service: already answering on $PODMAN_SOCK"
    return
  fi
  mkdir -p "$(dirname "$PODMAN_SOCK")"
  rm -f "$PODMAN_SOCK"
  log "podman service: starting on $PODMAN_SOCK (log $STATE/podman-service.log)"
  # shellcheck disable=SC2016  # literal on purpose
  # From /: conmon inherits the service's working directory and fails every attach
  # ("Failed to get working directory") once that directory is removed.
  setsid -f bash -c 'cd / && echo $$ >"$1"; exec podman system service --time=0 "unix://$2" >>"$3" 2>&1 </dev/null' _ \
    "$pidfile" "$PODMAN_SOCK" "$STATE/podman-service.log"
  for _ in $(seq 1 120); do ping_sock "$PODMAN_SOCK" && break; sleep 0.25; done
  ping_sock "$PODMAN_SOCK" || { tail -20 "$STATE/podman-service.log" >&2; die "podman system service did not answer within 30 s"; }
}
timed "podman service" start_podman_service

# ------------------------------------------------------------------------------- 4. base image
# $1 = engine (docker|podman) $2 = image: the label value, empty when absent
label_of() { "${1}_" image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$2" 2>/dev/null || true; }
id_of() { "${1}_" image inspect --format '{{.Id}}' "$2" 2>/dev/null || true; }
size_of() { "${1}_" image inspect --format '{{.Size}}' "$2" | awk '{printf "%.0f MB", $1/1e6}'; }
drop_if_dangling() {  # $1 engine $2 old image id: a replaced image, removed unless still in use
  [ -n "$2" ] && [ "$2" != "$(id_of "$1" "$3")" ] && "${1}_" rmi "$2" >/dev/null 2>&1 || true
}

build_rootfs_mmdebstrap() {  # $1 = output tar
  mmdebstrap --mode=root --format=tar --variant=essential --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include="$BASE_PACKAGES" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    "$SUITE" "$1" "$DEBIAN_MIRROR" >"$STATE/mmdebstrap.log" 2>&1
}

build_rootfs_hostcopy() {  # $1 = output tar: the host's python3.11 and every library it and common wheels need
  local R; R=$(mktemp -d "$STATE/hostcopy.XXXX")
  [ -x /usr/bin/python3.11 ] || die "the hostcopy base needs Debian's python3.11 on the host"
  mkdir -p "$R"/{usr/bin,usr/lib,usr/lib64,usr/share,etc/ssl/certs,tmp,root}
  ln -s usr/bin "$R/bin"; ln -s usr/lib "$R/lib"; ln -s usr/lib64 "$R/lib64"; chmod 1777 "$R/tmp"
  cp -a /usr/bin/python3.11 "$R/usr/bin/"; ln -s python3.11 "$R/usr/bin/python3"
  # keep source mtimes: the stdlib .pyc files are checked against them
  tar -C / --exclude=usr/lib/python3.11/test --exclude=usr/lib/python3.11/idlelib --exclude=usr/lib/python3.11/tkinter \
      -cf - usr/lib/python3.11 usr/share/python-wheels usr/share/zoneinfo | tar -C "$R" -xf -
  cp -L /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/"
  # manylinux wheels (pydantic-core...) expect all of glibc, libgcc_s and libstdc++, not just what python links
  { ldd /usr/bin/python3.11; for so in /usr/lib/python3.11/lib-dynload/*.so; do ldd "$so"; done
    dpkg -L libc6 libgcc-s1 libstdc++6 | grep -E '^/(usr/)?lib(64)?/[^ ]*\.so[.0-9]*$' | grep -v gconv | sed 's/.*/ x => & (0x0)/'
  } 2>/dev/null | awk '/=> \//{print $3} $1 ~ /^\/lib64\//{print $1}' | sort -u | while read -r lib; do
      local real d; real=$(readlink -f "$lib"); d="$R$(dirname "$lib")"; d=${d/#$R\/lib/$R\/usr\/lib}; mkdir -p "$d"
      cp -n "$real" "$d/"; [ "$(basename "$real")" = "$(basename "$lib")" ] || ln -sf "$(basename "$real")" "$d/$(basename "$lib")"
    done
  cp /bin/busybox "$R/usr/bin/busybox"   # static; gives /bin/sh for Dockerfile RUN
  local a
  for a in sh ls cat env rm mkdir cp mv ln chmod id echo true sleep grep sed find; do ln -sf busybox "$R/usr/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$R/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
  tar --sort=name --numeric-owner -C "$R" -cf "$1" .
  rm -rf "$R"
}

BASE_KEY=
BASE_TAR=
base_rootfs() {  # sets BASE_TAR (cached, or built now) and, after a fallback, BASE_KEY
  BASE_TAR=$STATE/rootfs-$BASE_KEY.tar
  if [ -s "$BASE_TAR" ]; then log "base rootfs: cached $BASE_TAR"; return; fi
  local t method=$BASE_METHOD; t=$(date +%s.%N)
  rm -f "$BASE_TAR.partial"
  if [ "$method" = mmdebstrap ] && ! build_rootfs_mmdebstrap "$BASE_TAR.partial"; then
    tail -5 "$STATE/mmdebstrap.log" >&2
    log "WARNING: mmdebstrap failed (log $STATE/mmdebstrap.log): falling back to a copy of the host's python3.11"
    rm -f "$BASE_TAR.partial"
    # the fallback gets a key of its own, so the mirror is tried again on the next run
    method=hostcopy
    BASE_KEY=$(printf 'fallback|%s' "$BASE_KEY" | sha256sum | cut -c1-16)
    BASE_TAR=$STATE/rootfs-$BASE_KEY.tar
    if [ -s "$BASE_TAR" ]; then log "base rootfs: cached fallback $BASE_TAR"; return; fi
  fi
  [ "$method" = mmdebstrap ] || build_rootfs_hostcopy "$BASE_TAR.partial"
  mv "$BASE_TAR.partial" "$BASE_TAR"
  # tars of earlier inputs are dead weight (100 MB each)
  find "$STATE" -maxdepth 1 -name 'rootfs-????????????????.tar' ! -name "rootfs-$BASE_KEY.tar" -delete
  log "base rootfs ($method): $(elapsed "$t")s, $(du -m "$BASE_TAR" | cut -f1) MB, sha256 $(sha256sum "$BASE_TAR" | cut -c1-16)"
}

run_in() {  # $1 engine $2 image $3... command: a throwaway container with no network, never a pull
  local engine=$1 image=$2; shift 2
  if [ "$engine" = docker ]; then
    docker_ run --rm --pull never --network none "$image" "$@"
  else
    podman_ run --rm --pull=never --network none "$image" "$@"
  fi
}

import_base() {  # $1 = engine
  local engine=$1 old
  old=$(id_of "$engine" "$BASE_IMAGE")
  local quiet=(); [ "$engine" = docker ] || quiet=(-q)   # docker import has no -q; podman's progress goes to stderr
  "${engine}_" import "${quiet[@]}" "${IMAGE_CHANGES[@]}" -c "LABEL $LABEL=$BASE_KEY" \
    "$BASE_TAR" "$BASE_IMAGE" >/dev/null || die "$engine import of $BASE_TAR failed"
  drop_if_dangling "$engine" "$old" "$BASE_IMAGE"
  run_in "$engine" "$BASE_IMAGE" python3 -c 'import os, ssl, venv, zoneinfo, sqlite3; assert os.environ["LANG"] == "C.UTF-8"' \
    || die "base image smoke test failed in $engine (python3: ssl, venv, zoneinfo, sqlite3, LANG)"
  log "base image ($engine): $BASE_IMAGE imported ($(size_of "$engine" "$BASE_IMAGE"))"
}

build_bases() {
  BASE_KEY=$(printf 'v1|%s|%s|%s|%s|%s' "$BASE_METHOD" "$SUITE" "$BASE_PACKAGES" "$SOURCE_DATE_EPOCH" "$DEBIAN_MIRROR" \
             | sha256sum | cut -c1-16)
  local engine todo=()
  for engine in docker podman; do
    if [ "$(label_of "$engine" "$BASE_IMAGE")" = "$BASE_KEY" ]; then
      log "base image ($engine): $BASE_IMAGE up to date ($(size_of "$engine" "$BASE_IMAGE"))"
    else
      todo+=("$engine")
    fi
  done
  [ ${#todo[@]} -gt 0 ] || return 0
  base_rootfs
  for engine in "${todo[@]}"; do
    # after a fallback, BASE_KEY names the fallback tar, which an engine may already hold
    if [ "$(label_of "$engine" "$BASE_IMAGE")" = "$BASE_KEY" ]; then
      log "base image ($engine): $BASE_IMAGE up to date (fallback)"
    else
      import_base "$engine"
    fi
  done
}
timed "base image" build_bases

# ------------------------------------------------------------------------------- 5. node-base image
build_node() {  # $1 = engine
  local engine=$1 ctx=$STATE/build/node-base key base_id old out
  [ -x "$NODE_BIN" ] || die "no node binary at $NODE_BIN (install Node.js 20, or set MCPKIT_NODE_BIN)"
  mkdir -p "$ctx"
  # shellcheck disable=SC2016  # literal on purpose
  printf '%s\n' 'ARG BASE' 'FROM ${BASE}' 'COPY node /usr/local/bin/node' >"$ctx/Dockerfile"
  base_id=$(id_of "$engine" "$BASE_IMAGE")
  # the node binary is keyed by path, size and mtime: hashing 100 MB on every run costs more than the rest
  key=$( { cat "$ctx/Dockerfile"; stat -L -c '%n %s %Y' "$NODE_BIN"; echo "$base_id"; } | sha256sum | cut -c1-16)
  if [ "$(label_of "$engine" "$NODE_IMAGE")" = "$key" ]; then
    log "node-base ($engine): $NODE_IMAGE up to date"
    return
  fi
  rm -f "$ctx/node"; cp -L "$NODE_BIN" "$ctx/node"
  old=$(id_of "$engine" "$NODE_IMAGE")
  if [ "$engine" = docker ]; then
    out=$(DOCKER_BUILDKIT=0 docker_ build -q --force-rm --network none --build-arg "BASE=$BASE_IMAGE" \
            --label "$LABEL=$key" -t "$NODE_IMAGE" "$ctx" 2>&1) || { echo "$out" >&2; die "docker build of $NODE_IMAGE failed"; }
  else
    out=$(podman_ build -q --pull=never --network none --build-arg "BASE=$BASE_IMAGE" \
            --label "$LABEL=$key" -t "$NODE_IMAGE" "$ctx" 2>&1) || { echo "$out" >&2; die "podman build of $NODE_IMAGE failed"; }
  fi
  rm -f "$ctx/node"
  drop_if_dangling "$engine" "$old" "$NODE_IMAGE"
  out=$(run_in "$engine" "$NODE_IMAGE" node --version 2>&1) || { echo "$out" >&2; die "node does not run in $NODE_IMAGE ($engine)"; }
  log "node-base ($engine): built $NODE_IMAGE, node $out ($(size_of "$engine" "$NODE_IMAGE"))"
}
build_nodes() { build_node docker; build_node podman; }
timed "node-base image" build_nodes

# ------------------------------------------------------------------------------- 6. names through podman's API
check_podman_names() {
  # podman stores imports as localhost/<name>; the Docker-compatible API must resolve the bare name
  # (what the tests and mcpkit pass) without trying a registry.
  local image code
  for image in "$BASE_IMAGE" "$NODE_IMAGE"; do
    code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' --unix-socket "$PODMAN_SOCK" \
             "http://d/v1.41/images/$image/json") || code=000
    [ "$code" = 200 ] || die "podman's compatible API does not resolve $image (HTTP $code)"
  done
  log "podman API: resolves $BASE_IMAGE and $NODE_IMAGE"
}
timed "podman names" check_podman_names

# ------------------------------------------------------------------------------- 7. local OCI registry
start_registry() {
  local dir=$STATE/registry pidfile=$STATE/registry/registry.pid i
  if curl -fsS -m 5 -o /dev/null "http://$REGISTRY_ADDR/v2/" 2>/dev/null; then
    log "registry: answering at http://$REGISTRY_ADDR"
    return
  fi
  command -v docker-registry >/dev/null || die "docker-registry is not installed"
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<YAML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}, cache: {blobdescriptor: inmemory}}
http: {addr: $REGISTRY_ADDR}
YAML
  setsid -f bash -c 'cd / && echo $$ >"$1"; exec docker-registry serve "$2" >>"$3" 2>&1 </dev/null' _ \
    "$pidfile" "$dir/config.yml" "$dir/registry.log"
  for i in $(seq 1 100); do
    curl -fsS -m 2 -o /dev/null "http://$REGISTRY_ADDR/v2/" 2>/dev/null && { log "registry: started at http://$REGISTRY_ADDR (pid $(cat "$pidfile"))"; return; }
    sleep 0.1
  done
  tail -5 "$dir/registry.log" >&2 || true
  die "the registry did not answer at http://$REGISTRY_ADDR"
}
timed "registry" start_registry

log "engines: docker unix://$DOCKER_SOCK, podman unix://$PODMAN_SOCK (pid $(cat "$STATE/podman-service.pid" 2>/dev/null || echo '?'))"
log "images: $BASE_IMAGE, $NODE_IMAGE"
log "total: $(elapsed "$T0")s"
