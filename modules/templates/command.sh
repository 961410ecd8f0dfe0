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
{# A command `creates`/`removes` keeps from running is ok, not skipped, and
   says so in Ansible's words: its stdout is what `register` stores. #}
{% if creates %}
if push_glob_exists {{ creates }}; then
	printf 'skipped, since %s exists\n' {{ creates }}
	push_ok "Did not run command since '"{{ creates }}"' exists"
	exit 0
fi
{% endif %}
{% if removes %}
if ! push_glob_exists {{ removes }}; then
	printf 'skipped, since %s does not exist\n' {{ removes }}
	push_ok "Did not run command since '"{{ removes }}"' does not exist"
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
