#!/usr/bin/env bash
# Builds the Debian 12 (bookworm) base image of the real-systems tests, with no
# registry: mmdebstrap makes a root filesystem from deb.debian.org and
# `docker import` turns it into an image. The tag is a hash of this script
# (which holds the package list), so the image is built once and rebuilt only
# when the package list or the build changes:
#
#   scripts/debian-base.sh          build unless the tag exists; print the tag
#   scripts/debian-base.sh --tag    print the tag only (no build)
#
# The packages are the real programs users run (node, npm, express, php-fpm,
# nginx, haproxy) and the real peers (Debian's tini and dumb-init), so every
# control in the tests is the program a user would install.
#
# The image carries the label graceinit-base=1, NOT graceinit-e2e=1: the e2e
# clean-up (`docker rmi $(docker images -q -f label=graceinit-e2e=1)`) must not
# throw away the cache. Remove it by hand: docker rmi $(docker images -q -f label=graceinit-base=1)
set -euo pipefail

packages=(
  nodejs npm node-express        # CMD ["npm", "start"] with express
  php8.2-fpm nginx               # php-fpm behind nginx (FastCGI)
  haproxy                        # the balancer of the Swarm experiment
  procps busybox-static          # ps for zombie counts; sh, wget, nc
  tini dumb-init                 # the peers, as Debian ships them
)
mirror=http://deb.debian.org/debian
security=http://deb.debian.org/debian-security

repo=graceinit-debian
tag=$repo:$(sha256sum "$0" | cut -c1-12)

if [ "${1:-}" = --tag ]; then
  echo "$tag"
  exit 0
fi
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi

command -v mmdebstrap >/dev/null || {
  echo "debian-base: mmdebstrap is not installed (apt-get install mmdebstrap)" >&2
  exit 1
}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
start=$(date +%s)
# --variant=apt: Essential plus apt, no Priority: important extras. No docs,
# man pages or locales: they are a third of the size and nobody reads them in
# a container. Recommends are off (mmdebstrap's default).
mmdebstrap --variant=apt --quiet \
  --include="$(IFS=,; echo "${packages[*]}")" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --aptopt='Acquire::Languages "none"' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  bookworm "$dir/rootfs.tar" \
  "deb $mirror bookworm main" \
  "deb $mirror bookworm-updates main" \
  "deb $security bookworm-security main" >&2
docker import \
  --change 'LABEL graceinit-base=1' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' \
  --message "scripts/debian-base.sh: ${packages[*]}" \
  "$dir/rootfs.tar" "$tag" >/dev/null
echo "debian-base: built $tag in $(($(date +%s) - start)) s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d MB", $1/1e6}'))" >&2
echo "$tag"
