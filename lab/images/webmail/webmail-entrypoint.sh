#!/bin/bash
# Point Roundcube at the mail server named in the environment, then run
# Apache in the foreground.
set -euo pipefail

mail_host=${MAIL_HOST:-mail}
imap_port=${IMAP_PORT:-143}
smtp_port=${SMTP_PORT:-587}
des_key=${WEBMAIL_DES_KEY:-$(head -c 18 /dev/urandom | base64)}

# These values go into PHP source: allow only what a host name, a port
# and a key need.
[[ "$mail_host" =~ ^[A-Za-z0-9.:_-]+$ ]] || { echo "webmail: bad MAIL_HOST '$mail_host'" >&2; exit 2; }
[[ "$imap_port$smtp_port" =~ ^[0-9]+$ ]] || { echo "webmail: IMAP_PORT and SMTP_PORT must be numbers" >&2; exit 2; }
[[ ${#des_key} -eq 24 && "$des_key" =~ ^[A-Za-z0-9+/=]+$ ]] \
    || { echo "webmail: WEBMAIL_DES_KEY must be 24 characters of A-Z a-z 0-9 + / =" >&2; exit 2; }

cat > /etc/roundcube/lab.inc.php <<PHP
<?php
\$config['imap_host'] = '${mail_host}:${imap_port}';
\$config['smtp_host'] = '${mail_host}:${smtp_port}';
\$config['des_key'] = '${des_key}';
PHP
chown root:www-data /etc/roundcube/lab.inc.php
chmod 640 /etc/roundcube/lab.inc.php

echo "webmail: Roundcube on port 80, mail server ${mail_host} (IMAP ${imap_port}, SMTP ${smtp_port})"
# apache2 itself as PID 1 (apache2ctl would stay a shell that ignores
# SIGTERM, so every `docker stop` waited for its timeout).
set +u # envvars reads variables that may be unset
. /etc/apache2/envvars
mkdir -p "$APACHE_RUN_DIR" "$APACHE_LOCK_DIR" "$APACHE_LOG_DIR"
exec apache2 -D FOREGROUND
