"""Quick check of the emulator fixture, with boto3 and pycognito as independent clients.

    python selftest.py          (run with the venv's python; exits non-zero on any failure)

Starts server.py on port 0, seeds users with seed.py's function and checks that the emulator is
as strict as Cognito where cognito_strict says it is. Ends with "N passed, N failed".
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
import sys
import time
import traceback
import urllib.request

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from pycognito import aws_srp
from pycognito.aws_srp import AWSSRP

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cognito_strict  # noqa: E402  (pure functions only; the server runs in its own process)
from seed import fresh_totp_code, secret_hash, seed  # noqa: E402

PASSWORD = "Corr3ct-h0rse-bättery"
results: list[tuple[str, bool]] = []


def check(name: str):
    """Run one named check; record and print its outcome instead of stopping at the first."""
    def wrap(fn):
        try:
            fn()
        except Exception as err:  # noqa: BLE001
            results.append((name, False))
            print(f"FAIL {name}: {err!r}")
            traceback.print_exc(limit=3)
        else:
            results.append((name, True))
            print(f"ok   {name}")
        return fn
    return wrap


def expect_error(code: str, message_part: str, fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except ClientError as err:
        got_code, got_message = err.response["Error"]["Code"], err.response["Error"]["Message"]
        assert got_code == code and message_part in got_message, f"got {got_code}: {got_message!r}"
        return
    raise AssertionError(f"expected {code} ({message_part!r}), the call succeeded")


def jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class Emulator:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "server.py"), "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.port = json.loads(line)["port"]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        # The daemon's own calls are unsigned; so are these, to take the same path through moto.
        unsigned = Config(signature_version=UNSIGNED, retries={"max_attempts": 1})
        self.idp = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=self.endpoint, config=unsigned)
        self.identity = boto3.client("cognito-identity", region_name="us-east-1", endpoint_url=self.endpoint,
                                     config=unsigned)

    def seed(self, username: str, **kwargs) -> dict:
        return seed(self.endpoint, kwargs.pop("region", "us-east-1"), username, PASSWORD, **kwargs)

    def get(self, path: str, method: str = "GET") -> dict:
        req = urllib.request.Request(self.endpoint + path, method=method)
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def stop(self) -> tuple[int, str]:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err


def cognito_time(offset_s: int) -> str:
    """Now plus offset_s, written as Cognito's TIMESTAMP (day of month without a zero)."""
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_s)
    return f"{t:%a %b} {t.day} {t:%H:%M:%S} UTC {t.year}"


def srp(emu: Emulator, user: dict, username: str | None = None, password: str = PASSWORD,
        with_secret: bool = True) -> AWSSRP:
    return AWSSRP(username=username or user["username"], password=password, pool_id=user["user_pool_id"],
                  client_id=user["client_id"], client=emu.idp,
                  client_secret=user["client_secret"] if with_secret else None)


def srp_challenge(emu: Emulator, user: dict, username: str | None = None) -> tuple[AWSSRP, dict, dict]:
    """InitiateAuth USER_SRP_AUTH by hand; returns the client, its auth params and the challenge."""
    client = srp(emu, user, username)
    params = client.get_auth_params()
    challenge = emu.idp.initiate_auth(ClientId=user["client_id"], AuthFlow="USER_SRP_AUTH", AuthParameters=params)
    return client, params, challenge


def answer(emu: Emulator, user: dict, responses: dict) -> dict:
    return emu.idp.respond_to_auth_challenge(ClientId=user["client_id"], ChallengeName="PASSWORD_VERIFIER",
                                             ChallengeResponses=responses)


def run(emu: Emulator) -> None:
    plain = emu.seed("alice")
    secret = emu.seed("carol", client_secret=True)
    email = emu.seed("dave@example.com", email_login=True, client_secret=True, region="eu-west-1")

    @check("vectors: tests/vectors/srp.json (pycognito) agrees with cognito_strict's server-side math")
    def _():
        with open(os.path.join(HERE, "..", "vectors", "srp.json"), encoding="utf-8") as f:
            doc = json.load(f)
        assert len(doc["cases"]) >= 4
        for case in doc["cases"]:
            h = lambda k: int(case[k], 16)  # noqa: E731
            salt, big_a, big_b, b = h("salt_hex"), h("expected_A_hex"), h("B_hex"), h("b_hex")
            x = cognito_strict.srp_x(case["pool_id"], case["user_id_for_srp"], case["password"], salt)
            assert x == h("expected_x_hex"), case["name"]
            assert pow(2, h("a_hex"), cognito_strict.N) == big_a
            v = pow(2, x, cognito_strict.N)
            assert big_b == (cognito_strict.K * v + pow(2, b, cognito_strict.N)) % cognito_strict.N
            u = cognito_strict.srp_u(big_a, big_b)
            assert u == h("expected_u_hex"), case["name"]
            s = pow(big_a * pow(v, u, cognito_strict.N) % cognito_strict.N, b, cognito_strict.N)
            assert s == h("expected_S_hex"), case["name"]
            key = cognito_strict.hkdf_16(cognito_strict.pad(s), cognito_strict.pad(u))
            assert key.hex() == case["expected_hkdf_hex"], case["name"]
            sig = cognito_strict.claim_signature(key, case["pool_id"], case["user_id_for_srp"],
                                                 base64.b64decode(case["secret_block_b64"]), case["timestamp"])
            assert base64.b64encode(sig).decode() == case["expected_signature_b64"], case["name"]
        for t in doc["timestamps"]:
            assert cognito_strict.TIMESTAMP_RE.fullmatch(t["timestamp"]), t

    @check("SRP: pycognito signs in; ExpiresIn is moto's default 3600")
    def _():
        tokens = srp(emu, plain).authenticate_user()
        result = tokens["AuthenticationResult"]
        assert result["ExpiresIn"] == 3600 and result["RefreshToken"], result
        assert jwt_claims(result["IdToken"])["sub"] == plain["user_sub"]

    @check("SRP: challenge is well formed (hex SALT/SRP_B, base64 SECRET_BLOCK, internal USER_ID_FOR_SRP, no Session)")
    def _():
        _, _, challenge = srp_challenge(emu, plain)
        params = challenge["ChallengeParameters"]
        assert challenge["ChallengeName"] == "PASSWORD_VERIFIER"
        assert "Session" not in challenge, challenge.get("Session")
        int(params["SALT"], 16), int(params["SRP_B"], 16)
        block = base64.b64decode(params["SECRET_BLOCK"], validate=True)
        assert len(block) >= 256 and "-" not in params["SECRET_BLOCK"]
        assert params["USER_ID_FOR_SRP"] == params["USERNAME"] == "alice", params

    @check("SRP: wrong password -> NotAuthorizedException 'Incorrect username or password.'")
    def _():
        expect_error("NotAuthorizedException", "Incorrect username or password.",
                     srp(emu, plain, password="wrong-password").authenticate_user)

    @check("SRP: a secret block is good for one answer only")
    def _():
        client, params, challenge = srp_challenge(emu, plain)
        responses = client.process_challenge(challenge["ChallengeParameters"], params)
        assert "AuthenticationResult" in answer(emu, plain, responses)
        expect_error("NotAuthorizedException", "", answer, emu, plain, responses)

    @check("SRP: A = 0 mod N is refused")
    def _():
        for bad in ("0", cognito_strict.N_HEX.lower(), f"{2 * cognito_strict.N:x}"):
            expect_error("InvalidParameterException", "", emu.idp.initiate_auth, ClientId=plain["client_id"],
                         AuthFlow="USER_SRP_AUTH", AuthParameters={"USERNAME": "alice", "SRP_A": bad})

    @check("SRP: TIMESTAMP with a zero-padded day is refused even when signed correctly")
    def _():
        saved = AWSSRP.__dict__["get_cognito_formatted_timestamp"]  # the staticmethod object itself
        AWSSRP.get_cognito_formatted_timestamp = staticmethod(
            lambda dt: datetime.datetime(2026, 11, 3, 7, 5, 9).strftime("%a %b %d %H:%M:%S UTC %Y"))
        try:
            expect_error("NotAuthorizedException", "Incorrect username or password.",
                         srp(emu, plain).authenticate_user)
        finally:
            AWSSRP.get_cognito_formatted_timestamp = saved
        # A day written without the zero signs in (now, since the server checks the time too).
        AWSSRP.get_cognito_formatted_timestamp = staticmethod(lambda dt: cognito_time(0))
        try:
            assert "AuthenticationResult" in srp(emu, plain).authenticate_user()
        finally:
            AWSSRP.get_cognito_formatted_timestamp = saved

    @check("SRP: TIMESTAMP more than 5 minutes from the server's clock is refused, 30 s accepted")
    def _():
        saved = AWSSRP.__dict__["get_cognito_formatted_timestamp"]
        try:
            for off_by in (360, -360):
                AWSSRP.get_cognito_formatted_timestamp = staticmethod(lambda dt, o=off_by: cognito_time(o))
                expect_error("NotAuthorizedException", "Incorrect username or password.",
                             srp(emu, plain).authenticate_user)
            AWSSRP.get_cognito_formatted_timestamp = staticmethod(lambda dt: cognito_time(30))
            assert "AuthenticationResult" in srp(emu, plain).authenticate_user()
        finally:
            AWSSRP.get_cognito_formatted_timestamp = saved

    @check("SECRET_HASH on SRP: missing / wrong refused on InitiateAuth, right accepted")
    def _():
        cid = secret["client_id"]
        expect_error("NotAuthorizedException", f"Client {cid} is configured with secret but SECRET_HASH was not received",
                     srp(emu, secret, with_secret=False).authenticate_user)
        params = srp(emu, secret).get_auth_params()
        params["SECRET_HASH"] = secret_hash(secret["client_secret"], "someone-else", cid)
        expect_error("NotAuthorizedException", f"Unable to verify secret hash for client {cid}",
                     emu.idp.initiate_auth, ClientId=cid, AuthFlow="USER_SRP_AUTH", AuthParameters=params)
        assert "AuthenticationResult" in srp(emu, secret).authenticate_user()

    @check("SECRET_HASH on SRP: missing / wrong refused on RespondToAuthChallenge")
    def _():
        cid = secret["client_id"]
        client, params, challenge = srp_challenge(emu, secret)
        responses = client.process_challenge(challenge["ChallengeParameters"], params)
        del responses["SECRET_HASH"]
        expect_error("NotAuthorizedException", "configured with secret but SECRET_HASH was not received",
                     answer, emu, secret, responses)
        client, params, challenge = srp_challenge(emu, secret)
        responses = client.process_challenge(challenge["ChallengeParameters"], params)
        responses["SECRET_HASH"] = secret_hash(secret["client_secret"], "nobody", cid)
        expect_error("NotAuthorizedException", f"Unable to verify secret hash for client {cid}",
                     answer, emu, secret, responses)

    @check("SECRET_HASH on USER_PASSWORD_AUTH: missing / wrong refused, right accepted")
    def _():
        cid, name = secret["client_id"], secret["username"]

        def login(extra):
            return emu.idp.initiate_auth(ClientId=cid, AuthFlow="USER_PASSWORD_AUTH",
                                         AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD, **extra})
        expect_error("NotAuthorizedException", "SECRET_HASH was not received", login, {})
        expect_error("NotAuthorizedException", "Unable to verify secret hash",
                     login, {"SECRET_HASH": secret_hash(secret["client_secret"], name + "x", cid)})
        assert "AuthenticationResult" in login({"SECRET_HASH": secret_hash(secret["client_secret"], name, cid)})

    @check("SECRET_HASH on REFRESH_TOKEN_AUTH: missing / wrong refused, right accepted; bound to its client")
    def _():
        cid = secret["client_id"]
        refresh = srp(emu, secret).authenticate_user()["AuthenticationResult"]["RefreshToken"]

        def renew(extra, client_id=cid):
            return emu.idp.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                         AuthParameters={"REFRESH_TOKEN": refresh, **extra})
        expect_error("NotAuthorizedException", "SECRET_HASH was not received", renew, {})
        expect_error("NotAuthorizedException", "Unable to verify secret hash",
                     renew, {"SECRET_HASH": secret_hash(secret["client_secret"], "x", cid)})
        result = renew({"SECRET_HASH": secret_hash(secret["client_secret"], "carol", cid)})["AuthenticationResult"]
        assert result["AccessToken"] and "RefreshToken" not in result
        # A refresh token is good only with the client it was issued to, even in the same pool.
        admin = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=emu.endpoint,
                             aws_access_key_id="testing", aws_secret_access_key="testing")
        other = admin.create_user_pool_client(UserPoolId=secret["user_pool_id"], ClientName="other",
                                              ExplicitAuthFlows=["ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]
        expect_error("NotAuthorizedException", "Invalid Refresh Token", renew, {}, client_id=other["ClientId"])

    @check("email login: SRP with the email; USER_ID_FOR_SRP is the internal id (= sub); SECRET_HASH over it")
    def _():
        cid, sub = email["client_id"], email["user_sub"]
        client, params, challenge = srp_challenge(emu, email)
        assert challenge["ChallengeParameters"]["USER_ID_FOR_SRP"] == sub, challenge["ChallengeParameters"]
        responses = client.process_challenge(challenge["ChallengeParameters"], params)
        assert responses["USERNAME"] == sub
        result = answer(emu, email, responses)["AuthenticationResult"]
        assert jwt_claims(result["IdToken"])["email"] == email["username"]
        # The mistake several SRP libraries make: the answer's SECRET_HASH over the login name.
        client, params, challenge = srp_challenge(emu, email)
        responses = client.process_challenge(challenge["ChallengeParameters"], params)
        responses["SECRET_HASH"] = secret_hash(email["client_secret"], email["username"], cid)
        expect_error("NotAuthorizedException", "Unable to verify secret hash", answer, emu, email, responses)
        # Refresh: over the internal id, not the email.
        refresh = result["RefreshToken"]
        expect_error("NotAuthorizedException", "Unable to verify secret hash", emu.idp.initiate_auth,
                     ClientId=cid, AuthFlow="REFRESH_TOKEN_AUTH",
                     AuthParameters={"REFRESH_TOKEN": refresh,
                                     "SECRET_HASH": secret_hash(email["client_secret"], email["username"], cid)})
        emu.idp.initiate_auth(ClientId=cid, AuthFlow="REFRESH_TOKEN_AUTH",
                              AuthParameters={"REFRESH_TOKEN": refresh,
                                              "SECRET_HASH": secret_hash(email["client_secret"], sub, cid)})

    @check("token validity 20 s: ExpiresIn and exp on login and refresh")
    def _():
        short = emu.seed("erin", token_validity_seconds=20)
        result = srp(emu, short).authenticate_user()["AuthenticationResult"]
        assert result["ExpiresIn"] == 20, result["ExpiresIn"]
        for token in (result["IdToken"], result["AccessToken"]):
            claims = jwt_claims(token)
            assert claims["exp"] - claims["iat"] == 20, claims
        renewed = emu.idp.initiate_auth(ClientId=short["client_id"], AuthFlow="REFRESH_TOKEN_AUTH",
                                        AuthParameters={"REFRESH_TOKEN": result["RefreshToken"]})
        assert renewed["AuthenticationResult"]["ExpiresIn"] == 20

    @check("NEW_PASSWORD_REQUIRED after SRP, then the new password works")
    def _():
        user = emu.seed("frank", force_change_password=True, client_secret=True)
        result = srp(emu, user).set_new_password_challenge("N3w-password!")
        assert "AuthenticationResult" in result, result
        expect_error("NotAuthorizedException", "Incorrect", srp(emu, user).authenticate_user)
        assert "AuthenticationResult" in srp(emu, user, password="N3w-password!").authenticate_user()

    @check("SOFTWARE_TOKEN_MFA after SRP: wrong code refused, right code accepted")
    def _():
        user = emu.seed("grace", mfa_totp=True)
        client, params, challenge = srp_challenge(emu, user)
        step = answer(emu, user, client.process_challenge(challenge["ChallengeParameters"], params))
        assert step["ChallengeName"] == "SOFTWARE_TOKEN_MFA" and step["Session"], step
        uid = step["ChallengeParameters"]["USER_ID_FOR_SRP"]

        def mfa(code):
            return emu.idp.respond_to_auth_challenge(
                ClientId=user["client_id"], ChallengeName="SOFTWARE_TOKEN_MFA", Session=step["Session"],
                ChallengeResponses={"USERNAME": uid, "SOFTWARE_TOKEN_MFA_CODE": code})
        right = fresh_totp_code(user["totp_secret"])
        expect_error("CodeMismatchException", "", mfa, f"{(int(right) + 1) % 1000000:06d}")
        assert "AuthenticationResult" in mfa(right)

    @check("TOTP seeds: each user its own random 32-character seed; another user's code is refused")
    def _():
        one, two = emu.seed("ivan", mfa_totp=True), emu.seed("judy", mfa_totp=True)
        assert one["totp_secret"] != two["totp_secret"], "one seed for every user, as stock moto"
        for seed_b32 in (one["totp_secret"], two["totp_secret"]):
            assert len(seed_b32) == 32 and base64.b32decode(seed_b32), seed_b32
        client, params, challenge = srp_challenge(emu, one)
        step = answer(emu, one, client.process_challenge(challenge["ChallengeParameters"], params))
        expect_error("CodeMismatchException", "", emu.idp.respond_to_auth_challenge,
                     ClientId=one["client_id"], ChallengeName="SOFTWARE_TOKEN_MFA", Session=step["Session"],
                     ChallengeResponses={"USERNAME": "ivan", "SOFTWARE_TOKEN_MFA_CODE": fresh_totp_code(two["totp_secret"])})

    def mfa_setup_challenge(user: dict) -> dict:
        client, params, challenge = srp_challenge(emu, user)
        step = answer(emu, user, client.process_challenge(challenge["ChallengeParameters"], params))
        assert step["ChallengeName"] == "MFA_SETUP" and step["Session"], step
        # Cognito's challenge parameters are strings: the list is JSON inside one.
        assert json.loads(step["ChallengeParameters"]["MFAS_CAN_SETUP"]) == ["SOFTWARE_TOKEN_MFA"], step
        return step

    @check("MFA_SETUP (pool requires MFA, user has none): enrolment by session, checked step by step")
    def _():
        user = emu.seed("kate", mfa="ON", client_secret=True)
        sh = secret_hash(user["client_secret"], "kate", user["client_id"])

        def complete(session):
            return emu.idp.respond_to_auth_challenge(
                ClientId=user["client_id"], ChallengeName="MFA_SETUP", Session=session,
                ChallengeResponses={"USERNAME": "kate", "SECRET_HASH": sh})
        # The challenge's own session does not complete MFA_SETUP: enrolling comes first.
        expect_error("NotAuthorizedException", "Invalid session", complete, mfa_setup_challenge(user)["Session"])
        step = mfa_setup_challenge(user)
        associated = emu.idp.associate_software_token(Session=step["Session"])
        seed_b32 = associated["SecretCode"]
        assert len(seed_b32) == 32 and associated["Session"] not in ("", step["Session"]), associated
        # Each session serves one step.
        expect_error("NotAuthorizedException", "Invalid session", emu.idp.associate_software_token,
                     Session=step["Session"])
        right = fresh_totp_code(seed_b32)
        expect_error("EnableSoftwareTokenMFAException", "Code mismatch", emu.idp.verify_software_token,
                     Session=associated["Session"], UserCode=f"{(int(right) + 1) % 1000000:06d}")
        verified = emu.idp.verify_software_token(Session=associated["Session"], UserCode=right)
        assert verified["Status"] == "SUCCESS" and verified["Session"], verified
        expect_error("NotAuthorizedException", "Invalid session", complete, associated["Session"])
        assert "AuthenticationResult" in complete(verified["Session"])
        # From now on the user answers SOFTWARE_TOKEN_MFA with the new seed.
        client, params, challenge = srp_challenge(emu, user)
        step = answer(emu, user, client.process_challenge(challenge["ChallengeParameters"], params))
        assert step["ChallengeName"] == "SOFTWARE_TOKEN_MFA", step
        done = emu.idp.respond_to_auth_challenge(
            ClientId=user["client_id"], ChallengeName="SOFTWARE_TOKEN_MFA", Session=step["Session"],
            ChallengeResponses={"USERNAME": "kate", "SECRET_HASH": sh,
                                "SOFTWARE_TOKEN_MFA_CODE": fresh_totp_code(seed_b32)})
        assert "AuthenticationResult" in done

    @check("USER_PASSWORD_AUTH in a pool requiring MFA answers MFA_SETUP, not tokens")
    def _():
        user = emu.seed("leon", mfa="ON")
        step = emu.idp.initiate_auth(ClientId=user["client_id"], AuthFlow="USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": "leon", "PASSWORD": PASSWORD})
        assert step.get("ChallengeName") == "MFA_SETUP" and "AuthenticationResult" not in step, step
        assert step["ChallengeParameters"]["USER_ID_FOR_SRP"] == "leon", step
        assert emu.idp.associate_software_token(Session=step["Session"])["Session"]

    @check("Enrolment by access token: Associate, Verify (code checked), SetUserMFAPreference")
    def _():
        user = emu.seed("mona", mfa="OPTIONAL")
        access = srp(emu, user).authenticate_user()["AuthenticationResult"]["AccessToken"]
        expect_error("SoftwareTokenMFANotFoundException", "", emu.idp.verify_software_token,
                     AccessToken=access, UserCode="123456")
        expect_error("InvalidParameterException", "", emu.idp.associate_software_token,
                     AccessToken=access, Session="x" * 40)
        associated = emu.idp.associate_software_token(AccessToken=access)
        seed_b32 = associated["SecretCode"]
        assert "Session" not in associated and seed_b32 != "asdfasdfasdf", associated
        right = fresh_totp_code(seed_b32)
        expect_error("EnableSoftwareTokenMFAException", "Code mismatch", emu.idp.verify_software_token,
                     AccessToken=access, UserCode=f"{(int(right) + 1) % 1000000:06d}")
        assert emu.idp.verify_software_token(AccessToken=access, UserCode=right)["Status"] == "SUCCESS"
        emu.idp.set_user_mfa_preference(AccessToken=access,
                                        SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})
        client, params, challenge = srp_challenge(emu, user)
        step = answer(emu, user, client.process_challenge(challenge["ChallengeParameters"], params))
        assert step["ChallengeName"] == "SOFTWARE_TOKEN_MFA", step
        assert "AuthenticationResult" in emu.idp.respond_to_auth_challenge(
            ClientId=user["client_id"], ChallengeName="SOFTWARE_TOKEN_MFA", Session=step["Session"],
            ChallengeResponses={"USERNAME": "mona", "SOFTWARE_TOKEN_MFA_CODE": fresh_totp_code(seed_b32)})

    @check("ExplicitAuthFlows: a flow the client does not allow is refused")
    def _():
        admin = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=emu.endpoint,
                             aws_access_key_id="testing", aws_secret_access_key="testing")
        cid = admin.create_user_pool_client(UserPoolId=plain["user_pool_id"], ClientName="srp-only",
                                            ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH"])["UserPoolClient"]["ClientId"]
        expect_error("InvalidParameterException", "Auth flow not enabled for this client", emu.idp.initiate_auth,
                     ClientId=cid, AuthFlow="USER_PASSWORD_AUTH",
                     AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD})

    @check("GetTokensFromRefreshToken: rotation issues a new token, retires the old after the grace period")
    def _():
        def sign_in(user):
            params = {"USERNAME": user["username"], "PASSWORD": PASSWORD}
            if user["client_secret"]:
                params["SECRET_HASH"] = secret_hash(user["client_secret"], user["username"], user["client_id"])
            return emu.idp.initiate_auth(ClientId=user["client_id"], AuthFlow="USER_PASSWORD_AUTH",
                                         AuthParameters=params)["AuthenticationResult"]["RefreshToken"]

        def renew(user, token, secret=None):
            return emu.idp.get_tokens_from_refresh_token(
                ClientId=user["client_id"], RefreshToken=token,
                ClientSecret=secret or user["client_secret"])["AuthenticationResult"]

        # Without rotation: new ID and access tokens, no new refresh token, the old one goes on.
        plain_rt = sign_in(secret)
        result = renew(secret, plain_rt)
        assert "IdToken" in result and "RefreshToken" not in result, result
        renew(secret, plain_rt)
        expect_error("NotAuthorizedException", "Unable to verify secret", renew, secret, plain_rt, "w" * 40)
        # With rotation and a 2 s grace period.
        rotating = emu.seed("rita", client_secret=True, refresh_token_rotation=2)
        old = sign_in(rotating)
        new = renew(rotating, old)["RefreshToken"]
        assert new != old
        renew(rotating, old)  # within the grace period: still accepted
        time.sleep(2.1)
        expect_error("RefreshTokenReuseException", "", renew, rotating, old)
        assert "RefreshToken" in renew(rotating, new)
        expect_error("InvalidParameterException", "", emu.idp.initiate_auth, ClientId=rotating["client_id"],
                     AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": new})

    @check("USER_AUTH: refused without ALLOW_USER_AUTH; SELECT_CHALLENGE lists the factors; PASSWORD answers")
    def _():
        expect_error("InvalidParameterException", "Auth flow not enabled", emu.idp.initiate_auth,
                     ClientId=plain["client_id"], AuthFlow="USER_AUTH", AuthParameters={"USERNAME": "alice"})
        chooser = emu.seed("uma", user_auth=True)
        out = emu.idp.initiate_auth(ClientId=chooser["client_id"], AuthFlow="USER_AUTH",
                                    AuthParameters={"USERNAME": "uma"})
        assert out["ChallengeName"] == "SELECT_CHALLENGE", out
        assert out["AvailableChallenges"] == ["PASSWORD_SRP", "PASSWORD"], out
        tokens = emu.idp.respond_to_auth_challenge(
            ClientId=chooser["client_id"], ChallengeName="SELECT_CHALLENGE", Session=out["Session"],
            ChallengeResponses={"USERNAME": "uma", "ANSWER": "PASSWORD", "PASSWORD": PASSWORD})
        assert "IdToken" in tokens["AuthenticationResult"], tokens
        out = emu.idp.initiate_auth(ClientId=chooser["client_id"], AuthFlow="USER_AUTH",
                                    AuthParameters={"USERNAME": "uma"})
        expect_error("NotAuthorizedException", "Incorrect username or password", emu.idp.respond_to_auth_challenge,
                     ClientId=chooser["client_id"], ChallengeName="SELECT_CHALLENGE", Session=out["Session"],
                     ChallengeResponses={"USERNAME": "uma", "ANSWER": "PASSWORD", "PASSWORD": "wrong-one"})
        # A passwordless-only pool offers no password challenge at all.
        otp = emu.seed("ola", user_auth=True, first_auth_factors=["EMAIL_OTP"])
        out = emu.idp.initiate_auth(ClientId=otp["client_id"], AuthFlow="USER_AUTH",
                                    AuthParameters={"USERNAME": "ola", "PREFERRED_CHALLENGE": "PASSWORD_SRP",
                                                    "SRP_A": "ab"})
        assert out["AvailableChallenges"] == ["EMAIL_OTP"], out

    @check("Devices: NewDeviceMetadata after MFA, ConfirmDevice, pycognito's DEVICE_SRP_AUTH skips MFA")
    def _():
        user = emu.seed("devi", mfa_totp=True, device_tracking="always")
        client = srp(emu, user)
        challenge = emu.idp.initiate_auth(ClientId=user["client_id"], AuthFlow="USER_SRP_AUTH",
                                          AuthParameters=client.get_auth_params())
        mfa = answer(emu, user, client.process_challenge(challenge["ChallengeParameters"],
                                                         client.get_auth_params()))
        assert mfa["ChallengeName"] == "SOFTWARE_TOKEN_MFA", mfa
        done = emu.idp.respond_to_auth_challenge(
            ClientId=user["client_id"], ChallengeName="SOFTWARE_TOKEN_MFA", Session=mfa["Session"],
            ChallengeResponses={"USERNAME": "devi", "SOFTWARE_TOKEN_MFA_CODE": fresh_totp_code(user["totp_secret"])})
        meta = done["AuthenticationResult"]["NewDeviceMetadata"]
        password, config = aws_srp.generate_hash_device(meta["DeviceGroupKey"], meta["DeviceKey"])
        confirmed = emu.idp.confirm_device(AccessToken=done["AuthenticationResult"]["AccessToken"],
                                           DeviceKey=meta["DeviceKey"], DeviceSecretVerifierConfig=config)
        assert confirmed["UserConfirmationNecessary"] is False, confirmed
        # pycognito, an independent client, signs in as the remembered device: no MFA code.
        device_client = AWSSRP(username="devi", password=PASSWORD, pool_id=user["user_pool_id"],
                               client_id=user["client_id"], client=emu.idp, device_key=meta["DeviceKey"],
                               device_group_key=meta["DeviceGroupKey"], device_password=password)
        result = device_client.authenticate_user()
        assert "IdToken" in result["AuthenticationResult"], result
        assert "NewDeviceMetadata" not in result["AuthenticationResult"], result
        # A wrong device password is refused; a refresh without the device key is refused.
        wrong = AWSSRP(username="devi", password=PASSWORD, pool_id=user["user_pool_id"],
                       client_id=user["client_id"], client=emu.idp, device_key=meta["DeviceKey"],
                       device_group_key=meta["DeviceGroupKey"], device_password="not-it")
        expect_error("NotAuthorizedException", "Incorrect username or password", wrong.authenticate_user)
        rt = result["AuthenticationResult"]["RefreshToken"]
        expect_error("NotAuthorizedException", "Invalid Refresh Token", emu.idp.get_tokens_from_refresh_token,
                     ClientId=user["client_id"], RefreshToken=rt)
        emu.idp.get_tokens_from_refresh_token(ClientId=user["client_id"], RefreshToken=rt,
                                              DeviceKey=meta["DeviceKey"])

    @check("/_test/calls counts per operation and InitiateAuth flow, per pool and globally")
    def _():
        pool = plain["user_pool_id"]
        emu.get(f"/_test/calls/reset?user_pool_id={pool}", method="POST")
        assert emu.get(f"/_test/calls?user_pool_id={pool}") == {}
        srp(emu, plain).authenticate_user()
        counts = emu.get(f"/_test/calls?user_pool_id={pool}")
        assert counts == {"InitiateAuth": 1, "InitiateAuth:USER_SRP_AUTH": 1, "RespondToAuthChallenge": 1,
                          "RespondToAuthChallenge:PASSWORD_VERIFIER": 1}, counts
        total = emu.get("/_test/calls")
        assert total["InitiateAuth:USER_SRP_AUTH"] >= 1 and total["CreateUserPool"] >= 3, total
        emu.get("/_test/calls/reset", method="POST")
        assert emu.get("/_test/calls") == {}

    @check("GetId + GetCredentialsForIdentity; Expiration 90 s by default, /_test/identity-ttl changes it")
    def _():
        id_token = srp(emu, plain).authenticate_user()["AuthenticationResult"]["IdToken"]
        logins = {f"cognito-idp.us-east-1.amazonaws.com/{plain['user_pool_id']}": id_token}
        identity_id = emu.identity.get_id(IdentityPoolId=plain["identity_pool_id"], Logins=logins)["IdentityId"]

        def lifetime():
            creds = emu.identity.get_credentials_for_identity(IdentityId=identity_id, Logins=logins)["Credentials"]
            assert creds["AccessKeyId"] and creds["SecretKey"] and creds["SessionToken"]
            return creds["Expiration"].timestamp() - time.time()
        assert 85 < lifetime() <= 91
        assert emu.get("/_test/identity-ttl?seconds=3600") == {"seconds": 3600}
        assert 3595 < lifetime() <= 3601
        emu.get(f"/_test/identity-ttl?seconds=30&identity_pool_id={plain['identity_pool_id']}")
        assert 25 < lifetime() <= 31
        emu.get(f"/_test/identity-ttl?identity_pool_id={plain['identity_pool_id']}")
        emu.get("/_test/identity-ttl")
        assert 85 < lifetime() <= 91
        counts = emu.get(f"/_test/calls?user_pool_id={plain['user_pool_id']}")
        assert counts.get("GetCredentialsForIdentity") == 4 and counts.get("GetId") == 1, counts

    @check("awscli (v1) runs with the pinned botocore")
    def _():
        out = subprocess.run([sys.executable, "-m", "awscli", "--version"], capture_output=True, text=True,
                             timeout=60, check=True)
        assert "aws-cli/1." in out.stdout + out.stderr, out


def main() -> int:
    emu = Emulator()
    try:
        run(emu)
    finally:
        code, err = emu.stop()
    results.append(("server exits 0 on SIGTERM", code == 0))
    print(f"{'ok  ' if code == 0 else 'FAIL'} server exits 0 on SIGTERM (exit {code})")
    if os.environ.get("SELFTEST_SHOW_SERVER_LOG"):
        print(err, file=sys.stderr)
    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
