#!/usr/bin/env bash
# A private second Docker daemon whose init (`docker run --init`) is graceinit,
# next to the host's daemon and unable to disturb it: its own data root, exec
# root (and so its own containerd), pid file, socket and config file, no
# bridge, no iptables rules, and its own network namespace. `--bridge=none`
# in the host's namespace would delete docker0, and a second daemon there
# would rewrite the host's iptables; in a fresh namespace (only `lo`) the
# daemon sees neither. Its containers run with `--network none` (there is no
# bridge network) or `--network host` (the daemon's empty namespace).
#
#   scripts/private-dockerd.sh start DIR [INIT]  start it, state in DIR (created;
#       a short path: the exec root holds unix sockets); INIT defaults to the
#       static release graceinit. Prints the value for DOCKER_HOST / docker -H.
#   scripts/private-dockerd.sh load DIR IMAGE... copy images from the host's
#       daemon (docker save | docker -H ... load)
#   scripts/private-dockerd.sh stop DIR          stop it and remove DIR
#
# By hand: DOCKER_HOST=$(scripts/private-dockerd.sh start /tmp/gi) docker info
# needs: dockerd (docker.io), util-linux (unshare)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

start() { # $1: state directory; $2: init binary
  local dir=$1 init=${2:-$root/target/x86_64-unknown-linux-gnu/release/graceinit}
  [ -x "$init" ] || { echo "private-dockerd: no init binary at $init (run ./scripts/build-static)" >&2; exit 1; }
  init=$(realpath "$init")
  mkdir -p "$dir"
  dir=$(realpath "$dir")
  if [ -e "$dir/dockerd.pid" ] && kill -0 "$(cat "$dir/dockerd.pid")" 2>/dev/null; then
    echo "private-dockerd: already running in $dir" >&2
    exit 1
  fi
  # Not the host's /etc/docker/daemon.json: its settings (storage driver,
  # data root) are the host daemon's.
  echo '{}' >"$dir/daemon.json"
  # vfs: works on any filesystem, including the fuse-overlayfs and overlay
  # roots this may run in; the test images are a few MB.
  unshare --net --fork --kill-child -- sh -c '
    ip link set lo up 2>/dev/null || true  # iproute2 is optional: nothing here needs lo
    exec dockerd "$@"' sh \
    --config-file "$dir/daemon.json" \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
    -H "unix://$dir/docker.sock" --bridge=none --iptables=false --ip6tables=false \
    --ip-masq=false --storage-driver vfs --init-path "$init" \
    >"$dir/dockerd.log" 2>&1 &
  echo $! >"$dir/unshare.pid"
  local i
  for i in $(seq 1 300); do
    if docker -H "unix://$dir/docker.sock" version >/dev/null 2>&1; then
      echo "unix://$dir/docker.sock"
      return 0
    fi
    kill -0 "$(cat "$dir/unshare.pid")" 2>/dev/null || break
    sleep 0.2
  done
  echo "private-dockerd: dockerd did not answer on $dir/docker.sock; its log:" >&2
  tail -20 "$dir/dockerd.log" >&2
  stop "$dir"
  exit 1
}

load() { # $1: state directory; rest: images of the host's daemon
  local dir=$1; shift
  docker save "$@" | docker -H "unix://$dir/docker.sock" load -q >/dev/null
}

stop() { # $1: state directory
  local dir=$1 pid i
  [ -d "$dir" ] || return 0
  dir=$(realpath "$dir")
  if [ -e "$dir/docker.sock" ]; then
    # Containers first, so that none outlives the daemon in its containerd.
    docker -H "unix://$dir/docker.sock" ps -aq 2>/dev/null |
      xargs -r docker -H "unix://$dir/docker.sock" rm -f >/dev/null 2>&1 || true
  fi
  for pid in "$(cat "$dir/dockerd.pid" 2>/dev/null)" "$(cat "$dir/unshare.pid" 2>/dev/null)"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for i in $(seq 1 150); do
    pid=$(cat "$dir/unshare.pid" 2>/dev/null) || break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  # Whatever the daemon left mounted under DIR (its exec root, netns files)
  # must go before the files.
  findmnt -rno TARGET | grep -F "$dir/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$dir"
}

case "${1:-}" in
  start) start "${2:?usage: $0 start DIR [INIT]}" "${3:-}" ;;
  load) load "${2:?usage: $0 load DIR IMAGE...}" "${@:3}" ;;
  stop) stop "${2:?usage: $0 stop DIR}" ;;
  *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
