#!/bin/sh
# Installed by push (docker_unit) as /usr/local/lib/push/docker-unit-prestart.
# Runs as ExecStartPre= of each container unit, right before `docker run`:
#
#   docker-unit-prestart INSTANCE BASE IMAGE NETWORK VOLUMES_FILE [VOLUME:PATH | PATH]...
#
# - waits until no container named INSTANCE is left (the unit's
#   `docker rm -f` ran just before; a `--rm` removal may still be going on);
# - pulls IMAGE if the host does not have it;
# - creates NETWORK unless it is one of Docker's own;
# - creates the volumes the unit mounts (VOLUME:PATH arguments) with labels,
#   so `purge_volumes` can find them later; a bare PATH is a container path
#   the unit mounts something else on;
# - gives every VOLUME the image declares and the unit does not mount its
#   own named volume INSTANCE-<path with / as ->, and writes the `-v`
#   arguments for them to VOLUMES_FILE as VOLUME_ARGS=..., which the unit
#   reads (EnvironmentFile=) and ExecStart expands ($VOLUME_ARGS). Without
#   this, Docker would make anonymous volumes that `--rm` deletes with the
#   container: the data would not survive a restart.
set -eu

if [ $# -lt 5 ]; then
	echo "usage: $0 INSTANCE BASE IMAGE NETWORK VOLUMES_FILE [VOLUME:PATH | PATH]..." >&2
	exit 2
fi
instance=$1 base=$2 image=$3 network=$4 volumes_file=$5
shift 5

slug() { printf '%s' "$1" | sed 's|//*|/|g; s|^/||; s|/$||; s|[^A-Za-z0-9_.-]|-|g'; }
# /a//b/ -> /a/b, as the unit's paths are written.
normal() { printf '/%s\n' "$(printf '%s' "$1" | sed 's|//*|/|g; s|^/||; s|/$||')"; }
nl='
'

tries=0
while docker container inspect "$instance" >/dev/null 2>&1; do
	docker rm -f "$instance" >/dev/null 2>&1 || true
	tries=$((tries + 1))
	if [ "$tries" -ge 50 ]; then
		echo "container $instance is still there after 10 s of docker rm -f" >&2
		exit 1
	fi
	sleep 0.2
done

if ! docker image inspect "$image" >/dev/null 2>&1; then
	docker pull -q "$image" >/dev/null
fi

case $network in
host | none | bridge | default | container:*) ;;
*)
	if ! docker network inspect "$network" >/dev/null 2>&1; then
		# Two units starting at once may both try: the loser finds it made.
		docker network create --label push.docker_unit=network "$network" >/dev/null 2>&1 ||
			docker network inspect "$network" >/dev/null
	fi
	;;
esac

create_volume() {
	docker volume create --label "push.docker_unit=$base" --label "push.docker_unit.instance=$instance" "$1" >/dev/null
}

covered=
for arg; do
	case $arg in
	*:*)
		create_volume "${arg%%:*}"
		covered="$covered$(normal "${arg#*:}")$nl"
		;;
	*) covered="$covered$(normal "$arg")$nl" ;;
	esac
done

args=
names=
declared=$(docker image inspect -f '{{range $p, $v := .Config.Volumes}}{{println $p}}{{end}}' "$image")
IFS=$nl
for path in $declared; do
	IFS=' '
	if printf '%s' "$covered" | grep -qxF -- "$(normal "$path")"; then continue; fi
	s=$(slug "$path")
	[ -n "$s" ] || s=root
	case $path in
	*[!A-Za-z0-9_./@+,=-]*)
		echo "image $image declares VOLUME '$path': push can only pass paths of letters, digits and _./@+,=-" >&2
		exit 1
		;;
	esac
	volume="$instance-$s"
	case " $names " in *" $volume "*)
		echo "two VOLUMEs of image $image would share volume $volume" >&2
		exit 1
		;;
	esac
	names="$names $volume"
	create_volume "$volume"
	args="$args -v $volume:$path"
done

mkdir -p "${volumes_file%/*}"
tmp=$(mktemp "$volumes_file.XXXXXX")
printf 'VOLUME_ARGS="%s"\n' "${args# }" >"$tmp"
mv -f "$tmp" "$volumes_file"
