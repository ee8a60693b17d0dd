"""Create one fresh, independent set of Cognito resources in the emulator and print them as JSON.

    python seed.py --endpoint http://127.0.0.1:PORT [--region us-east-1] --username U --password P
                   [--client-secret] [--email-login] [--force-change-password]
                   [--token-validity-seconds N] [--mfa-totp | --mfa-required | --mfa-optional]

Prints one line:
    {"region", "user_pool_id", "client_id", "client_secret" (or null), "identity_pool_id",
     "username", "password", "role_arn", "user_sub", "totp_secret" (or null)}

Every run makes its own user pool, client, identity pool and role (names carry a random
suffix), so tests may seed in parallel against one emulator.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import struct
import sys
import time
import uuid

import boto3
from botocore.config import Config


def totp_code(secret_b32: str, at: float | None = None) -> str:
    """RFC 6238 code (SHA-1, 6 digits, 30 s), as an authenticator app computes it."""
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def fresh_totp_code(secret_b32: str) -> str:
    """A code with at least 2 s of its 30 s step left, so it is still current when the emulator
    (which accepts only the current step) checks it."""
    if 30 - time.time() % 30 < 2:
        time.sleep(30 - time.time() % 30 + 0.05)
    return totp_code(secret_b32)


def secret_hash(client_secret: str, username: str, client_id: str) -> str:
    mac = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def seed(endpoint: str, region: str, username: str, password: str, client_secret: bool = False,
         email_login: bool = False, force_change_password: bool = False,
         token_validity_seconds: int | None = None, mfa_totp: bool = False,
         refresh_token_rotation: int | None = None, user_auth: bool = False,
         first_auth_factors: list[str] | None = None, without_srp: bool = False,
         device_tracking: str | None = None, mfa: str | None = None) -> dict:
    if mfa_totp and force_change_password:
        raise SystemExit("--mfa-totp needs a permanent password to enrol the TOTP device")
    # Admin calls are signed, so boto3 needs keys; the emulator accepts any.
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=region)
    config = Config(retries={"max_attempts": 1})
    idp = session.client("cognito-idp", endpoint_url=endpoint, config=config)
    identity = session.client("cognito-identity", endpoint_url=endpoint, config=config)
    iam = session.client("iam", endpoint_url=endpoint, config=config)

    suffix = uuid.uuid4().hex[:12]
    if email_login and "@" not in username:
        username = f"{username}@example.com"

    pool_args: dict = {
        "PoolName": f"cognitod-test-{suffix}",
        # Any password the test picks (non-ASCII included) must be settable.
        "Policies": {"PasswordPolicy": {"MinimumLength": 6, "RequireUppercase": False,
                                        "RequireLowercase": False, "RequireNumbers": False,
                                        "RequireSymbols": False}},
    }
    if email_login:
        pool_args["UsernameAttributes"] = ["email"]
    if device_tracking:
        # "always": every device is remembered once confirmed; "on-prompt": only after
        # UpdateDeviceStatus. Either way a new device answers MFA, a remembered one proves itself.
        pool_args["DeviceConfiguration"] = {"ChallengeRequiredOnNewDevice": True,
                                            "DeviceOnlyRememberedOnUserPrompt": device_tracking == "on-prompt"}
    if first_auth_factors:
        pool_args["Policies"]["SignInPolicy"] = {"AllowedFirstAuthFactors": first_auth_factors}
    pool_id = idp.create_user_pool(**pool_args)["UserPool"]["Id"]

    client_args: dict = {
        "UserPoolId": pool_id,
        "ClientName": f"cognitod-{suffix}",
        "GenerateSecret": client_secret,
        "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    }
    if user_auth:
        client_args["ExplicitAuthFlows"] = client_args["ExplicitAuthFlows"] + ["ALLOW_USER_AUTH"]
    if without_srp:
        client_args["ExplicitAuthFlows"].remove("ALLOW_USER_SRP_AUTH")
    if refresh_token_rotation is not None:
        # Rotation needs REFRESH_TOKEN_AUTH off: refreshes go through GetTokensFromRefreshToken.
        client_args["ExplicitAuthFlows"] = [f for f in client_args["ExplicitAuthFlows"]
                                            if f != "ALLOW_REFRESH_TOKEN_AUTH"]
        client_args["RefreshTokenRotation"] = {"Feature": "ENABLED",
                                               "RetryGracePeriodSeconds": refresh_token_rotation}
    if token_validity_seconds is not None:
        client_args.update({
            "IdTokenValidity": token_validity_seconds,
            "AccessTokenValidity": token_validity_seconds,
            "RefreshTokenValidity": 30,
            "TokenValidityUnits": {"IdToken": "seconds", "AccessToken": "seconds", "RefreshToken": "days"},
        })
    client = idp.create_user_pool_client(**client_args)["UserPoolClient"]
    client_id, secret = client["ClientId"], client.get("ClientSecret")

    attributes = [{"Name": "email", "Value": username}, {"Name": "email_verified", "Value": "true"}] \
        if email_login else []
    user = idp.admin_create_user(UserPoolId=pool_id, Username=username, TemporaryPassword=password,
                                 MessageAction="SUPPRESS", UserAttributes=attributes)["User"]
    user_sub = next(a["Value"] for a in user["Attributes"] if a["Name"] == "sub")
    if not force_change_password:
        idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=password, Permanent=True)

    totp_secret = None
    if mfa_totp:
        totp_secret = _enrol_totp(idp, pool_id, client_id, secret, username, password)
    elif mfa:
        # TOTP MFA required ("ON": sign-in answers MFA_SETUP until the user enrols) or optional
        # ("OPTIONAL": the user may enrol and turn it on), the user without any MFA yet.
        idp.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration=mfa,
                                     SoftwareTokenMfaConfiguration={"Enabled": True})

    role_name = f"cognitod-test-{suffix}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": "cognito-identity.amazonaws.com"},
            "Action": "sts:AssumeRoleWithWebIdentity",
        }],
    }
    role_arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]

    # Identity pool names allow only word characters and spaces.
    identity_pool_id = identity.create_identity_pool(
        IdentityPoolName=f"cognitod_test_{suffix}",
        AllowUnauthenticatedIdentities=False,
        AllowClassicFlow=True,
        CognitoIdentityProviders=[{
            "ProviderName": f"cognito-idp.{region}.amazonaws.com/{pool_id}",
            "ClientId": client_id,
            "ServerSideTokenCheck": False,
        }],
    )["IdentityPoolId"]
    # moto has no SetIdentityPoolRoles; the role exists for classic-flow AssumeRoleWithWebIdentity
    # and for CustomRoleArn, which moto accepts whatever it names.

    return {
        "region": region,
        "user_pool_id": pool_id,
        "client_id": client_id,
        "client_secret": secret,
        "identity_pool_id": identity_pool_id,
        "username": username,
        "password": password,
        "role_arn": role_arn,
        "user_sub": user_sub,
        "totp_secret": totp_secret,
    }


def _enrol_totp(idp, pool_id: str, client_id: str, client_secret: str | None,
                username: str, password: str) -> str:
    """Sign in once, register a TOTP device and make it required, as a user would in the console."""
    params = {"USERNAME": username, "PASSWORD": password}
    if client_secret:
        params["SECRET_HASH"] = secret_hash(client_secret, username, client_id)
    tokens = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters=params)["AuthenticationResult"]
    access_token = tokens["AccessToken"]
    secret = idp.associate_software_token(AccessToken=access_token)["SecretCode"]
    idp.verify_software_token(AccessToken=access_token, UserCode=fresh_totp_code(secret))
    idp.admin_set_user_mfa_preference(UserPoolId=pool_id, Username=username,
                                      SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})
    idp.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="ON",
                                 SoftwareTokenMfaConfiguration={"Enabled": True})
    return secret


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--username", required=True, help="with --email-login, an email (or a name to which @example.com is added)")
    parser.add_argument("--password", required=True)
    parser.add_argument("--client-secret", action="store_true", help="app client with a secret")
    parser.add_argument("--email-login", action="store_true", help="pool with UsernameAttributes=[email]")
    parser.add_argument("--force-change-password", action="store_true", help="leave the user in FORCE_CHANGE_PASSWORD")
    parser.add_argument("--token-validity-seconds", type=int, help="ID and access token lifetime")
    parser.add_argument("--mfa-totp", action="store_true", help="require a TOTP code at sign-in")
    parser.add_argument("--mfa-required", dest="mfa", action="store_const", const="ON",
                        help="pool requiring TOTP MFA, the user not enrolled (sign-in answers MFA_SETUP)")
    parser.add_argument("--mfa-optional", dest="mfa", action="store_const", const="OPTIONAL",
                        help="pool with optional TOTP MFA, the user not enrolled")
    parser.add_argument("--user-auth", action="store_true", help="app client allowing USER_AUTH")
    parser.add_argument("--without-srp", action="store_true", help="app client without ALLOW_USER_SRP_AUTH")
    parser.add_argument("--device-tracking", choices=["always", "on-prompt"], help="pool remembering devices")
    parser.add_argument("--first-auth-factors", help="the pool's AllowedFirstAuthFactors, e.g. EMAIL_OTP")
    parser.add_argument("--refresh-token-rotation", type=int, metavar="GRACE_SECONDS",
                        help="app client rotating refresh tokens, the old one valid GRACE_SECONDS")
    args = parser.parse_args()
    # Keys from the caller's environment or profile must never reach the emulator, nor a real AWS.
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    result = seed(args.endpoint, args.region, args.username, args.password, args.client_secret,
                  args.email_login, args.force_change_password, args.token_validity_seconds, args.mfa_totp,
                  args.refresh_token_rotation, args.user_auth,
                  args.first_auth_factors.split(",") if args.first_auth_factors else None,
                  args.without_srp, args.device_tracking, args.mfa)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
