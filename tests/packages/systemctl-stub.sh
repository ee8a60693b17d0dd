#!/bin/sh
# Stands in for systemctl while tests/packages.rs runs the maintainer scripts and rpm
# scriptlets: records what they ask of systemd (one line per call), changes nothing, succeeds.
# deb-systemd-helper and deb-systemd-invoke find it first in PATH too.
echo "$*" >>/root/systemctl.log
exit 0
