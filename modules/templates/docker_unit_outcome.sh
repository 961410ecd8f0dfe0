{# Deferred (50-restart-NAME/outcome), right after 50-restart-NAME: what
   the switch did, for the task and the recap; its outcome file goes once
   it is reported (see docker_unit_restart.sh for why a step of its own). #}
_n={{ name }}
_out={{ state_dir }}/$_n.outcome
if [ ! -f "$_out" ]; then
	push_fail "the switch of $_n ended without an outcome: see journalctl -u push-switch-$_n"
fi
_status=$(sed -n 1p -- "$_out")
_event=$(sed -n 2p -- "$_out")
_msg=$(sed 1,2d -- "$_out")
rm -f -- "$_out"
if [ "$_event" != - ]; then push_rollout "$_event"; fi
if [ "$_status" != up ]; then push_fail "$_msg"; fi
push_changed "$_msg"
