{# Included by docker_host's deferred restart and by the snippets that pull.
   Whether the running engine started before /etc/docker/daemon.json was
   last written: its registries and mirrors are then not the file's yet. #}
_docker_stale() {
	[ -f /etc/docker/daemon.json ] && systemctl is-active --quiet docker.service 2>/dev/null || return 1
	_since=$(date -d "$(systemctl show -p ActiveEnterTimestamp --value docker.service)" +%s 2>/dev/null || echo 0)
	[ "$(stat -c %Y /etc/docker/daemon.json)" -gt "$_since" ]
}
{# Restart the engine when it is stale, and wait until systemd has started
   the container units again (they require it). Returns 1 when it was not
   stale. #}
_docker_catch_up() {
	_docker_stale || return 1
	systemctl restart docker.service
	_i=0
	while [ -n "$(systemctl list-jobs --no-legend 2>/dev/null)" ] && [ "$_i" -lt 240 ]; do sleep 0.5; _i=$((_i + 1)); done
}
