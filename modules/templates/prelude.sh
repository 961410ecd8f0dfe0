# Helpers for module snippets. Each snippet runs in a subshell with
# PUSH_S (status file), PUSH_D (diff folder) and PUSH_DIFF (1 when a diff
# was asked for) set by the engine.

# Report that this step changes (or, in the probe, would change) something.
push_changed() { printf 'changed %s\n' "$*" >>"$PUSH_S"; }

# Report that this step did nothing on purpose (e.g. `creates` exists).
push_skipped() { printf 'skipped %s\n' "$*" >>"$PUSH_S"; }

# Fail the step with a message.
push_fail() { printf '%s\n' "$*" >&2; exit 1; }

# Keep a copy of FILE as the "before" side of a diff.
push_diff_before() { [ "$PUSH_DIFF" = 1 ] && [ -f "$1" ] && cp "$1" "$PUSH_D/before" || true; }
