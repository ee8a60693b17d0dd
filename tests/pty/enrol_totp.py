"""Drives `cognitod configure` on a pseudo-terminal through a TOTP enrolment, as a person would.

    python enrol_totp.py SCENARIO COGNITOD OUTPUT PASSWORD_FILE SOCKET POOL_JSON

SCENARIO:
  mfa-setup  the pool requires MFA and the user has none: sign-in answers MFA_SETUP, configure
             offers to enrol, the person says yes.
  re-enrol   the user already has TOTP (POOL_JSON's totp_secret is the authenticator app's seed)
             and `--enrol-totp` is given: configure asks a current code of the present
             authenticator; the person first mistypes it (refused, "Try again?"), then types it.
  give-seed  the user already has TOTP and no flag is given: configure says it cannot read the
             seed and offers the choices; the person types the seed (hidden).

POOL_JSON is what tests/emulator/seed.py printed. The transcript (everything the program wrote to
the terminal) goes to stdout, so the caller can check what was and was not shown. Exits non-zero,
with the transcript, when a prompt does not come or the program fails.
"""

import json
import os
import sys

import pexpect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulator"))
from seed import fresh_totp_code  # noqa: E402


def main() -> int:
    scenario, cognitod, output, password_file, socket, pool_json = sys.argv[1:7]
    pool = json.loads(pool_json)
    args = ["configure", "-o", output, "-s", "unix", "-C", "iam", "--username", pool["username"],
            "--password-file", password_file, "--app-id", pool["client_id"],
            "--user-pool-id", pool["user_pool_id"], "--region", pool["region"], "--identity-pool-id", pool["identity_pool_id"],
            "--auth-type", "user_srp", "--shared-secret", "none", "-S", socket,
            "--permissions", "0600"]
    if scenario == "re-enrol":
        args.append("--enrol-totp")
    child = pexpect.spawn(cognitod, args, encoding="utf-8", timeout=40, dimensions=(40, 400))
    transcript = []
    child.logfile_read = _Collect(transcript)

    def answer(prompt: str, text: str) -> None:
        child.expect_exact(prompt)
        child.send(text)

    try:
        answer("Does the app client have a client secret?", "n\r")
        answer("Role ARN to ask for", "\r")
        answer("Socket owner", "\r")
        answer("Socket group", "\r")
        if scenario == "mfa-setup":
            answer("Sign in once now to check these settings?", "y\r")
            child.expect_exact("The user pool requires MFA")
            answer("Enrol a TOTP authenticator now?", "y\r")
        elif scenario == "re-enrol":
            right = fresh_totp_code(pool["totp_secret"])
            wrong = f"{(int(right) + 1) % 1_000_000:06d}"
            answer("A current code of the user's present authenticator app", wrong + "\r")
            child.expect_exact("sign-in failed")
            answer("Try again?", "y\r")
            answer("A current code of the user's present authenticator app",
                   fresh_totp_code(pool["totp_secret"]) + "\r")
        elif scenario == "give-seed":
            answer("Sign in once now to check these settings?", "y\r")
            child.expect_exact("already has a TOTP authenticator")
            answer("What now?", "\r")  # the first choice: type the seed
            answer("TOTP seed (base32, hidden)", pool["totp_secret"].lower() + "\r")
        else:
            raise SystemExit(f"unknown scenario {scenario}")
        if scenario != "give-seed":
            child.expect_exact("otpauth://totp/")
        child.expect_exact("signed in as")
        answer("Install and start the systemd units now", "n\r")
        child.expect(pexpect.EOF)
    except (pexpect.TIMEOUT, pexpect.EOF) as e:
        print("".join(transcript))
        print(f"\nenrolment stopped: {type(e).__name__}", file=sys.stderr)
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
