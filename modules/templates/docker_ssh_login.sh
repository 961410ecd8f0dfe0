#!/bin/sh
# Installed by push (docker_ssh) as /usr/local/lib/push/docker-ssh: the
# login shell and forced command of the accounts docker_ssh manages.
#
# As the login account (sshd runs it as `docker-ssh -c ...`): run again as
# root through sudo (a sudoers rule allows this file only), passing the
# command the client asked for (SSH_ORIGINAL_COMMAND) and whether it has a
# terminal.
#
# As root through sudo: make sure an ssh login asked, read the login's
# container, user and shell from /etc/push/ssh/logins/$SUDO_USER
# (root-owned) and `docker exec` there.
# The container is looked up now, by name: it is recreated on every
# restart, so no id or pid could have been written down in advance.
set -eu
self=/usr/local/lib/push/docker-ssh

if [ "$(id -u)" != 0 ]; then
	tty=0
	if [ -t 0 ] && [ -t 1 ]; then tty=1; fi
	exec sudo -n -- "$self" --exec "$tty" "${SSH_ORIGINAL_COMMAND:-}"
fi

if [ "${1:-}" != --exec ] || [ $# -ne 3 ]; then
	echo "docker-ssh: this is the login shell of docker_ssh accounts, not a command" >&2
	exit 2
fi
tty=$2 cmd=$3
login=${SUDO_USER:-}
case $login in
'' | *[!a-z0-9_-]*)
	echo "docker-ssh: not run through sudo by a docker_ssh account" >&2
	exit 2
	;;
esac
# The sudo rule lets any process of the account run this file as root;
# only its ssh logins may. Above us are sudo's processes (two with
# use_pty), then the one that ran sudo: the login shell exec'd it (above),
# so for a login that is sshd's session process. No process can choose
# its parent.
parent=$PPID
while [ "$parent" -gt 1 ]; do
	case $(readlink "/proc/$parent/exe" || true) in
	*/sudo) parent=$(awk '$1 == "PPid:" { print $2 }' "/proc/$parent/status" || echo 0) ;;
	*) break ;;
	esac
done
# (An sshd upgraded since the connection began reads "... (deleted)".)
case $(readlink "/proc/$parent/exe" || true) in
*/sshd | */sshd-session | */sshd" (deleted)" | */sshd-session" (deleted)") ;;
*)
	echo "docker-ssh: $login did not log in through sshd" >&2
	exit 2
	;;
esac
conf=/etc/push/ssh/logins/$login
if [ ! -f "$conf" ]; then
	echo "docker-ssh: no container is set up for $login" >&2
	exit 1
fi
get() { sed -n "s/^$1=//p" "$conf" | head -n1; }
container=$(get container)
user=$(get user)
shell=$(get shell)
if [ "$(docker container inspect -f '{{.State.Running}}' "$container" 2>/dev/null || true)" != true ]; then
	echo "docker-ssh: container $container is not running on $(hostname)" >&2
	exit 1
fi
set -- docker exec -i
if [ "$tty" = 1 ]; then set -- "$@" -t -e "TERM=${TERM:-xterm}"; fi
set -- "$@" -u "$user" "$container" "$shell"
if [ -n "$cmd" ]; then set -- "$@" -c "$cmd"; fi
exec "$@"
