#!/bin/sh
# Host keys on first start (the image holds none), then sshd in the
# foreground. `push lab up` sets up routing and NAT with `docker exec`
# once the bastion is on both networks.
set -eu
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e
