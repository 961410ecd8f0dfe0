{# docker_host's deferred action: the restart for a new daemon.json, at the
   end of the play, unless a pull earlier in the play already made it
   (docker_unit and docker_image restart a stale engine before pulling). #}
{% include "docker_catch_up.sh" %}
if _docker_catch_up; then
	push_changed restarted docker
fi
