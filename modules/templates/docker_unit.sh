{# docker_unit. What makes a container be recreated is decided here, from
   the host's state: the unit text, the env file content, the config
   files, the image id, not running. A new unit and env file are not put
   in place here: they wait beside the running ones (NAME.next.*) for the
   deferred restart at the end of the play, whose switch puts them in
   place, health-checked, or not at all (templates/docker_unit_switch.sh).
   Helpers are written by copy and file sub-steps (see docker_sub.sh). #}
{% include "docker_sub.sh" %}
{% include "docker_refs.sh" %}
{% include "docker_unit_switch_wait.sh" %}
{% if apply and state != "absent" %}
{% include "docker_catch_up.sh" %}
{% endif %}
{# The units this task made: they carry the marker line. #}
_units() { grep -lxF -- {{ marker }} {{ unit_dir }}/*.service 2>/dev/null | sed 's|.*/||; s|\.service$||' || true; }
_remove() { # INSTANCE: stop, disable, forget; volumes stay
	_switch_wait "$1"
	systemctl disable --now --quiet -- "$1.service" 2>/dev/null || true
	if command -v docker >/dev/null 2>&1; then docker rm -f -- "$1" >/dev/null 2>&1 || true; fi
	rm -f -- {{ unit_dir }}/"$1".service {{ state_dir }}/"$1".env {{ state_dir }}/"$1".files {{ run_dir }}/"$1".volumes \
		{{ state_dir }}/"$1".prev.* {{ state_dir }}/"$1".replaced.* {{ state_dir }}/"$1".next.* \
		{{ state_dir }}/"$1".switching {{ state_dir }}/"$1".outcome {{ run_dir }}/"$1".from {{ run_dir }}/"$1".health
}
{% if state == "absent" %}
for _u in $(_units); do
	push_why remove "$_u"
	push_defer {{ daemon_reload_key }}
{% if apply %}
	_remove "$_u"
{% endif %}
done
if command -v docker >/dev/null 2>&1; then
	_c=$(docker ps -aq --filter label=push.docker_unit={{ base }} | paste -sd' ' -)
	if [ -n "$_c" ]; then
		push_why "remove leftover containers"
{% if apply %}
		docker rm -f $_c >/dev/null
{% endif %}
	fi
{% if purge %}
	_v=$(docker volume ls -q --filter label=push.docker_unit={{ base }} | paste -sd' ' -)
	if [ -n "$_v" ]; then
		push_why "purge volumes $_v"
{% if apply %}
		docker volume rm $_v >/dev/null
{% endif %}
	fi
{% endif %}
fi
{% else %}
_docker=1
if ! command -v docker >/dev/null 2>&1; then
{% if apply %}
	push_fail "docker is not installed on this host: run docker_host first"
{% else %}
	_docker=0
	push_why "docker is not installed (unless an earlier task sees to it)"
{% endif %}
fi
(
PUSH_S=$_st/helper_dir PUSH_DIFF=0
{{ subs.helper_dir[phase] | safe }}
)
(
PUSH_S=$_st/helper PUSH_DIFF=0
{{ subs.helper[phase] | safe }}
)
(
PUSH_S=$_st/state_dir PUSH_DIFF=0
{{ subs.state_dir[phase] | safe }}
)
(
PUSH_S=$_st/health_helper PUSH_DIFF=0
{{ subs.health_helper[phase] | safe }}
)
(
PUSH_S=$_st/switch_helper PUSH_DIFF=0
{{ subs.switch_helper[phase] | safe }}
)
(
PUSH_S=$_st/recover_unit PUSH_DIFF=0
{{ subs.recover_unit[phase] | safe }}
)
push_sub_why helper "start helper"
push_sub_why health_helper "health helper"
push_sub_why switch_helper "switch helper"
if push_sub_changed recover_unit; then
	push_why "unit push-docker-recover.service"
	push_defer {{ daemon_reload_key }}
fi
{# Enabled: it undoes, at boot, a switch a restart of the host cut short. #}
if [ ! -L {{ unit_dir }}/multi-user.target.wants/push-docker-recover.service ]; then
	push_why "enable push-docker-recover"
{% if apply %}
	systemctl enable --quiet push-docker-recover.service
{% endif %}
fi
{% if not apply %}
if [ "$PUSH_DIFF" = 1 ]; then
{% if diff_paths | length == 1 %}
	push_cat_nofollow {{ diff_paths[0] }} >"$PUSH_D/before" || :
{% else %}
	for _p in {{ diff_paths | quote_each }}; do
		printf '### %s\n' "$_p"
		push_cat_nofollow "$_p" || :
	done >"$PUSH_D/before"
{% endif %}
fi
{% endif %}
{% if group %}
{# From one container to several: the single one goes first. #}
if [ "$_docker" = 1 ] && [ "$(docker container inspect -f {{ fmt_label }} {{ base }} 2>/dev/null || true)" = {{ base }} ]; then
	push_why "replace the single container" {{ base }} "by" {{ count }} "instances"
{% if apply %}
	systemctl stop -- {{ base }}.service || true
	docker rm -f -- {{ base }} >/dev/null 2>&1 || true
{% endif %}
fi
{% endif %}
for _u in $(_units); do
	case " "{{ expected | join(" ") }}" " in *" $_u "*) continue ;; esac
	push_why remove "$_u" "(no longer an instance)"
	push_defer {{ daemon_reload_key }}
{% if apply %}
	_remove "$_u"
{% endif %}
done
_img=
if [ "$_docker" = 1 ]; then
	_img=$(docker image inspect -f {{ fmt_id }} {{ image }} 2>/dev/null || true)
	if [ -z "$_img" ]; then
		push_why pull {{ image }}
{% if apply %}
		{# Pulled now, while the old container still serves, so the restart
		   is short. A daemon.json an earlier task of the play wrote (the
		   registry's address, a mirror) takes effect first, as if the play
		   flushed docker_host's restart here: the pull then sees it. If
		   the engine still cannot pull, the unit's start pulls instead. #}
		if _docker_catch_up; then push_why "docker restarted first, so the pull uses the new daemon.json"; fi
		if _e=$(docker pull -q {{ image }} 2>&1 >/dev/null); then
			_img=$(docker image inspect -f {{ fmt_id }} {{ image }})
		else
			push_why "(the pull failed, the unit's start pulls: $(printf '%s' "$_e" | tail -n1))"
		fi
{% endif %}
	fi
fi
{# Which keys of an env file differ (values are never shown). #}
_env_keys() { # OLD_FILE NEW_BASE64
	printf '%s' "$2" | base64 -d >"$_st/env.new"
	if [ -f "$1" ]; then cp -- "$1" "$_st/env.old"; else : >"$_st/env.old"; fi
	awk -F= 'FILENAME == ARGV[1] { old[$1] = $0; next }
		{ new[$1] = $0 }
		END { for (k in old) if (!(k in new) || new[k] != old[k]) print k; for (k in new) if (!(k in old)) print k }' \
		"$_st/env.old" "$_st/env.new" | LC_ALL=C sort | paste -sd' ' -
}
_sha() { push_sha256 "$1" && printf '%s' "$push_h"; }
{% if apply %}
{# INSTANCE UNIT_BASE64 ENV_BASE64: the new deployment as
   NAME.next.service/.env, each written whole before it is renamed. #}
_write_next() {
	printf '%s' "$3" | base64 -d >{{ state_dir }}/"$1".next.env.tmp
	chmod 0600 {{ state_dir }}/"$1".next.env.tmp
	mv -f -- {{ state_dir }}/"$1".next.env.tmp {{ state_dir }}/"$1".next.env
	printf '%s' "$2" | base64 -d >{{ state_dir }}/"$1".next.service.tmp
	chmod 0644 {{ state_dir }}/"$1".next.service.tmp
	mv -f -- {{ state_dir }}/"$1".next.service.tmp {{ state_dir }}/"$1".next.service
}
{% endif %}
{% if config_files %}
{# The content of the config files now, one "SHA256 PATH" line each ("-"
   for a missing one), against what the container last started with. #}
_fs=$(for _f in {{ config_files | quote_each }}; do
	if [ -f "$_f" ]; then printf '%s %s\n' "$(_sha "$_f")" "$_f"; else printf -- '- %s\n' "$_f"; fi
done)
{% endif %}
{% for i in instances %}
_n={{ i.name }}
_r=
_new=
_unitc=
_from=
{# A switch that no run saw the end of (its run or connection went away):
   this run waits for it if it still goes on, and reports what it did. #}
_found=
if [ -f {{ state_dir }}/"$_n".switching ] || [ -f {{ state_dir }}/"$_n".outcome ]; then
{% if apply %}
	_switch_wait "$_n"
	{# A marker with no switch left: one that was killed; undone now. #}
	if [ -f {{ state_dir }}/"$_n".switching ]; then {{ switch }} recover "$_n"; fi
	if [ -f {{ state_dir }}/"$_n".outcome ]; then
		_found=$(sed -n 2p -- {{ state_dir }}/"$_n".outcome)
		push_why "an earlier run went away before its switch of $_n ended: $(sed 1,2d -- {{ state_dir }}/"$_n".outcome | head -n1)"
		rm -f -- {{ state_dir }}/"$_n".outcome
	fi
{% else %}
	push_why "an earlier run went away before its switch of $_n ended"
{% endif %}
fi
if [ ! -f {{ i.unit_path }} ]; then
	_new=1
elif [ "$(_sha {{ i.unit_path }})" != {{ i.unit_sha }} ]; then
	_unitc=1
	_from=$(_img_of {{ i.unit_path }})
	if [ -n "$_from" ] && [ "$_from" != {{ image }} ]; then
		_r="image $(_ref "$_from") -> $(_ref {{ image }})"
	else
		_from=
		_r="unit file"
	fi
fi
_envc=
if [ ! -f {{ i.env_path }} ] || [ "$(_sha {{ i.env_path }})" != {{ i.env_sha }} ]; then
	_envc=1
	_k=$(_env_keys {{ i.env_path }} {{ i.env_b64 }})
	_r="${_r:+$_r, }env${_k:+ ($_k)}"
fi
{# Modes and owners as written: the switch writes both files anew. #}
for _f in "{{ i.unit_path }} 644" "{{ i.env_path }} 600"; do
	if [ -f "${_f% *}" ] && push_stat "${_f% *}" && [ "$push_s" != "${_f##* } root 0 root 0" ]; then
		_unitc=1
		_r="${_r:+$_r, }mode or owner of ${_f% *}"
	fi
done
{% if apply %}
mkdir -p -- {{ run_dir }}
if [ -n "$_from" ]; then echo "upgraded $_from" >{{ run_dir }}/"$_n".from; else rm -f -- {{ run_dir }}/"$_n".from; fi
{% endif %}
{% if config_files %}
_old=$(cat -- {{ i.files_path }} 2>/dev/null || true)
if [ "$_fs" != "$_old" ]; then
	_cf=$(printf '%s\n' "$_fs" | while read -r _h _f; do printf '%s\n' "$_old" | grep -qxF -- "$_h $_f" || printf '%s ' "$_f"; done)
	_r="${_r:+$_r, }config files${_cf:+ (${_cf% })}"
{% if apply %}
	printf '%s\n' "$_fs" >{{ i.files_path }}
{% endif %}
fi
{% else %}
{% if apply %}
rm -f -- {{ i.files_path }}
{% endif %}
{% endif %}
if [ -z "$_new" ] && [ "$_docker" = 1 ] && [ -n "$_img" ]; then
	_ci=$(docker container inspect -f {{ fmt_image }} "$_n" 2>/dev/null || true)
	if [ -n "$_ci" ] && [ "$_ci" != "$_img" ] && [ -z "$_from" ]; then _r="${_r:+$_r, }image id $(_short "$_ci") -> $(_short "$_img")"; fi
fi
{# A restart an earlier run asked for and never got to (it failed before
   the end of its play) is still due: a file newer than the container. #}
if [ -z "$_new$_r" ] && [ "$_docker" = 1 ]; then
	_started=$(docker container inspect -f {{ fmt_started }} "$_n" 2>/dev/null || true)
	if [ -n "$_started" ]; then
		_since=$(date -d "$_started" +%s 2>/dev/null || echo 0)
		for _f in {{ i.unit_path }} {{ i.env_path }} {{ i.files_path }}; do
			if [ -f "$_f" ] && [ "$(stat -c %Y -- "$_f")" -gt "$_since" ]; then
				_r="its files changed after it started"
			fi
		done
	fi
fi
if [ -z "$_new" ] && [ "$(systemctl show -p NeedDaemonReload --value -- "$_n.service" 2>/dev/null)" = yes ]; then
	push_defer {{ daemon_reload_key }}
	_r="${_r:-systemd has an older unit file loaded}"
fi
{# A new unit is enabled by its switch, once it is in place. #}
if [ -z "$_new" ] && ! systemctl is-enabled --quiet -- "$_n.service" 2>/dev/null; then
	push_why enable "$_n"
{% if apply %}
	systemctl enable --quiet -- "$_n.service"
{% endif %}
fi
if [ -z "$_new" ] && ! systemctl is-active --quiet -- "$_n.service"; then _r="${_r:+$_r, }not running"; fi
if [ -n "$_new" ]; then
	push_why "start $_n (new)"
elif [ -n "$_r" ]; then
	push_why "recreate $_n: $_r"
fi
if [ -n "$_new$_r" ]; then
	push_defer {{ i.switch_key }}
	push_defer {{ i.outcome_key }}
{% if apply %}
	{# The new deployment, beside the running one, for the switch; none
	   when the files stay (a leftover of a run that never got to its
	   switch must not be taken for this one). #}
	if [ -n "$_new$_unitc$_envc" ]; then
		_write_next "$_n" {{ i.unit_b64 }} {{ i.env_b64 }}
	else
		rm -f -- {{ state_dir }}/"$_n".next.service {{ state_dir }}/"$_n".next.env
	fi
	{# When the restart became due: a container started after it (and after
	   the daemon-reload) needs no second restart. #}
	date +%s >{{ run_dir }}/"$_n".due
{% endif %}
elif [ -n "$_found" ] && [ "$_found" != - ]; then
	{# Nothing left to do: what the earlier run's switch did is this run's. #}
	push_rollout "$_found"
fi
{% endfor %}
{% if group %}
if [ ! -f {{ group.unit_path }} ] || [ "$(_sha {{ group.unit_path }})" != {{ group.unit_sha }} ]; then
	push_why "unit" {{ base }}.service
	push_defer {{ daemon_reload_key }}
fi
(
PUSH_S=$_st/group PUSH_DIFF=0
{{ group.unit[phase] | safe }}
)
if ! systemctl is-enabled --quiet -- {{ base }}.service 2>/dev/null; then
{% if apply %}
	systemctl enable --quiet -- {{ base }}.service
{% endif %}
	:
fi
if ! systemctl is-active --quiet -- {{ base }}.service; then
	push_defer {{ group.start_key }}
fi
{% endif %}
{% endif %}
if [ -n "$_why" ]; then push_changed "$_why"; fi
