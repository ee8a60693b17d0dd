# %postun, the counterpart of debian/postrm ($1: cognitod packages left; 0 = erase). As
# %systemd_postun: systemd forgets the removed or replaced unit files. rpm -e has no purge:
# /etc/cognitod/config.json and auth-secret, and the instances' NAME.json and NAME.auth-secret,
# written by `cognitod configure` and not owned by the package, stay (and with them
# /etc/cognitod), as rpm leaves any file it did not install.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
# The package does not own /etc/cognitod (see post.sh): remove it on erase if nothing is left.
if [ "$1" -eq 0 ]; then
    rmdir /etc/cognitod 2>/dev/null || :
    # The service's StateDirectory= (under /var/lib/private with DynamicUser=yes): the identity
    # id it kept, nothing secret; there is no purge here, so erase removes it.
    rm -rf /var/lib/private/cognitod /var/lib/cognitod \
        /var/lib/private/cognitod-instances /var/lib/cognitod-instances
    # Instances enabled with `systemctl enable cognitod@NAME.socket`: their links, as %preun's
    # `systemctl disable` does for the plain sockets (disable takes no pattern for unit files).
    rm -f /etc/systemd/system/sockets.target.wants/cognitod@*.socket \
        /etc/systemd/system/sockets.target.wants/cognitod-tcp@*.socket \
        /etc/systemd/system/sockets.target.wants/cognitod-http@*.socket
    rmdir /etc/systemd/system/sockets.target.wants 2>/dev/null || :
fi
