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

{# The lines of FILE matching PATTERN (grep -P, or -F: a string) as
   "NUMBER:TEXT" lines into _o; awk reads the numbers. #}
_lines() { # -P|-F PATTERN FILE
	_rc=0
	_o=$(grep -na "$1" -e "$2" -- "$3") || _rc=$?
	if [ "$_rc" -gt 1 ]; then push_fail "invalid pattern: $2"; fi
}
_hits=
_anchors=
{% if regexp is not none %}
_lines -P {{ regexp }} "$_src"
_hits=$_o
{% elif search_string is not none %}
_lines -F {{ search_string }} "$_src"
_hits=$_o
{% endif %}
{% if anchor is not none %}
_lines -P {{ anchor }} "$_src"
_anchors=$_o
{% endif %}
_nonl=0
if [ -n "$(tail -c1 -- "$_src")" ]; then _nonl=1; fi

{# The new content goes to _t: beside the file in the apply; in the probe
   only for a diff (awk's exit status says whether anything changes). #}
{% if apply %}
if [ ! -e "$_f" ]; then mkdir -p -- "${_f%/*}/"; fi
_t=$(push_tmp_beside "$_f")
trap 'rm -f -- "$_t"' EXIT
{% else %}
_t=/dev/null
if [ "$PUSH_DIFF" = 1 ]; then
	_t=$(mktemp)
	trap 'rm -f -- "$_t"' EXIT
fi
{% endif %}
_same=0
PUSH_LINE={{ line }} awk -v state={{ state }} -v bypattern={{ bypattern }} -v where={{ where }} \
	-v first={{ firstmatch }} -v nonl="$_nonl" -v hits="$_hits" -v anchors="$_anchors" '
# Each line is printed with the newline that ends the previous one, so an
# unterminated last line stays so unless a line now follows it. What is
# printed is kept too: the exit status says whether it differs (3) or not.
function out(s, nl) { if (k++) { printf "\n"; o = o "\n" } printf "%s", s; o = o s; lastnl = nl }
# The number of the last (or first) of "NUMBER:TEXT" lines.
function pick(list, a,   n) { n = split(list, a, "\n"); return n ? a[first ? 1 : n] + 0 : 0 }
function bare(s) { sub(/\r+$/, "", s); return s }
{ t[NR] = $0 }
END {
	n = NR; L = ENVIRON["PUSH_LINE"]
	if (state == "absent") {
		split(hits, h, "\n"); for (i in h) drop[h[i] + 0] = 1
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
	if (k && lastnl) { printf "\n"; o = o "\n" }
	for (i = 1; i <= n; i++) was = was t[i] (i < n || !nonl ? "\n" : "")
	exit o == was ? 0 : 3
}' <"$_src" >"$_t" || _same=$?
if [ "$_same" != 0 ] && [ "$_same" != 3 ]; then push_fail "awk failed on $_src"; fi

if [ "$_same" = 0 ]; then
	push_attrs_diff "$_f" {{ mode }} {{ owner }} {{ group }}
	if [ -n "$push_w" ]; then
		push_changed $push_w
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
