#!/usr/bin/env bash
# Builds the Docker images of the examples FROM scratch, with no registry:
# the build context holds the static graceinit and example binaries, Debian's
# static busybox and tini-static, so Dockerfile.example can COPY them.
#
#   scripts/docker-images.sh context DIR   assemble the build context in DIR
#   scripts/docker-images.sh build NAME    build the static binaries, then three
#                                          images that differ only in PID 1:
#     NAME:graceinit  Dockerfile.example (graceinit, drain on stop)
#     NAME:tini       the same with ENTRYPOINT ["tini", "--"]
#     NAME:noinit     the same with the app itself as PID 1
#   scripts/docker-images.sh real NAME     the real programs, on the cached Debian
#                                          base of scripts/debian-base.sh:
#     NAME:express    docker/express.Dockerfile (CMD ["npm", "start"], express)
#     NAME:php        docker/php.Dockerfile (php-fpm, and nginx in front)
#
# Every image carries the label graceinit-e2e=1, so leftovers of an aborted
# run can be found: docker images -f label=graceinit-e2e=1
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
release=$root/target/x86_64-unknown-linux-gnu/release

context() { # $1: directory to fill
  local dir=$1 f
  mkdir -p "$dir"
  for f in "$release/graceinit" "$release/examples/http_server" \
           "$release/examples/quit_only_server" /bin/busybox /usr/bin/tini-static; do
    if [ ! -x "$f" ]; then
      echo "docker-images: missing $f (run ./scripts/build-static; apt-get install busybox-static tini)" >&2
      exit 1
    fi
    cp "$f" "$dir/"
  done
  cp "$root/Dockerfile.example" "$dir/Dockerfile"
  # Dockerfile.example's /tmp; its path says where the context comes from.
  mkdir -p -m 1777 "$dir/made-by-scripts-docker-images.sh/tmp"
  cat >"$dir/Dockerfile.tini" <<'EOF'
ARG BASE
FROM ${BASE}
COPY tini-static /usr/local/bin/tini
ENTRYPOINT ["tini", "--"]
CMD ["/app/http_server"]
EOF
  cat >"$dir/Dockerfile.noinit" <<'EOF'
ARG BASE
FROM ${BASE}
COPY quit_only_server /app/quit_only_server
# No drain either: the tests put graceinit and its flags in front of the
# command themselves (an empty variable counts as unset).
ENV GRACEINIT_DRAIN_DELAY= GRACEINIT_KILL_AFTER=
ENTRYPOINT []
CMD ["/app/http_server"]
EOF
}

build() { # $1: image name (repository); tags graceinit, tini, noinit
  local name=$1 dir
  "$root/scripts/build-static" >/dev/null
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' RETURN
  context "$dir"
  local label=(--label graceinit-e2e=1)
  docker build -q "${label[@]}" -t "$name:graceinit" "$dir" >/dev/null
  docker build -q "${label[@]}" --build-arg "BASE=$name:graceinit" -f "$dir/Dockerfile.tini" -t "$name:tini" "$dir" >/dev/null
  docker build -q "${label[@]}" --build-arg "BASE=$name:graceinit" -f "$dir/Dockerfile.noinit" -t "$name:noinit" "$dir" >/dev/null
  echo "$name:graceinit $name:tini $name:noinit"
}

real() { # $1: image name (repository); tags express, php
  local name=$1 dir base
  base=$("$root/scripts/debian-base.sh")
  "$root/scripts/build-static" >/dev/null
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' RETURN
  cp "$release/graceinit" "$dir/"
  cp -r "$root/examples/express" "$root/examples/php" "$root"/docker/*.Dockerfile "$dir/"
  local args=(--label graceinit-e2e=1 --build-arg "BASE=$base")
  docker build -q "${args[@]}" -f "$dir/express.Dockerfile" -t "$name:express" "$dir" >/dev/null
  docker build -q "${args[@]}" -f "$dir/php.Dockerfile" -t "$name:php" "$dir" >/dev/null
  echo "$name:express $name:php"
}

case "${1:-}" in
  context) context "${2:?usage: $0 context DIR}" ;;
  build) build "${2:-graceinit-example}" ;;
  real) real "${2:-graceinit-real}" ;;
  *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
