"""moto's cognito-idp, cognito-identity and sts on one local port, made strict by cognito_strict.

    python server.py --host 127.0.0.1 --port 0 [--exit-on-stdin-eof] [--verbose]

Prints exactly one line, {"port": N}, once the socket accepts connections, then serves until
SIGTERM or SIGINT and exits 0. Test-only endpoints, served before moto sees the request:

    GET  /_test/calls[?user_pool_id=P]         counts of calls, {"InitiateAuth": 2, ...}
    POST /_test/calls/reset[?user_pool_id=P]   zero them (all, or that pool's)
    GET  /_test/identity-ttl?seconds=N[&identity_pool_id=I]   lifetime of GetCredentialsForIdentity
    GET  /_test/throttle?user_pool_id=P&seconds=S   every call of pool P throttled for S seconds
                                                  (no seconds: back to moto's 90 s)
    GET  /_test/hold?user_pool_id=P&operation=Op   calls Op of pool P wait, once counted, until
                                                  released (at most HOLD_MAX_S)
    GET  /_test/release?user_pool_id=P         lets the held calls of pool P go on
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Callable
from urllib.parse import parse_qs

# TOTP codes are checked by cognito_strict against each user's own seed (moto's switch,
# MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP, would check them against one fixed seed).

from werkzeug.serving import make_server  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

import cognito_strict  # noqa: E402


class CallCounter:
    """Counts calls per operation, globally and per user pool.

    Tests run in parallel against one emulator, each with its own user pool from seed.py, so a
    test reads the counts of its own pool (?user_pool_id=) to stay unaffected by its neighbours."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total: collections.Counter[str] = collections.Counter()
        self._by_pool: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)

    def add(self, keys: list[str], user_pool_id: str | None) -> None:
        with self._lock:
            for key in keys:
                self._total[key] += 1
                if user_pool_id:
                    self._by_pool[user_pool_id][key] += 1

    def snapshot(self, user_pool_id: str | None) -> dict[str, int]:
        with self._lock:
            counts = self._by_pool.get(user_pool_id, {}) if user_pool_id else self._total
            return dict(sorted(counts.items()))

    def reset(self, user_pool_id: str | None) -> None:
        with self._lock:
            if user_pool_id:
                self._by_pool.pop(user_pool_id, None)
            else:
                self._total.clear()
                self._by_pool.clear()


# Operations this emulator answers as unknown, like an endpoint that predates them.
WITHOUT_OPERATIONS = frozenset(filter(None, os.environ.get("COGNITO_EMULATOR_WITHOUT", "").split(",")))


class Throttle:
    """Pools whose every call is answered TooManyRequestsException until a moment (monotonic)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def set(self, pool: str, seconds: float) -> None:
        with self._lock:
            self._until[pool] = time.monotonic() + seconds

    def active(self, pool: str) -> bool:
        with self._lock:
            return time.monotonic() < self._until.get(pool, 0.0)


# Longest a held call waits: less than the clients' 10 s timeout, so a test that forgets to release
# sees a failed assertion rather than a timed-out call.
HOLD_MAX_S = 8.0


class Hold:
    """Calls of one operation of one pool held, once counted, until released: a test can act
    (say, make a directory read-only) at a known point between two calls of a client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str], threading.Event] = {}

    def set(self, pool: str, operation: str) -> None:
        with self._lock:
            self._held[(pool, operation)] = threading.Event()

    def release(self, pool: str) -> None:
        with self._lock:
            for key in [k for k in self._held if k[0] == pool]:
                self._held.pop(key).set()

    def wait(self, pool: str, operation: str) -> None:
        with self._lock:
            event = self._held.get((pool, operation))
        if event is not None:
            event.wait(HOLD_MAX_S)


def _operation_keys(environ: dict[str, Any], body: bytes) -> tuple[list[str], dict[str, Any]]:
    """Keys for one request: the operation from X-Amz-Target (JSON protocols) or Action (STS's
    query protocol), plus "InitiateAuth:<AuthFlow>" for InitiateAuth and
    "GetCredentialsForIdentity:CustomRoleArn=<arn>" when a role is asked for."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    payload: dict[str, Any] = {}
    if target:
        operation = target.rsplit(".", 1)[-1]
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {}
    else:
        form = parse_qs(body.decode("utf-8", "replace")) if body else {}
        form.update(parse_qs(environ.get("QUERY_STRING", "")))
        operation = (form.get("Action") or [f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"])[0]
    keys = [operation]
    if operation in ("InitiateAuth", "AdminInitiateAuth") and isinstance(payload, dict):
        keys.append(f"{operation}:{payload.get('AuthFlow')}")
    if operation == "RespondToAuthChallenge" and isinstance(payload, dict):
        keys.append(f"{operation}:{payload.get('ChallengeName')}")
    # moto ignores CustomRoleArn (its credentials are the same for every role), so the count is
    # the only way a test can see which role a client asked for.
    if operation == "GetCredentialsForIdentity" and isinstance(payload, dict) and payload.get("CustomRoleArn"):
        keys.append(f"{operation}:CustomRoleArn={payload['CustomRoleArn']}")
    return keys, payload if isinstance(payload, dict) else {}


def _user_pool_of(payload: dict[str, Any]) -> str | None:
    if payload.get("UserPoolId"):
        return payload["UserPoolId"]
    if payload.get("ClientId"):
        return cognito_strict.find_user_pool_of_client(payload["ClientId"])
    if payload.get("AccessToken"):
        return cognito_strict.find_user_pool_of_access_token(payload["AccessToken"])
    if payload.get("Session"):  # AssociateSoftwareToken / VerifySoftwareToken in MFA set-up
        return cognito_strict.find_user_pool_of_mfa_setup(payload["Session"])
    # GetId / GetCredentialsForIdentity / GetOpenIdToken name the pool in their Logins key:
    # "cognito-idp.<region>.amazonaws.com/<user pool id>".
    for provider in (payload.get("Logins") or {}):
        if provider.startswith("cognito-idp."):
            return provider.rsplit("/", 1)[-1]
    return None


class TestControl:
    """WSGI middleware: counts every call, and answers /_test/* itself."""

    def __init__(self, app: Callable, counter: CallCounter) -> None:
        self.app = app
        self.counter = counter
        self.throttle = Throttle()
        self.hold = Hold()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_test/"):
            return self._control(environ, start_response, path)
        body = self._read_body(environ)
        pool = None
        operation = None
        try:
            keys, payload = _operation_keys(environ, body)
            operation = keys[0]
            pool = _user_pool_of(payload)
            if pool and self.throttle.active(pool):
                keys += [f"{k}:throttled" for k in keys[:1]]
            self.counter.add(keys, pool)
        except Exception:  # counting must never break the emulator
            logging.getLogger("server").exception("could not count a request")
        if pool and operation:
            self.hold.wait(pool, operation)
        if operation in WITHOUT_OPERATIONS:
            # An endpoint that predates the operation (COGNITO_EMULATOR_WITHOUT=Op1,Op2).
            data = json.dumps({"__type": "UnknownOperationException"}).encode()
            start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"),
                                               ("x-amzn-ErrorType", "UnknownOperationException"),
                                               ("Content-Length", str(len(data)))])
            return [data]
        if pool and self.throttle.active(pool):
            # Cognito's answer when the account's quota for a category of calls is spent.
            data = json.dumps({"__type": "TooManyRequestsException", "message": "Rate exceeded"}).encode()
            start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"),
                                               ("x-amzn-ErrorType", "TooManyRequestsException"),
                                               ("Content-Length", str(len(data)))])
            return [data]
        return self.app(environ, start_response)

    @staticmethod
    def _read_body(environ: dict[str, Any]) -> bytes:
        # The body is read once here and put back, so moto reads it as if untouched.
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length <= 0:
            return b""
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    def _control(self, environ: dict[str, Any], start_response: Callable, path: str) -> Any:
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        method = environ.get("REQUEST_METHOD", "GET")
        status, body = "200 OK", None
        if path == "/_test/calls" and method == "GET":
            body = self.counter.snapshot(query.get("user_pool_id"))
        elif path == "/_test/calls/reset" and method == "POST":
            self.counter.reset(query.get("user_pool_id"))
            body = {"reset": True}
        elif path == "/_test/identity-ttl" and method in ("GET", "POST"):
            pool = query.get("identity_pool_id")
            try:
                seconds = int(query["seconds"]) if "seconds" in query else None
            except ValueError:
                status, body = "400 Bad Request", {"error": "seconds must be an integer"}
            else:
                cognito_strict.set_identity_ttl(seconds, pool)
                body = {"seconds": cognito_strict.identity_ttl(pool)}
        elif path == "/_test/throttle" and method in ("GET", "POST"):
            try:
                seconds = float(query.get("seconds", "0"))
                pool = query["user_pool_id"]
            except (KeyError, ValueError):
                status, body = "400 Bad Request", {"error": "user_pool_id and seconds are required"}
            else:
                self.throttle.set(pool, seconds)
                body = {"user_pool_id": pool, "seconds": seconds}
        elif path == "/_test/hold" and method in ("GET", "POST"):
            if "user_pool_id" not in query or "operation" not in query:
                status, body = "400 Bad Request", {"error": "user_pool_id and operation are required"}
            else:
                self.hold.set(query["user_pool_id"], query["operation"])
                body = {"user_pool_id": query["user_pool_id"], "held": query["operation"]}
        elif path == "/_test/release" and method in ("GET", "POST"):
            if "user_pool_id" not in query:
                status, body = "400 Bad Request", {"error": "user_pool_id is required"}
            else:
                self.hold.release(query["user_pool_id"])
                body = {"user_pool_id": query["user_pool_id"], "released": True}
        else:
            status, body = "404 Not Found", {"error": f"no test endpoint {method} {path}"}
        data = json.dumps(body).encode("utf-8")
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--exit-on-stdin-eof", action="store_true",
                        help="also stop when stdin closes, so a crashed test runner leaves no server behind")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args()

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="emulator: %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    cognito_strict.install()
    app = TestControl(DomainDispatcherApplication(create_backend_app), CallCounter())
    # make_server binds and listens before returning, so the port is accepting once printed.
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.exit_on_stdin_eof:
        threading.Thread(target=lambda: (sys.stdin.buffer.read(), stop.set()), daemon=True).start()

    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    print(json.dumps({"port": server.server_port}), flush=True)

    while not stop.wait(0.5):
        pass
    # shutdown() waits for serve_forever to return, so it runs here, not in the signal handler.
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
