{# docker_ssh. Files are written by copy, file and apt sub-steps (see
   docker_sub.sh); the account is handled here. sshd is checked and
   reloaded when its drop-in changed. #}
{% include "docker_sub.sh" %}
_pw=$(getent passwd -- {{ login }} || true)
_gecos=
_shell=
if [ -n "$_pw" ]; then
	IFS=: read -r _n _x _uid _gid _gecos _home _shell <<PUSH_END
$_pw
PUSH_END
fi
{% if state == "absent" %}
for _f in {{ files | quote_each }}; do
	if [ -e "$_f" ]; then
		push_why remove "$_f"
{% if apply %}
		rm -f -- "$_f"
{% endif %}
		if [ "$_f" = {{ sshd_path }} ]; then _reload=1; fi
	fi
done
case $_gecos in
{{ gecos_prefix }}*)
	push_why remove user {{ login }}
{% if apply %}
	userdel -- {{ login }}
{% endif %}
	;;
*)
	if [ "$_shell" = {{ helper }} ]; then
		push_why "login shell of" {{ login }} "back to /usr/sbin/nologin"
{% if apply %}
		usermod --shell /usr/sbin/nologin -- {{ login }}
{% endif %}
	fi
	;;
esac
{% else %}
if ! grep -qE '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\.d/\*\.conf' /etc/ssh/sshd_config 2>/dev/null; then
	push_fail "/etc/ssh/sshd_config does not include /etc/ssh/sshd_config.d/*.conf (Debian's does): docker_ssh needs it for its Match block"
fi
{% for sub in ["apt", "helper_dir", "helper", "push_dir", "ssh_dir", "keys_dir", "logins_dir"] %}
(
PUSH_S=$_st/{{ sub }} PUSH_DIFF=0
{{ subs[sub][phase] | safe }}
)
{% endfor %}
push_sub_why apt packages
push_sub_why helper "login helper"
{# The sudo rule makes the login root in the container: it must be an
   account of its own, made by push (its GECOS says so), never one that
   something else runs as (`nobody`, `mail`). #}
if [ -z "$_pw" ]; then
	push_why create user {{ login }}
{% if apply %}
	useradd --system --no-create-home --home-dir / --shell {{ helper }} --password '*' --comment {{ gecos }} -- {{ login }}
{% endif %}
else
	case $_gecos in
	{{ gecos_prefix }}*) ;;
	*) push_fail "user" {{ login }} "exists and was not created by push: docker_ssh logs in with an account of its own; set login to a name no account has" ;;
	esac
	if [ "$_shell" != {{ helper }} ]; then
		push_why "login shell of" {{ login }} "($_shell -> docker-ssh helper)"
{% if apply %}
		usermod --shell {{ helper }} -- {{ login }}
{% endif %}
	fi
fi
(
PUSH_S=$_st/keys
{{ subs.keys[phase] | safe }}
)
push_sub_why keys "authorized keys"
{% for sub in ["login_conf", "sudoers", "sshd"] %}
(
PUSH_S=$_st/{{ sub }} PUSH_DIFF=0
{{ subs[sub][phase] | safe }}
)
{% endfor %}
push_sub_why login_conf "container login"
push_sub_why sudoers "sudo rule"
if push_sub_changed sshd; then
	push_sub_why sshd "sshd drop-in"
	_reload=1
fi
{% endif %}
{# sshd reloads right away, not at the end of the play: a play that fails
   later must not leave it with a drop-in it never read. #}
if [ -n "${_reload:-}" ]; then
	push_why "sshd reloaded"
{% if apply %}
	if ! _e=$(/usr/sbin/sshd -t 2>&1); then push_fail "sshd -t: $_e"; fi
	systemctl try-reload-or-restart ssh.service
{% endif %}
fi
if [ -n "$_why" ]; then push_changed "$_why"; fi
