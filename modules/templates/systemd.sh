{# systemd, in Ansible's order: daemon-reload, mask, enable, state.
   daemon_reload only reloads when systemd says a unit file changed on
   disk (NeedDaemonReload): for the named unit, or without a name for any
   loaded unit. A unit not loaded yet needs no reload: systemd reads it
   from disk when it is first used. #}
{% if daemon_reload %}
{% if name %}
_r=$(systemctl show -p NeedDaemonReload --value -- {{ name }})
{% else %}
_r=$(systemctl show -p NeedDaemonReload --value '*')
{% endif %}
case $_r in
*yes*)
	push_changed daemon-reload
{% if apply %}
	systemctl daemon-reload
{% endif %}
	;;
esac
{% endif %}
{% if masked is not none or enabled is false %}
_e=$(systemctl is-enabled -- {{ name }} 2>/dev/null || true)
{% endif %}
{% if masked is true %}
case $_e in
masked | masked-runtime) ;;
*)
	push_changed mask
{% if apply %}
	systemctl mask --quiet -- {{ name }}
{% endif %}
	;;
esac
{% elif masked is false %}
if [ "$_e" = masked ]; then
	push_changed unmask
{% if apply %}
	systemctl unmask --quiet -- {{ name }}
{% endif %}
fi
{% endif %}
{# "Enabled" is what `is-enabled` exits 0 for (static, indirect... too), as
   in Ansible; "disabled" is anything `systemctl disable` can't improve. #}
{% if enabled is true %}
if ! systemctl is-enabled --quiet -- {{ name }} 2>/dev/null; then
	push_changed enable
{% if apply %}
	systemctl enable --quiet -- {{ name }}
{% endif %}
fi
{% elif enabled is false %}
case $_e in
enabled | enabled-runtime)
	push_changed disable
{% if apply %}
	systemctl disable --quiet -- {{ name }}
{% endif %}
	;;
esac
{% endif %}
{% if state %}
_a=$(systemctl show -p ActiveState --value -- {{ name }})
{% if state == "started" %}
case $_a in
active | activating | reloading) ;;
*) _do=start ;;
esac
{% elif state == "stopped" %}
case $_a in
active | activating | reloading | deactivating) _do=stop ;;
esac
{% elif state == "reloaded" %}
{# As in Ansible, reloading a stopped unit starts it. #}
case $_a in
active | activating | reloading) _do=reload ;;
*) _do=start ;;
esac
{% else %}
_do=restart
{% endif %}
if [ -n "${_do:-}" ]; then
	push_changed "$_do"
{% if apply %}
	systemctl "$_do" -- {{ name }}
{% endif %}
fi
{% endif %}
