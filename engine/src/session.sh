# The host side of a session: one shell per host for the whole run. The
# controller sends `PUSH_SILENCE=N`, this file, then one chunk at a time
# (a probe, an apply: script.rs, Script::session_text) and waits for the
# chunk's end marker before it sends the next. Between chunks this shell
# reads the controller's heartbeats (empty lines); while a chunk runs, the
# chunk's push_beats reads them. End of file on stdin ends the session.
#
# A chunk runs in a subshell: its `exit` and its traps (the deploy lock's
# release, its temporary folder) end only the chunk. Its steps read
# /dev/null, never this shell's stdin, and an apply's steps write into
# files, so a daemon a step starts holds neither the session's input nor
# its output.

# push_unwatch (a chunk's EXIT trap): stop the chunk's heartbeat reader and
# wait until it is gone, so that it reads none of the next chunk. The
# session's watcher stays. KILL: a reader that found the controller gone
# ignores TERM (push_gone) while it waits for this chunk to end; and a
# heartbeat is one byte, so no kill leaves half of one unread.
push_unwatch() {
    if [ -n "$PUSH_B" ]; then
        kill -KILL "$PUSH_B" 2>/dev/null
        wait "$PUSH_B" 2>/dev/null
    fi
}

# push_chunk_done NONCE STATUS: the chunk's end, on both streams; nothing
# of it comes after this.
push_chunk_done() {
    printf '\n%s done %s\n' "$1" "$2"
    printf '\n%s done %s\n' "$1" "$2" >&2
}

# push_beats WATCHER, as in script_watch.sh, and also: the session's shell
# killed (the OOM killer, an admin) ends the chunk it was running, which
# would otherwise run on, orphaned.
push_beats() {
    while IFS= read -r push_b; do
        kill -0 "$PUSH_SESSION" 2>/dev/null || break
        if [ -n "$1" ]; then kill -USR1 "$1" 2>/dev/null; fi
    done
    push_gone
}

PUSH_SESSION=$$
# A signal ends the session once the running chunk has left through its
# traps (its lock released, its folder removed).
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM
trap 'kill "$PUSH_W" 2>/dev/null' EXIT
