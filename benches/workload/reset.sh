#!/bin/sh
# Undo the workload on this host (run with `docker exec`), so the next
# first-converge run starts from a fresh host.
rm -rf /opt/bench /etc/systemd/system/bench-app.service
if getent group bench >/dev/null; then groupdel bench; fi
