#!/bin/sh
# Installed by push (docker_unit) as /usr/local/lib/push/docker-unit-health.
# Runs as ExecStartPost= of a container unit that has `health:`, so systemd
# calls the unit active only once this exits 0:
#
#   docker-unit-health INSTANCE START_PERIOD INTERVAL TIMEOUT RETRIES CHECK [ARG...]
#
#   CHECK: tcp PORT | http PORT PATH STATUS | cmd WORD... | image
#
# Times are seconds (decimals allowed). A check is tried every INTERVAL,
# each try limited to TIMEOUT; failures during START_PERIOD do not count;
# RETRIES counted failures make the container unhealthy. tcp and http
# connect to 127.0.0.1 inside the container's network namespace (bash's
# /dev/tcp, so nothing is needed in the image); cmd runs in the container;
# image waits for Docker's verdict on the image's own HEALTHCHECK.
#
# The outcome goes to /run/push/docker/INSTANCE.health (and the journal):
# "healthy after N checks (S s)" or the failure, the last check's output
# and the container's last log lines, for push to report.
set -u

if [ $# -lt 6 ]; then
	echo "usage: $0 INSTANCE START_PERIOD INTERVAL TIMEOUT RETRIES CHECK [ARG...]" >&2
	exit 2
fi
name=$1 start_period=$2 interval=$3 timeout=$4 retries=$5 kind=$6
shift 6
report_dir=/run/push/docker
mkdir -p "$report_dir"
report=$report_dir/$name.health

now_ms() { date +%s%3N; }
ms() { awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }'; }
t0=$(now_ms)
start_ms=$(ms "$start_period")

write_report() {
	tmp=$(mktemp "$report.XXXXXX")
	cat >"$tmp"
	mv -f "$tmp" "$report"
}

# One try. Prints what it saw; returns 0 healthy, 1 not (yet), 3 unhealthy
# for good, 4 the container is not running.
check() {
	pid=$(docker container inspect -f '{{.State.Pid}}' "$name" 2>/dev/null) || pid=0
	if [ "${pid:-0}" = 0 ]; then
		echo "the container is not running"
		return 1
	fi
	case $kind in
	tcp)
		timeout "$timeout" nsenter -t "$pid" -n bash -c '{ exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null' tcp "$1" ||
			{ echo "no connection to port $1"; return 1; }
		;;
	http)
		line=$(timeout "$timeout" nsenter -t "$pid" -n bash -c '
			{ exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || { echo "connection refused"; exit 1; }
			printf "GET %s HTTP/1.0\r\nHost: localhost\r\nUser-Agent: push-health\r\n\r\n" "$2" >&3
			IFS= read -r status <&3 && printf "%s\n" "$status"' http "$1" "$2" 2>&1) ||
			{ printf 'GET http://127.0.0.1:%s%s: %s\n' "$1" "$2" "${line:-no answer within $timeout s}"; return 1; }
		line=$(printf '%s' "$line" | tr -d '\r')
		code=$(printf '%s\n' "$line" | awk '{ print $2 }')
		if [ "$code" != "$3" ]; then
			printf 'GET http://127.0.0.1:%s%s: %s (wanted %s)\n' "$1" "$2" "$line" "$3"
			return 1
		fi
		;;
	cmd)
		timeout "$timeout" docker exec "$name" "$@" 2>&1 || { echo "(exit $?)"; return 1; }
		;;
	image)
		status=$(docker container inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$name" 2>&1)
		case $status in
		healthy) ;;
		unhealthy)
			docker container inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$name" 2>&1 | tail -n 5
			return 3
			;;
		none)
			echo "the image declares no HEALTHCHECK"
			return 3
			;;
		*)
			echo "docker says: $status"
			return 1
			;;
		esac
		;;
	*)
		echo "unknown check $kind"
		return 3
		;;
	esac
}

tries=0 counted=0
while :; do
	tries=$((tries + 1))
	out=$(check "$@")
	rc=$?
	elapsed=$(($(now_ms) - t0))
	secs=$(awk -v m="$elapsed" 'BEGIN { printf "%.1f", m / 1000 }')
	if [ $rc = 0 ]; then
		echo "healthy after $tries checks ($secs s)" | write_report
		exit 0
	fi
	if [ "$elapsed" -ge "$start_ms" ] || [ $rc = 3 ]; then counted=$((counted + 1)); fi
	if [ $rc = 3 ] || [ "$counted" -ge "$retries" ]; then
		{
			echo "health check ($kind $*) failed after $tries checks ($secs s): $out"
			echo "last log lines of $name:"
			docker logs --tail 20 "$name" 2>&1 || journalctl -u "$name.service" -n 20 --no-pager -o cat
		} | write_report
		cat "$report" >&2
		exit 1
	fi
	sleep "$interval"
done
