#!/usr/bin/env bash
# Installs the Debian packages the project needs, only those missing (idempotent, quiet when done).
set -euo pipefail
packages=(
  # containers: rootful podman with runc, images built offline with debootstrap
  podman runc catatonit uidmap slirp4netns netavark containernetworking-plugins iptables debootstrap
  # sample releases: rebar3/relx and OTP (release_handler is in erlang-base), Elixir for mix
  rebar3 erlang-nox erlang-dev erlang-tools elixir
  # the project's venv, git for sanity's file list, socat to poke HAProxy by hand
  python3 python3-venv git make socat
  # Ansible over SSH to the lab (a key made by make setup)
  openssh-client
)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "apt packages: all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}; run 'make setup' as root or install them with apt-get" >&2
  exit 1
fi
echo "apt packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
