#!/bin/sh
# Installed by push (docker_unit) as /usr/local/lib/push/docker-unit-switch.
# The switch of a container unit to a new deployment, as one step that
# either completes (health-checked, or put back) or never happened:
#
#   docker-unit-switch switch INSTANCE KIND     KIND: upgraded, rolled-back or -
#   docker-unit-switch recover [INSTANCE...]
#   docker-unit-switch killed INSTANCE
#
# `switch` runs as a transient unit of its own, push-switch-INSTANCE, which
# the run's deferred restart starts with systemd-run and then waits for: it
# ends the same way whether push, its connection or its session lives on
# or not. The new deployment waits beside the running one, written by the
# run's apply as STATE/INSTANCE.next.service and .env (never in
# /etc/systemd/system, where systemd would start it on the next crash or
# boot, unchecked). Then:
#
# 1. the new deployment's image is made present while the old container
#    still serves; if it cannot be pulled, nothing is stopped;
# 2. what is in place is kept as INSTANCE.replaced.*, then the marker
#    INSTANCE.switching says a switch is under way;
# 3. the new files go in place, systemd is reloaded, the unit restarted
#    (with `health:`, restart returns once its ExecStartPost check passed);
# 4. up: the replaced deployment becomes INSTANCE.prev, what `push
#    rollback` goes back to; not up: the replaced one goes back in place
#    and is started again;
# 5. the marker goes, and the outcome is written to INSTANCE.outcome: the
#    run waiting for it reads and removes it; one that no run read (push
#    or its connection went away) is reported by the next run.
#
# `recover` runs at boot before docker.service (push-docker-recover.service)
# and `switch` does the same for its own instance first: a marker left
# behind means a switch died (with the host, or killed), so the replaced
# deployment goes back in place before anything starts it. A host thus
# always comes up on the last deployment that came up, never on one that
# was not checked. `killed` is the switch unit's ExecStopPost=, run however
# the switch ended (a SIGKILL included): after one cut short, the replaced
# deployment goes back in place and is started again.
#
# INSTANCE.outcome: a first line `up`, `reverted` or `failed`; a second
# line, the recap's rollout event (`upgraded web A -> B`) or `-`; then the
# message.
set -u

unit_dir=/etc/systemd/system
state=/etc/push/docker
report_dir=/run/push/docker

# The image a unit file runs (its `# push image:` line), its digest cut to
# 12 hex digits for messages.
img_of() { sed -n 's/^# push image: //p' -- "$1" 2>/dev/null | head -n1; }
ref() { img_of "$1" | sed 's/\(@sha256:[0-9a-f]\{12\}\)[0-9a-f]*/\1/'; }
journal() { journalctl -u "$1.service" -n 20 --no-pager -o cat 2>/dev/null || true; }

# put FROM TO: a copy of FROM at TO, in one rename (TO never half written).
put() {
	cp -p -- "$1" "$2.push-tmp" && mv -f -- "$2.push-tmp" "$2"
}

# outcome INSTANCE STATUS EVENT MESSAGE: written whole, in one rename.
outcome() {
	printf '%s\n%s\n%s\n' "$2" "$3" "$4" >"$state/$1.outcome.tmp" && mv -f -- "$state/$1.outcome.tmp" "$state/$1.outcome"
}

# restore INSTANCE: put back the deployment INSTANCE.switching says was
# being replaced; with none (a first deployment), the unit goes: nothing
# that never came up is left for systemd to start. The kept copies stay
# until the marker is gone: a restore cut short is done again.
restore() {
	n=$1
	old=$state/$n.replaced
	if [ -f "$old.service" ]; then
		put "$old.service" "$unit_dir/$n.service"
		if [ -f "$old.env" ]; then put "$old.env" "$state/$n.env"; else rm -f -- "$state/$n.env"; fi
	else
		systemctl disable --quiet -- "$n.service" 2>/dev/null || true
		rm -f -- "$unit_dir/$n.service" "$state/$n.env"
	fi
}

# recover_one INSTANCE WHY: a switch of INSTANCE that died is undone and
# its outcome written for the next run; 1 when there was none.
recover_one() {
	n=$1
	marker=$state/$n.switching
	[ -f "$marker" ] || return 1
	to=$(sed -n 1p -- "$marker")
	if [ -f "$state/$n.replaced.service" ]; then
		back=$(ref "$state/$n.replaced.service")
		restore "$n"
		outcome "$n" reverted "reverted $n $to -> $back" "the switch of $n to $to was cut short ($2): back on $back, the deployment that ran before it"
	else
		restore "$n"
		outcome "$n" failed - "the first start of $n ($to) was cut short ($2): its unit was removed, the next run starts it again"
	fi
	rm -f -- "$marker" "$state/$n.replaced.service" "$state/$n.replaced.env"
	systemctl daemon-reload
}

# recover [INSTANCE...]: every instance by default (at boot).
recover() {
	if [ $# = 0 ]; then
		for marker in "$state"/*.switching; do
			[ -f "$marker" ] || continue
			n=${marker##*/}
			recover_one "${n%.switching}" "the host restarted" || :
		done
	fi
	for n; do recover_one "$n" "the switch was killed" || :; done
}

# killed INSTANCE: after the switch unit ended, put back what a switch cut
# short replaced, and start it (a restart job of the new one may still be
# under way).
killed() {
	if recover_one "$1" "the switch was killed" && [ -f "$unit_dir/$1.service" ]; then
		systemctl restart --no-block -- "$1.service"
	fi
}

# bring_up INSTANCE: restart it; 0 when up (and healthy), else 1 with the
# reason in $bad. Without `health:`, up means running, and still running a
# second later.
bring_up() {
	n=$1
	if grep -q '^ExecStartPost=.*docker-unit-health' -- "$unit_dir/$n.service"; then
		rm -f -- "$report_dir/$n.health"
		if systemctl restart -- "$n.service" 2>/dev/null; then return 0; fi
		bad=$(cat -- "$report_dir/$n.health" 2>/dev/null || journal "$n")
		return 1
	fi
	if ! systemctl restart -- "$n.service" 2>/dev/null; then
		bad="systemctl restart failed:
$(journal "$n")"
		return 1
	fi
	i=0
	until [ "$(docker container inspect -f '{{.State.Running}}' "$n" 2>/dev/null || true)" = true ]; do
		i=$((i + 1))
		if [ "$i" -gt 120 ]; then
			bad="no running container 60 s after the restart:
$(journal "$n")"
			return 1
		fi
		sleep 0.5
	done
	id=$(docker container inspect -f '{{.Id}}' "$n")
	sleep 1
	if [ "$(docker container inspect -f '{{.Id}} {{.State.Running}}' "$n" 2>/dev/null || true)" != "$id true" ]; then
		bad="the container stopped right after it started:
$(journal "$n")"
		return 1
	fi
}

# present INSTANCE UNIT_FILE: the image UNIT_FILE runs is on this host,
# pulled if need be; else 1 with the reason in $bad.
present() {
	img=$(img_of "$2")
	if [ -z "$img" ] || docker image inspect "$img" >/dev/null 2>&1; then return 0; fi
	if err=$(docker pull -q "$img" 2>&1 >/dev/null); then return 0; fi
	bad="cannot pull $img: $(printf '%s' "$err" | tail -n1)"
	return 1
}

switch() {
	n=$1 kind=$2
	unit=$unit_dir/$n.service env=$state/$n.env next=$state/$n.next old=$state/$n.replaced
	rm -f -- "$state/$n.outcome"
	if recover_one "$n" "the switch was killed"; then rm -f -- "$state/$n.outcome"; fi
	# Only this switch's copy of what it replaces is ever gone back to, not
	# one an older version of push left behind.
	rm -f -- "$old.service" "$old.env"
	bad=
	if [ -f "$next.service" ]; then
		new=$next.service
	else
		new=$unit
	fi
	was=$(ref "$unit")
	to=$(ref "$new")
	# What runs is only stopped once what replaces it is here.
	if systemctl is-active --quiet -- "$n.service" && ! present "$n" "$new"; then
		rm -f -- "$next.service" "$next.env"
		outcome "$n" failed - "$n still runs $was, untouched: $bad"
		return
	fi
	if [ -f "$next.service" ]; then
		if [ -f "$unit" ]; then
			put "$unit" "$old.service"
			if [ -f "$env" ]; then put "$env" "$old.env"; fi
		fi
		printf '%s\n' "$to" >"$state/$n.switching"
		if [ -f "$next.env" ]; then mv -f -- "$next.env" "$env"; fi
		mv -f -- "$next.service" "$unit"
		systemctl daemon-reload
		systemctl enable --quiet -- "$n.service"
	fi
	if bring_up "$n"; then
		# The marker first: with it gone, nothing puts the replaced one back.
		rm -f -- "$state/$n.switching"
		if [ -f "$old.service" ]; then
			mv -f -- "$old.service" "$state/$n.prev.service"
			if [ -f "$old.env" ]; then mv -f -- "$old.env" "$state/$n.prev.env"; else rm -f -- "$state/$n.prev.env"; fi
		fi
		event=-
		case $kind in upgraded | rolled-back) if [ "$was" != "$to" ]; then event="$kind $n $was -> $to"; fi ;; esac
		id=$(docker container inspect -f '{{.Id}}' "$n" 2>/dev/null || true)
		health=
		if [ -f "$report_dir/$n.health" ]; then health=", $(cat -- "$report_dir/$n.health")"; fi
		outcome "$n" up "$event" "recreated $n (container $(printf '%.12s' "$id")$health)"
		return
	fi
	why=$bad
	if [ ! -f "$old.service" ]; then
		rm -f -- "$state/$n.switching"
		outcome "$n" failed - "$n ($to) did not come up, and no earlier deployment is kept to go back to.
$why"
		return
	fi
	back=$(ref "$old.service")
	restore "$n"
	rm -f -- "$state/$n.switching" "$old.service" "$old.env"
	systemctl daemon-reload
	if bring_up "$n"; then
		outcome "$n" reverted "reverted $n $to -> $back" "$n ($to) did not come up, so it went back to $back, which is up again.
$why"
	else
		outcome "$n" reverted "reverted $n $to -> $back" "$n ($to) did not come up, and going back to $back failed too.
$why
$back: $bad"
	fi
}

case ${1:-} in
switch)
	[ $# = 3 ] || { echo "usage: $0 switch INSTANCE KIND" >&2; exit 2; }
	switch "$2" "$3"
	;;
recover)
	shift
	recover "$@"
	;;
killed)
	[ $# = 2 ] || { echo "usage: $0 killed INSTANCE" >&2; exit 2; }
	killed "$2"
	;;
*)
	echo "usage: $0 switch INSTANCE KIND | recover [INSTANCE...] | killed INSTANCE" >&2
	exit 2
	;;
esac
