#!/bin/sh
# Run on a fresh lab host (as root, over ssh) before either tool touches it,
# on both twins alike: Ansible's modules need python3, and its apt module
# needs python3-apt (in check mode too). push needs neither; installing them
# on push's twin as well makes the two hosts start equal.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends python3 python3-apt >/dev/null
