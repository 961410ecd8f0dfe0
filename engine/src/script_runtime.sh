# push_run ID CMD...: run one step in a subshell and print its report in
# the framing script.rs describes. Sets push_rc, push_changed and
# push_defers (" KEY KEY ... ") for the caller (in an apply).
push_run() {
    push_id=$1; shift
    printf '\n%s + %s\n' "$PUSH_NONCE" "$push_id"
    printf '\n%s + %s\n' "$PUSH_NONCE" "$push_id" >&2
    if [ -z "$PUSH_T" ]; then
        # A probe without a folder: output streams out as it comes, status
        # lines too (push_status writes them to fd 7). No file is made and
        # no process started: on a fleet, each is CPU on every host.
        ( push_step '' '' "$@" ) 7>&1 </dev/null
        push_rc=$?
    else
        # Output into files: a process a step leaves running (a daemon it
        # starts) must not hold the connection open. The folders were made
        # by one `mkdir` for all steps (header, script.rs).
        push_d="$PUSH_T/$push_id"
        : >"$push_d/status"
        ( push_step "$push_d/status" "$push_d/diff" "$@" ) >"$push_d/out" 2>"$push_d/err" </dev/null
        push_rc=$?
        # A failed step's messages are lost when its files cannot take them
        # (the working folder's filesystem filled up): say so instead.
        if [ "$push_rc" != 0 ] && ! printf x 2>/dev/null >"$push_d/space"; then
            push_write_failed "$push_d/space" "the step's output into the run's working folder $PUSH_T"
        fi
        # Read back without following symlinks: under a become_user the
        # step's folder is that user's, who could put links there to files
        # only this shell may read.
        if [ -s "$push_d/out" ]; then push_cat_nofollow "$push_d/out"; fi
        if [ -s "$push_d/err" ]; then push_cat_nofollow "$push_d/err" >&2; fi
        push_changed=0
        push_defers=' '
        while IFS= read -r push_l || [ -n "$push_l" ]; do
            case $push_l in
            changed*) push_changed=1 ;;
            "defer "*) push_defers="$push_defers${push_l#defer } " ;;
            esac
            printf '\n%s s %s\n' "$PUSH_NONCE" "$push_l"
        done <"$push_d/status"
        if [ -f "$push_d/diff/before" ]; then printf '\n%s b\n' "$PUSH_NONCE"; push_cat_nofollow "$push_d/diff/before"; fi
        if [ -f "$push_d/diff/after" ]; then printf '\n%s a\n' "$PUSH_NONCE"; push_cat_nofollow "$push_d/diff/after"; fi
    fi
    printf '\n%s = %s\n' "$PUSH_NONCE" "$push_rc"
    printf '\n%s = %s\n' "$PUSH_NONCE" "$push_rc" >&2
}

# push_step STATUS_FILE DIFF_FOLDER CMD...: a step's own shell (a subshell
# of push_run), set up as the snippet contract says (modules/src/lib.rs).
push_step() {
    PUSH_S=$1; PUSH_D=$2
    export PUSH_S PUSH_D PUSH_DIFF
    shift 2
    set -e
    cd /
    "$@"
}

# The last line of the report: everything before it arrived.
push_end() { printf '\n%s end\n' "$PUSH_NONCE"; }

# push_sudo USER FILE [FLAG...]: run a step file as USER (root by default)
# via sudo with the user's become_flags, or directly when we already are
# that user. The step file itself is read by this shell and handed over on
# stdin; its output goes to files this shell opened.
push_sudo() {
    push_as_user=$1 push_as_file=$2
    shift 2
    if [ "$(id -un)" = "$push_as_user" ]; then
        sh "$push_as_file"
        return
    fi
    if [ "$push_as_user" != root ]; then push_share_step "$push_as_user" || return; fi
    if [ -n "${PUSH_BECOME_PW+set}" ]; then
        push_sudo_checked || return
        { printf '%s\n:push-step:\n' "$PUSH_BECOME_PW" && cat "$push_as_file"; } |
            sudo -S -p '' "$@" -u "$push_as_user" -- env PUSH_S="$PUSH_S" PUSH_D="$PUSH_D" PUSH_DIFF="$PUSH_DIFF" \
                sh -c 'while IFS= read -r l && [ "$l" != :push-step: ]; do :; done; exec sh -s'
    else
        sudo -n "$@" -u "$push_as_user" -- env PUSH_S="$PUSH_S" PUSH_D="$PUSH_D" PUSH_DIFF="$PUSH_DIFF" sh -s <"$push_as_file"
    fi
}

# push_su USER FILE [FLAG...]: run a step file as USER through su with the
# user's become_flags (`su FLAGS -c CMD -- USER`, in USER's login shell
# unless -s names another). su reads the password from its stdin, which is
# not a terminal: the password goes there alone (printf is a builtin:
# never in argv or the environment). The step's variables and the step
# file go on fd 5, so nothing of the step is ever taken for a password and
# the password never reaches the step; the step's stderr goes on fd 6,
# su's own (its prompt) to a file, shown only when su fails. The variables
# travel as lines: `su -l` empties the environment.
push_su() {
    push_as_user=$1 push_as_file=$2
    shift 2
    if [ "$(id -un)" = "$push_as_user" ]; then
        sh "$push_as_file"
        return
    fi
    if [ "$push_as_user" != root ]; then push_share_step "$push_as_user" || return; fi
    push_su_checked "$push_as_user" "$@" || return
    push_su_rc=0
    {
        {
            printf '%s\n%s\n%s\n%s\n' "$PUSH_S" "$PUSH_D" "$PUSH_DIFF" "${LC_ALL+x}${LC_ALL-}" && cat "$push_as_file"
        } | {
            push_su_password | LC_ALL=C su "$@" -c "$PUSH_SU_STEP" -- "$push_as_user" 5<&7 7<&- 2>"$PUSH_T/$push_id.su" ||
                push_su_rc=$?
            push_su_said "$push_su_rc" "$PUSH_T/$push_id.su"
            exit "$push_su_rc"
        } 7<&0
    } 6>&2
}

# What su runs: the step's shell takes its stdin from fd 5 and its stderr
# from fd 6, reads the step's variables, puts back the login's LC_ALL (su
# ran under LC_ALL=C for its own words), and runs the step file.
PUSH_SU_STEP='exec 0<&5 5<&- 2>&6 6>&-; IFS= read -r PUSH_S; IFS= read -r PUSH_D; IFS= read -r PUSH_DIFF; IFS= read -r push_lc; export PUSH_S PUSH_D PUSH_DIFF; case $push_lc in x*) LC_ALL=${push_lc#x}; export LC_ALL ;; *) unset LC_ALL ;; esac; exec sh -s'

# push_su_password: the become password as su reads it, or nothing (su,
# reading no password, fails unless the login is root).
push_su_password() {
    if [ -n "${PUSH_BECOME_PW+set}" ]; then printf '%s\n' "$PUSH_BECOME_PW"; fi
}

# push_su_said RC FILE: when su failed, what it said (without its prompt).
push_su_said() {
    if [ "$1" != 0 ] && [ -s "$2" ]; then
        push_su_e=$(cat "$2")
        push_su_e=${push_su_e#Password: }
        if [ -n "$push_su_e" ]; then printf '%s\n' "$push_su_e" >&2; fi
    fi
}

# push_su_checked USER [FLAG...]: does su take the become password for
# USER? Checked alone, once per script and user, so a wrong one fails with
# a clear message before any step runs through su. A root login needs no
# password.
push_su_checked() {
    if [ "$(id -u)" = 0 ] || [ -e "$PUSH_T/su-ok.$1" ]; then return 0; fi
    push_su_user=$1
    shift
    if push_su_e=$(push_su_password | LC_ALL=C su "$@" -c true -- "$push_su_user" 2>&1); then
        : >"$PUSH_T/su-ok.$push_su_user" 2>/dev/null || :
        return 0
    fi
    push_su_e=${push_su_e#Password: }
    case $push_su_e in
    *"Authentication failure"*)
        if [ -n "${PUSH_BECOME_PW+set}" ]; then
            echo "su on this host refused the become password for $push_su_user: incorrect password" >&2
        else
            echo "su: a password is required to become $push_su_user" >&2
        fi
        ;;
    *) printf '%s\n' "$push_su_e" >&2 ;;
    esac
    return 1
}

# push_sudo_checked: does sudo take the become password? It reaches sudo on
# its stdin only (printf is a builtin: never in argv or the environment),
# alone, so a wrong one fails here with a clear message instead of sudo
# trying the step's lines as further passwords. push_sudo then sends it
# again ahead of the step and a marker line: the step's shell skips to the
# marker, so a password sudo did not read (NOPASSWD, a fresh timestamp) is
# never run as a command.
push_sudo_checked() {
    if push_sudo_e=$(printf '%s\n' "$PUSH_BECOME_PW" | LC_ALL=C sudo -S -p '' -v 2>&1); then return 0; fi
    case $push_sudo_e in
    *"incorrect password"* | *"try again"*)
        echo "sudo on this host refused the become password of $(id -un): incorrect password" >&2
        ;;
    *) printf '%s\n' "$push_sudo_e" >&2 ;;
    esac
    return 1
}

# push_share_step USER: a non-root USER writes the running step's status
# file and diff folder. They stay private to USER and the login user: the
# step's output and status are no one else's to read or forge. A root login
# gives USER the step's folder (mode 0700); another login adds USER to the
# folder's ACL, without which it cannot hand the folder over.
push_share_step() {
    if [ "$(id -u)" = 0 ]; then
        chmod 0711 "$PUSH_T" && chown -- "$1" "$PUSH_T/$push_id" "$PUSH_D" "$PUSH_S"
    elif command -v setfacl >/dev/null 2>&1; then
        setfacl -m "u:$1:x" -- "$PUSH_T" && setfacl -m "u:$1:rwx" -- "$PUSH_T/$push_id" "$PUSH_D" &&
            setfacl -m "u:$1:rw" -- "$PUSH_S"
    else
        echo "become_user $1 needs a root login or setfacl on the host (Debian: apt-get install acl) to keep the step's files private" >&2
        return 1
    fi
}

# push_lock PATH HOLDER WAIT BREAK_STALE: take the host's deploy lock, a
# folder holding who took it and the pid of the apply shell. Waits up to
# WAIT seconds for another run, saying so as it waits (fd 8, the session's
# stderr; script.rs reads it as LockWaits); a lock whose pid is dead is stale and is
# only broken when BREAK_STALE is 1. Whoever can write the folder the
# lock is in can take it, or plant a lock that blocks every deploy: the
# default (empty PATH) is a folder of the login user's own, and any
# folder owned by someone else, or writable by group or others, is refused.
push_lock() {
    if [ -n "$1" ]; then push_lock_dir=$1; else push_lock_dir=$(push_lock_default) || exit 75; fi
    case $push_lock_dir in
    */*) push_lock_in=${push_lock_dir%/*} ;;
    *) push_lock_in=. ;;
    esac
    push_lock_trusted "${push_lock_in:-/}" || exit 75
    shift
    # Where the lock is, for the EXIT trap that releases it: written before
    # the lock is taken, so that a lock taken can always be released.
    push_write_line "$PUSH_T/lock.path" "$push_lock_dir" || exit 75
    push_waited=0
    while ! push_lock_e=$(LC_ALL=C mkdir -- "$push_lock_dir" 2>&1); do
        # Another run's lock, or a folder that cannot be made (a full
        # filesystem): only the first is waited for.
        case $push_lock_e in
        *"File exists"*) ;;
        *)
            printf 'cannot take the deploy lock: %s\n' "$push_lock_e" >&2
            exit 75
            ;;
        esac
        push_holder=$(head -c 200 "$push_lock_dir/holder" 2>/dev/null | head -n 1)
        push_pid=$(cat "$push_lock_dir/pid" 2>/dev/null || echo)
        if [ -n "$push_pid" ] && ! kill -0 "$push_pid" 2>/dev/null; then
            if [ "$3" = 1 ]; then
                rm -rf "$push_lock_dir"
                continue
            fi
            echo "stale deploy lock $push_lock_dir: held by ${push_holder:-unknown}, whose process $push_pid is gone; rerun with --break-stale-lock" >&2
            exit 75
        fi
        if [ "$push_waited" -ge "$2" ]; then
            echo "host is locked by another run: ${push_holder:-unknown} (waited ${push_waited}s for $push_lock_dir)" >&2
            exit 75
        fi
        # Said on the session's stderr (fd 8) while waiting, not at the end
        # with the step's output: at once, then every 5 s.
        if [ $((push_waited % 5)) = 0 ]; then
            { printf '\n%s w %s %s\n' "$PUSH_NONCE" "$(($2 - push_waited))" "${push_holder:-unknown}" >&8; } 2>/dev/null || :
        fi
        sleep 1
        push_waited=$((push_waited + 1))
    done
    if [ "$push_waited" -gt 0 ]; then
        { printf '\n%s w taken\n' "$PUSH_NONCE" >&8; } 2>/dev/null || :
    fi
    if ! push_write_line "$push_lock_dir/holder" "$1 since $(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        || ! push_write_line "$push_lock_dir/pid" "$$"; then
        # Ours, and unusable: a lock without its holder would look stale.
        rm -rf -- "$push_lock_dir"
        exit 75
    fi
}

# push_write_line FILE TEXT: TEXT and a newline into FILE, or say why not
# (a full filesystem) naming FILE, and fail.
push_write_line() {
    printf '%s\n' "$2" 2>/dev/null >"$1" || push_write_failed "$1" "$1"
}

# Can the run's working folder take data? Checked before the first step:
# a full filesystem there would swallow every step's messages.
push_check_workdir() {
    printf x 2>/dev/null >"$PUSH_T/space" || push_write_failed "$PUSH_T/space" "the run's working folder $PUSH_T"
}

# The default lock, in a folder only the login user can write, made 0700:
# /run/push for root (a tmpfs: no lock outlives a reboot), else the user's
# runtime folder (also a tmpfs), else ~/.cache/push.
push_lock_default() {
    if [ "$(id -u)" = 0 ]; then
        push_lock_in=/run/push
    elif [ -n "${XDG_RUNTIME_DIR:-}" ] && [ -d "$XDG_RUNTIME_DIR" ]; then
        push_lock_in=$XDG_RUNTIME_DIR/push
    else
        push_lock_in=$HOME/.cache/push
    fi
    mkdir -p -m 0700 -- "$push_lock_in" && echo "$push_lock_in/push.lock"
}

# push_lock_trusted FOLDER: does FOLDER belong to the login user or root,
# and can no one else write it?
push_lock_trusted() {
    push_lock_st=$(stat -L -c '%u %a' -- "$1" 2>/dev/null) || {
        echo "deploy lock folder $1 does not exist (push_lock_path)" >&2
        return 1
    }
    push_lock_owner=${push_lock_st% *}
    push_lock_mode=${push_lock_st#* }
    if [ "$push_lock_owner" != 0 ] && [ "$push_lock_owner" != "$(id -u)" ]; then
        echo "deploy lock folder $1 belongs to uid $push_lock_owner, not to $(id -un) or root: a lock there is not to be trusted; set push_lock_path to a folder of $(id -un)'s" >&2
        return 1
    fi
    if [ $((0$push_lock_mode & 022)) != 0 ]; then
        echo "deploy lock folder $1 is writable by others (mode $push_lock_mode): anyone could take or plant the lock; set push_lock_path to a folder only $(id -un) can write" >&2
        return 1
    fi
}
