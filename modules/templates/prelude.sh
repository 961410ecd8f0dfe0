# Helpers for module snippets. Each snippet runs in a subshell with
# PUSH_S (its status file; empty in a probe that streams, see push_status),
# PUSH_D (diff folder) and PUSH_DIFF (1 when a diff was asked for) set by
# the engine. Helpers may be called from `if` and `$(...)`, where `set -e`
# does not apply, so they check what they run.

# One status line for the engine: into the status file, or, when there is
# none (a probe streams its report), straight out on fd 7 in the report's
# framing (engine/src/script.rs).
push_status() {
	if [ -n "$PUSH_S" ]; then
		printf '%s\n' "$*" >>"$PUSH_S"
	else
		printf '\n%s s %s\n' "$PUSH_NONCE" "$*" >&7
	fi
}

# Report that this step changes (or, in the probe, would change) something.
push_changed() { push_status "changed $*"; }

# Ask for a deferred action of this op (run once per host after all tasks).
push_defer() { push_status "defer $1"; }

# Record what a rollout did to a container on this host, for the recap:
# `push_rollout upgraded|reverted|rolled-back "NAME FROM -> TO"`.
push_rollout() { push_status "rollout $*"; }

# Report that this step did nothing on purpose (e.g. `creates` exists).
push_skipped() { push_status "skipped $*"; }

# Report that this step has nothing to do and that what it printed is its
# result, probe or not (a command whose `creates` exists: ok, as in Ansible).
push_ok() { push_status "ok $*"; }

# Fail the step with a message.
push_fail() { printf '%s\n' "$*" >&2; exit 1; }

# A precondition is unmet that an earlier task of the same run may still
# meet (a missing folder, file, user...). The probe cannot know, so it
# reports a change and stops; the apply fails with MSG.
push_unmet() { # PHASE(probe|apply) MSG...
	if [ "$1" = apply ]; then shift; push_fail "$@"; fi
	shift
	push_changed "$* (unless an earlier task sees to it)"
	exit 0
}

# Keep a copy of FILE as the "before" side of a diff. Files over 1 MiB are
# left out: a diff of them would not be read anyway. So is a symlink: the
# apply replaces the link, not its target (which may be a file only root
# may read), so a diff of it is one of a new file.
push_diff_before() {
	if [ "$PUSH_DIFF" = 1 ] && [ -f "$1" ] && [ ! -L "$1" ] && [ "$(stat -c %s -- "$1")" -le 1048576 ]; then
		push_cat_nofollow "$1" >"$PUSH_D/before" || return
	fi
}

# Print FILE's content; nothing, and false, if FILE is a symlink (even one
# put there after a look: the open itself does not follow it). Blocks as
# large as cat's: a step's output may be large.
push_cat_nofollow() { dd if="$1" iflag=nofollow bs=128K status=none 2>/dev/null; }

# Keep FILE as the "after" side of a diff (when the controller cannot know it).
push_diff_after() {
	if [ "$PUSH_DIFF" = 1 ]; then cp -- "$1" "$PUSH_D/after" || return; fi
}

# Set push_m to the mode (as `stat -c %a` prints it) that `chmod MODE`
# gives a file (KIND f) or directory (KIND d) whose mode is now CUR. chmod
# itself works it out on a scratch copy, so symbolic modes and GNU's rules
# for directory setgid bits are judged exactly as they will be applied.
push_chmod_result() { # KIND CUR MODE
	# Fast path, no process started: a plain octal MODE on a file without
	# special bits is simply that mode (stat prints it without leading 0s).
	case $2 in ????*) ;; *)
		case $3 in [0-7][0-7][0-7]|0[0-7][0-7][0-7])
			push_m=${3#0}; while [ "${push_m#0}" != "$push_m" ] && [ ${#push_m} -gt 1 ]; do push_m=${push_m#0}; done
			return 0 ;;
		esac ;;
	esac
	if [ "$1" = d ]; then _pc=$(mktemp -d) || return; else _pc=$(mktemp) || return; fi
	push_m=$(chmod "$2" "$_pc" && chmod -- "$3" "$_pc" && stat -c %a "$_pc")
	_pr=$?
	rm -rf -- "$_pc"
	return "$_pr"
}

# Is ID (a user or group name, or a number) one of the words in NAMES?
push_id_in() { case " $2 " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# Set push_w to which of "mode owner group" of PATH differ from MODE, OWNER
# and GROUP (an empty one is not managed); empty when all match. A variable,
# not output: `$(...)` would cost a fork per call, and on a fleet every
# process a no-op run starts is CPU on every host.
push_attrs_diff() { # PATH MODE OWNER GROUP
	push_w=
	if [ -z "$2$3$4" ]; then return 0; fi
	push_stat "$1" || return
	if [ -n "$2" ]; then
		if [ -d "$1" ]; then _ak=d; else _ak=f; fi
		push_chmod_result "$_ak" "${push_s%% *}" "$2" || return
		[ "${push_s%% *}" = "$push_m" ] || push_w=mode
	fi
	_ao=${push_s#* }
	if [ -n "$3" ] && ! push_id_in "$3" "${_ao% * *}"; then push_w="$push_w owner"; fi
	if [ -n "$4" ] && ! push_id_in "$4" "${_ao#* * }"; then push_w="$push_w group"; fi
	push_w=${push_w# }
}

# Set push_s to "MODE USER UID GROUP GID" of PATH (symlinks followed), from
# the probe's prefetched table when it has PATH (see push_prefetched); the
# table holds a symlink's target instead ("-> TARGET"), so not for those.
push_stat() { # PATH
	if push_prefetched "$PUSH_STATS" "$1" && [ "${push_c#-> }" = "$push_c" ]; then push_s=$push_c; return 0; fi
	push_s=$(stat -L -c '%a %U %u %G %g' -- "$1")
}

# Set push_l to the target of symlink PATH; false if PATH is no symlink.
# From the probe's prefetched table when it has PATH.
push_readlink() { # PATH
	if push_prefetched "$PUSH_STATS" "$1"; then
		push_l=${push_c#-> }
		[ "$push_l" != "$push_c" ]
		return
	fi
	[ -L "$1" ] && push_l=$(readlink -- "$1")
}

# Set push_h to the SHA-256 of FILE's content (hex), from the probe's
# prefetched `sha256sum` lines ("HASH  PATH") when they have FILE.
push_sha256() { # FILE
	case "
$PUSH_HASHES
" in
	*"  $1
"*)
		push_h="
$PUSH_HASHES
"
		push_h=${push_h%%"  $1
"*}
		push_h=${push_h##*"
"}
		return 0
		;;
	esac
	push_h=$(sha256sum <"$1") || return
	push_h=${push_h%% *}
}

# Look KEY up in TABLE, lines of "KEY|VALUE", into push_c. The probe fills
# PUSH_STATS (and PUSH_HASHES) with one `find` (and one `sha256sum`) for
# every path its steps declared; the apply has no tables, it looks afresh.
push_prefetched() { # TABLE KEY
	case "
$1
" in
	*"
$2|"*)
		push_c="
$1"
		push_c=${push_c#*"
$2|"}
		push_c=${push_c%%"
"*}
		;;
	*) return 1 ;;
	esac
}

# push_attrs_diff for a whole tree (symlinks aside, as chmod -R skips them).
push_tree_attrs_diff() { # PATH MODE OWNER GROUP
	_ad=
	if [ -n "$2" ]; then
		# One chmod trial per distinct (type, mode) pair, not one per file.
		for _ap in $(find "$1" ! -type l -printf '%y:%m\n' | sort -u); do
			_am=${_ap#*:}
			push_chmod_result "${_ap%%:*}" "$_am" "$2" || return
			[ "$_am" = "$push_m" ] || { _ad=mode; break; }
		done
	fi
	# An unknown owner makes find fail: that is a difference too (the apply
	# will then fail on chown, with chown's message).
	if [ -n "$3" ] && [ -n "$(find "$1" ! -type l ! -user "$3" -print -quit 2>/dev/null || echo x)" ]; then
		_ad="$_ad owner"
	fi
	if [ -n "$4" ] && [ -n "$(find "$1" ! -type l ! -group "$4" -print -quit 2>/dev/null || echo x)" ]; then
		_ad="$_ad group"
	fi
	push_w=${_ad# }
}

# Give PATH the managed attributes. Owner first: chown clears setuid bits.
push_attrs_set() { # PATH MODE OWNER GROUP [-R]
	if [ -n "$3" ]; then chown $5 -- "$3" "$1" || return; fi
	if [ -n "$4" ]; then chgrp $5 -- "$4" "$1" || return; fi
	if [ -n "$2" ]; then chmod $5 -- "$2" "$1" || return; fi
}

# mkdir -p PATH, giving each folder it creates the managed attributes, as
# Ansible's file module does.
push_mkdirs() { # PATH MODE OWNER GROUP
	if [ -z "$1" ] || [ -d "$1" ]; then return 0; fi
	push_mkdirs "${1%/*}" "$2" "$3" "$4" || return
	mkdir -- "$1" || return
	push_attrs_set "$@"
}

# After a write to FILE failed: say why on stderr, as "cannot write WHAT:
# ERROR" with the system's words (a full filesystem: "No space left on
# device"; the shell's own printf only says "I/O error", head says what
# the system said), and fail.
push_write_failed() { # FILE WHAT
	_we=$(head -c 1 /dev/zero 2>&1 >"$1") && _we="write error"
	printf 'cannot write %s: %s\n' "$2" "${_we##*: }" >&2
	return 1
}

# Print the name of a new empty temp file in FILE's folder, so that moving
# it onto FILE is an atomic rename.
push_tmp_beside() { mktemp -- "${1%/*}/.push.XXXXXXXX"; }

# Keep a timestamped copy of FILE next to it (Ansible's `backup: yes`).
# The backup's name can be guessed (pid and second), so whoever can write
# the folder could plant a link there: the copy never opens that name. It
# goes to a new file of a random name, then is renamed, which replaces
# what is at the name instead of writing through it. --remove-destination
# makes cp create the file itself (O_EXCL), even if mktemp's file was
# swapped for a link in between; mv -T renames onto a planted link to a
# folder instead of moving the copy into that folder.
push_backup() {
	if [ -e "$1" ]; then
		_bk=$(push_tmp_beside "$1") || return
		cp -p --remove-destination -- "$1" "$_bk" && mv -fT -- "$_bk" "$1.$$.$(date +%Y-%m-%d@%H:%M:%S)~" || {
			rm -f -- "$_bk"
			return 1
		}
	fi
}

# Put temp file TMP in place of DEST atomically. TMP first takes DEST's
# attributes (or, for a new file, 0666 minus the umask, like any new file),
# then the managed ones, so DEST never exists with the wrong ones.
push_install() { # TMP DEST MODE OWNER GROUP
	if [ -e "$2" ]; then
		chown --reference="$2" -- "$1" && chmod --reference="$2" -- "$1" || return
	else
		# mktemp made TMP 0600; `=rw` without "who" leaves umask bits alone.
		chmod =rw -- "$1" || return
	fi
	push_attrs_set "$1" "$3" "$4" "$5" || return
	mv -f -- "$1" "$2"
}

# Does anything match the glob PATTERN (`creates`/`removes`, as Python's
# glob.glob does)? The pattern is expanded from a variable, which globs
# but never runs anything; with IFS empty, so a space is no separator.
# IFS is put back by hand rather than in a subshell: one fork less.
push_glob_exists() {
	_gr=1
	if [ -n "${IFS+set}" ]; then _gi=$IFS; else unset _gi; fi
	IFS=
	for _g in $1; do
		if [ -e "$_g" ] || [ -L "$_g" ]; then _gr=0; break; fi
	done
	if [ -n "${_gi+set}" ]; then IFS=$_gi; else unset IFS; fi
	return $_gr
}
