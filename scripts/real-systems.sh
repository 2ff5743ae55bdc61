#!/usr/bin/env bash
# Prints the README's "Proven on real systems" tables: the programs users run,
# from Debian 12's packages, with each PID 1 side by side (no init, Debian's
# tini and dumb-init, graceinit), numbers from this one run.
#
#   scripts/real-systems.sh [PART...]     PART: express zombies php swarm
#                                         (default: all of them, in that order)
#
#   express  CMD ["npm", "start"], express: docker stop with a request in flight
#   zombies  orphans of `docker exec`, counted with ps -eo stat
#   php      php-fpm behind nginx: docker stop with a 3 s request in flight
#   swarm    scripts/swarm-update.sh (a Swarm service update of the express
#            image under load), when that script exists; it gets the image as
#            GRACEINIT_EXPRESS_IMAGE and prints its own table
#
# Needs a Docker engine, mmdebstrap (the first run builds the cached Debian base,
# ~4 min) and curl. Everything it starts is removed at the end, also on
# failure; the Debian base image stays (it is the cache).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(express zombies php swarm)
for p in "${parts[@]}"; do
  case $p in express|zombies|php|swarm) ;; *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;; esac
done

run=graceinit-e2e-real-$$
run_label=graceinit-real-run=$$
cleanup() {
  local ids
  ids=$(docker ps -aq -f "label=$run_label")
  [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
  docker rmi "$run:express" "$run:php" >/dev/null 2>&1 || true
}
trap cleanup EXIT
echo "building the images (the Debian base is cached after the first run) ..." >&2
"$root/scripts/docker-images.sh" real "$run" >/dev/null
express=$run:express php=$run:php

start() { # docker run -d with the labels; prints the container id
  docker run -d --label graceinit-e2e=1 --label "$run_label" "$@"
}
ip() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
now() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.2f s", ns / 1e9 }'; }
wait_log() { # container, text, limit in s
  local end=$((SECONDS + $3))
  until docker logs "$1" 2>&1 | grep -qF -- "$2"; do
    [ $SECONDS -lt $end ] || { echo "real-systems: $1 never logged '$2'" >&2; docker logs "$1" >&2; exit 1; }
    sleep 0.1
  done
}
answer() { # curl's "code seconds" -> table cell
  local code=${1%% *} t=${1#* }
  if [ "$code" = 000 ]; then echo "lost (connection reset)"; else printf "%s in %.2f s\n" "$code" "$t"; fi
}
stop_timed() { # container -> elapsed ns of docker stop -t 10
  local t0
  t0=$(now)
  docker stop -t 10 "$1" >/dev/null
  echo $(($(now) - t0))
}

part_express() {
  echo "#### \`CMD [\"npm\", \"start\"]\` with express: \`docker stop\` with a 1.5 s request in flight"
  echo
  echo "| PID 1 | \`docker stop\` | exit code | node saw SIGTERM | request in flight |"
  echo "|---|---|---|---|---|"
  local row label pid1 c out took code saw
  for row in "no init (npm is PID 1)|" "tini|tini --" "dumb-init|dumb-init" "graceinit|graceinit --" \
             "graceinit --zero-on-stop|graceinit --zero-on-stop --"; do
    label=${row%%|*} pid1=${row#*|}
    # shellcheck disable=SC2086 # the PID 1 words
    c=$(start "$express" $pid1 npm start)
    wait_log "$c" "node: listening on" 120
    out=$(mktemp)
    curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 15 "http://$(ip "$c"):3000/slow?ms=1500" >"$out" &
    wait_log "$c" "node: slow request started" 20
    took=$(stop_timed "$c")
    wait
    code=$(docker inspect -f '{{.State.ExitCode}}' "$c")
    saw=no
    docker logs "$c" 2>&1 | grep -q "node: SIGTERM received" && saw=yes
    echo "| $label | $(secs "$took") | $code | $saw | $(answer "$(cat "$out")") |"
    rm -f "$out"
    docker rm -f "$c" >/dev/null
  done
  echo
}

part_zombies() {
  echo "#### Zombies: orphans of \`docker exec\`, counted with \`docker exec C ps -eo stat\`"
  echo
  echo "| PID 1 | Z after 5 × \`sh -c '(sleep 0.2 &) ; exit'\` | Z while \`(sleep 0.2 & exec sleep 3)\` runs | Z after it exits |"
  echo "|---|---|---|---|"
  local row label cmd c i z1 z2 z3
  for row in "node server.js (no init)|node server.js" "npm start (no init)|npm start" \
             "tini|tini -- npm start" "dumb-init|dumb-init npm start" "graceinit|graceinit -- npm start"; do
    label=${row%%|*} cmd=${row#*|}
    # shellcheck disable=SC2086
    c=$(start "$express" $cmd)
    wait_log "$c" "node: listening on" 120
    for i in 1 2 3 4 5; do docker exec "$c" sh -c '(sleep 0.2 &) ; exit'; done
    sleep 1.5
    z1=$(docker exec "$c" ps -eo stat= | grep -c '^Z' || true)
    # The zombie's parent is `sleep 3`, which never waits: it stays a zombie
    # under any init until `sleep 3` exits and hands it to PID 1.
    docker exec -d "$c" sh -c '(sleep 0.2 & exec sleep 3)'
    sleep 1.5
    z2=$(docker exec "$c" ps -eo stat= | grep -c '^Z' || true)
    sleep 3
    z3=$(docker exec "$c" ps -eo stat= | grep -c '^Z' || true)
    echo "| $label | $z1 | $z2 | $z3 |"
    docker rm -f "$c" >/dev/null
  done
  echo
}

php_row() { # label, conf label, then the php-fpm container's docker run args
  local label=$1 conf=$2 p n nip out took code
  shift 2
  p=$(start "$@")
  wait_log "$p" "ready to handle connections" 60
  n=$(start --add-host "php:$(ip "$p")" "$php" nginx)
  nip=$(ip "$n")
  local end=$((SECONDS + 30))
  until curl -s -o /dev/null "http://$nip/"; do [ $SECONDS -lt $end ] || exit 1; sleep 0.1; done
  out=$(mktemp)
  curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 15 "http://$nip/slow.php?id=1" >"$out" &
  end=$((SECONDS + 30))
  until docker exec "$p" test -e /tmp/started-1; do [ $SECONDS -lt $end ] || exit 1; sleep 0.1; done
  took=$(stop_timed "$p")
  wait
  code=$(docker inspect -f '{{.State.ExitCode}}' "$p")
  echo "| $label | $conf | $(answer "$(cat "$out")") | $(secs "$took") | $code |"
  rm -f "$out"
  docker rm -f "$p" "$n" >/dev/null
}

part_php() {
  local fpm=(php-fpm8.2 --nodaemonize) t5=(-y /etc/php/8.2/fpm/php-fpm-timeout5.conf)
  echo "#### php-fpm behind nginx (FastCGI, two containers): \`docker stop\` of php-fpm with a 3 s request in flight"
  echo
  echo "| PID 1 (signal php-fpm gets) | \`process_control_timeout\` | nginx's answer | \`docker stop\` | exit code |"
  echo "|---|---|---|---|---|"
  php_row "no init (TERM)" "0 (default)" "$php" "${fpm[@]}"
  php_row "tini (TERM)" "0 (default)" "$php" tini -- "${fpm[@]}"
  php_row "dumb-init (TERM)" "0 (default)" "$php" dumb-init "${fpm[@]}"
  php_row "dumb-init -r 15:3 (QUIT)" "0 (default)" "$php" dumb-init -r 15:3 "${fpm[@]}"
  php_row "graceinit -r TERM:QUIT (QUIT)" "0 (default)" "$php" graceinit -r TERM:QUIT -- "${fpm[@]}"
  php_row "no init (TERM)" "5 (the usual workaround)" "$php" "${fpm[@]}" "${t5[@]}"
  php_row "tini (TERM)" "5" "$php" tini -- "${fpm[@]}" "${t5[@]}"
  php_row "no init, \`--stop-signal QUIT\` (QUIT)" "5" --stop-signal QUIT "$php" "${fpm[@]}" "${t5[@]}"
  php_row "dumb-init -r 15:3 (QUIT)" "5" "$php" dumb-init -r 15:3 "${fpm[@]}" "${t5[@]}"
  php_row "graceinit -r TERM:QUIT (QUIT)" "5" "$php" graceinit -r TERM:QUIT -- "${fpm[@]}" "${t5[@]}"
  echo
}

part_swarm() {
  if [ -x "$root/scripts/swarm-update.sh" ]; then
    GRACEINIT_EXPRESS_IMAGE=$express "$root/scripts/swarm-update.sh"
  else
    echo "(swarm: scripts/swarm-update.sh is not in this tree)"
  fi
  echo
}

versions=$(docker run --rm "$express" sh -c 'echo "node $(node --version), npm $(npm --version), express $(node -p "require(\"express/package.json\").version"), $(php-fpm8.2 --version | head -1 | cut -d" " -f1-2), $(nginx -v 2>&1 | cut -d" " -f3), tini $(tini --version | cut -d" " -f3), dumb-init $(dumb-init --version 2>&1 | cut -d" " -f2)"')
echo "Debian 12: $versions; graceinit $("$root/target/x86_64-unknown-linux-gnu/release/graceinit" --version | cut -d' ' -f3-); Docker $(docker version -f '{{.Server.Version}}'); $(date -u +%Y-%m-%d)"
echo
for p in "${parts[@]}"; do "part_$p"; done
