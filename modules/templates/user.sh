{# user. The password hash is a secret: the probe compares its sha256 only,
   and the apply hands it to chpasswd on stdin (printf is a builtin, so it
   never shows in a process list). Supplementary groups are the groups
   that list the user as a member in the group database. #}
_pw=$(getent passwd -- {{ name }} || true)
{% if state == "absent" %}
if [ -n "$_pw" ]; then
	push_changed remove
{% if apply %}
	userdel {% if remove %}-r {% endif %}-- {{ name }}
{% endif %}
fi
{% else %}
if [ -z "$_pw" ]; then
	push_changed create
{% if apply %}
	useradd {{ create_options | quote_each }} -- {{ name }}
{% if password %}
	printf '%s:%s\n' {{ name }} {{ password }} | chpasswd -e
{% endif %}
{% endif %}
	exit 0
fi
IFS=: read -r _n _x _uid _gid _gecos _home _shell <<PUSH_END
$_pw
PUSH_END
set --
_w=
{% if uid is not none %}
if [ "$_uid" != {{ uid }} ]; then set -- "$@" -u {{ uid }}; _w="$_w uid"; fi
{% endif %}
{% if group %}
if [ "$_gid" != "$(getent group -- {{ group }} | cut -d: -f3)" ]; then set -- "$@" -g {{ group }}; _w="$_w group"; fi
{% endif %}
{% if comment is not none %}
if [ "$_gecos" != {{ comment }} ]; then set -- "$@" -c {{ comment }}; _w="$_w comment"; fi
{% endif %}
{% if home %}
if [ "$_home" != {{ home }} ]; then set -- "$@" -d {{ home }}{% if move_home %} -m{% endif %}; _w="$_w home"; fi
{% endif %}
{% if shell %}
if [ "$_shell" != {{ shell }} ]; then set -- "$@" -s {{ shell }}; _w="$_w shell"; fi
{% endif %}
{% if groups is not none %}
_cur=$(getent group | U={{ name }} awk -F: '{ n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == ENVIRON["U"]) print $1 }' |
	LC_ALL=C sort -u | paste -sd, -)
{% if append %}
for _x in {{ groups | quote_each }}; do
	case ",$_cur," in *",$_x,"*) ;; *) _missing=1 ;; esac
done
if [ -n "${_missing:-}" ]; then set -- "$@" -a -G {{ groups | join(",") }}; _w="$_w groups"; fi
{% else %}
if [ "$_cur" != {{ groups | join(",") }} ]; then set -- "$@" -G {{ groups | join(",") }}; _w="$_w groups"; fi
{% endif %}
{% endif %}
{% if password_sha256 %}
_h=$(getent shadow -- {{ name }} | cut -d: -f2 | tr -d '\n' | sha256sum)
if [ "${_h%% *}" != {{ password_sha256 }} ]; then _w="$_w password"; _pwchange=1; fi
{% endif %}
if [ -n "$_w" ]; then
	push_changed $_w
{% if apply %}
	if [ $# -gt 0 ]; then usermod "$@" -- {{ name }}; fi
{% if password_sha256 %}
	if [ -n "${_pwchange:-}" ]; then printf '%s:%s\n' {{ name }} {{ password }} | chpasswd -e; fi
{% endif %}
{% endif %}
fi
{% endif %}
