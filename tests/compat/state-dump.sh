#!/bin/sh
# The state of a Debian host that a playbook run is judged by, printed on
# stdout as sections of sorted lines. Run on the host as root over ssh
# (`ssh HOST sh -s < state-dump.sh`), the same way after an Ansible run and
# after a push run, so the two dumps can be compared line by line.
#
# Left out, with why (every one of them differs between two fresh twin
# hosts, or between two runs of the same tool, without a playbook doing it):
#   /etc/hostname /etc/hosts /etc/resolv.conf   written by Docker, per container
#   /etc/machine-id /var/lib/dbus/machine-id    random per boot of a fresh host
#   /etc/ssh/ssh_host_*                          host keys, random per host
#   /etc/ld.so.cache                             rebuilt by ldconfig, not byte-stable
#   /etc/.pwd.lock                               lock file, mtime-only churn
#   /etc/passwd- /etc/group- /etc/shadow- /etc/gshadow-
#                                                backups of the previous version:
#                                                which version depends on how many
#                                                writes a tool made, not on the end state
#   /etc/ssl/private/ssl-cert-snakeoil.key /etc/ssl/certs/ssl-cert-snakeoil.pem
#                                                random key made by ssl-cert's postinst
#                                                (content), and the hash-named link to it
#                                                in /etc/ssl/certs (its name is the hash
#                                                of a subject naming the host)
#   /root/.ssh/authorized_keys (content)         the lab's client key, new per lab
#   /root/.ansible /root/.cache /root/.lesshst /root/.viminfo /root/.wget-hsts
#   /root/.python_history /root/.bash_history   a tool's or a shell's own leftovers
#   */__pycache__                                Python's byte-code caches
#   /etc/shadow /etc/gshadow (content)           dumped below without hashes and dates
#   /etc/aliases.db (content)                    a Berkeley DB built by newaliases from
#                                                /etc/aliases (compared): not byte-stable
#   */.git/index */.git/logs/* */.git/FETCH_HEAD (content)
#                                                a checkout's stat cache (inodes, times)
#                                                and reflogs (times): the files are listed
# Password hashes are salted (random) and shadow's last-change field is the
# day of the run: both are replaced by a word saying what was there.
set -u
export LC_ALL=C

ROOTS="/etc /usr/local /opt /srv /var/www /home /root"

# find(1) arguments that leave out the paths listed above.
walk() {
    find $ROOTS -xdev \
        \( -path /etc/hostname -o -path /etc/hosts -o -path /etc/resolv.conf \
        -o -path /etc/machine-id -o -path '/etc/ssh/ssh_host_*' -o -path /etc/ld.so.cache \
        -o -path /etc/.pwd.lock -o -path /etc/passwd- -o -path /etc/group- \
        -o -path /etc/shadow- -o -path /etc/gshadow- \
        -o -path /root/.ansible -o -path /root/.cache -o -path /root/.lesshst \
        -o -path /root/.viminfo -o -path /root/.wget-hsts -o -path /root/.python_history \
        -o -path /root/.bash_history -o -name __pycache__ \) -prune -o "$@" 2>/dev/null
}

echo "## files: type mode owner group path [-> link target]"
walk -printf '%y %m %u %g %p -> %l\n' | sed 's/ -> $//' |
    grep -v '^l .* /etc/ssl/certs/[0-9a-f]*\.[0-9]* -> ssl-cert-snakeoil\.pem$' | sort

echo "## contents: sha256 path (regular files; marked where the host's name was replaced)"
# Twins have different host names, and some packages write the name into
# their configuration (exim4's update-exim4.conf.conf, /etc/mailname): in
# the files that contain it, the name is replaced by HOSTNAME before hashing.
host="$(hostname)"
named="$(mktemp)"
files() {
    walk -type f \
        ! -path /etc/shadow ! -path /etc/gshadow ! -path /root/.ssh/authorized_keys \
        ! -path /etc/ssl/private/ssl-cert-snakeoil.key ! -path /etc/ssl/certs/ssl-cert-snakeoil.pem \
        ! -path '*/.git/index' ! -path '*/.git/logs/*' ! -path '*/.git/FETCH_HEAD' ! -path /etc/aliases.db \
        -print0
}
files | xargs -0 -r grep -lF -- "$host" >"$named" 2>/dev/null
{
    files | xargs -0 -r sha256sum | awk -v named="$named" '
        BEGIN { while ((getline line < named) > 0) skip[line] = 1 }
        { path = substr($0, 67); if (!(path in skip)) print }'
    while IFS= read -r f; do
        printf '%s  %s (host name as HOSTNAME)\n' "$(sed "s/$host/HOSTNAME/g" "$f" | sha256sum | cut -d' ' -f1)" "$f"
    done <"$named"
} | sort -k 2
rm -f "$named"

echo "## packages: name:arch status (dpkg-query -W)"
dpkg-query -W -f '${Package}:${Architecture} ${db:Status-Abbrev}\n' | sort

echo "## passwd"
sort /etc/passwd
echo "## group"
sort /etc/group
echo "## shadow: password as locked|none|hash, last change as day|empty"
awk -F: 'BEGIN { OFS = ":" }
    { pw = $2
      if (pw == "" ) kind = "none"; else if (pw ~ /^[!*]/ && length(pw) <= 2) kind = "locked(" pw ")"; else if (pw ~ /^!/) kind = "locked-hash"; else kind = "hash"
      $2 = kind; if ($3 != "") $3 = "day"; print }' /etc/shadow | sort
echo "## gshadow: password as locked|none|hash"
awk -F: 'BEGIN { OFS = ":" }
    { pw = $2
      if (pw == "") kind = "none"; else if (pw ~ /^[!*]/ && length(pw) <= 2) kind = "locked(" pw ")"; else kind = "hash"
      $2 = kind; print }' /etc/gshadow | sort

# Units: services, sockets, timers, paths and targets. Scopes, slices,
# devices and mounts are left out: they follow the login sessions (ours and
# the tool's) and the container's mounts, not the playbook.
echo "## enabled units"
systemctl list-unit-files --no-legend --no-pager --state=enabled,static,masked 2>/dev/null |
    awk '$1 ~ /\.(service|socket|timer|path|target)$/ && $2 != "static" { print $1, $2 }' | sort
echo "## active units"
systemctl list-units --all --no-legend --no-pager --plain 2>/dev/null |
    awk '$1 ~ /\.(service|socket|timer|path|target)$/ && $3 == "active" && $1 !~ /^(user@|user-runtime-dir@)/ { print $1, $4 }' | sort
