_g=$(getent group -- {{ name }} || true)
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
_gid=$(printf '%s\n' "$_g" | cut -d: -f3)
if [ "$_gid" != {{ gid }} ]; then
	push_changed gid
{% if apply %}
	groupmod -g {{ gid }} -- {{ name }}
{% endif %}
fi
{% endif %}
{% endif %}
