{# lineinfile, with Ansible's rules: a line matching regexp (or containing
   search_string) is replaced, the last one or with firstmatch the first;
   else nothing happens if the exact line is there; else the line goes
   after/before the last (or first) insertafter/insertbefore match, or at
   BOF/EOF. Patterns are PCRE (grep -P), which reads Python's regexps the
   same way in practice; awk only edits by line number. #}
_f={% if home %}"$HOME"{% endif %}{{ path }}
{# Like Ansible, edit the file a symlink points to, keeping the link. #}
if [ -L "$_f" ]; then _f=$(readlink -f -- "$_f"); fi
if [ -d "$_f" ]; then push_fail "Path $_f is a directory !"; fi
_src=$_f
if [ ! -e "$_f" ]; then
{% if state == "absent" %}
	exit 0
{% elif create %}
	_src=/dev/null
{% else %}
	push_unmet {{ phase }} "Destination $_f does not exist !"
{% endif %}
fi

# Numbers of the lines of FILE matching PATTERN (grep -P, or -F: a string).
_lines() { # -P|-F PATTERN FILE
	_rc=0
	_o=$(grep -na "$1" -e "$2" -- "$3") || _rc=$?
	if [ "$_rc" -gt 1 ]; then push_fail "invalid pattern: $2"; fi
	if [ -n "$_o" ]; then printf '%s\n' "$_o" | cut -d: -f1; fi
}
{% if regexp is not none %}
_hits=$(_lines -P {{ regexp }} "$_src")
{% elif search_string is not none %}
_hits=$(_lines -F {{ search_string }} "$_src")
{% else %}
_hits=
{% endif %}
{% if anchor is not none %}
_anchors=$(_lines -P {{ anchor }} "$_src")
{% else %}
_anchors=
{% endif %}
_nonl=0
if [ -n "$(tail -c1 -- "$_src")" ]; then _nonl=1; fi

{% if apply %}
if [ ! -e "$_f" ]; then mkdir -p -- "${_f%/*}/"; fi
_t=$(push_tmp_beside "$_f")
{% else %}
_t=$(mktemp)
{% endif %}
trap 'rm -f -- "$_t"' EXIT
PUSH_LINE={{ line }} awk -v state={{ state }} -v bypattern={{ bypattern }} -v where={{ where }} \
	-v first={{ firstmatch }} -v nonl="$_nonl" -v hits="$_hits" -v anchors="$_anchors" '
# Each line is printed with the newline that ends the previous one, so an
# unterminated last line stays so unless a line now follows it.
function out(s, nl) { if (k++) printf "\n"; printf "%s", s; lastnl = nl }
function pick(list, a,   n) { n = split(list, a, "\n"); return n ? a[first ? 1 : n] : 0 }
function bare(s) { sub(/\r+$/, "", s); return s }
{ t[NR] = $0 }
END {
	n = NR; L = ENVIRON["PUSH_LINE"]
	if (state == "absent") {
		split(hits, h, "\n"); for (i in h) drop[h[i]] = 1
		for (i = 1; i <= n; i++)
			if (!(bypattern ? (i in drop) : bare(t[i]) == L)) out(t[i], i < n || !nonl)
	} else {
		rep = pick(hits, h); ins = 0
		if (!rep) {
			for (i = 1; i <= n; i++) if (bare(t[i]) == L) exact = 1
			anchor = pick(anchors, a)
			if (exact) ins = -1
			else if (where == "bof") ins = 1
			else if (where == "after" && anchor) ins = anchor + 1
			else if (where == "before" && anchor) ins = anchor
			else ins = n + 1
		}
		for (i = 1; i <= n; i++) {
			if (i == ins) out(L, 1)
			if (i == rep) out(L, 1); else out(t[i], i < n || !nonl)
		}
		if (ins == n + 1) out(L, 1)
	}
	if (k && lastnl) printf "\n"
}' <"$_src" >"$_t"

if cmp -s -- "$_t" "$_src"; then
	_w=$(push_attrs_diff "$_f" {{ mode }} {{ owner }} {{ group }})
	if [ -n "$_w" ]; then
		push_changed $_w
{% if apply %}
		push_attrs_set "$_f" {{ mode }} {{ owner }} {{ group }}
{% endif %}
	fi
	exit 0
fi
{% if state == "absent" %}
push_changed line removed
{% else %}
if [ -n "$_hits" ]; then push_changed line replaced; else push_changed line added; fi
{% endif %}
push_diff_before "$_f"
push_diff_after "$_t"
{% if apply %}
{% include "validate.sh" %}
{% if backup %}
push_backup "$_f"
{% endif %}
push_install "$_t" "$_f" {{ mode }} {{ owner }} {{ group }}
{% endif %}
