{# docker_unit. Files are written by copy and file sub-steps (see
   docker_sub.sh); what makes a container be recreated is decided here,
   from the host's state, before they write: the unit text, the env file
   content, the config files, the image id, not running. Restarts and the
   daemon-reload are deferred to the end of the play (once per host). #}
{% include "docker_sub.sh" %}
{% include "docker_refs.sh" %}
{% if apply and state != "absent" %}
{% include "docker_catch_up.sh" %}
{% endif %}
{# The units this task made: they carry the marker line. #}
_units() { grep -lxF -- {{ marker }} {{ unit_dir }}/*.service 2>/dev/null | sed 's|.*/||; s|\.service$||' || true; }
_remove() { # INSTANCE: stop, disable, forget; volumes stay
	systemctl disable --now --quiet -- "$1.service" 2>/dev/null || true
	if command -v docker >/dev/null 2>&1; then docker rm -f -- "$1" >/dev/null 2>&1 || true; fi
	rm -f -- {{ unit_dir }}/"$1".service {{ state_dir }}/"$1".env {{ state_dir }}/"$1".files {{ run_dir }}/"$1".volumes \
		{{ state_dir }}/"$1".prev.* {{ state_dir }}/"$1".replaced.* {{ run_dir }}/"$1".from {{ run_dir }}/"$1".health
}
{% if state == "absent" %}
for _u in $(_units); do
	push_why remove "$_u"
	push_defer 10-daemon-reload
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
push_sub_why helper "start helper"
push_sub_why health_helper "health helper"
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
	push_defer 10-daemon-reload
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
if [ ! -f {{ i.unit_path }} ]; then
	_new=1
	push_defer 10-daemon-reload
elif [ "$(_sha {{ i.unit_path }})" != {{ i.unit_sha }} ]; then
	_unitc=1
	_from=$(_img_of {{ i.unit_path }})
	if [ -n "$_from" ] && [ "$_from" != {{ image }} ]; then
		_r="image $(_ref "$_from") -> $(_ref {{ image }})"
	else
		_from=
		_r="unit file"
	fi
	push_defer 10-daemon-reload
fi
_envc=
if [ ! -f {{ i.env_path }} ] || [ "$(_sha {{ i.env_path }})" != {{ i.env_sha }} ]; then
	_envc=1
	_k=$(_env_keys {{ i.env_path }} {{ i.env_b64 }})
	_r="${_r:+$_r, }env${_k:+ ($_k)}"
fi
{% if apply %}
{# The deployment being replaced, if it runs: a start that fails goes back
   to it; one that succeeds keeps it as NAME.prev for `push rollback`. Only
   when no replacement is pending already: then the files on disk never
   ran, and the one kept is still what runs. #}
if [ -n "$_unitc$_envc" ] && [ -z "$_new" ] && [ ! -f {{ state_dir }}/"$_n".replaced.service ] &&
	systemctl is-active --quiet -- "$_n.service"; then
	cp -p -- {{ i.unit_path }} {{ state_dir }}/"$_n".replaced.service
	if [ -f {{ i.env_path }} ]; then cp -p -- {{ i.env_path }} {{ state_dir }}/"$_n".replaced.env; fi
fi
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
(
PUSH_S=$_st/env{{ loop.index }} PUSH_DIFF=0
{{ i.env[phase] | safe }}
)
(
PUSH_S=$_st/unit{{ loop.index }} PUSH_DIFF=0
{{ i.unit[phase] | safe }}
)
{# Attributes put right, with nothing to recreate for. #}
if [ -z "$_envc" ]; then push_sub_why env{{ loop.index }} {{ i.env_path }}; fi
if [ -z "$_new$_r" ]; then push_sub_why unit{{ loop.index }} {{ i.unit_path }}; fi
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
	push_defer 10-daemon-reload
	_r="${_r:-systemd has an older unit file loaded}"
fi
if ! systemctl is-enabled --quiet -- "$_n.service" 2>/dev/null; then
	if [ -z "$_new" ]; then push_why enable "$_n"; fi
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
	push_defer 50-restart-{{ i.name }}
{% if apply %}
	{# When the restart became due: a container started after it (and after
	   the daemon-reload) needs no second restart. #}
	mkdir -p -- {{ run_dir }}
	date +%s >{{ run_dir }}/"$_n".due
{% endif %}
fi
{% endfor %}
{% if group %}
if [ ! -f {{ group.unit_path }} ] || [ "$(_sha {{ group.unit_path }})" != {{ group.unit_sha }} ]; then
	push_why "unit" {{ base }}.service
	push_defer 10-daemon-reload
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
	push_defer 60-start-{{ base }}
fi
{% endif %}
{% endif %}
if [ -n "$_why" ]; then push_changed "$_why"; fi
