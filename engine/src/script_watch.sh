# The host ends its side of a run when the controller is gone. sshd alone
# would not: after a silent network cut it keeps the session (and this
# shell, and a step's processes) until TCP keepalive, about two hours, and
# ClientAlive settings are the host's, not ours. The transport feeds the
# script on stdin, then keeps stdin open and sends a newline every few
# seconds until the script exits (transport/ssh.rs): end of file there
# means the connection closed, silence means it was cut.
#
# push_watch LIMIT (a process of its own, from the first line): ends the
# run when nothing came from the controller for LIMIT seconds. While the
# script itself arrives, what counts is that this shell reads it (its rchar
# in /proc); once it runs, the heartbeats push_beats passes on as SIGUSR1.
# In a session (session.sh) both count: the session's shell reads the
# heartbeats itself between chunks, push_beats while a chunk runs.
push_watch() {
    trap 'push_w_beat=1' USR1
    trap 'kill "$push_w_sleep" 2>/dev/null; exit 0' TERM
    push_w_every=$(($1 / 3)); [ "$push_w_every" -gt 0 ] || push_w_every=1
    push_w_read=; push_w_still=0; push_w_beat=; push_w_beats=
    while [ "$push_w_still" -lt 3 ]; do
        sleep "$push_w_every" & push_w_sleep=$!
        # wait returns early for each heartbeat (a trapped signal).
        while kill -0 "$push_w_sleep" 2>/dev/null; do wait "$push_w_sleep"; done
        # The script's shell is gone without its EXIT trap (killed, or its
        # text cut off on the way): nothing left to watch.
        kill -0 "$$" 2>/dev/null || exit 0
        if [ -n "$push_w_beat" ]; then
            push_w_beats=1; push_w_beat=; push_w_still=0
        elif ! read -r push_w_now <"/proc/$$/io" 2>/dev/null; then
            # Where /proc/PID/io cannot be read, the arrival is not watched.
            if [ -n "$push_w_beats" ]; then push_w_still=$((push_w_still + 1)); fi
        elif [ "$push_w_now" != "$push_w_read" ]; then
            # The shell read something: a script arriving, or in a session
            # (session.sh) the heartbeats it reads between chunks.
            push_w_read=$push_w_now; push_w_still=0
        else
            push_w_still=$((push_w_still + 1))
        fi
    done
    push_gone
}

# push_beats WATCHER (a process of its own once the script runs, stdin the
# session's): passes each heartbeat on to the watcher; end of file is the
# controller gone.
push_beats() {
    while IFS= read -r push_b; do
        if [ -n "$1" ]; then kill -USR1 "$1" 2>/dev/null; fi
    done
    push_gone
}

# The controller is gone: end the session's process group (the script and
# the step it runs; not what made a session or group of its own: setsid,
# systemd-run, containers). The script leaves through its traps once the
# step has ended, releasing the deploy lock; a script stuck writing to a
# dead connection is killed after a grace time.
push_gone() {
    trap '' TERM
    read -r push_g_stat </proc/self/stat || exit 0
    # "PID (sh) STATE PPID PGRP ...": the process group of this session, and
    # the shell this process serves (the script's, or in a session the
    # chunk's, which may outlive a killed session shell).
    set -- $push_g_stat
    kill -TERM "-$5" 2>/dev/null
    push_g_wait=0
    while [ "$push_g_wait" -lt 10 ] && { kill -0 "$$" || kill -0 "$4"; } 2>/dev/null; do
        sleep 1
        push_g_wait=$((push_g_wait + 1))
    done
    kill -KILL "-$5" 2>/dev/null
    exit 0
}

# Stop watching: the script is ending on its own (the EXIT trap).
push_unwatch() {
    kill "$PUSH_W" "$PUSH_B" 2>/dev/null
}

PUSH_W=
PUSH_B=
if [ "${PUSH_SILENCE:-0}" -gt 0 ]; then
    # exec, not redirections on the call: those would keep copies of
    # sshd's pipes open in the watcher, and sshd waits for them to close.
    { exec >/dev/null 2>&1; push_watch "$PUSH_SILENCE"; } &
    PUSH_W=$!
fi
