"""Keeps N clients connecting to a unix socket for a while and reports how each attempt ended.

    python3 load_clients.py SOCKET CLIENTS SECONDS [SECRET]

Prints one JSON object: {"served": n, "refused": n, "reset_or_empty": n, "errors": {...}}.
"refused" counts ECONNREFUSED/ENOENT (nobody listening): what socket activation must prevent.
"reset_or_empty" counts connections accepted by a process that died before answering.
Each client waits up to 10 s for its answer, longer than a service restart takes.
"""

import collections
import json
import socket
import sys
import threading
import time


def client(path, deadline, secret, counts, lock):
    while time.monotonic() < deadline:
        outcome = attempt(path, secret)
        with lock:
            counts[outcome] += 1


def attempt(path, secret):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        return "refused"
    except OSError as e:
        return f"connect:{e.errno}"
    try:
        if secret:
            s.sendall(secret.encode() + b"\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return "reset_or_empty"
    except socket.timeout:
        return "timeout"
    finally:
        s.close()
    if b"AccessKeyId" in data or b"id_token" in data:
        return "served"
    if not data:
        return "reset_or_empty"
    return "error_answer"


def main():
    path, clients, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    secret = sys.argv[4] if len(sys.argv) > 4 else None
    counts = collections.Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=client, args=(path, deadline, secret, counts, lock)) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(dict(counts)))


if __name__ == "__main__":
    main()
