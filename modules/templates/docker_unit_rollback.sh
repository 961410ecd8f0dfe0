{# `push rollback` for docker_unit: each instance goes back to the
   deployment it ran before its last change (NAME.prev.service/.env, kept
   when that change came up). The earlier one is set beside the running
   one as NAME.next, exactly as a run sets a new one, so the deferred
   restart's switch brings it up health-checked and goes back again if it
   does not come up; once it is up, the one rolled back from becomes
   NAME.prev: rolling back twice returns to where it started. #}
{% include "docker_refs.sh" %}
{% include "docker_unit_switch_wait.sh" %}
_done=
_none=
{% for n in names %}
_n={{ n }}
_unit={{ unit_dir }}/$_n.service
_env={{ state_dir }}/$_n.env
_prev={{ state_dir }}/$_n.prev
_next={{ state_dir }}/$_n.next
{% if apply %}
_switch_wait "$_n"
{% endif %}
if [ ! -f "$_prev.service" ] || [ ! -f "$_unit" ]; then
	_none="${_none:+$_none; }$_n: no earlier deployment is kept"
elif cmp -s -- "$_prev.service" "$_unit" && cmp -s -- "$_prev.env" "$_env"; then
	_none="${_none:+$_none; }$_n: the earlier deployment is the current one"
else
	_from=$(_img_of "$_unit")
	_done="${_done:+$_done; }roll back $_n: $(_ref "$_from") -> $(_ref "$(_img_of "$_prev.service")")"
	push_defer {{ switch_key_prefix }}"$_n"
	push_defer {{ switch_key_prefix }}"$_n"{{ outcome_key_suffix }}
{% if apply %}
	rm -f -- "$_next.env"
	if [ -f "$_prev.env" ]; then
		cp -p -- "$_prev.env" "$_next.env.tmp"
		mv -f -- "$_next.env.tmp" "$_next.env"
	fi
	cp -p -- "$_prev.service" "$_next.service.tmp"
	mv -f -- "$_next.service.tmp" "$_next.service"
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
