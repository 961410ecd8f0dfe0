# push_run ID CMD...: run one step in a subshell with its output in files,
# then print its report. Sets push_rc, push_changed and push_defers (" KEY
# KEY ... ") for the caller.
push_run() {
    push_id=$1; shift
    push_d="$PUSH_T/$push_id"
    # Made beforehand by one `mkdir` for all steps (header, script.rs): on a
    # fleet, every exec per step is a millisecond of CPU per host.
    : >"$push_d/status"
    (
        PUSH_S="$push_d/status"; PUSH_D="$push_d/diff"
        export PUSH_S PUSH_D PUSH_DIFF
        set -e
        cd /
        "$@"
    ) >"$push_d/out" 2>"$push_d/err" </dev/null
    push_rc=$?
    # Shell builtins only, but for base64 of files that are not empty.
    push_changed=0
    push_defers=' '
    while IFS= read -r push_l || [ -n "$push_l" ]; do
        case $push_l in
        changed*) push_changed=1 ;;
        "defer "*) push_defers="$push_defers${push_l#defer } " ;;
        esac
    done <"$push_d/status"
    printf '%s %s %s\n' "$PUSH_NONCE" "$push_id" "$push_rc"
    for push_f in "$push_d/out" "$push_d/err" "$push_d/status" "$push_d/diff/before" "$push_d/diff/after"; do
        if [ -s "$push_f" ]; then base64 -w0 <"$push_f"; echo; elif [ -f "$push_f" ]; then echo; else echo -; fi
    done
}

# push_as USER FILE: run a step file as USER (root by default) via sudo,
# or directly when we already are that user. Only a non-root USER needs to
# write the step's status and diff files; the step file itself is read by
# this shell and handed over on stdin.
push_as() {
    if [ "$(id -un)" = "$1" ]; then
        sh "$2"
    else
        if [ "$1" != root ]; then
            chmod 0711 "$PUSH_T" && chmod 0777 "$PUSH_T/$push_id" "$PUSH_D" && chmod 0666 "$PUSH_S"
        fi
        sudo -n -u "$1" -- env PUSH_S="$PUSH_S" PUSH_D="$PUSH_D" PUSH_DIFF="$PUSH_DIFF" sh -s <"$2"
    fi
}

# push_lock PATH HOLDER WAIT BREAK_STALE: take the host's deploy lock, a
# folder (by default under /run/lock, gone at reboot) holding who took it
# and the pid of the apply shell. Waits up to WAIT seconds for another run;
# a lock whose pid is dead is stale and is only broken when BREAK_STALE is 1.
push_lock() {
    push_lock_dir=$1
    shift
    push_waited=0
    while ! mkdir "$push_lock_dir" 2>/dev/null; do
        push_holder=$(cat "$push_lock_dir/holder" 2>/dev/null || echo unknown)
        push_pid=$(cat "$push_lock_dir/pid" 2>/dev/null || echo)
        if [ -n "$push_pid" ] && ! kill -0 "$push_pid" 2>/dev/null; then
            if [ "$3" = 1 ]; then
                rm -rf "$push_lock_dir"
                continue
            fi
            echo "stale deploy lock: held by $push_holder, whose process $push_pid is gone; rerun with --break-stale-lock" >&2
            exit 75
        fi
        if [ "$push_waited" -ge "$2" ]; then
            echo "host is locked by another run: $push_holder (waited ${push_waited}s)" >&2
            exit 75
        fi
        sleep 1
        push_waited=$((push_waited + 1))
    done
    printf '%s since %s\n' "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$push_lock_dir/holder"
    echo "$$" >"$push_lock_dir/pid"
    echo "$push_lock_dir" >"$PUSH_T/lock.path"
}
