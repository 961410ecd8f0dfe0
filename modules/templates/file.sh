{# file. `state` "any" (not given) manages the attributes of whatever is
   at path, as Ansible does. Relative link sources are relative to the
   link's folder. #}
_p={% if home %}"$HOME"{% endif %}{{ path }}
{% if state == "absent" %}
if [ -e "$_p" ] || [ -L "$_p" ]; then
	push_changed remove
{% if apply %}
	rm -rf -- "$_p"
{% endif %}
fi
{% elif state == "touch" %}
if [ ! -d "${_p%/*}/" ]; then push_unmet {{ phase }} "folder ${_p%/*}/ does not exist"; fi
push_changed touch
{% if apply %}
touch -- "$_p"
push_attrs_set "$_p" {{ mode }} {{ owner }} {{ group }}
{% endif %}
{% elif state == "link" %}
cd -- "${_p%/*}/" 2>/dev/null || push_unmet {{ phase }} "folder ${_p%/*}/ does not exist"
if ! push_readlink "$_p" || [ "$push_l" != {{ src }} ]; then
{% if not force %}
	if [ ! -e {{ src }} ] && [ ! -L {{ src }} ]; then
		push_unmet {{ phase }} "src file does not exist, use force=yes if you really want to create the link:" {{ src }}
	fi
	if [ -e "$_p" ] && [ ! -L "$_p" ]; then push_fail "refusing to convert $_p to a symlink (force=yes replaces it)"; fi
{% endif %}
	if [ -d "$_p" ] && [ ! -L "$_p" ] && [ -n "$(ls -A -- "$_p")" ]; then
		push_fail "the directory $_p is not empty, refusing to convert it"
	fi
	push_changed link to {{ src }}
{% if apply %}
	{# A new link under a temp name, renamed over the old path: never missing. #}
	_t=$(push_tmp_beside "$_p")
	rm -f -- "$_t"
	ln -s -- {{ src }} "$_t"
	if [ -d "$_p" ] && [ ! -L "$_p" ]; then rmdir -- "$_p"; fi
	mv -fT -- "$_t" "$_p"
{% endif %}
fi
{# The link's own owner and group; links have no mode of their own. #}
{% if owner %}
if ! push_id_in {{ owner }} "$(stat -c '%U %u' -- "$_p")"; then
	push_changed owner
{% if apply %}
	chown -h -- {{ owner }} "$_p"
{% endif %}
fi
{% endif %}
{% if group %}
if ! push_id_in {{ group }} "$(stat -c '%G %g' -- "$_p")"; then
	push_changed group
{% if apply %}
	chgrp -h -- {{ group }} "$_p"
{% endif %}
fi
{% endif %}
{% else %}
{% if state == "directory" %}
if [ -e "$_p" ] && [ ! -d "$_p" ]; then push_fail "$_p already exists and is not a directory"; fi
if [ ! -d "$_p" ]; then
	push_changed create directory
{% if apply %}
	push_mkdirs "$_p" {{ mode }} {{ owner }} {{ group }}
{% endif %}
	exit 0
fi
{% elif state == "hard" %}
cd -- "${_p%/*}/" 2>/dev/null || push_unmet {{ phase }} "folder ${_p%/*}/ does not exist"
if [ ! "$_p" -ef {{ src }} ]; then
	if [ ! -e {{ src }} ]; then push_unmet {{ phase }} "src does not exist:" {{ src }}; fi
	if [ -d "$_p" ]; then push_fail "$_p is a directory, refusing to convert it to a hard link"; fi
{% if not force %}
	if [ -e "$_p" ] || [ -L "$_p" ]; then push_fail "Cannot link, $_p exists at destination (force=yes replaces it)"; fi
{% endif %}
	push_changed hard link to {{ src }}
{% if apply %}
	_t=$(push_tmp_beside "$_p")
	rm -f -- "$_t"
	ln -- {{ src }} "$_t"
	mv -fT -- "$_t" "$_p"
	push_attrs_set "$_p" {{ mode }} {{ owner }} {{ group }}
{% endif %}
	exit 0
fi
{% else %}
if [ ! -e "$_p" ]; then push_unmet {{ phase }} "file $_p is absent, cannot continue"; fi
{% if state == "file" %}
if [ -d "$_p" ]; then push_fail "file $_p is a directory, cannot continue"; fi
{% endif %}
{% endif %}
{# It is there, of the right kind: now its attributes. #}
{% if recurse %}
push_tree_attrs_diff "$_p" {{ mode }} {{ owner }} {{ group }}
{% else %}
push_attrs_diff "$_p" {{ mode }} {{ owner }} {{ group }}
{% endif %}
if [ -n "$push_w" ]; then
	push_changed $push_w
{% if apply %}
{% if recurse %}
	push_attrs_set "$_p" {{ mode }} {{ owner }} {{ group }} -R
{% else %}
	push_attrs_set "$_p" {{ mode }} {{ owner }} {{ group }}
{% endif %}
{% endif %}
fi
{% endif %}
