{# Included by copy and lineinfile: run `validate` on the new content in
   "$_t" (each word comes split at its %s, which stands for "$_t"). #}
{% if validate %}
if ! {% for word in validate %}{% for part in word %}{% if not loop.first %}"$_t"{% endif %}{% if part or word | length == 1 %}{{ part }}{% endif %}{% endfor %}{% if not loop.last %} {% endif %}{% endfor %}; then
	push_fail "failed to validate"
fi
{% endif %}
