#!/bin/bash
# Configure exim4 and dovecot from the environment, then run both in the
# foreground; the container stops when either stops.
set -euo pipefail

domains=$(printf '%s' "${LOCAL_DOMAINS:-example.test}" | tr ' ,' '::' | sed 's/::*/:/g; s/^://; s/:$//')

# Users: /etc/mail/users lines, then MAIL_USERS words. Blank lines and
# comments are skipped.
users=$( { [ -r /etc/mail/users ] && cat /etc/mail/users; printf '%s\n' ${MAIL_USERS:-}; } \
         | sed 's/#.*//' | awk 'NF' )
if [ -z "$users" ]; then
    echo "mail: no users: mount /etc/mail/users or set MAIL_USERS (name:{PLAIN}password ...)" >&2
    exit 2
fi

: > /etc/dovecot/lab-users
uid=5000
while IFS=: read -r name password; do
    if ! [[ "$name" =~ ^[a-z_][a-z0-9_.-]*$ ]] || [ -z "$password" ]; then
        echo "mail: bad user line for '$name': want name:{SCHEME}password" >&2
        exit 2
    fi
    uid=$((uid + 1))
    home="/var/mail/$name"
    # exim delivers as the user, into the user's home: both must exist.
    if ! getent passwd "$name" >/dev/null; then
        useradd --uid "$uid" --user-group --no-create-home --home-dir "$home" --shell /usr/sbin/nologin "$name"
    fi
    u=$(id -u "$name"); g=$(id -g "$name")
    install -d -o "$u" -g "$g" -m 700 "$home"
    printf '%s:%s:%s:%s::%s\n' "$name" "$password" "$u" "$g" "$home" >> /etc/dovecot/lab-users
done <<< "$users"
chown root:dovecot /etc/dovecot/lab-users
chmod 640 /etc/dovecot/lab-users

# Debian's exim4 configuration: accept mail from anywhere for the local
# domains, deliver to ~/Maildir, relay nothing.
cat > /etc/exim4/update-exim4.conf.conf <<CONF
dc_eximconfig_configtype='internet'
dc_other_hostnames='$domains'
dc_local_interfaces=''
dc_readhost=''
dc_relay_domains=''
dc_minimaldns='false'
dc_relay_nets=''
dc_smarthost=''
CFILEMODE='644'
dc_use_split_config='false'
dc_hide_mailname=''
dc_mailname_in_oh='true'
dc_localdelivery='maildir_home'
CONF
# Only the lab's users receive mail, not system accounts (nobody, daemon...).
echo 'FIRST_USER_ACCOUNT_UID = 5001' > /etc/exim4/exim4.conf.localmacros
hostname -f > /etc/mailname 2>/dev/null || hostname > /etc/mailname
update-exim4.conf

echo "mail: domains ${domains//:/ }; users $(cut -d: -f1 /etc/dovecot/lab-users | tr '\n' ' ')"

dovecot -F &
dovecot_pid=$!
exim4 -bdf -q30m -oX 25:587 &
exim_pid=$!
stopping=0
trap 'stopping=1; kill -TERM "$dovecot_pid" "$exim_pid" 2>/dev/null' TERM INT
status=0
wait -n "$dovecot_pid" "$exim_pid" || status=$?
kill -TERM "$dovecot_pid" "$exim_pid" 2>/dev/null || true
wait || true
# `docker stop` is a clean stop; a daemon that died on its own is not.
[ "$stopping" = 1 ] && exit 0
echo "mail: a daemon stopped (status $status)" >&2
exit "$(( status == 0 ? 1 : status ))"
