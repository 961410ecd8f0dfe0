{# docker_image. The password only ever appears as a word piped by the
   builtin printf into `docker login --password-stdin`, with a temporary
   DOCKER_CONFIG that goes when the step ends. #}
if ! command -v docker >/dev/null 2>&1; then push_unmet {{ phase }} "docker is not installed"; fi
{% include "docker_refs.sh" %}
{% if apply and state != "absent" %}
{% include "docker_catch_up.sh" %}
{% endif %}
_id=$(docker image inspect -f {{ fmt_id }} {{ name }} 2>/dev/null || true)
{% if state == "absent" %}
if [ -n "$_id" ]; then
	push_changed remove {{ name }}
{% if apply %}
	docker rmi {{ name }} >/dev/null
{% endif %}
fi
{% else %}
{% if login %}
DOCKER_CONFIG=$(mktemp -d)
export DOCKER_CONFIG
trap 'rm -rf -- "$DOCKER_CONFIG"' EXIT
_login() {
	if ! _out=$(printf '%s' {{ password }} | docker login --username {{ username }} --password-stdin{% if registry %} {{ registry }}{% endif %} 2>&1); then
		push_fail "docker login to" {{ registry_host }} "as" {{ username }} "failed:" "$_out"
	fi
}
{% else %}
_login() { :; }
{% endif %}
{% if apply %}
{# A daemon.json an earlier task of the play wrote takes effect before a
   pull, as if the play flushed docker_host's restart here. #}
_catch_up() { if _docker_catch_up; then push_changed "restarted docker first, so the pull uses the new daemon.json"; fi; }
{% endif %}
if [ -z "$_id" ]; then
{% if apply %}
	_catch_up
	_login
	docker pull -q {{ name }} >/dev/null
	_id=$(docker image inspect -f {{ fmt_id }} {{ name }})
	push_changed pulled {{ name }} "(id $(_short "$_id"))"
{% else %}
	push_changed pull {{ name }}
{% endif %}
	exit 0
fi
{% if pull == "always" %}
{% if apply %}
_catch_up
_login
docker pull -q {{ name }} >/dev/null
_new=$(docker image inspect -f {{ fmt_id }} {{ name }})
if [ "$_new" != "$_id" ]; then
	push_changed pulled {{ name }} "(image id $(_short "$_id") -> $(_short "$_new"))"
fi
{% else %}
{# The id the registry's manifest names for this host's platform: the
   config digest, which is what `docker image inspect` calls the Id. #}
_remote_id() {
	_ins=
	case " $(docker info -f {{ fmt_insecure }} 2>/dev/null) " in *" "{{ registry_host }}" "*) _ins=--insecure ;; esac
	_plat=$(docker version -f {{ fmt_arch }} 2>/dev/null) || return 1
	docker manifest inspect -v $_ins {{ name }} 2>/dev/null | tr -d ' \t\n' | sed 's/{"Ref":/\n&/g' |
		grep -F "\"architecture\":\"${_plat#*/}\",\"os\":\"${_plat%/*}\"" |
		sed -n 's/.*"config":{[^}]*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p' | head -n1
}
_login
_remote=$(_remote_id || true)
if [ -z "$_remote" ]; then
	push_changed would pull {{ name }} "(the registry's manifest for this platform could not be read to compare)"
elif [ "$_remote" != "$_id" ]; then
	push_changed pull {{ name }} "(the registry has image id $(_short "$_remote"), the host $(_short "$_id"))"
fi
{% endif %}
{% endif %}
{% endif %}
