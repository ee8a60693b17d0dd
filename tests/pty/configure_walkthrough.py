"""Walks through `cognitod configure` on a pseudo-terminal, answering like a person would, and
falling into the traps a newcomer fell into (issue 14): y or n followed by Enter (the Enter must not
answer the next question), a socket group that does not exist (refused as typed, asked again), a
mistyped password (sign-in fails, and the password alone is asked again).

    python configure_walkthrough.py COGNITOD OUTPUT SECRET_FILE SOCKET POOL_JSON

POOL_JSON is what tests/emulator/seed.py printed. The transcript (everything the program wrote to
the terminal) goes to stdout, so the caller can check that the password was never echoed.
Exits non-zero, with the transcript, when a prompt does not come or the program fails.
"""

import json
import sys

import pexpect

DOWN = "\x1b[B"


def main() -> int:
    cognitod, output, secret_file, socket, pool_json = sys.argv[1:6]
    pool = json.loads(pool_json)
    child = pexpect.spawn(
        cognitod,
        ["configure", "-o", output, "--shared-secret-file", secret_file, "-S", socket],
        encoding="utf-8",
        timeout=20,
        dimensions=(40, 200),
    )
    transcript = []
    child.logfile_read = _Collect(transcript)

    def answer(prompt: str, text: str) -> None:
        child.expect_exact(prompt)
        child.send(text)

    try:
        answer("Transports, comma separated", "unix\r")
        answer("Hand out", "\r")  # the default: IAM credentials
        # A malformed answer is refused as it is typed, with the reason; then a good one.
        answer("User pool id", "not-a-pool-id\r")
        child.expect_exact("--user-pool-id")
        child.send("\x15")  # clear the line (Ctrl-U) before typing again
        child.send(pool["user_pool_id"] + "\r")
        answer("Region", "\r")  # derived from the pool id
        answer("App client id", pool["client_id"] + "\r")
        # y/n waits for Enter: "n" then Enter answers this question only. Were the Enter left over,
        # it would answer the next one empty, which is refused with "is not an identity pool id".
        answer("Does the app client have a client secret?", "n\r")
        answer("Identity pool id", pool["identity_pool_id"] + "\r")
        answer("Role ARN to ask for", "\r")
        answer("Username", pool["username"] + "\r")
        answer("Password (hidden)", "Mistyped-Password-1\r")  # corrected after the sign-in
        answer("Sign-in flow", "\r")  # SRP
        answer("Require clients to send a shared secret?", DOWN + "\r")  # generate one
        answer("Socket owner", "\r")
        # A group that does not exist is refused as it is typed, and asked again.
        answer("Socket group", "no-such-group-x9\r")
        child.expect_exact("no group named")
        child.send("\x15" + "root\r")
        answer("Socket mode", "\x15" + "0600\r")
        answer("Sign in once now to check these settings?", "y\r")
        # The mistyped password: the sign-in fails, and only the password is asked again.
        child.expect_exact("sign-in failed")
        answer("Type the password again?", "y\r")
        answer("Password (hidden)", pool["password"] + "\r")
        child.expect_exact("signed in as")
        answer("Install and start the systemd units now", "n\r")
        child.expect(pexpect.EOF)
    except (pexpect.TIMEOUT, pexpect.EOF) as e:
        print("".join(transcript))
        print(f"\nwalkthrough stopped: {type(e).__name__}", file=sys.stderr)
        return 2
    child.close()
    print("".join(transcript))
    return child.exitstatus or 0


class _Collect:
    def __init__(self, sink):
        self.sink = sink

    def write(self, data):
        self.sink.append(data)

    def flush(self):
        pass


if __name__ == "__main__":
    sys.exit(main())
