# %post, the counterpart of debian/postinst ($1: how many cognitod packages are installed
# once this one is; 1 = first install, 2 = upgrade). What %systemd_post and, on upgrade,
# %systemd_postun_with_restart do, except `systemctl preset`: as with the .deb, nothing is
# enabled on a first install, because the daemon cannot sign in before
# /etc/cognitod/config.json exists. The restart is here rather than in the old package's
# %postun, so the new package decides it, as debian/postinst does.
# rpm created /etc/cognitod for the example, 0755 and not owned by the package (see Cargo.toml:
# cargo-generate-rpm cannot package the directory itself); configurations with passwords go there.
chmod 0750 /etc/cognitod
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -gt 1 ]; then
        # Only the service restarts (if it runs); the sockets stay open, so clients wait
        # instead of being refused, and their listening sockets pass to the new process.
        # Running instances of the template units too (a pattern matches loaded units only).
        systemctl try-restart cognitod.service 'cognitod@*.service' >/dev/null 2>&1 || :
    fi
fi
if [ ! -e /etc/cognitod/config.json ]; then
    echo "cognitod: not started: create /etc/cognitod/config.json with 'cognitod configure', then 'systemctl enable --now cognitod.socket'"
fi
