"""Reports what happens to one name in a directory, through inotify: for the test that a unix
socket never shows up with default permissions (a chmod or chown after it appeared is an ATTRIB
event on its name; a socket moved into place ready-made is a single MOVED_TO).

    python watch_name.py DIR NAME

Prints "ready" once the watch is in place, then collects events until stdin closes, then prints
one JSON line: the events on NAME in order, e.g. ["MOVED_TO"] or ["CREATE", "ATTRIB", "ATTRIB"].
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import struct
import sys

EVENTS = {
    0x00000002: "MODIFY",
    0x00000004: "ATTRIB",
    0x00000040: "MOVED_FROM",
    0x00000080: "MOVED_TO",
    0x00000100: "CREATE",
    0x00000200: "DELETE",
}
HEADER = struct.Struct("iIII")  # wd, mask, cookie, len


def main() -> int:
    directory, name = sys.argv[1], sys.argv[2]
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")
    mask = 0
    for bit in EVENTS:
        mask |= bit
    if libc.inotify_add_watch(fd, os.fsencode(directory), mask) < 0:
        raise OSError(ctypes.get_errno(), "inotify_add_watch")
    print("ready", flush=True)

    seen: list[str] = []

    def drain() -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        offset = 0
        while offset < len(data):
            _, event_mask, _, length = HEADER.unpack_from(data, offset)
            raw = data[offset + HEADER.size: offset + HEADER.size + length]
            offset += HEADER.size + length
            if raw.rstrip(b"\0") == os.fsencode(name):
                seen.extend(label for bit, label in EVENTS.items() if event_mask & bit)

    stdin = sys.stdin.fileno()
    while True:
        readable, _, _ = select.select([fd, stdin], [], [])
        if fd in readable:
            drain()
        if stdin in readable and not os.read(stdin, 4096):
            drain()
            break
    print(json.dumps(seen), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
