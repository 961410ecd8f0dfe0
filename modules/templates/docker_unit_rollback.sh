{# `push rollback` for docker_unit: each instance's unit and env file trade
   places with the earlier ones the task kept (NAME.prev.*), then the
   deferred restart brings it up as after a run (health-checked, going
   back again if the earlier deployment does not come up). Rolling back
   twice returns to where it started. #}
_img_of() { sed -n 's/^# push image: //p' -- "$1" 2>/dev/null | head -n1; }
_ref() { printf '%s' "$1" | sed 's/\(@sha256:[0-9a-f]\{12\}\)[0-9a-f]*/\1/'; }
{# A and B trade contents; each file is replaced by a rename. #}
_swap() { # A B
	cp -p -- "$1" "$1.push-swap"
	cp -p -- "$2" "$2.push-swap"
	mv -f -- "$2.push-swap" "$1"
	mv -f -- "$1.push-swap" "$2"
}
_done=
_none=
{% for n in names %}
_n={{ n }}
_unit={{ unit_dir }}/$_n.service
_env={{ state_dir }}/$_n.env
_prev={{ state_dir }}/$_n.prev
if [ ! -f "$_prev.service" ] || [ ! -f "$_unit" ]; then
	_none="${_none:+$_none; }$_n: no earlier deployment is kept"
elif cmp -s -- "$_prev.service" "$_unit" && cmp -s -- "$_prev.env" "$_env"; then
	_none="${_none:+$_none; }$_n: the earlier deployment is the current one"
else
	_back=$(_img_of "$_prev.service")
	_done="${_done:+$_done; }roll back $_n: $(_ref "$(_img_of "$_unit")") -> $(_ref "$_back")"
	push_defer 10-daemon-reload
	push_defer 50-restart-"$_n"
{% if apply %}
	_swap "$_unit" "$_prev.service"
	if [ -f "$_prev.env" ] && [ -f "$_env" ]; then _swap "$_env" "$_prev.env"; fi
	mkdir -p -- {{ run_dir }}
	echo "rolled-back $(_img_of "$_prev.service")" >{{ run_dir }}/"$_n".from
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
