{# Included by the docker snippets that name images in their messages. #}
{# An image id cut to 12 hex digits, as `docker images` shows it. #}
_short() { printf '%.12s' "${1#sha256:}"; }
{# The image a docker_unit unit file runs (its `# push image:` line). #}
_img_of() { sed -n 's/^# push image: //p' -- "$1" 2>/dev/null | head -n1; }
{# A reference with its digest cut to 12 hex digits: enough to tell them
   apart in a message. #}
_ref() { printf '%s' "$1" | sed 's/\(@sha256:[0-9a-f]\{12\}\)[0-9a-f]*/\1/'; }
