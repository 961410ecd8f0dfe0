{# Deferred (50-restart-NAME): recreate one container through its unit,
   then wait until the new container runs and still runs a second later,
   so a container that cannot start fails the play with its log. A unit
   that another restart already brought up since the restart became due
   (started as a dependency, or with Docker) is not restarted again. #}
_n={{ name }}
_due=$(cat -- {{ run_dir }}/"$_n".due {{ run_dir }}/.daemon-reload 2>/dev/null | sort -n | tail -n1)
_started=$(docker container inspect -f {{ fmt_started }} "$_n" 2>/dev/null || true)
_since=0
if [ -n "$_started" ]; then _since=$(date -d "$_started" +%s 2>/dev/null || echo 0); fi
if systemctl is-active --quiet -- "$_n.service" && [ "$_since" -gt "${_due:-0}" ]; then
	_how="started after the change already"
else
	systemctl restart -- "$_n.service"
	_how=recreated
fi
rm -f -- {{ run_dir }}/"$_n".due
_i=0
until [ "$(docker container inspect -f {{ fmt_running }} "$_n" 2>/dev/null || true)" = true ]; do
	_i=$((_i + 1))
	if [ "$_i" -gt 120 ]; then
		journalctl -u "$_n.service" -n 20 --no-pager -o cat >&2 || true
		push_fail "$_n: no running container 60 s after the restart"
	fi
	sleep 0.5
done
_id=$(docker container inspect -f {{ fmt_id }} "$_n")
sleep 1
if [ "$(docker container inspect -f {{ fmt_id_running }} "$_n" 2>/dev/null || true)" != "$_id true" ]; then
	journalctl -u "$_n.service" -n 20 --no-pager -o cat >&2 || true
	push_fail "$_n: the container stopped right after it started"
fi
push_changed "$_how $_n (container $(printf '%.12s' "$_id"))"
