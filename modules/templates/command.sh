{# command and shell. Like Ansible, the command runs in the home folder
   or `chdir` (relative to home), and `creates`/`removes` are globs looked
   up from there. #}
cd -- "${HOME:-/}" 2>/dev/null || true
{% if chdir %}
{% if apply %}
cd -- {{ chdir }}
{% else %}
if ! cd -- {{ chdir }} 2>/dev/null; then
	push_changed would run "(chdir" {{ chdir }} "does not exist yet)"
	exit 0
fi
{% endif %}
{% endif %}
{% if creates %}
if push_glob_exists {{ creates }}; then
	push_skipped {{ creates }} exists
	exit 0
fi
{% endif %}
{% if removes %}
if ! push_glob_exists {{ removes }}; then
	push_skipped {{ removes }} does not exist
	exit 0
fi
{% endif %}
{% if apply %}
push_changed ran
{# exec: the command's output and exit code are the step's, untouched. #}
{% if stdin is not none %}
printf {{ stdin_format }} {{ stdin }} |
{% endif %}
{% if executable %}
exec {{ executable }} -c {{ cmd }}
{% else %}
exec {{ argv | quote_each }}
{% endif %}
{% else %}
push_changed would run
{% endif %}
