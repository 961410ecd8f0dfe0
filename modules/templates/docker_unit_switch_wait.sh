{# Included by the docker_unit snippets that start or look at switches
   (see templates/docker_unit_switch.sh). #}
{# Wait for the switch of INSTANCE under way, if any (one an earlier run
   started and went away from goes on without it). #}
_switch_wait() { while systemctl is-active --quiet -- "push-switch-$1.service"; do sleep 0.5; done; }
