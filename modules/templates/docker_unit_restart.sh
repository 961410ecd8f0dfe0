{# Deferred (50-restart-NAME): recreate one container through its unit and
   see that it came up. With `health:`, `systemctl restart` itself waits
   for the check (the unit's ExecStartPost); without, the container must
   run and still run a second later. When it does not come up and the
   deployment it replaced is kept (NAME.replaced.service/.env, saved by the
   task or by `push rollback` when the old one was running), the unit goes
   back to that one and the host fails with what was seen; when it does
   come up, the replaced one becomes NAME.prev, what `push rollback` puts
   back. Volumes are never touched either way. A
   unit that another restart already brought up since the restart became
   due (started as a dependency, or with Docker) is not restarted again. #}
_n={{ name }}
_unit={{ unit_dir }}/$_n.service
_env={{ state_dir }}/$_n.env
_old={{ state_dir }}/$_n.replaced
{% include "docker_refs.sh" %}
_journal() { journalctl -u "$_n.service" -n 20 --no-pager -o cat 2>/dev/null || true; }
_bad=
{# Does the unit file (the new one, or the one gone back to) check health? #}
_checked() { grep -q '^ExecStartPost=.*docker-unit-health' -- "$_unit"; }
{# Restart; 0 when up (and healthy), else 1 with the reason in $_bad. #}
_bring_up() {
	if _checked; then
		rm -f -- {{ run_dir }}/"$_n".health
		if systemctl restart -- "$_n.service" 2>/dev/null; then return 0; fi
		_bad=$(cat -- {{ run_dir }}/"$_n".health 2>/dev/null || _journal)
		return 1
	fi
	if ! systemctl restart -- "$_n.service" 2>/dev/null; then
		_bad="systemctl restart failed:
$(_journal)"
		return 1
	fi
	_i=0
	until [ "$(docker container inspect -f {{ fmt_running }} "$_n" 2>/dev/null || true)" = true ]; do
		_i=$((_i + 1))
		if [ "$_i" -gt 120 ]; then
			_bad="no running container 60 s after the restart:
$(_journal)"
			return 1
		fi
		sleep 0.5
	done
	_id=$(docker container inspect -f {{ fmt_id }} "$_n")
	sleep 1
	if [ "$(docker container inspect -f {{ fmt_id_running }} "$_n" 2>/dev/null || true)" != "$_id true" ]; then
		_bad="the container stopped right after it started:
$(_journal)"
		return 1
	fi
}
_due=$(cat -- {{ run_dir }}/"$_n".due {{ run_dir }}/.daemon-reload 2>/dev/null | sort -n | tail -n1)
_from=$(cat -- {{ run_dir }}/"$_n".from 2>/dev/null || true)
rm -f -- {{ run_dir }}/"$_n".due {{ run_dir }}/"$_n".from
_started=$(docker container inspect -f {{ fmt_started }} "$_n" 2>/dev/null || true)
_since=0
if [ -n "$_started" ]; then _since=$(date -d "$_started" +%s 2>/dev/null || echo 0); fi
if systemctl is-active --quiet -- "$_n.service" && [ "$_since" -gt "${_due:-0}" ]; then
	_how="started after the change already"
elif _bring_up; then
	_how=recreated
else
	_to=$(_ref "$(_img_of "$_unit")")
	if [ ! -f "$_old.service" ]; then
		push_fail "$_n ($_to) did not come up, and no earlier deployment is kept to go back to.
$_bad"
	fi
	_back=$(_ref "$(_img_of "$_old.service")")
	_why=$_bad
	mv -f -- "$_old.service" "$_unit"
	if [ -f "$_old.env" ]; then mv -f -- "$_old.env" "$_env"; fi
	systemctl daemon-reload
	date +%s >{{ run_dir }}/.daemon-reload
	if _bring_up; then
		push_rollout reverted "$_n $_to -> $_back"
		push_fail "$_n ($_to) did not come up, so it went back to $_back, which is up again.
$_why"
	fi
	push_fail "$_n ($_to) did not come up, and going back to $_back failed too.
$_why
$_back: $_bad"
fi
{# Up: what it replaced is now what `push rollback` goes back to. #}
if [ -f "$_old.service" ]; then
	mv -f -- "$_old.service" {{ state_dir }}/"$_n".prev.service
	if [ -f "$_old.env" ]; then mv -f -- "$_old.env" {{ state_dir }}/"$_n".prev.env; fi
fi
_id=$(docker container inspect -f {{ fmt_id }} "$_n" 2>/dev/null || true)
_now=$(_ref "$(_img_of "$_unit")")
case $_from in
upgraded\ * | rolled-back\ *) push_rollout "${_from%% *}" "$_n $(_ref "${_from#* }") -> $_now" ;;
esac
_health=
if _checked; then _health=", $(cat -- {{ run_dir }}/"$_n".health 2>/dev/null || echo healthy)"; fi
push_changed "$_how $_n (container $(printf '%.12s' "$_id")$_health)"
