{# apt. A name may pin a version (nginx=1.22.1-9) or a version prefix
   (nginx=1.22*). The cache's age is the newer mtime of the stamp written
   after each update (Ansible's, under /var/lib/apt/periodic) and of
   /var/lib/apt/lists: apt leaves lists/ alone when nothing changed
   upstream, and pkgcache.bin does not even exist on Debian's container
   images. #}
export DEBIAN_FRONTEND=noninteractive
{% if names or autoremove %}
{# dpkg was interrupted (the host went down during an install): apt-get
   refuses everything ("dpkg was interrupted, you must manually run 'dpkg
   --configure -a'") until dpkg has finished what it started. Its journal
   (updates/) says so, at the cost of a glob. Finished before anything is
   read or installed; the step's first change says so (_changed). #}
_dpkg=
set -- /var/lib/dpkg/updates/[0-9]*
if [ -e "$1" ]; then
{% if apply %}
	_dpkg="dpkg was interrupted: finished it (dpkg --configure -a)"
	if ! dpkg --configure -a --force-confdef --force-confold; then
		{# Packages unpacked without their dependencies: apt brings them. #}
		_dpkg="dpkg was interrupted: finished it (dpkg --configure -a, apt-get -f install)"
		apt-get -y -q {{ options | quote_each }} -f install
	fi
{% else %}
	_dpkg="dpkg was interrupted: dpkg --configure -a will finish it"
{% endif %}
fi
_changed() {
	push_changed ${_dpkg:+"$_dpkg;"} "$@"
	_dpkg=
}
{% endif %}
{# With names, an update is not a change of its own: the probe skips it. #}
{% if update_cache and (apply or not names) %}
_stamp=/var/lib/apt/periodic/update-success-stamp
_update=1
{% if cache_valid_time %}
_m=$(stat -c %Y -- "$_stamp" /var/lib/apt/lists 2>/dev/null | sort -n | tail -n1)
{# A fresh image has a new, empty lists/: no index means no cache at all. #}
if ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 && [ $(($(date +%s) - ${_m:-0})) -lt {{ cache_valid_time }} ]; then _update=0; fi
{% endif %}
if [ "$_update" = 1 ]; then
{% if not names %}
	push_changed update cache
{% endif %}
{% if apply %}
	apt-get -q --error-on=any update
	mkdir -p -- "${_stamp%/*}"
	touch -- "$_stamp"
{% endif %}
fi
{% endif %}
{% if names %}
# The package's state (installed, config-files, not-installed...) and version.
# Into _s; the first line only: a multi-arch package may have one per
# architecture.
_status() {
	_s=$(dpkg-query -W -f='${db:Status-Status} ${Version}\n' -- "$1" 2>/dev/null) || true
	_s=${_s%%
*}
}
{% if bare_names %}
{# The same from dpkg's status file, for all names at once: one awk takes
   half the time of a dpkg-query, which reads the whole database. Not while
   dpkg has journal entries the file does not hold yet (updates/). #}
set -- /var/lib/dpkg/updates/[0-9]*
if [ ! -e "$1" ] && _table=$(awk -v names={{ bare_names }} '
BEGIN { want = split(names, w, " "); for (i = 1; i <= want; i++) need[w[i]] = 1 }
/^Package: / { p = substr($0, 10); take = (p in need) && !(p in st); next }
take && /^Status: / { st[p] = $4; next }
take && /^Version: / { v[p] = substr($0, 10); next }
take && /^$/ { take = 0; if (++found == want) exit }
END { for (i = 1; i <= want; i++) print (w[i] in st) ? st[w[i]] " " v[w[i]] : "-" }' /var/lib/dpkg/status); then
	_table="$_table
"
	{# One line per name, in the order the loop below asks ("-": dpkg
	   knows nothing of it): no lookup in a long string per name. #}
	_status() {
		_s=${_table%%"
"*}
		_table=${_table#*"
"}
		if [ "$_s" = - ]; then _s=; fi
	}
fi
{% endif %}
set --
for _p in {{ names | quote_each }}; do
	_status "${_p%%=*}"
{% if state == "present" %}
	{# NAME=VERSION* is any installed version that starts with VERSION. #}
	case $_p in
	*=*\*) _v=${_p#*=}; case $_s in "installed ${_v%?}"*) ;; *) set -- "$@" "$_p" ;; esac ;;
	*=*) [ "$_s" = "installed ${_p#*=}" ] || set -- "$@" "$_p" ;;
	*) [ "${_s%% *}" = installed ] || set -- "$@" "$_p" ;;
	esac
{% elif state == "latest" %}
	_c=$(LC_ALL=C apt-cache policy -- "$_p" | sed -n 's/^ *Candidate: //p')
	if [ "${_s%% *}" != installed ] || dpkg --compare-versions "${_s#* }" lt "$_c" 2>/dev/null; then
		set -- "$@" "$_p"
	fi
{% else %}
	case ${_s%% *} in
{% if purge %}
	config-files) set -- "$@" "${_p%%=*}" ;;
{% endif %}
	installed | half-installed | unpacked | half-configured | triggers-awaited | triggers-pending)
		set -- "$@" "${_p%%=*}" ;;
	esac
{% endif %}
done
if [ $# -gt 0 ]; then
	_changed {{ action }} "$@"
{% if apply %}
	apt-get -y -q {{ options | quote_each }} {{ action }} -- "$@"
{% endif %}
fi
{% endif %}
{% if autoremove %}
if LC_ALL=C apt-get -s autoremove | grep -q '^Remv '; then
	_changed autoremove
{% if apply %}
	apt-get -y -q {{ options | quote_each }} autoremove{% if purge %} --purge{% endif %}

{% endif %}
fi
{% endif %}
{% if names or autoremove %}
if [ -n "$_dpkg" ]; then push_changed "$_dpkg"; fi
{% endif %}
