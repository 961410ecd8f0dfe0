{# /etc/group first, with shell builtins (a process less on every host);
   then NSS (LDAP and the like), through getent. #}
_g=
while IFS= read -r _l; do
	case $_l in {{ name }}:*) _g=$_l; break ;; esac
done </etc/group
if [ -z "$_g" ]; then _g=$(getent group -- {{ name }} || true); fi
{% if state == "absent" %}
if [ -n "$_g" ]; then
	push_changed remove
{% if apply %}
	groupdel -- {{ name }}
{% endif %}
fi
{% else %}
if [ -z "$_g" ]; then
	push_changed create
{% if apply %}
	groupadd {% if gid is not none %}-g {{ gid }} {% endif %}{% if system %}-r {% endif %}-- {{ name }}
{% endif %}
	exit 0
fi
{% if gid is not none %}
_gid=${_g#*:*:}
_gid=${_gid%%:*}
if [ "$_gid" != {{ gid }} ]; then
	push_changed gid
{% if apply %}
	groupmod -g {{ gid }} -- {{ name }}
{% endif %}
fi
{% endif %}
{% endif %}
