#!/usr/bin/env bash
# The zero-downtime experiment: a rolling update of the example HTTP server
# under continuous load, once per PID 1 (graceinit with its drain, tini, the
# app itself), counting the requests that fail. Prints a markdown table on
# stdout; progress goes to stderr.
#
# No Swarm here (scripts/swarm-update.sh measures that): this is plain
# `docker stop`, with no 2 s between deregistration and the signal, in the
# docker-rollout recipe: docker-compose --scale starts the new replicas next
# to the old ones (Swarm's `order: start-first`), waits until they are
# healthy and routed, then stops the old ones; HAProxy on the host balances
# 127.0.0.1:PORT over the replicas, steered by scripts/lb-controller.py the
# way Traefik's Docker provider is: a replica gets traffic while it is
# running and healthy. Load: batches of `ab -c 40 -n 20000 -l -k` back to
# back for the whole update.
#
# usage: scripts/rolling-update.sh [--inits "graceinit tini noinit"] [--replicas 2]
#          [--requests 20000] [--concurrency 40] [--port 18080] [--name graceinit-rollout]
#          [--retries 0]
# --retries: HAProxy's retries on a refused connection. 0 (the default) is
# how Swarm's VIP and Traefik behave; HAProxy's own default, 3, holds each
# such request for 4 s (a second between tries), so each client fails once
# and then waits instead of failing again.
# needs: docker, docker-compose, haproxy, ab (apache2-utils), python3, busybox-static, tini
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
inits="graceinit tini noinit" retries=0 replicas=2 requests=20000 concurrency=40 port=18080 name=graceinit-rollout
while [ $# -gt 0 ]; do
  case "$1" in
    --inits) inits=$2 ;;
    --replicas) replicas=$2 ;;
    --retries) retries=$2 ;;
    --requests) requests=$2 ;;
    --concurrency) concurrency=$2 ;;
    --port) port=$2 ;;
    --name) name=$2 ;;
    *) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
  shift 2
done
for tool in docker docker-compose haproxy ab python3; do
  command -v "$tool" >/dev/null || { echo "rolling-update: $tool not found (apt-get install haproxy apache2-utils docker-compose)" >&2; exit 1; }
done

log() { echo "rolling-update: $(date +%T) $*" >&2; }
work=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  docker ps -aq -f "label=com.docker.compose.project=$project" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker network rm "${project}_default" >/dev/null 2>&1 || true
  docker rmi "$name:graceinit" "$name:tini" "$name:noinit" >/dev/null 2>&1 || true
  [ -z "${KEEP_WORK:-}" ] && rm -rf "$work" || echo "rolling-update: kept $work" >&2
}
project=${name//[^a-z0-9]/}
trap cleanup EXIT
# A signal ends the script through exit, so the cleanup above runs.
trap 'exit 143' INT TERM

compose() {
  docker-compose -p "$project" -f "$root/scripts/rolling-update.compose.yml" "$@"
}
ids_of() { compose ps -q web | sort; }
wait_for() { # $1: seconds; rest: a command that succeeds when done
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || { log "timed out waiting for: $*"; return 1; }
    sleep 0.2
  done
}
all_routed() { # $@: container ids that the balancer must route to
  local id
  for id in "$@"; do grep -qx "$id" "$work/routed" 2>/dev/null || return 1; done
}
load_loop() { # ab batches back to back until $work/stop-load exists
  local n=0
  until [ -e "$work/stop-load" ]; do
    n=$((n + 1))
    ab -r -l -k -c "$concurrency" -n "$requests" "http://127.0.0.1:$port/" >"$work/ab.$n" 2>&1 || true
  done
}
ab_sum() { # $1: the label of an ab line, e.g. "Complete requests"
  cat "$work"/ab.* 2>/dev/null | awk -F: -v k="$1" '$1 == k { s += $2 } END { print s + 0 }'
}

log "building images $name:{graceinit,tini,noinit}"
"$root/scripts/docker-images.sh" build "$name" >/dev/null

slots=$((replicas * 2))
{
  echo "global"
  echo "  stats socket $work/haproxy.sock mode 600 level admin"
  echo "  maxconn 4096"
  echo "  log stderr format raw local0 info"
  echo "defaults"
  echo "  mode http"
  echo "  log global"
  echo "  option httplog"
  echo "  option dontlog-normal"
  echo "  timeout connect 1s"
  echo "  timeout client 30s"
  echo "  timeout server 30s"
  # No `option redispatch`: like Swarm's VIP and Traefik, a request sent to a
  # replica that refuses it is not retried on another one.
  echo "  retries $retries"
  echo "frontend web"
  echo "  bind 127.0.0.1:$port"
  echo "  default_backend app"
  echo "backend app"
  echo "  balance roundrobin"
  for i in $(seq 1 $slots); do echo "  server s$i 127.0.0.1:9 disabled"; done
} >"$work/haproxy.cfg"
haproxy -db -f "$work/haproxy.cfg" 2>>"$work/haproxy.log" &
pids+=($!)
wait_for 10 test -S "$work/haproxy.sock"
python3 "$root/scripts/lb-controller.py" "$project" "$work/haproxy.sock" app "$slots" "$work/routed" 2>>"$work/controller.log" &
pids+=($!)

echo "| PID 1 | requests sent | failed | non-2xx | update took |"
echo "|---|---:|---:|---:|---:|"
for init in $inits; do
  export WEB_IMAGE=$name:$init APP_VERSION=1
  log "$init: starting $replicas replicas"
  compose up -d --scale web="$replicas" 2>>"$work/compose.log"
  mapfile -t old < <(ids_of)
  wait_for 60 all_routed "${old[@]}"
  rm -f "$work"/ab.* "$work/stop-load"
  : >"$work/haproxy.log"
  load_loop &
  load=$!
  pids+=($load)
  sleep 1
  log "$init: rolling update under load"
  start=$SECONDS
  export APP_VERSION=2
  compose up -d --no-recreate --scale web=$((replicas * 2)) 2>>"$work/compose.log"
  mapfile -t new < <(ids_of | grep -vxF -f <(printf '%s\n' "${old[@]}"))
  wait_for 60 all_routed "${new[@]}"
  docker stop -t 20 "${old[@]}" >/dev/null
  docker rm "${old[@]}" >/dev/null
  took=$((SECONDS - start))
  sleep 1
  touch "$work/stop-load"
  wait "$load" || true
  sent=$(ab_sum "Complete requests") failed=$(ab_sum "Failed requests") non2xx=$(ab_sum "Non-2xx responses")
  log "$init: $sent sent, $failed failed, $non2xx non-2xx, update took ${took}s"
  # HAProxy logs only the failed requests: status, termination state (e.g.
  # "503 SC--": the replica refused the connection) and timers (the last one
  # is the total ms: HAProxy retried 3 times, a second apart).
  tr -d '\0' <"$work/haproxy.log" | awk '/ HTTP\// { print "rolling-update:   haproxy:", $6, $10, "after", $5 }' | sort | uniq -c | sort -rn | head -5 >&2 || true
  echo "| $init | $sent | $failed | $non2xx | ${took} s |"
  compose down -t 1 2>>"$work/compose.log"
done
