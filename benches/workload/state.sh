#!/bin/sh
# Print the state of everything the workload touches on this host, one
# line per fact; the bench hashes it and compares the hashes across tools.
# Run inside the host with `docker exec` (not over SSH: it must not count
# as a remote exec).
for p in /opt/bench /opt/bench/conf.d /opt/bench/motd /opt/bench/app.conf /opt/bench/app.env \
    /opt/bench/current /opt/bench/initialized /etc/systemd/system/bench-app.service; do
    if [ -L "$p" ]; then
        echo "$p link -> $(readlink "$p") $(stat -c '%U:%G' "$p")"
    elif [ -d "$p" ]; then
        echo "$p dir $(stat -c '%a %U:%G' "$p")"
    elif [ -f "$p" ]; then
        echo "$p file $(stat -c '%a %U:%G' "$p") $(sha256sum <"$p" | cut -c1-16)"
    else
        echo "$p missing"
    fi
done
echo "stray files: $(find /opt/bench -mindepth 1 2>/dev/null | grep -v -x -e /opt/bench/conf.d -e /opt/bench/motd -e /opt/bench/app.conf -e /opt/bench/app.env -e /opt/bench/current -e /opt/bench/initialized | tr '\n' ' ')"
echo "group: $(getent group bench || echo missing)"
echo "package: $(dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}' openssh-server)"
