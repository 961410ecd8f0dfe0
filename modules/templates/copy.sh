{# copy and template: content travels base64-encoded, in the apply only
   (a controller-side file's is put where its token stands as the script
   is sent: see Op::attachment).
   With force=no an existing dest is left alone, attributes included. #}
_dest={% if home %}"$HOME"{% endif %}{{ dest }}
{% if src_name %}
if [ -d "$_dest" ]; then _dest=$_dest/{{ src_name }}; fi
{% endif %}
if [ -d "$_dest" ]; then push_fail "$_dest is a directory"; fi
_dir=${_dest%/*}/
if [ ! -d "$_dir" ]; then push_unmet {{ phase }} "Destination directory $_dir does not exist"; fi
if [ ! -e "$_dest" ]; then
	push_changed create
{% if force %}
elif push_sha256 "$_dest" && [ "$push_h" != {{ sha256 }} ]; then
	push_changed content
	push_diff_before "$_dest"
else
	push_attrs_diff "$_dest" {{ mode }} {{ owner }} {{ group }}
	if [ -n "$push_w" ]; then
		push_changed $push_w
{% if apply %}
		push_attrs_set "$_dest" {{ mode }} {{ owner }} {{ group }}
{% endif %}
	fi
	exit 0
{% else %}
else
	exit 0
{% endif %}
fi
{% if apply %}
_t=$(push_tmp_beside "$_dest")
trap 'rm -f -- "$_t"' EXIT
printf %s {{ content }} | base64 -d >"$_t" || { push_write_failed "$_t" "$_dest"; exit 1; }
{% include "validate.sh" %}
{% if backup %}
push_backup "$_dest"
{% endif %}
push_install "$_t" "$_dest" {{ mode }} {{ owner }} {{ group }}
{% endif %}
