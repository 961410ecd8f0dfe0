{# Included by the docker_unit snippets that start or look at switches
   (see templates/docker_unit_switch.sh). #}
{# Wait for the switch of INSTANCE under way, if any (one an earlier run
   started and went away from goes on without it), its ExecStopPost=
   included. #}
_switch_wait() {
	while case $(systemctl is-active -- "push-switch-$1.service" 2>/dev/null) in inactive | failed | "") false ;; *) : ;; esac; do
		sleep 0.5
	done
}
