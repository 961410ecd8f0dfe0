#!/usr/bin/env bash
# Build the benchmark's host image: a Debian 12 minbase root filesystem from
# debootstrap with only what the three tools need on a host (sshd; python3
# and python3-apt for Ansible's modules; sudo), imported once as BASE, then
# IMAGE = BASE + host/ (sshd settings and the entrypoint; a `docker build`
# of a second). sshd runs as PID 1: no systemd, so a host costs a couple of
# MB and starts in well under a second.
#
# The rootfs tarball is cached in $PUSH_BENCH_CACHE (default
# ~/.cache/push-bench), so even after `docker rmi` nothing is downloaded
# again. Usage: image.sh [IMAGE]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
image="${1:-push-bench/sshd:12}"
base="push-bench/sshd-base:12"
# Bump when the debootstrap recipe below changes.
recipe=1
cache="${PUSH_BENCH_CACHE:-${HOME:-/root}/.cache/push-bench}"
mirror="${PUSH_BENCH_MIRROR:-http://deb.debian.org/debian}"
packages="openssh-server,python3,python3-apt,sudo"

label() { docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }

if [ "$(label "$base" push-bench.recipe)" != "$recipe" ]; then
    mkdir -p "$cache"
    tarball="$cache/sshd-bookworm-r$recipe.tar"
    if [ ! -f "$tarball" ]; then
        command -v debootstrap >/dev/null || { echo "error: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
        rootfs="$(mktemp -d "$cache/rootfs.XXXXXX")"
        trap 'rm -rf "$rootfs"' EXIT
        echo "bench image: debootstrap --variant=minbase --include=$packages bookworm (a minute or two)" >&2
        debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
            tail -n 20 "$cache/debootstrap.log" >&2
            exit 1
        }
        # Each host makes its own host key when it starts (host/entrypoint).
        rm -f "$rootfs"/etc/ssh/ssh_host_*
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" --numeric-owner -cf "$tarball.partial" .
        mv "$tarball.partial" "$tarball"
    fi
    docker import --change "LABEL push-bench.recipe=$recipe" "$tarball" "$base" >/dev/null
fi

# The host layer: rebuilt when host/ changes (its hash is the label).
sum="$(cd "$here/host" && cat Dockerfile bench.conf entrypoint | sha256sum | cut -c1-16)"
if [ "$(label "$image" push-bench.host)" != "$sum" ]; then
    log="$(mktemp)"
    docker build -q --build-arg "BASE=$base" --label "push-bench.host=$sum" -t "$image" "$here/host" >"$log" 2>&1 || {
        cat "$log" >&2
        rm -f "$log"
        exit 1
    }
    rm -f "$log"
    echo "bench image: $image" >&2
fi
