{# Deferred (50-restart-NAME): recreate one container through its unit and
   see that it came up, by the host's switch helper (see
   templates/docker_unit_switch.sh) run as a transient unit of its own:
   the new deployment the apply left beside the running one
   (NAME.next.service/.env) goes in place, health-checked, or the replaced
   one goes back, whatever happens to this run or its connection
   meanwhile. This step waits for it; the next (50-restart-NAME/outcome)
   reports and removes its outcome. Two steps, because the host's shell
   only learns that its run went away when it prints this step's report:
   a shell left behind never gets to the next step, so the outcome stays
   for the next run to report. A unit that another restart already
   brought up since the restart became due (started as a dependency, or
   with Docker), with no new deployment waiting, is not restarted again. #}
_n={{ name }}
_out={{ state_dir }}/$_n.outcome
_due=$(cat -- {{ run_dir }}/"$_n".due {{ run_dir }}/.daemon-reload 2>/dev/null | sort -n | tail -n1)
{# "upgraded FROM" or "rolled-back FROM", from the apply: the kind of
   change, for the recap. #}
_kind=$(cat -- {{ run_dir }}/"$_n".from 2>/dev/null || true)
_kind=${_kind%% *}
rm -f -- {{ run_dir }}/"$_n".due {{ run_dir }}/"$_n".from
_started=$(docker container inspect -f {{ fmt_started }} "$_n" 2>/dev/null || true)
_since=0
if [ -n "$_started" ]; then _since=$(date -d "$_started" +%s 2>/dev/null || echo 0); fi
if [ ! -f {{ state_dir }}/"$_n".next.service ] && systemctl is-active --quiet -- "$_n.service" && [ "$_since" -gt "${_due:-0}" ]; then
	printf 'up\n-\n%s\n' "$_n started after the change already" >"$_out"
	exit 0
fi
{% include "docker_unit_switch_wait.sh" %}
_switch_wait "$_n"
rm -f -- "$_out"
{# A switch unit that just ended is unloaded a moment later: until then
   its name is taken. #}
_tries=0
until systemd-run --quiet --collect --unit="push-switch-$_n" --description="push: switch $_n to its new deployment" \
	--property=ExecStopPost="{{ switch }} killed $_n" -- {{ switch }} switch "$_n" "${_kind:--}"; do
	_tries=$((_tries + 1))
	if [ "$_tries" -ge 10 ]; then push_fail "could not start the switch of $_n (push-switch-$_n)"; fi
	sleep 0.5
done
_switch_wait "$_n"
