# %preun, the counterpart of debian/prerm ($1: cognitod packages left afterwards; 0 = erase).
# As %systemd_preun: on erase stop the sockets first (so nothing re-activates the service) and
# the service, and disable the sockets: rpm has no purge that could remove their links later
# (debian/postrm purge does that). On upgrade nothing stops.
if [ "$1" -eq 0 ]; then
    systemctl --no-reload disable cognitod.socket cognitod-tcp.socket cognitod-http.socket >/dev/null 2>&1 || :
    if [ -d /run/systemd/system ]; then
        # Every instance of the template units too (patterns match the loaded units).
        systemctl stop cognitod.socket cognitod-tcp.socket cognitod-http.socket \
            'cognitod@*.socket' 'cognitod-tcp@*.socket' 'cognitod-http@*.socket' \
            cognitod.service 'cognitod@*.service' >/dev/null 2>&1 || :
    fi
fi
