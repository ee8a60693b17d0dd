"""Make moto's Cognito behave like real Cognito where cognitod's tests depend on it.

moto (5.2.5) accepts any SRP proof, ignores SECRET_HASH on several calls, issues 1-hour tokens
whatever the app client says and hands out identity credentials for a fixed 90 s. A test that
passes against that proves nothing about those paths, so `install()` replaces the few backend
methods involved, in-process, before the server starts. Each patch below says which looseness
it closes. Everything else is moto's own behaviour.

The SRP server side is written here from the protocol (RFC 5054 / Cognito's
AuthenticationHelper), not borrowed from pycognito, so that the self-test and the vectors,
which use pycognito as the client, cross-check two implementations.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from moto.cognitoidentity import models as identity_models
from moto.cognitoidp import models as idp_models
from moto.cognitoidp.exceptions import (
    CodeMismatchException,
    InvalidParameterException,
    NotAuthorizedError,
    ResourceNotFoundError,
    UserNotConfirmedException,
)
from moto.cognitoidp.responses import CognitoIdpResponse
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.cognitoidp.models import CognitoIdpBackend, CognitoIdpUserPool, UserStatus

log = logging.getLogger("cognito_strict")

# ---------------------------------------------------------------------------------------------
# SRP-6a as Cognito does it
# ---------------------------------------------------------------------------------------------

# The 3072-bit group of RFC 5054 (appendix A), the one Cognito and every Cognito SRP client use.
N_HEX = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
)
N = int(N_HEX, 16)
G = 2
HKDF_INFO = b"Caldera Derived Key"

# Real secret blocks are long opaque base64 blobs. 512 random bytes give ~684 characters with
# '+', '/' and one '=' pad, so a client that decodes them as anything but standard base64 fails.
SECRET_BLOCK_BYTES = 512
# How long a PASSWORD_VERIFIER challenge may be answered (Cognito's AuthSessionValidity default
# is 3 minutes).
SRP_SESSION_SECONDS = 180

# Cognito's TIMESTAMP: English day and month names, day of month without a leading zero.
# How far a PASSWORD_VERIFIER TIMESTAMP may be from the server's clock.
TIMESTAMP_TOLERANCE_S = 300
TIMESTAMP_RE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"([1-9]|[12][0-9]|3[01]) [0-2][0-9]:[0-5][0-9]:[0-6][0-9] UTC [0-9]{4}"
)
HEX_RE = re.compile(r"[0-9a-fA-F]+")


def pad(n: int) -> bytes:
    """Big-endian bytes of n with a leading 0x00 when the top bit would be set (Cognito's padHex)."""
    return n.to_bytes(n.bit_length() // 8 + 1, "big")


def sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


K = int.from_bytes(sha256(pad(N), pad(G)), "big")


def pool_name(user_pool_id: str) -> str:
    """The part of the pool id after the region, which Cognito mixes into x and the signature."""
    return user_pool_id.split("_", 1)[1]


def srp_x(user_pool_id: str, user_id_for_srp: str, password: str, salt: int) -> int:
    inner = sha256(f"{pool_name(user_pool_id)}{user_id_for_srp}:{password}".encode("utf-8"))
    return int.from_bytes(sha256(pad(salt), inner), "big")


def srp_u(big_a: int, big_b: int) -> int:
    return int.from_bytes(sha256(pad(big_a), pad(big_b)), "big")


def hkdf_16(ikm: bytes, salt: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) cut to the 16 bytes Cognito uses; one block is enough."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, HKDF_INFO + b"\x01", hashlib.sha256).digest()[:16]


def claim_signature(key: bytes, user_pool_id: str, user_id_for_srp: str,
                    secret_block: bytes, timestamp: str) -> bytes:
    msg = (pool_name(user_pool_id).encode("utf-8") + user_id_for_srp.encode("utf-8")
           + secret_block + timestamp.encode("utf-8"))
    return hmac.new(key, msg, hashlib.sha256).digest()


@dataclass
class SrpSession:
    """What the server must remember between InitiateAuth and the PASSWORD_VERIFIER answer."""

    pool: CognitoIdpUserPool
    client_id: str
    login_name: str  # USERNAME as the client gave it (an email in email-login pools)
    user_id_for_srp: str  # the user's internal username
    verifier: int
    small_b: int
    big_a: int
    big_b: int
    secret_block: bytes
    expires_at: float


_srp_sessions: dict[str, SrpSession] = {}
_srp_lock = threading.Lock()


def _salt_for(user: Any) -> int:
    """A per-user salt that stays fixed until the password changes, as Cognito's stored verifier.

    Sent as minimal hex (no leading zeros, odd length possible), which every client pads the
    same way; a salt string with leading zero bytes would be read differently by pycognito
    (string) and amazon-cognito-identity-js (BigInteger)."""
    cached = getattr(user, "_strict_srp_salt", None)
    if cached is None or cached[0] != user.password:
        cached = (user.password, int.from_bytes(secrets.token_bytes(16), "big") or 1)
        user._strict_srp_salt = cached
    return cached[1]


# ---------------------------------------------------------------------------------------------
# Helpers shared by the patches
# ---------------------------------------------------------------------------------------------


def _reject(message: str, why: str) -> NotAuthorizedError:
    # The client gets Cognito's terse message; the log says why, for whoever debugs a test.
    log.info("NotAuthorizedException %r: %s", message, why)
    return NotAuthorizedError(message)


def _find_pool_and_client(backend: CognitoIdpBackend, client_id: str):
    for pool in backend.user_pools.values():
        client = pool.clients.get(client_id)
        if client is not None:
            return pool, client
    return None, None


def secret_hash(client_secret: str, username: str, client_id: str) -> str:
    digest = hmac.new(client_secret.encode("utf-8"), (username + client_id).encode("utf-8"),
                      hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _check_secret_hash(client: Any, username: str, params: dict[str, str]) -> None:
    """Closes moto looseness: SECRET_HASH ignored on USER_PASSWORD_AUTH and on challenge answers,
    checked over the login name on refresh, and reported with the hash itself as message."""
    if not client.generate_secret:
        return
    given = params.get("SECRET_HASH")
    if not given:
        raise _reject(f"Client {client.id} is configured with secret but SECRET_HASH was not received",
                      "SECRET_HASH missing")
    want = secret_hash(client.secret, username, client.id)
    if not hmac.compare_digest(given.encode("utf-8"), want.encode("utf-8")):
        raise _reject(f"Unable to verify secret hash for client {client.id}",
                      f"SECRET_HASH is not HMAC(secret, {username!r} + client id)")


# Cognito refuses a flow the app client does not list in ExplicitAuthFlows; moto ignores the list.
_FLOW_TO_ALLOW = {
    "USER_SRP_AUTH": ("ALLOW_USER_SRP_AUTH",),
    "USER_PASSWORD_AUTH": ("ALLOW_USER_PASSWORD_AUTH", "USER_PASSWORD_AUTH"),
    "REFRESH_TOKEN_AUTH": ("ALLOW_REFRESH_TOKEN_AUTH",),
    "REFRESH_TOKEN": ("ALLOW_REFRESH_TOKEN_AUTH",),
    "CUSTOM_AUTH": ("ALLOW_CUSTOM_AUTH", "CUSTOM_AUTH_FLOW_ONLY"),
    "USER_AUTH": ("ALLOW_USER_AUTH",),
}


def _check_flow_allowed(client: Any, auth_flow: str) -> None:
    allowed = client.extended_config.get("ExplicitAuthFlows")
    needed = _FLOW_TO_ALLOW.get(auth_flow)
    if allowed is None or needed is None:
        return  # no list given: Cognito's defaults allow SRP, refresh and custom auth
    if not any(flag in allowed for flag in needed):
        log.info("InvalidParameterException: %s not in ExplicitAuthFlows %s", auth_flow, allowed)
        raise InvalidParameterException("Auth flow not enabled for this client")


def _new_session_token() -> str:
    return secrets.token_urlsafe(96)


# ---------------------------------------------------------------------------------------------
# Patch: InitiateAuth
# ---------------------------------------------------------------------------------------------

_orig_initiate_auth = CognitoIdpBackend.initiate_auth
_orig_respond = CognitoIdpBackend.respond_to_auth_challenge


def initiate_auth(self: CognitoIdpBackend, client_id: str, auth_flow: str,
                  auth_parameters: dict[str, str]) -> dict[str, Any]:
    pool, client = _find_pool_and_client(self, client_id)
    if client is None:
        return _orig_initiate_auth(self, client_id, auth_flow, auth_parameters)
    params = auth_parameters or {}
    _check_flow_allowed(client, auth_flow)
    if auth_flow == "USER_SRP_AUTH":
        # Looseness closed: moto's SRP_B and SALT are random hex and any proof is accepted.
        _check_secret_hash(client, params.get("USERNAME") or "", params)
        return _srp_initiate(self, pool, client, params)
    if auth_flow == "USER_PASSWORD_AUTH":
        # Looseness closed: moto ignores SECRET_HASH here.
        _check_secret_hash(client, params.get("USERNAME") or "", params)
        return _password_auth(self, pool, client_id, params)
    if auth_flow in ("REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"):
        return _refresh(pool, client, params)
    if auth_flow == "USER_AUTH":
        return _user_auth(self, pool, client, params)
    return _orig_initiate_auth(self, client_id, auth_flow, auth_parameters)


# ---------------------------------------------------------------------------------------------
# New flow: USER_AUTH, choice-based sign-in (2024; moto 5.2.5 does not have it)
# ---------------------------------------------------------------------------------------------

# SELECT_CHALLENGE sessions: session -> (pool, client id, login name, available, expires at).
_select_sessions: dict[str, tuple] = {}


def _available_challenges(pool: CognitoIdpUserPool, client: Any) -> list[str]:
    """What a user of the pool may sign in with first: the pool's
    Policies.SignInPolicy.AllowedFirstAuthFactors (default PASSWORD), where PASSWORD means the
    PASSWORD and PASSWORD_SRP challenges. This model's assumption (not in the API reference):
    an app client whose ExplicitAuthFlows lists ALLOW_USER_SRP_AUTH / ALLOW_USER_PASSWORD_AUTH
    without the other offers only that one of the two."""
    policy = (pool.extended_config.get("Policies") or {}).get("SignInPolicy") or {}
    factors = policy.get("AllowedFirstAuthFactors") or ["PASSWORD"]
    flows = client.extended_config.get("ExplicitAuthFlows") or []
    available = []
    if "PASSWORD" in factors:
        srp, plain = "ALLOW_USER_SRP_AUTH" in flows, "ALLOW_USER_PASSWORD_AUTH" in flows
        available += ["PASSWORD_SRP"] if srp or not plain else []
        available += ["PASSWORD"] if plain or not srp else []
    return available + [f for f in factors if f != "PASSWORD"]


def _with_session(result: dict[str, Any]) -> dict[str, Any]:
    # In USER_AUTH every step carries a Session (USER_SRP_AUTH's PASSWORD_VERIFIER does not).
    return {**result, "Session": _new_session_token()}


def _start_challenge(backend: CognitoIdpBackend, pool: CognitoIdpUserPool, client: Any, login_name: str,
                     challenge: str, params: dict[str, str]) -> dict[str, Any]:
    if challenge == "PASSWORD_SRP":
        return _with_session(_srp_initiate(backend, pool, client, {"USERNAME": login_name,
                                                                   "SRP_A": params.get("SRP_A") or ""}))
    if challenge == "PASSWORD":
        if not params.get("PASSWORD"):
            raise InvalidParameterException("Missing required parameter PASSWORD")
        return _password_auth(backend, pool, client.id,
                              {"USERNAME": login_name, "PASSWORD": params["PASSWORD"]})
    # EMAIL_OTP, SMS_OTP, WEB_AUTHN: a challenge only a person can answer; never answered here.
    return _with_session({"ChallengeName": challenge, "ChallengeParameters": {}})


def _user_auth(backend: CognitoIdpBackend, pool: CognitoIdpUserPool, client: Any,
               params: dict[str, str]) -> dict[str, Any]:
    login_name = params.get("USERNAME")
    if not login_name:
        raise InvalidParameterException("Missing required parameter USERNAME")
    _check_secret_hash(client, login_name, params)
    backend.admin_get_user(pool.id, login_name)  # moto's UserNotFoundException if absent
    available = _available_challenges(pool, client)
    preferred = params.get("PREFERRED_CHALLENGE")
    if preferred in available:
        return _start_challenge(backend, pool, client, login_name, preferred, params)
    session = _new_session_token()
    with _srp_lock:
        _select_sessions[session] = (pool, client.id, login_name, available,
                                     time.monotonic() + SRP_SESSION_SECONDS)
    return {"ChallengeName": "SELECT_CHALLENGE", "Session": session, "ChallengeParameters": {},
            "AvailableChallenges": available}


def _select_challenge(backend: CognitoIdpBackend, session: str, client_id: str,
                      responses: dict[str, str]) -> dict[str, Any]:
    with _srp_lock:
        state = _select_sessions.pop(session or "", None)
    if state is None or state[4] < time.monotonic() or state[1] != client_id:
        raise _reject("Invalid session for the user.", "unknown, used or expired SELECT_CHALLENGE session")
    pool, _, login_name, available, _ = state
    client = pool.clients.get(client_id)
    if responses.get("USERNAME") != login_name:
        raise _reject("Incorrect username or password.", "USERNAME is not the session's user")
    _check_secret_hash(client, login_name, responses)
    answer = responses.get("ANSWER")
    if answer not in available:
        raise InvalidParameterException(f"ANSWER must be one of {', '.join(available)}")
    return _start_challenge(backend, pool, client, login_name, answer, responses)


def _srp_initiate(backend: CognitoIdpBackend, pool: CognitoIdpUserPool, client: Any,
                  params: dict[str, str]) -> dict[str, Any]:
    login_name = params.get("USERNAME")
    srp_a = params.get("SRP_A")
    if not login_name:
        raise InvalidParameterException("Missing required parameter USERNAME")
    if not srp_a:
        raise InvalidParameterException("Missing required parameter SRP_A")
    # int(x, 16) would also take "0x..", "_" and spaces; Cognito wants plain hex.
    if not HEX_RE.fullmatch(srp_a):
        raise InvalidParameterException("SRP_A is not a hexadecimal number")
    big_a = int(srp_a, 16)
    if big_a % N == 0:
        # SRP-6a safeguard: with A = 0 (mod N) the session key is 0 whatever the password.
        log.info("InvalidParameterException: SRP_A = 0 mod N")
        raise InvalidParameterException("Invalid SRP_A")

    user = backend.admin_get_user(pool.id, login_name)  # moto's UserNotFoundException if absent
    if not user.enabled:
        raise NotAuthorizedError("User is disabled.")
    if user.status is UserStatus.UNCONFIRMED:
        raise UserNotConfirmedException("User is not confirmed.")

    # Looseness closed: moto sends the sub as USER_ID_FOR_SRP and then refuses it as USERNAME.
    # Cognito sends the internal username: the login name in plain pools, the generated id (which
    # moto makes equal to the sub) in pools where users sign in by email.
    user_id_for_srp = user.username
    salt = _salt_for(user)
    verifier = pow(G, srp_x(pool.id, user_id_for_srp, user.password or "", salt), N)
    while True:
        # 256 random bits, the minimum RFC 5054 asks for: a full-size b would cost ~150 ms of
        # CPU per login, which parallel tests on a 2-core machine feel.
        small_b = secrets.randbits(256) | 1
        big_b = (K * verifier + pow(G, small_b, N)) % N
        if big_b != 0:
            break

    # Looseness closed: moto's SECRET_BLOCK is a dashed UUID, which is not base64.
    block = secrets.token_bytes(SECRET_BLOCK_BYTES)
    block_b64 = base64.b64encode(block).decode("ascii")
    with _srp_lock:
        _purge_expired_srp_sessions()
        _srp_sessions[block_b64] = SrpSession(
            pool=pool, client_id=client.id, login_name=login_name, user_id_for_srp=user_id_for_srp,
            verifier=verifier, small_b=small_b, big_a=big_a, big_b=big_b, secret_block=block,
            expires_at=time.monotonic() + SRP_SESSION_SECONDS)
    # Cognito returns no Session with PASSWORD_VERIFIER: SECRET_BLOCK is the session.
    return {
        "ChallengeName": "PASSWORD_VERIFIER",
        "ChallengeParameters": {
            "SALT": f"{salt:x}",
            "SRP_B": f"{big_b:x}",
            "SECRET_BLOCK": block_b64,
            "USERNAME": user_id_for_srp,
            "USER_ID_FOR_SRP": user_id_for_srp,
        },
    }


def _purge_expired_srp_sessions() -> None:
    now = time.monotonic()
    for key in [k for k, s in _srp_sessions.items() if s.expires_at < now]:
        del _srp_sessions[key]


def _usable_refresh_token(pool: CognitoIdpUserPool, client: Any, token: str | None,
                          device_key: str | None = None) -> Any:
    """The user a refresh token belongs to, or Cognito's refusal. Looseness closed: moto lets any
    client of the pool use any refresh token, and knows nothing of rotation."""
    if not token:
        raise InvalidParameterException("Missing required parameter REFRESH_TOKEN")
    if token not in pool.refresh_tokens:
        raise _reject("Invalid Refresh Token", "unknown refresh token")
    entry = pool.refresh_tokens[token]
    if entry is None:
        raise _reject("Refresh Token has been revoked", "refresh token revoked")
    token_client_id, login_name, _ = entry
    if token_client_id != client.id:
        raise _reject("Invalid Refresh Token", f"token belongs to client {token_client_id}")
    tracked = _refresh_device.get(token)
    if tracked is not None and device_key != tracked:
        # Reported across SDKs: once a device is tracked, a refresh without its key fails.
        raise _reject("Invalid Refresh Token", f"DEVICE_KEY {device_key!r} is not the token's device")
    retired_at = _rotated_out.get(token)
    if retired_at is not None and time.monotonic() >= retired_at:
        log.info("RefreshTokenReuseException: token rotated out and past its grace period")
        raise RefreshTokenReuseException("Refresh token has been rotated out.")
    user = pool._get_user(login_name)
    if user is None:
        raise _reject("Invalid Refresh Token", "user no longer exists")
    if not user.enabled:
        raise NotAuthorizedError("User is disabled.")
    return user


def _rotation(client: Any) -> tuple[bool, int]:
    """Whether the app client rotates refresh tokens, and the old token's grace period in s."""
    config = client.extended_config.get("RefreshTokenRotation") or {}
    return config.get("Feature") == "ENABLED", int(config.get("RetryGracePeriodSeconds") or 0)


def _refresh(pool: CognitoIdpUserPool, client: Any, params: dict[str, str]) -> dict[str, Any]:
    """Looseness closed: moto checks the refresh SECRET_HASH over the name the user logged in
    with (Cognito: the internal username, i.e. USER_ID_FOR_SRP), and REFRESH_TOKEN_AUTH works on
    a client that rotates refresh tokens (Cognito: only GetTokensFromRefreshToken does)."""
    if _rotation(client)[0]:
        log.info("InvalidParameterException: REFRESH_TOKEN_AUTH on a client with rotation")
        raise InvalidParameterException(
            "Refresh token rotation is enabled for this client: use GetTokensFromRefreshToken")
    if client.generate_secret and not params.get("SECRET_HASH"):
        _check_secret_hash(client, "", params)  # raises the "not received" error
    token = params.get("REFRESH_TOKEN")
    user = _usable_refresh_token(pool, client, token, params.get("DEVICE_KEY"))
    _check_secret_hash(client, user.username, params)
    access_token, id_token, expires_in = pool.create_tokens_from_refresh_token(token)
    return {
        "ChallengeParameters": {},
        "AuthenticationResult": {
            "IdToken": id_token,
            "AccessToken": access_token,
            "ExpiresIn": expires_in,
            "TokenType": "Bearer",
        },
    }


# ---------------------------------------------------------------------------------------------
# New operation: GetTokensFromRefreshToken (2025; moto 5.2.5 does not have it)
# ---------------------------------------------------------------------------------------------

# Refresh tokens replaced by rotation -> the monotonic time their grace period ends.
_rotated_out: dict[str, float] = {}


class RefreshTokenReuseException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__(error_type="RefreshTokenReuseException", message=message)


def get_tokens_from_refresh_token(client_id: str, client_secret: str | None,
                                  refresh_token: str | None, device_key: str | None = None) -> dict[str, Any]:
    """New ID and access tokens; with rotation on, a new refresh token too, the old one working
    only for the client's RetryGracePeriodSeconds after its first use (API reference of
    GetTokensFromRefreshToken and RefreshTokenRotationType)."""
    pool, client = _find_client_anywhere(client_id)
    if client is None:
        raise ResourceNotFoundError(client_id)
    if client.generate_secret:
        # This call takes the client secret itself, not a SECRET_HASH.
        if not client_secret:
            raise _reject(f"Client {client.id} is configured with secret but ClientSecret was not received",
                          "ClientSecret missing")
        if not hmac.compare_digest(client_secret.encode("utf-8"), client.secret.encode("utf-8")):
            raise _reject(f"Unable to verify secret for client {client.id}", "ClientSecret wrong")
    user = _usable_refresh_token(pool, client, refresh_token, device_key)
    access_token, id_token, expires_in = pool.create_tokens_from_refresh_token(refresh_token)
    result = {"IdToken": id_token, "AccessToken": access_token, "ExpiresIn": expires_in,
              "TokenType": "Bearer"}
    rotating, grace_s = _rotation(client)
    if rotating:
        new_token, _ = pool.create_refresh_token(client.id, user.username)
        _rotated_out.setdefault(refresh_token, time.monotonic() + grace_s)
        if refresh_token in _refresh_device:
            _refresh_device[new_token] = _refresh_device[refresh_token]
        result["RefreshToken"] = new_token
    return {"AuthenticationResult": result}


def _get_tokens_from_refresh_token_response(self: Any) -> Any:
    return ActionResult(get_tokens_from_refresh_token(
        self._get_param("ClientId"), self._get_param("ClientSecret"), self._get_param("RefreshToken"),
        self._get_param("DeviceKey")))


def _find_client_anywhere(client_id: str):
    for account_backends in idp_models.cognitoidp_backends.values():
        for region, backend in account_backends.items():
            if region == "global":
                continue
            pool, client = _find_pool_and_client(backend, client_id)
            if client is not None:
                return pool, client
    return None, None


# ---------------------------------------------------------------------------------------------
# Remembered devices (device tracking; moto has none of it)
# ---------------------------------------------------------------------------------------------


@dataclass
class Device:
    username: str  # the user's internal name
    group_key: str
    verifier: int | None = None  # set by ConfirmDevice
    salt_hex: str | None = None
    remembered: bool = False


# (user pool id, device key) -> the device.
_devices: dict[tuple[str, str], Device] = {}
# refresh token -> the device key it was issued to.
_refresh_device: dict[str, str] = {}
# DEVICE_SRP_AUTH sessions: session -> (pool, client id, user, login name, device key).
_device_sessions: dict[str, tuple] = {}
# DEVICE_PASSWORD_VERIFIER sessions: session -> (SrpSession, device key).
_device_srp: dict[str, tuple] = {}


def _device_tracking(pool: CognitoIdpUserPool) -> dict | None:
    return pool.extended_config.get("DeviceConfiguration")


def _remembered_device(pool: CognitoIdpUserPool, user: Any, device_key: str | None) -> bool:
    device = _devices.get((pool.id, device_key or ""))
    return bool(device and device.username == user.username and device.verifier and device.remembered)


def _track_device(pool: CognitoIdpUserPool, user: Any, result: dict, device_key: str | None) -> None:
    """After a sign-in that issued tokens: a pool with device tracking gives a device that came
    without a known key NewDeviceMetadata, and ties the refresh token to the device."""
    auth = result.get("AuthenticationResult")
    if not auth or not _device_tracking(pool):
        return
    known = _devices.get((pool.id, device_key or ""))
    if known is None or known.username != user.username:
        device_key = f"{pool.id.split('_')[0]}_{secrets.token_hex(16)}"
        group_key = "-" + secrets.token_urlsafe(6)
        _devices[(pool.id, device_key)] = Device(user.username, group_key)
        auth["NewDeviceMetadata"] = {"DeviceKey": device_key, "DeviceGroupKey": group_key}
    if auth.get("RefreshToken"):
        _refresh_device[auth["RefreshToken"]] = device_key


def _device_challenge(pool: CognitoIdpUserPool, client_id: str, user: Any, login_name: str,
                      device_key: str) -> dict[str, Any]:
    session = _new_session_token()
    state = (pool, client_id, user, login_name, device_key, time.monotonic() + SRP_SESSION_SECONDS)
    with _srp_lock:
        # Clients answer with the Session (amazon-cognito-identity-js) or without it, naming
        # the user and the device (pycognito), which Cognito evidently accepts.
        _device_sessions[session] = state
        _device_sessions[(client_id, user.username, device_key)] = state
    return {"ChallengeName": "DEVICE_SRP_AUTH", "Session": session,
            "ChallengeParameters": {"USERNAME": user.username, "USER_ID_FOR_SRP": user.username}}


def _device_srp_auth(session: str, client_id: str, responses: dict[str, str]) -> dict[str, Any]:
    with _srp_lock:
        state = _device_sessions.pop(session, None) if session else _device_sessions.pop(
            (client_id, responses.get("USERNAME"), responses.get("DEVICE_KEY")), None)
        if state is not None:  # one answer per challenge, whichever way it was found
            for key in [k for k, v in _device_sessions.items() if v is state]:
                del _device_sessions[key]
    if state is None or state[5] < time.monotonic() or state[1] != client_id:
        raise _reject("Invalid session for the user.", "unknown, used or expired DEVICE_SRP_AUTH session")
    pool, _, user, login_name, device_key, _ = state
    client = pool.clients.get(client_id)
    _check_secret_hash(client, user.username, responses)
    if responses.get("DEVICE_KEY") != device_key:
        raise _reject("Incorrect username or password.", "DEVICE_KEY is not the session's device")
    srp_a = responses.get("SRP_A") or ""
    if not HEX_RE.fullmatch(srp_a) or int(srp_a, 16) % N == 0:
        raise InvalidParameterException("Invalid SRP_A")
    device = _devices[(pool.id, device_key)]
    while True:
        small_b = secrets.randbits(256) | 1
        big_b = (K * device.verifier + pow(G, small_b, N)) % N
        if big_b != 0:
            break
    block = secrets.token_bytes(SECRET_BLOCK_BYTES)
    srp = SrpSession(pool=pool, client_id=client_id, login_name=login_name, user_id_for_srp=user.username,
                     verifier=device.verifier, small_b=small_b, big_a=int(srp_a, 16), big_b=big_b,
                     secret_block=block, expires_at=time.monotonic() + SRP_SESSION_SECONDS)
    next_session = _new_session_token()
    block_b64 = base64.b64encode(block).decode("ascii")
    with _srp_lock:
        _device_srp[next_session] = (srp, device_key)
        _device_srp[block_b64] = _device_srp[next_session]
    return {"ChallengeName": "DEVICE_PASSWORD_VERIFIER", "Session": next_session,
            "ChallengeParameters": {"SALT": device.salt_hex, "SRP_B": f"{big_b:x}",
                                    "SECRET_BLOCK": block_b64, "USERNAME": user.username}}


def _device_password_verifier(backend: CognitoIdpBackend, session: str, client_id: str,
                              responses: dict[str, str]) -> dict[str, Any]:
    """The device's proof: the user's SRP arithmetic with the device group key in place of the
    pool name and the device key in place of the user id, checked against ConfirmDevice's
    verifier."""
    with _srp_lock:
        state = _device_srp.pop(session, None) if session else _device_srp.pop(
            responses.get("PASSWORD_CLAIM_SECRET_BLOCK") or "", None)
        if state is not None:
            for key in [k for k, v in _device_srp.items() if v is state]:
                del _device_srp[key]
    if state is None or state[0].expires_at < time.monotonic() or state[0].client_id != client_id:
        raise _reject("Invalid session for the user.", "unknown, used or expired DEVICE_PASSWORD_VERIFIER session")
    srp, device_key = state
    pool = srp.pool
    client = pool.clients.get(client_id)
    user = pool.users.get(srp.user_id_for_srp)
    _check_secret_hash(client, user.username, responses)
    device = _devices.get((pool.id, device_key))
    if device is None or responses.get("DEVICE_KEY") != device_key:
        raise _reject("Incorrect username or password.", "DEVICE_KEY is not the session's device")
    timestamp = responses.get("TIMESTAMP") or ""
    if not TIMESTAMP_RE.fullmatch(timestamp):
        raise _reject("Incorrect username or password.", f"TIMESTAMP {timestamp!r} is not Cognito's format")
    try:
        signature = base64.b64decode(responses.get("PASSWORD_CLAIM_SIGNATURE") or "", validate=True)
    except binascii.Error:
        raise _reject("Incorrect username or password.", "PASSWORD_CLAIM_SIGNATURE is not base64")
    u = srp_u(srp.big_a, srp.big_b)
    big_s = pow(srp.big_a * pow(srp.verifier, u, N) % N, srp.small_b, N)
    key = hkdf_16(pad(big_s), pad(u))
    msg = device.group_key.encode() + device_key.encode() + srp.secret_block + timestamp.encode()
    if not hmac.compare_digest(signature, hmac.new(key, msg, hashlib.sha256).digest()):
        raise _reject("Incorrect username or password.", "the device's PASSWORD_CLAIM_SIGNATURE does not match")
    result = backend._log_user_in(pool, client, srp.login_name)
    _refresh_device[result["AuthenticationResult"]["RefreshToken"]] = device_key
    return result


def _pool_of_access_token(access_token: str) -> CognitoIdpUserPool:
    for account_backends in idp_models.cognitoidp_backends.values():
        for region, backend in account_backends.items():
            if region == "global":
                continue
            for pool in backend.user_pools.values():
                if access_token in pool.access_tokens:
                    return pool
    raise NotAuthorizedError("Invalid Access Token")


def confirm_device(access_token: str, device_key: str, verifier_config: dict, device_name: str | None) -> dict:
    """ConfirmDevice: stores the device password's verifier. Remembered at once unless the pool
    remembers devices only when the user says so (UserConfirmationNecessary)."""
    pool = _pool_of_access_token(access_token)
    _, username = pool.access_tokens[access_token]
    user = pool._get_user(username)
    device = _devices.get((pool.id, device_key))
    if device is None or device.username != user.username:
        raise ResourceNotFoundError("Device does not exist.")
    device.verifier = int.from_bytes(base64.b64decode(verifier_config["PasswordVerifier"]), "big")
    device.salt_hex = base64.b64decode(verifier_config["Salt"]).hex()
    on_prompt = bool((_device_tracking(pool) or {}).get("DeviceOnlyRememberedOnUserPrompt"))
    device.remembered = not on_prompt
    return {"UserConfirmationNecessary": on_prompt}


def update_device_status(access_token: str, device_key: str, status: str) -> dict:
    pool = _pool_of_access_token(access_token)
    device = _devices.get((pool.id, device_key))
    if device is None:
        raise ResourceNotFoundError("Device does not exist.")
    device.remembered = status == "remembered"
    return {}


def _confirm_device_response(self: Any) -> Any:
    return ActionResult(confirm_device(self._get_param("AccessToken"), self._get_param("DeviceKey"),
                                       self._get_param("DeviceSecretVerifierConfig") or {},
                                       self._get_param("DeviceName")))


def _update_device_status_response(self: Any) -> Any:
    return ActionResult(update_device_status(self._get_param("AccessToken"), self._get_param("DeviceKey"),
                                             self._get_param("DeviceRememberedStatus")))


# ---------------------------------------------------------------------------------------------
# TOTP enrolment: MFA_SETUP, AssociateSoftwareToken, VerifySoftwareToken (moto hands every user
# the fixed seed "asdfasdfasdf", accepts any code unless told otherwise, lets any session of the
# user complete MFA_SETUP without enrolling, and sends MFAS_CAN_SETUP as a JSON list where
# Cognito's challenge parameters are strings)
# ---------------------------------------------------------------------------------------------

TOTP_STEP_S = 30
# Cognito's SecretCode: 32 base32 characters, i.e. 160 random bits.
TOTP_SEED_BYTES = 20

# (pool id, internal username) -> the seed the user verified last: what SOFTWARE_TOKEN_MFA is
# checked against.
_totp_seeds: dict[tuple[str, str], str] = {}
# (pool id, internal username) -> the seed AssociateSoftwareToken handed out, not yet verified.
_pending_totp: dict[tuple[str, str], str] = {}


@dataclass
class MfaSetup:
    """One MFA set-up in progress, from the MFA_SETUP challenge to its answer. Each step
    (challenge -> associated -> verified) consumes its session and hands out the next one."""

    pool: CognitoIdpUserPool
    login_name: str
    username: str  # internal
    stage: str
    expires_at: float


_mfa_setups: dict[str, MfaSetup] = {}


def totp_code(seed_b32: str, at: float | None = None) -> str:
    """RFC 6238 (HMAC-SHA1, 6 digits, 30 s steps), as Cognito and authenticator apps compute it."""
    key = base64.b32decode(seed_b32.upper() + "=" * (-len(seed_b32) % 8))
    counter = int((time.time() if at is None else at) // TOTP_STEP_S)
    digest = hmac.new(key, counter.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = int.from_bytes(digest[offset:offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


class EnableSoftwareTokenMFAException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__(error_type="EnableSoftwareTokenMFAException", message=message)


class SoftwareTokenMFANotFoundException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__(error_type="SoftwareTokenMFANotFoundException", message=message)


def _has_mfa(user: Any) -> bool:
    return bool(user.token_verified or user.sms_mfa_enabled)


def _mfa_setup_challenge(backend: CognitoIdpBackend, pool: CognitoIdpUserPool, login_name: str,
                         result: dict[str, Any]) -> None:
    """When moto answered MFA_SETUP: Cognito's parameter format, and the session recorded as the
    start of an MFA set-up (and nothing else: moto's own session is retired)."""
    if result.get("ChallengeName") != "MFA_SETUP":
        return
    params = dict(result.get("ChallengeParameters") or {})
    can = params.get("MFAS_CAN_SETUP")
    if not isinstance(can, str):
        params["MFAS_CAN_SETUP"] = json.dumps(list(can or []))
    result["ChallengeParameters"] = params
    backend.sessions.pop(result.get("Session"), None)
    user = pool._get_user(login_name)
    session = _new_session_token()
    with _srp_lock:
        _mfa_setups[session] = MfaSetup(pool, login_name, user.username, "challenge",
                                        time.monotonic() + SRP_SESSION_SECONDS)
    result["Session"] = session


def _password_auth(backend: CognitoIdpBackend, pool: CognitoIdpUserPool, client_id: str,
                   params: dict[str, str]) -> dict[str, Any]:
    """USER_PASSWORD_AUTH. Looseness closed: moto issues tokens to a user without MFA in a pool
    that requires it (Cognito answers MFA_SETUP), and its challenges do not name the internal
    user, over which the answers' SECRET_HASH is checked (Cognito sends USER_ID_FOR_SRP)."""
    result = _orig_initiate_auth(backend, client_id, "USER_PASSWORD_AUTH", params)
    user = pool._get_user(params.get("USERNAME") or "")
    if "AuthenticationResult" in result and pool.mfa_config == "ON" and user and not _has_mfa(user):
        result = {"ChallengeName": "MFA_SETUP", "Session": "",
                  "ChallengeParameters": {"MFAS_CAN_SETUP": ["SOFTWARE_TOKEN_MFA"]}}
        _mfa_setup_challenge(backend, pool, params["USERNAME"], result)
    if result.get("ChallengeName") and user:
        result["ChallengeParameters"] = {**(result.get("ChallengeParameters") or {}),
                                         "USER_ID_FOR_SRP": user.username}
    return result


def _take_setup(session: str | None, stage: str) -> MfaSetup:
    with _srp_lock:
        setup = _mfa_setups.pop(session or "", None)
    if setup is None or setup.stage != stage or setup.expires_at < time.monotonic():
        raise _reject("Invalid session for the user.", f"not a live MFA set-up session at stage {stage}")
    return setup


def _next_setup(setup: MfaSetup, stage: str) -> str:
    session = _new_session_token()
    with _srp_lock:
        _mfa_setups[session] = MfaSetup(setup.pool, setup.login_name, setup.username, stage,
                                        setup.expires_at)
    return session


def _user_of_access_token(access_token: str) -> tuple[CognitoIdpUserPool, Any]:
    pool = _pool_of_access_token(access_token)
    _, username = pool.access_tokens[access_token]
    return pool, pool._get_user(username)


def associate_software_token(access_token: str | None, session: str | None) -> dict[str, Any]:
    """A new random seed for the user, pending until VerifySoftwareToken. Authorised by the
    access token, or by the MFA_SETUP challenge's session, which is then spent and a new one
    returned (API reference: "the session ... allows authentication of the user as part of the
    MFA setup process")."""
    if bool(access_token) == bool(session):
        raise InvalidParameterException("Provide either an access token or a session, not both")
    seed = base64.b32encode(secrets.token_bytes(TOTP_SEED_BYTES)).decode("ascii").rstrip("=")
    if access_token:
        pool, user = _user_of_access_token(access_token)
        _pending_totp[(pool.id, user.username)] = seed
        return {"SecretCode": seed}
    setup = _take_setup(session, "challenge")
    _pending_totp[(setup.pool.id, setup.username)] = seed
    return {"SecretCode": seed, "Session": _next_setup(setup, "associated")}


def verify_software_token(access_token: str | None, session: str | None, user_code: str | None) -> dict[str, Any]:
    """Checks the code against the seed AssociateSoftwareToken handed out (current 30 s step),
    then makes it the user's seed, replacing any earlier one. A wrong code: the set-up stays
    pending (its session too) and EnableSoftwareTokenMFAException "Code mismatch", as reported for
    Cognito."""
    if bool(access_token) == bool(session):
        raise InvalidParameterException("Provide either an access token or a session, not both")
    if not user_code:
        raise InvalidParameterException("Missing required parameter UserCode")
    if access_token:
        pool, user = _user_of_access_token(access_token)
        setup = None
        key = (pool.id, user.username)
    else:
        setup = _take_setup(session, "associated")
        pool, user = setup.pool, setup.pool._get_user(setup.login_name)
        key = (pool.id, setup.username)
    seed = _pending_totp.get(key)
    if seed is None:
        raise SoftwareTokenMFANotFoundException("Software Token MFA has not been associated with the user.")
    if not hmac.compare_digest(user_code.encode(), totp_code(seed).encode()):
        log.info("EnableSoftwareTokenMFAException: not the current code of the associated seed")
        if setup is not None:
            with _srp_lock:
                _mfa_setups[session] = setup
        raise EnableSoftwareTokenMFAException("Code mismatch")
    del _pending_totp[key]
    _totp_seeds[key] = seed
    user.token_verified = True
    if setup is None:
        return {"Status": "SUCCESS"}
    return {"Status": "SUCCESS", "Session": _next_setup(setup, "verified")}


def _complete_mfa_setup(backend: CognitoIdpBackend, session: str, client_id: str,
                        responses: dict[str, str]) -> dict[str, Any]:
    """Looseness closed: moto signs in anyone answering MFA_SETUP with a session of the user;
    Cognito wants the session VerifySoftwareToken returned. TOTP is then the user's MFA."""
    setup = _take_setup(session, "verified")
    pool = setup.pool
    client = pool.clients.get(client_id)
    if client is None:
        raise _reject("Invalid session for the user.", "session of another app client's pool")
    user = pool._get_user(setup.login_name)
    _check_secret_hash(client, user.username, responses)
    claimed = responses.get("USERNAME")
    if not claimed:
        raise InvalidParameterException("Missing required parameter USERNAME")
    if pool._get_user(claimed) is not user:
        raise _reject("Incorrect username or password.", f"USERNAME {claimed!r} is not the session's user")
    user.software_token_mfa_enabled = True
    user.preferred_mfa_setting = "SOFTWARE_TOKEN_MFA"
    result = backend._log_user_in(pool, client, setup.login_name)
    _track_device(pool, user, result, responses.get("DEVICE_KEY"))
    return result


def _associate_software_token_response(self: Any) -> Any:
    return ActionResult(associate_software_token(self._get_param("AccessToken"), self._get_param("Session")))


def _verify_software_token_response(self: Any) -> Any:
    return ActionResult(verify_software_token(self._get_param("AccessToken"), self._get_param("Session"),
                                              self._get_param("UserCode")))


def find_user_pool_of_mfa_setup(session: str) -> str | None:
    """For the call counter: the user pool of an MFA set-up session."""
    setup = _mfa_setups.get(session)
    return setup.pool.id if setup else None


# ---------------------------------------------------------------------------------------------
# Patch: RespondToAuthChallenge
# ---------------------------------------------------------------------------------------------


def respond_to_auth_challenge(self: CognitoIdpBackend, session: str, client_id: str,
                              challenge_name: str, challenge_responses: dict[str, str]) -> dict[str, Any]:
    responses = dict(challenge_responses or {})
    if challenge_name == "PASSWORD_VERIFIER":
        return _srp_verify(self, client_id, responses)
    if challenge_name == "SELECT_CHALLENGE":
        return _select_challenge(self, session, client_id, responses)
    if challenge_name == "DEVICE_SRP_AUTH":
        return _device_srp_auth(session, client_id, responses)
    if challenge_name == "DEVICE_PASSWORD_VERIFIER":
        return _device_password_verifier(self, session, client_id, responses)
    if challenge_name == "MFA_SETUP":
        return _complete_mfa_setup(self, session, client_id, responses)

    # Other challenges (NEW_PASSWORD_REQUIRED, SOFTWARE_TOKEN_MFA, SMS_MFA, MFA_SETUP) stay
    # moto's; only SECRET_HASH and USERNAME are checked first (moto checks SECRET_HASH on the MFA
    # answers only, and never that USERNAME is the user the session belongs to).
    entry = self.sessions.get(session) if session else None
    if entry is None:
        return _orig_respond(self, session, client_id, challenge_name, challenge_responses)
    login_name, pool = entry
    client = pool.clients.get(client_id)
    user = pool._get_user(login_name)
    if client is None or user is None:
        return _orig_respond(self, session, client_id, challenge_name, challenge_responses)
    _check_secret_hash(client, user.username, responses)
    claimed = responses.get("USERNAME")
    if not claimed:
        raise InvalidParameterException("Missing required parameter USERNAME")
    if pool._get_user(claimed) is not user:
        raise _reject("Incorrect username or password.", f"USERNAME {claimed!r} is not the session's user")
    # moto mints the tokens for whatever USERNAME says; hand it the login name so the ID token's
    # claims (email in email-login pools) come out as after USER_PASSWORD_AUTH. moto then checks
    # SECRET_HASH again, over that name: give it the one it wants (the real one, over the
    # internal name, was checked above).
    responses["USERNAME"] = login_name
    if client.generate_secret:
        responses["SECRET_HASH"] = secret_hash(client.secret, login_name, client.id)
    if challenge_name != "SOFTWARE_TOKEN_MFA":
        result = _orig_respond(self, session, client_id, challenge_name, responses)
        _mfa_setup_challenge(self, pool, login_name, result)  # after NEW_PASSWORD_REQUIRED
        return result
    # Looseness closed: Cognito refuses a TOTP code already accepted for the user (reported as
    # CodeMismatchException); moto takes it again.
    code = responses.get("SOFTWARE_TOKEN_MFA_CODE") or ""
    used = (pool.id, user.username, code, int(time.time() // 30))
    with _srp_lock:
        if used in _used_totp_codes:
            log.info("CodeMismatchException: TOTP code reused within its step")
            raise CodeMismatchException("Invalid code received for user")
    # Looseness closed: moto checks every user's code against its one fixed seed; Cognito against
    # the seed the user verified (VerifySoftwareToken).
    seed = _totp_seeds.get((pool.id, user.username))
    if seed is None or not hmac.compare_digest(code.encode(), totp_code(seed).encode()):
        log.info("CodeMismatchException: not the current TOTP code of the user's verified seed")
        raise CodeMismatchException("Invalid code received for user")
    result = _orig_respond(self, session, client_id, challenge_name, responses)
    with _srp_lock:
        _used_totp_codes.add(used)
    _track_device(pool, user, result, None)
    return result


# (pool, user, code, step) of every TOTP code accepted.
_used_totp_codes: set[tuple] = set()


def _srp_verify(backend: CognitoIdpBackend, client_id: str, responses: dict[str, str]) -> dict[str, Any]:
    """Looseness closed: moto accepts any PASSWORD_CLAIM_SIGNATURE, i.e. any password."""
    block_b64 = responses.get("PASSWORD_CLAIM_SECRET_BLOCK") or ""
    with _srp_lock:
        # One answer per challenge, right or wrong: no offline-free password guessing, no replay.
        state = _srp_sessions.pop(block_b64, None)
    if state is None or state.expires_at < time.monotonic() or state.client_id != client_id:
        raise _reject("Invalid session for the user.", "unknown, used or expired SECRET_BLOCK")
    pool = state.pool
    client = pool.clients.get(client_id)
    user = pool.users.get(state.user_id_for_srp)
    if client is None or user is None:
        raise _reject("Invalid session for the user.", "client or user deleted since InitiateAuth")

    # Cognito checks the answer's SECRET_HASH over USER_ID_FOR_SRP, not over the login name.
    _check_secret_hash(client, state.user_id_for_srp, responses)
    claimed = responses.get("USERNAME")
    if not claimed:
        raise InvalidParameterException("Missing required parameter USERNAME")
    if pool._get_user(claimed) is not user:
        raise _reject("Incorrect username or password.", f"USERNAME {claimed!r} is not the challenged user")

    timestamp = responses.get("TIMESTAMP") or ""
    if not TIMESTAMP_RE.fullmatch(timestamp):
        # Cognito reads the timestamp back in its own format; a zero-padded day ("Nov 03")
        # therefore fails as a wrong password did for early SRP clients.
        raise _reject("Incorrect username or password.", f"TIMESTAMP {timestamp!r} is not 'EEE MMM d HH:mm:ss UTC yyyy'")
    # Cognito refuses a TIMESTAMP too far from its own clock (reported at about five minutes),
    # with the same words as a wrong password: what a skewed host clock looks like to a client.
    stated = datetime.datetime.strptime(timestamp, "%a %b %d %H:%M:%S UTC %Y").replace(tzinfo=datetime.timezone.utc)
    off_by = abs((stated - datetime.datetime.now(datetime.timezone.utc)).total_seconds())
    if off_by > TIMESTAMP_TOLERANCE_S:
        raise _reject("Incorrect username or password.", f"TIMESTAMP {timestamp!r} is {off_by:.0f} s from the server's clock")
    try:
        signature = base64.b64decode(responses.get("PASSWORD_CLAIM_SIGNATURE") or "", validate=True)
    except binascii.Error:
        raise _reject("Incorrect username or password.", "PASSWORD_CLAIM_SIGNATURE is not base64")

    u = srp_u(state.big_a, state.big_b)
    if u == 0:
        raise _reject("Incorrect username or password.", "u = 0")
    big_s = pow(state.big_a * pow(state.verifier, u, N) % N, state.small_b, N)
    key = hkdf_16(pad(big_s), pad(u))
    expected = claim_signature(key, pool.id, state.user_id_for_srp, state.secret_block, timestamp)
    if not hmac.compare_digest(signature, expected):
        raise _reject("Incorrect username or password.", "PASSWORD_CLAIM_SIGNATURE does not match the password")

    # The proof is good: let moto decide what follows (tokens, NEW_PASSWORD_REQUIRED, MFA), as it
    # would have. It keys the session by the secret block; hand it a fresh opaque one instead.
    session = _new_session_token()
    backend.sessions[session] = (state.login_name, pool)
    result = _orig_respond(backend, session, client_id, "PASSWORD_VERIFIER", {
        **responses,
        "USERNAME": state.login_name,
        "PASSWORD_CLAIM_SECRET_BLOCK": session,
    })
    device_key = responses.get("DEVICE_KEY")
    if _remembered_device(pool, user, device_key):
        # A remembered device proves itself instead of answering MFA.
        backend.sessions.pop(session, None)
        return _device_challenge(pool, client_id, user, state.login_name, device_key)
    if result.get("ChallengeName"):
        # Clients answer the next challenge as USER_ID_FOR_SRP (amazon-cognito-identity-js sets
        # its username to it); say so, where moto puts the login name or nothing.
        params = dict(result.get("ChallengeParameters") or {})
        params["USERNAME"] = state.user_id_for_srp
        params["USER_ID_FOR_SRP"] = state.user_id_for_srp
        result["ChallengeParameters"] = params
        _mfa_setup_challenge(backend, pool, state.login_name, result)
    else:
        backend.sessions.pop(session, None)
        _track_device(pool, user, result, device_key)
    return result


# ---------------------------------------------------------------------------------------------
# Patch: token lifetimes
# ---------------------------------------------------------------------------------------------

_UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
_orig_create_jwt = CognitoIdpUserPool.create_jwt


def token_validity_seconds(client: Any, token_use: str) -> int | None:
    """IdTokenValidity / AccessTokenValidity in TokenValidityUnits (default hours), as Cognito.
    Values under Cognito's 5-minute minimum are allowed on purpose: tests need ~20 s tokens."""
    if client is None or token_use not in ("id", "access"):
        return None
    config = client.extended_config
    prefix = "IdToken" if token_use == "id" else "AccessToken"
    value = config.get(f"{prefix}Validity")
    if value is None:
        return None
    unit = (config.get("TokenValidityUnits") or {}).get(prefix, "hours")
    return int(value) * _UNIT_SECONDS.get(unit, 3600)


def create_jwt(self: CognitoIdpUserPool, client_id: str, username: str, token_use: str,
               expires_in: int = 60 * 60, extra_data: dict[str, Any] | None = None):
    """Looseness closed: moto makes every ID and access token last 1 h whatever the app client
    says. Every issuing path (login, challenge answers, refresh) goes through here, and ExpiresIn
    is the access token's lifetime as moto returns it."""
    wanted = token_validity_seconds(self.clients.get(client_id), token_use)
    return _orig_create_jwt(self, client_id, username, token_use,
                            expires_in=wanted if wanted is not None else expires_in,
                            extra_data=extra_data)


# ---------------------------------------------------------------------------------------------
# Patch: identity credential lifetime
# ---------------------------------------------------------------------------------------------

DEFAULT_IDENTITY_TTL = 90  # moto's own value
_identity_ttl_global: int | None = None
_identity_ttl_by_pool: dict[str, int] = {}
_orig_get_credentials = identity_models.CognitoIdentityBackend.get_credentials_for_identity


def set_identity_ttl(seconds: int | None, identity_pool_id: str | None = None) -> None:
    """None restores moto's 90 s (for that pool, or for all pools without their own value)."""
    global _identity_ttl_global
    if identity_pool_id:
        if seconds is None:
            _identity_ttl_by_pool.pop(identity_pool_id, None)
        else:
            _identity_ttl_by_pool[identity_pool_id] = seconds
    else:
        _identity_ttl_global = seconds


def identity_ttl(identity_pool_id: str | None = None) -> int:
    if identity_pool_id and identity_pool_id in _identity_ttl_by_pool:
        return _identity_ttl_by_pool[identity_pool_id]
    return _identity_ttl_global if _identity_ttl_global is not None else DEFAULT_IDENTITY_TTL


def _identity_pool_of(backend: Any, identity_id: str) -> str | None:
    # get_id files identities under the backend of the region in the pool id, which is also the
    # prefix of the identity id.
    region = identity_id.split(":", 1)[0]
    try:
        regional = identity_models.cognitoidentity_backends[backend.account_id][region]
    except Exception:  # an identity id that names no region moto knows
        return None
    for pool_id, entry in regional.pools_identities.items():
        if any(i.get("IdentityId") == identity_id for i in entry.get("Identities", [])):
            return pool_id
    return None


def get_credentials_for_identity(self: Any, identity_id: str) -> str:
    """Looseness closed: moto fixes the lifetime at 90 s, and computes it from a naive UTC
    datetime's .timestamp(), which is off by the local UTC offset unless TZ is UTC. Tests set the
    lifetime through GET /_test/identity-ttl."""
    body = json.loads(_orig_get_credentials(self, identity_id))
    ttl = identity_ttl(_identity_pool_of(self, identity_id))
    body["Credentials"]["Expiration"] = time.time() + ttl
    return json.dumps(body)


# ---------------------------------------------------------------------------------------------


def find_user_pool_of_access_token(access_token: str) -> str | None:
    """For the call counter: the user pool that issued an access token (ConfirmDevice, ...)."""
    try:
        return _pool_of_access_token(access_token).id
    except NotAuthorizedError:
        return None


def find_user_pool_of_client(client_id: str) -> str | None:
    """For the call counter: which user pool an unsigned cognito-idp call is about."""
    for account_backends in idp_models.cognitoidp_backends.values():
        for region, backend in account_backends.items():
            if region == "global":
                continue
            for pool in backend.user_pools.values():
                if client_id in pool.clients:
                    return pool.id
    return None


_installed = False


def install() -> None:
    """Apply every patch once; idempotent."""
    global _installed
    if _installed:
        return
    CognitoIdpBackend.initiate_auth = initiate_auth
    CognitoIdpBackend.respond_to_auth_challenge = respond_to_auth_challenge
    CognitoIdpUserPool.create_jwt = create_jwt
    CognitoIdpResponse.get_tokens_from_refresh_token = _get_tokens_from_refresh_token_response
    CognitoIdpResponse.confirm_device = _confirm_device_response
    CognitoIdpResponse.update_device_status = _update_device_status_response
    CognitoIdpResponse.associate_software_token = _associate_software_token_response
    CognitoIdpResponse.verify_software_token = _verify_software_token_response
    # Codes are checked here, against each user's own seed; moto's check (against its one fixed
    # seed, on SOFTWARE_TOKEN_MFA) must not run as well.
    idp_models.get_cognito_idp_user_pool_enable_totp = lambda: False
    identity_models.CognitoIdentityBackend.get_credentials_for_identity = get_credentials_for_identity
    _installed = True
