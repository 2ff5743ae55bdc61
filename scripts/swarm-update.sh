#!/usr/bin/env bash
# A Swarm rolling update under load, measured: `docker service update --force`
# of a 2-replica service (`--update-order start-first`, `--endpoint-mode
# dnsrr`, a HEALTHCHECK `graceinit health`) while batches of
# `ab -c 40 -n 20000 -l -k` run back to back through an HAProxy container on
# the same attachable overlay network. HAProxy finds the tasks the way a
# Swarm-aware balancer does: it resolves `tasks.SERVICE` through Docker's DNS
# (127.0.0.11) with `server-template`, and never retries a refused request
# (`retries 0`). Once per balancer setting (how often it re-resolves) and PID 1
# of the service (the images differ in nothing else). Prints a markdown table
# on stdout; progress goes to stderr.
#
# usage: scripts/swarm-update.sh [--app express|static]
#          [--inits "noinit tini dumb-init graceinit-nodrain graceinit"]
#          [--resolve "200ms 6s"] [--requests 20000] [--concurrency 40]
#          [--updates 1] [--port 18090] [--name graceinit-e2e-swarm]
# --app: express, the express app under `npm start` on the cached Debian base
#   (scripts/debian-base.sh, Debian's tini and dumb-init), the default; or
#   static, examples/http_server.rs in the FROM-scratch images (no Debian
#   base needed; dumb-init comes from the host with its libraries).
# --inits: PID 1 of the service: noinit (the app), tini, dumb-init, graceinit
#   (GRACEINIT_DRAIN_DELAY=5s GRACEINIT_KILL_AFTER=10s), graceinit-nodrain.
# --resolve: HAProxy's re-resolution interval (`timeout resolve`); 6s
#   stands for a slow Swarm-aware balancer (Traefik's Swarm provider polls
#   every 15 s by default).
# --updates: `docker service update --force` runs this many times in a row
#   under the same load (each replaces both tasks); the row sums them.
#
# The daemon must not be in a swarm yet: the script runs `docker swarm init`
# on 127.0.0.1 and `docker swarm leave --force` at the end, and removes the
# docker_gwbridge network that swarm mode leaves behind (if it was not there
# before), every service, container, network and image it made (all labelled
# graceinit-e2e=1), also when it fails or is interrupted. It never changes
# docker0, iptables or any network it did not create.
# needs: docker, ab (apache2-utils), haproxy (its binary and libraries
# go into the balancer image), busybox-static, tini, dumb-init
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
updates=1 app=express inits="noinit tini dumb-init graceinit-nodrain graceinit" resolve="200ms 6s" requests=20000 concurrency=40
port=18090 name=graceinit-e2e-swarm
while [ $# -gt 0 ]; do
  case "$1" in
    --app) app=$2 ;;
    --updates) updates=$2 ;;
    --inits) inits=$2 ;;
    --resolve) resolve=$2 ;;
    --requests) requests=$2 ;;
    --concurrency) concurrency=$2 ;;
    --port) port=$2 ;;
    --name) name=$2 ;;
    *) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
  shift 2
done
for tool in docker ab haproxy dumb-init; do
  command -v "$tool" >/dev/null || { echo "swarm-update: $tool not found (apt-get install haproxy apache2-utils dumb-init)" >&2; exit 1; }
done

log() { echo "swarm-update: $(date +%T) $*" >&2; }
label=graceinit-e2e=1
net=$name-net svc=$name-web lb=$name-lb lb_image=$name-lb:latest
stats_port=$((port + 1))
work=$(mktemp -d)
pids=()
swarm_ours= gwbridge_ours=
remove_tasks() {
  # The containers of a removed service's old tasks linger for a minute or
  # more; the next service and the network removal must not wait for them.
  docker ps -aq -f "label=com.docker.swarm.service.name=$svc" | xargs -r docker rm -f >/dev/null 2>&1 || true
}
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  docker service rm "$svc" >/dev/null 2>&1 || true
  docker rm -f "$lb" >/dev/null 2>&1 || true
  remove_tasks
  docker network rm "$net" >/dev/null 2>&1 || true
  if [ -n "$swarm_ours" ]; then
    docker swarm leave --force >/dev/null 2>&1 || true
    # Swarm mode creates docker_gwbridge and leaves it behind on leave.
    [ -n "$gwbridge_ours" ] && docker network rm docker_gwbridge >/dev/null 2>&1 || true
  fi
  docker rmi "$lb_image" "$name:graceinit" "$name:tini" "$name:noinit" "$name:dumb-init" \
    "$name:express" "$name:php" >/dev/null 2>&1 || true
  [ -z "${KEEP_WORK:-}" ] && rm -rf "$work" || echo "swarm-update: kept $work" >&2
}
trap cleanup EXIT
# A signal ends the script through exit, so the cleanup above runs.
trap 'exit 143' INT TERM

wait_for() { # $1: seconds; rest: a command that succeeds when done
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || { log "timed out waiting for: $*"; return 1; }
    sleep 0.2
  done
}

bundle() { # $1: directory; rest: dynamically linked programs, copied with their libraries
  local dir=$1 f; shift
  for f in "$@" $(ldd "$@" | awk '$1 ~ /^\// { print $1 } $3 ~ /^\// { print $3 }' | sort -u); do
    cp -L --parents "$f" "$dir/"
  done
}

if [ "$(docker info -f '{{.Swarm.LocalNodeState}}')" != inactive ]; then
  echo "swarm-update: this daemon is already part of a swarm; refusing to touch it" >&2
  exit 1
fi

mkdir -p "$work/dumb-init" "$work/lb"
case $app in
  express)
    log "building $name:express on the Debian base (scripts/debian-base.sh; the first build takes minutes)"
    "$root/scripts/docker-images.sh" real "$name" >/dev/null 2>>"$work/build.log" ||
      { cat "$work/build.log" >&2; exit 1; }
    app_port=3000
    ;;
  static)
    log "building $name:{graceinit,tini,noinit,dumb-init}"
    "$root/scripts/docker-images.sh" build "$name" >/dev/null 2>>"$work/build.log" ||
      { cat "$work/build.log" >&2; exit 1; }
    bundle "$work/dumb-init" "$(command -v dumb-init)"
    cat >"$work/dumb-init/Dockerfile" <<EOF2
FROM $name:graceinit
COPY . /
ENTRYPOINT ["$(command -v dumb-init)", "--"]
CMD ["/app/http_server"]
EOF2
    docker build -q --label "$label" -t "$name:dumb-init" "$work/dumb-init" >/dev/null 2>>"$work/build.log"
    app_port=8080
    ;;
  *) echo "swarm-update: --app is express or static, not $app" >&2; exit 2 ;;
esac
bundle "$work/lb" "$(command -v haproxy)"
cat >"$work/lb/Dockerfile" <<EOF
FROM scratch
COPY . /
ENTRYPOINT ["$(command -v haproxy)", "-db", "-f", "/etc/haproxy.cfg"]
EOF
log "building $lb_image (the host's haproxy and its libraries, FROM scratch)"
docker build -q --label "$label" -t "$lb_image" "$work/lb" >/dev/null 2>>"$work/build.log"

[ -n "$(docker network ls -q -f name='^docker_gwbridge$')" ] || gwbridge_ours=1
log "docker swarm init on 127.0.0.1"
swarm_ours=1
docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >/dev/null
docker network create -d overlay --attachable --label "$label" "$net" >/dev/null

haproxy_cfg() { # $1: re-resolution interval
  cat <<EOF
global
  maxconn 4096
  log stderr format raw local0 info
resolvers docker
  nameserver dns 127.0.0.11:53
  # A resolution every "timeout resolve". "hold valid" (10 s by default) is
  # the least time between two; equal to the tick, timer jitter makes every
  # other tick skip it, and 6 s becomes 12 s.
  timeout resolve $1
  hold valid 100ms
defaults
  mode http
  log global
  option httplog
  option dontlog-normal
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  # Like Swarm's VIP and Traefik: a refused request is not retried elsewhere.
  retries 0
frontend web
  bind :8080
  default_backend app
backend app
  balance roundrobin
  server-template task 4 tasks.$svc:$app_port resolvers docker init-addr none
listen stats
  bind :8404
  stats enable
  stats uri /
  # the task addresses in the CSV, which routed() reads
  stats show-legends
EOF
}

stats_csv() { # HAProxy's stats as CSV (bash's /dev/tcp: no curl needed)
  exec 3<>"/dev/tcp/127.0.0.1/$stats_port" || return 0
  printf 'GET /;csv HTTP/1.0\r\n\r\n' >&3
  cat <&3
  exec 3<&-
}
routed() { # the task addresses HAProxy routes to, one a line
  stats_csv 2>/dev/null |
    awk -F, '$1 == "app" && $2 ~ /^task/ && $18 !~ /MAINT/ { print $74 }' | sort
}
task_ips() { # the addresses of the service's running tasks on our network
  docker ps -q -f "label=com.docker.swarm.service.name=$svc" | xargs -r docker inspect \
    -f "{{with index .NetworkSettings.Networks \"$net\"}}{{.IPAddress}}{{end}}" | grep . | sort
}
routes_exactly() { # $1: file of addresses
  [ "$(routed | sed 's/:.*//')" = "$(cat "$1")" ] && [ -s "$1" ]
}
converged() { # both replicas running, and no task of an older spec left
  [ "$(task_ips | wc -l)" = 2 ]
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

service_args() { # $1: PID 1; sets args: the options, image and command of the service
  local drain=(--env GRACEINIT_DRAIN_DELAY=5s --env GRACEINIT_KILL_AFTER=10s)
  local nodrain=(--env GRACEINIT_DRAIN_DELAY=0 --env GRACEINIT_KILL_AFTER=10s)
  case $app:$1 in
    static:graceinit) args=("${drain[@]}" "$name:graceinit") ;;
    static:graceinit-nodrain) args=("${nodrain[@]}" "$name:graceinit") ;;
    static:noinit | static:tini | static:dumb-init) args=("$name:$1") ;;
    # The image has no ENTRYPOINT: PID 1 is chosen here, and the command is
    # given in full (a service's --entrypoint drops the image's CMD).
    express:*)
      args=(--health-cmd "/usr/local/bin/graceinit health --http http://127.0.0.1:3000/health --timeout 800ms"
        --health-interval 2s --health-timeout 1s --health-retries 1
        # npm takes seconds to start node here; a failed probe before that
        # would make Swarm replace the task.
        --health-start-period 60s)
      case $1 in
        noinit) args+=("$name:express") ;;
        tini) args+=(--entrypoint "/usr/bin/tini --" "$name:express") ;;
        dumb-init) args+=(--entrypoint "/usr/bin/dumb-init --" "$name:express") ;;
        graceinit) args+=("${drain[@]}" --entrypoint "/usr/local/bin/graceinit --" "$name:express") ;;
        graceinit-nodrain) args+=("${nodrain[@]}" --entrypoint "/usr/local/bin/graceinit --" "$name:express") ;;
        *) echo "swarm-update: unknown PID 1 $1" >&2; exit 2 ;;
      esac
      args+=(npm start)
      ;;
    *) echo "swarm-update: unknown PID 1 $1" >&2; exit 2 ;;
  esac
}

echo "| balancer re-resolves every | PID 1 | requests sent | failed | non-2xx | balancer errors | updates took |"
echo "|---|---|---:|---:|---:|---:|---:|"
for every in $resolve; do
  haproxy_cfg "$every" >"$work/haproxy-$every.cfg"
  for init in $inits; do
    service_args "$init"
    log "$every, $init: service with 2 replicas"
    # stop-grace-period: > the image's drain + kill-after (5 s + 10 s).
    timeout 300 docker service create -q --detach=false --name "$svc" --label "$label" \
      --container-label "$label" --network "$net" --endpoint-mode dnsrr --replicas 2 \
      --update-order start-first --update-parallelism 1 --stop-grace-period 20s \
      "${args[@]}" >/dev/null 2>>"$work/swarm.log"
    wait_for 60 converged
    task_ips >"$work/old-ips"
    docker run -d -q --name "$lb" --label "$label" --network "$net" \
      -p "127.0.0.1:$port:8080" -p "127.0.0.1:$stats_port:8404" \
      -v "$work/haproxy-$every.cfg:/etc/haproxy.cfg:ro" "$lb_image" >/dev/null
    wait_for 60 routes_exactly "$work/old-ips"
    rm -f "$work"/ab.* "$work/stop-load"
    load_loop &
    load=$!
    pids+=("$load")
    sleep 1
    start=$SECONDS
    for n in $(seq 1 "$updates"); do
      log "$every, $init: docker service update --force under load ($n of $updates)"
      timeout 300 docker service update -q --detach=false --force "$svc" >/dev/null 2>>"$work/swarm.log"
      # The update is complete when the new tasks run; the old ones may still
      # drain or stop, and the balancer may still route to them.
      wait_for 60 converged
      task_ips >"$work/new-ips"
      wait_for 60 routes_exactly "$work/new-ips"
    done
    took=$((SECONDS - start))
    sleep 1
    touch "$work/stop-load"
    wait "$load" || true
    sent=$(ab_sum "Complete requests") failed=$(ab_sum "Failed requests") non2xx=$(ab_sum "Non-2xx responses")
    # HAProxy logs only the requests that failed (option dontlog-normal),
    # with status and termination state: "503 SC--", the task refused the
    # connection; "503 sC--", connecting to an address that is gone timed out.
    docker logs -t "$lb" >"$work/lb-$every-$init.log" 2>&1
    awk '/ HTTP\// { print $7, $11 }' "$work/lb-$every-$init.log" >"$work/lb-errors"
    lb_errors=$(wc -l <"$work/lb-errors")
    log "$every, $init: $sent sent, $failed failed, $non2xx non-2xx, balancer logged $lb_errors errors, update took ${took}s"
    sort "$work/lb-errors" | uniq -c | sort -rn | head -5 | sed 's/^/swarm-update:   haproxy: /' >&2
    echo "| $every | $init | $sent | $failed | $non2xx | $lb_errors | $updates in ${took} s |"
    docker rm -f "$lb" >/dev/null
    docker service rm "$svc" >/dev/null
    remove_tasks
  done
done
