#!/usr/bin/env bash
# Builds the lab's container images offline, only those missing: no registry is reachable, so the
# base image is a debootstrap of Debian 12 imported into podman, and the others build FROM it.
# Usage: lab/build-images.sh [--force]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
build=${BEAMOPS_BUILD_DIR:-$here/../.build}
mkdir -p "$build"
base=localhost/beamops-base:bookworm
haproxy=localhost/beamops-haproxy:bookworm
node=localhost/beamops-node:bookworm
force=${1:-}

if [ "$force" = "--force" ]; then
  podman rmi -f "$node" "$haproxy" "$base" >/dev/null 2>&1 || true
fi

if podman image exists "$base"; then
  echo "image $base: present"
else
  echo "image $base: debootstrap of bookworm (about a minute)"
  rootfs=$(mktemp -d "$build/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  # python3 for Ansible modules; erlang-base for epmd and release_handler on the targets;
  # iproute2/procps/curl for people looking around inside the lab.
  debootstrap --variant=minbase --include=python3,erlang-base,iproute2,procps,curl \
    bookworm "$rootfs" >"$build/debootstrap.log" 2>&1 \
    || { tail -20 "$build/debootstrap.log" >&2; exit 1; }
  tar -C "$rootfs" -c . | podman import --change 'CMD ["sleep","infinity"]' - "$base" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi

build_from() {  # image, Containerfile: built when missing or when its Containerfile changed
  local image=$1 file=$here/images/$2 sum have
  sum=$(sha256sum "$file" | cut -c1-16)
  have=$(podman image inspect --format '{{ index .Labels "beamops.containerfile" }}' "$image" 2>/dev/null || true)
  if [ "$have" = "$sum" ]; then
    echo "image $image: present"
  else
    echo "image $image: building from $2"
    podman build --pull=never -q --label "beamops.containerfile=$sum" -t "$image" -f "$file" "$here/images" >/dev/null
  fi
}

build_from "$haproxy" haproxy.Containerfile

build_from "$node" node.Containerfile
