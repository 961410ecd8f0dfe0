{# lineinfile, with Ansible's rules: a line matching regexp (or containing
   search_string) is replaced, the last one or with firstmatch the first;
   else nothing happens if the exact line is there; else the line goes
   after/before the last (or first) insertafter/insertbefore match, or at
   BOF/EOF. One awk decides and writes the new text; it matches patterns
   itself when its ERE reads them as Python does (regexp_ere, anchor_ere,
   see lineinfile.rs), else grep -P finds the matching lines' numbers. #}
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

{% set pcre_hits = regexp is not none and regexp_ere is none %}
{% set pcre_anchors = anchor is not none and anchor_ere is none %}
{% if pcre_hits or pcre_anchors %}
{# The lines of FILE matching PATTERN (grep -P) as "NUMBER:TEXT" lines
   into _o; awk reads the numbers. The pattern goes to grep on stdin and
   the lines to awk through here-documents: an argument would show the
   pattern and the file's lines to every local user in the process list
   (and awk -v would read escapes in them). #}
_lines() { # PATTERN FILE
	_rc=0
	_o=$(printf '%s\n' "$1" | grep -naP -f - -- "$2") || _rc=$?
	if [ "$_rc" -gt 1 ]; then push_fail "invalid pattern: $1"; fi
}
{% endif %}
{% if pcre_hits %}
_lines {{ regexp }} "$_src"
_hits=$_o
{% endif %}
{% if pcre_anchors %}
_lines {{ anchor }} "$_src"
_anchors=$_o
{% endif %}

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
PUSH_LINE={{ line }} \
{% if regexp_ere is not none %}	PUSH_RE={{ regexp_ere }} \
{% endif %}{% if search_string is not none %}	PUSH_FIXED={{ search_string }} \
{% endif %}{% if anchor_ere is not none %}	PUSH_ANCHOR={{ anchor_ere }} \
{% endif %}	awk -v state={{ state }} -v bypattern={{ bypattern }} -v where={{ where }} -v first={{ firstmatch }} \
	-v hits={% if pcre_hits %}/dev/fd/3{% else %}''{% endif %} -v anchors={% if pcre_anchors %}/dev/fd/4{% else %}''{% endif %} '
# Each line is printed with the newline that ends the previous one, so an
# unterminated last line stays so unless a line now follows it. What is
# printed is compared with the old text as it goes (building the new text
# in a string would copy it at every line: quadratic on a large file); the
# exit status says whether it differs (3; 4 when a line matched the
# pattern) or not (0).
function put(p,   l) { printf "%s", p; l = length(p); if (same && substr(all, at, l) != p) same = 0; at += l }
function out(s, nl) { if (k++) put("\n"); put(s); lastnl = nl }
# Into m, the numbers of the lines matching: the regexp re, else (byfixed)
# containing PUSH_FIXED (even empty: that is every line), else the
# "NUMBER:TEXT" lines of grep -P in the file named list (a here-document).
# Returns how many.
function find(list, re, byfixed, m,   i, c, g, txt, ng) {
	if (re != "") { for (i = 1; i <= n; i++) if (t[i] ~ re) m[++c] = i; return c }
	if (byfixed) { for (i = 1; i <= n; i++) if (index(t[i], ENVIRON["PUSH_FIXED"])) m[++c] = i; return c }
	if (list == "") return 0
	# One record: RS is set to read whole files.
	getline txt < list; close(list)
	ng = split(txt, g, "\n"); for (i = 1; i <= ng; i++) if (g[i] != "") m[++c] = g[i] + 0
	return c
}
function pick(m, c) { return c ? m[first ? 1 : c] : 0 }
function bare(s) { sub(/\r+$/, "", s); return s }
# The whole file as one record, so that a missing last newline is seen.
BEGIN { RS = "^$" }
{ all = $0 }
END {
	nonl = all != "" && substr(all, length(all)) != "\n"
	if (all != "") {
		n = split(nonl ? all : substr(all, 1, length(all) - 1), t, "\n"); if (!n) { n = 1; t[1] = "" }
	}
	same = 1; at = 1
	L = ENVIRON["PUSH_LINE"]
	nh = find(hits, ENVIRON["PUSH_RE"], "PUSH_FIXED" in ENVIRON, h)
	if (state == "absent") {
		for (i = 1; i <= nh; i++) drop[h[i]] = 1
		for (i = 1; i <= n; i++)
			if (!(bypattern ? (i in drop) : bare(t[i]) == L)) out(t[i], i < n || !nonl)
	} else {
		rep = pick(h, nh); ins = 0
		if (!rep) {
			for (i = 1; i <= n; i++) if (bare(t[i]) == L) exact = 1
			anchor = pick(a, find(anchors, ENVIRON["PUSH_ANCHOR"], 0, a))
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
	if (k && lastnl) put("\n")
	exit same && at == length(all) + 1 ? 0 : nh ? 4 : 3
}' <"$_src" >"$_t" {% if pcre_hits %}3<<PUSH_HITS {% endif %}{% if pcre_anchors %}4<<PUSH_ANCHORS {% endif %}|| _same=$?
{% if pcre_hits %}
$_hits
PUSH_HITS
{% endif %}
{% if pcre_anchors %}
$_anchors
PUSH_ANCHORS
{% endif %}
case $_same in
0 | 3 | 4) ;;
*)
{% if apply %}
	{# A full filesystem: name the file, with the system's words. #}
	printf x 2>/dev/null >"$_t" || { push_write_failed "$_t" "$_f"; exit 1; }
{% endif %}
	push_fail "awk failed on $_src"
	;;
esac

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
if [ "$_same" = 4 ]; then push_changed line replaced; else push_changed line added; fi
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
