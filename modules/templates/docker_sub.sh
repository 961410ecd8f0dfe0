{# Included by the docker_* snippets, which are built out of other modules'
   snippets (sub-steps: copy, file, apt, systemd). Each sub-step runs in
   its own subshell with its own status file "$_st/NAME", so the glue can
   tell what each one did and report it all as one message. #}
_st=$(mktemp -d)
trap 'rm -rf -- "$_st"' EXIT
_why=
# Add to the step's message.
push_why() { _why="${_why:+$_why; }$*"; }
# Did sub-step NAME report a change?
push_sub_changed() { grep -q '^changed' "$_st/$1" 2>/dev/null; }
# Add what sub-step NAME changed to the message, as "LABEL (why, why)".
push_sub_why() { # NAME LABEL
	if push_sub_changed "$1"; then
		push_why "$2 ($(sed -n 's/^changed //p' "$_st/$1" | sed 's/^Destination directory .* does not exist (unless an earlier task sees to it)$/create/' | paste -sd, - | sed 's/,/, /g'))"
	fi
}
