{# docker_host: daemon.json, then the packages, then the engine running.
   Built from copy, file, apt and systemd sub-steps; see docker_sub.sh. #}
{% include "docker_sub.sh" %}
_json_cur=
if [ -f {{ json_path }} ]; then push_sha256 {{ json_path }}; _json_cur=$push_h; fi
{# daemon.json first: a fresh install then starts with it, no restart. #}
(
PUSH_S=$_st/dir PUSH_DIFF=0
{{ subs.dir[phase] | safe }}
)
(
PUSH_S=$_st/json
{{ subs.json[phase] | safe }}
)
push_sub_why dir /etc/docker
push_sub_why json {{ json_path }}
{# A restart an earlier run asked for and never got to (it failed before
   the end of its play) is still due: daemon.json newer than the engine. #}
if systemctl is-active --quiet docker.service 2>/dev/null; then
	_since=$(date -d "$(systemctl show -p ActiveEnterTimestamp --value docker.service)" +%s 2>/dev/null || echo 0)
	if [ "$_json_cur" != {{ json_sha }} ]; then
		push_why "docker restarts at the end of the play for the new daemon.json"
		push_defer {{ restart_key }}
	elif [ "$(stat -c %Y {{ json_path }})" -gt "$_since" ]; then
		push_why "docker restarts at the end of the play: it runs with an older daemon.json"
		push_defer {{ restart_key }}
	fi
fi
(
PUSH_S=$_st/apt PUSH_DIFF=0
{{ subs.apt[phase] | safe }}
)
push_sub_why apt packages
{% if apply %}
if [ ! -d /run/systemd/system ]; then
	push_fail "systemd is not running as init (PID 1) on this host: boot it with systemd (systemd-sysv) to run containers as units"
fi
{% endif %}
(
PUSH_S=$_st/service PUSH_DIFF=0
{{ subs.service[phase] | safe }}
)
push_sub_why service docker.service
if [ -n "$_why" ]; then push_changed "$_why"; fi
