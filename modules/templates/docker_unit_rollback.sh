{# `push rollback` for docker_unit: each instance goes back to the
   deployment it ran before its last change (NAME.prev.service/.env, kept
   when that change came up). The running one is kept as NAME.replaced,
   exactly as a run does, so the deferred restart brings the earlier one
   up health-checked and goes back again if it does not come up; once it
   is up, the one rolled back from becomes NAME.prev: rolling back twice
   returns to where it started. #}
{% include "docker_refs.sh" %}
_done=
_none=
{% for n in names %}
_n={{ n }}
_unit={{ unit_dir }}/$_n.service
_env={{ state_dir }}/$_n.env
_prev={{ state_dir }}/$_n.prev
_old={{ state_dir }}/$_n.replaced
if [ ! -f "$_prev.service" ] || [ ! -f "$_unit" ]; then
	_none="${_none:+$_none; }$_n: no earlier deployment is kept"
elif cmp -s -- "$_prev.service" "$_unit" && cmp -s -- "$_prev.env" "$_env"; then
	_none="${_none:+$_none; }$_n: the earlier deployment is the current one"
else
	_from=$(_img_of "$_unit")
	_done="${_done:+$_done; }roll back $_n: $(_ref "$_from") -> $(_ref "$(_img_of "$_prev.service")")"
	push_defer 10-daemon-reload
	push_defer 50-restart-"$_n"
{% if apply %}
	{# A replacement still pending keeps what actually runs as the one kept. #}
	if [ ! -f "$_old.service" ] && systemctl is-active --quiet -- "$_n.service"; then
		cp -p -- "$_unit" "$_old.service"
		if [ -f "$_env" ]; then cp -p -- "$_env" "$_old.env"; fi
	fi
	for _f in "$_unit:$_prev.service" "$_env:$_prev.env"; do
		if [ -f "${_f#*:}" ]; then
			cp -p -- "${_f#*:}" "${_f%%:*}.push-tmp"
			mv -f -- "${_f%%:*}.push-tmp" "${_f%%:*}"
		fi
	done
	mkdir -p -- {{ run_dir }}
	echo "rolled-back $_from" >{{ run_dir }}/"$_n".from
	date +%s >{{ run_dir }}/"$_n".due
{% endif %}
fi
{% endfor %}
if [ -n "$_done" ]; then
	push_changed "$_done"
elif [ -n "$_none" ]; then
	push_skipped "$_none"
else
	push_skipped "removed units are not rolled back"
fi
