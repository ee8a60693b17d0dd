"""Write tests/vectors/srp.json: Cognito SRP test vectors computed by pycognito's AWSSRP.

    python srp_vectors.py [--out ../vectors/srp.json]

pycognito is an independent Cognito SRP client. Its random `a` and its clock are pinned here so
the output is deterministic; every value a client computes (A, u, x, S, the HKDF key, the claim
signature) comes from pycognito's own code. B is made as a real server would (B = k*v + g^b with
a fixed b and the verifier of the case's password), and the script checks that the server's
S = (A * v^u)^b equals pycognito's, so the vectors are consistent end to end.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import os
import types

from pycognito import aws_srp
from pycognito.aws_srp import AWSSRP, calculate_u, hash_sha256, hex_hash, hex_to_long, long_to_hex, pad_hex

N = hex_to_long(aws_srp.N_HEX)
G = hex_to_long(aws_srp.G_HEX)
K = hex_to_long(hex_hash("00" + aws_srp.N_HEX + "0" + aws_srp.G_HEX))


def seeded_bytes(label: str, nbytes: int) -> bytes:
    """Fixed 'random' bytes, reproducible from their label."""
    out = b""
    counter = 0
    while len(out) < nbytes:
        out += hashlib.sha256(f"{label}/{counter}".encode()).digest()
        counter += 1
    return out[:nbytes]


def seeded_int(label: str, nbytes: int = 32) -> int:
    return int.from_bytes(seeded_bytes(label, nbytes), "big")


def fixed_clock(moment: datetime.datetime) -> types.SimpleNamespace:
    """Stands in for the datetime module inside pycognito.aws_srp: utcnow() returns `moment`."""

    class Clock(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return moment

    return types.SimpleNamespace(datetime=Clock)


def make_case(name: str, pool_id: str, user_id: str, password: str, salt_hex: str, small_a: int,
              b_label: str, secret_block: bytes, moment: datetime.datetime,
              want_b_top_bit: bool = False, want_short_u: bool = False) -> dict:
    pool_name = pool_id.split("_", 1)[1]
    # The verifier the server stores, with pycognito's own x.
    x = hex_to_long(hex_hash(pad_hex(salt_hex) + hash_sha256(f"{pool_name}{user_id}:{password}".encode("utf-8"))))
    v = pow(G, x, N)

    AWSSRP.generate_random_small_a = lambda self: small_a
    srp = AWSSRP(username=user_id, password=password, pool_id=pool_id, client_id="vectors", client=object())
    big_a = srp.large_a_value

    # Step b until B has the property the case is for (top bit set, or a u whose hex is short).
    counter = 0
    while True:
        small_b = seeded_int(f"{b_label}/{counter}")
        big_b = (K * v + pow(G, small_b, N)) % N
        b_hex = long_to_hex(big_b)
        u = calculate_u(big_a, big_b)
        ok = big_b != 0 and u != 0
        if want_b_top_bit:
            ok = ok and len(b_hex) % 2 == 0 and b_hex[0] in "89abcdef"
        if want_short_u:
            ok = ok and len(long_to_hex(u)) < 64
        if ok:
            break
        counter += 1

    # S as the client computes it (the formula of AWSSRP.get_password_authentication_key)...
    s_client = pow(big_b - K * pow(G, x, N), small_a + u * x, N)
    # ...and as the server does; they must agree or the vectors are wrong.
    s_server = pow(big_a * pow(v, u, N) % N, small_b, N)
    assert s_client == s_server, name
    hkdf = srp.get_password_authentication_key(user_id, password, big_b, salt_hex)
    assert hkdf == aws_srp.compute_hkdf(bytearray.fromhex(pad_hex(s_client)),
                                        bytearray.fromhex(pad_hex(long_to_hex(u)))), name

    secret_block_b64 = base64.standard_b64encode(secret_block).decode()
    saved_clock = aws_srp.datetime
    aws_srp.datetime = fixed_clock(moment)
    try:
        answer = srp.process_challenge(
            {"USERNAME": user_id, "USER_ID_FOR_SRP": user_id, "SALT": salt_hex,
             "SRP_B": b_hex, "SECRET_BLOCK": secret_block_b64},
            {"USERNAME": user_id},
        )
    finally:
        aws_srp.datetime = saved_clock

    return {
        "name": name,
        "pool_id": pool_id,
        "user_id_for_srp": user_id,
        "password": password,
        "a_hex": long_to_hex(small_a),
        "expected_A_hex": long_to_hex(big_a),
        "b_hex": long_to_hex(small_b),
        "B_hex": b_hex,
        "salt_hex": salt_hex,
        "expected_u_hex": long_to_hex(u),
        "expected_x_hex": long_to_hex(x),
        "expected_S_hex": long_to_hex(s_client),
        "expected_hkdf_hex": bytes(hkdf).hex(),
        "secret_block_b64": secret_block_b64,
        "timestamp": answer["TIMESTAMP"],
        "expected_signature_b64": answer["PASSWORD_CLAIM_SIGNATURE"],
    }


def cases() -> list[dict]:
    return [
        make_case(
            "plain ASCII; salt hex even length without top bit; tiny a, so A = 2^a unreduced with top bit set",
            "us-east-1_AbCdEfGhI", "alice", "Correct-Horse-1",
            "3c9a52d1e07b4f6a8d2e1f0c5b7a9e41", 0x2F, "case1/b",
            seeded_bytes("case1/block", 96), datetime.datetime(2026, 11, 28, 11, 29, 4)),
        make_case(
            "email-login pool (USER_ID_FOR_SRP is the internal id); non-ASCII password; salt top bit set",
            "eu-west-1_Zz9yX8wV7", "6b9b7a9b-ad32-45b9-bf1d-b50cdbc51847", "pässwörd-Ω-密码-🔑",
            "f1e2d3c4b5a697887766554433221100", seeded_int("case2/a"), "case2/b",
            seeded_bytes("case2/block", 512), datetime.datetime(2026, 11, 3, 7, 5, 9)),
        make_case(
            "odd-length salt hex; B with top bit set",
            "ap-southeast-2_Q1w2E3r4T", "jürgen.müller", "hunter2-HUNTER2",
            "abc1234567890def0123456789abcde", seeded_int("case3/a"), "case3/b",
            seeded_bytes("case3/block", 200), datetime.datetime(2024, 2, 29, 0, 0, 0),
            want_b_top_bit=True),
        make_case(
            "u shorter than 64 hex digits (leading zero nibble dropped, then padded)",
            "us-west-2_x", "user+tag@example.com", " spaces and \"quotes\" ",
            "9", seeded_int("case4/a"), "case4/b",
            seeded_bytes("case4/block", 33), datetime.datetime(2025, 12, 31, 23, 59, 59),
            want_short_u=True),
        make_case(
            "a of 128 bytes like a real client's; odd-length salt hex starting with 8 (pads to 08.., not 0008..)",
            "us-east-1_LongPoolName123", "bob", "P@ssw0rd!",
            "8badf00ddeadbeef0123456789abcde", seeded_int("case5/a", 128), "case5/b",
            seeded_bytes("case5/block", 1), datetime.datetime(2027, 1, 9, 9, 9, 9)),
    ]


def make_device_case(name: str, group_key: str, device_key: str, label: str, small_a: int,
                     secret_block: bytes, moment: datetime.datetime) -> dict:
    """A remembered device: ConfirmDevice's verifier from pycognito's generate_hash_device (its
    random device password and salt pinned), then DEVICE_PASSWORD_VERIFIER's signature from
    process_device_challenge, against a B made with that verifier."""
    saved = (aws_srp.os.urandom, aws_srp.get_random)
    aws_srp.os.urandom = lambda n: seeded_bytes(f"{label}/password", n)
    aws_srp.get_random = lambda n: seeded_int(f"{label}/salt", n)
    try:
        device_password, config = aws_srp.generate_hash_device(group_key, device_key)
    finally:
        aws_srp.os.urandom, aws_srp.get_random = saved
    salt_hex = base64.standard_b64decode(config["Salt"]).hex()
    v = int.from_bytes(base64.standard_b64decode(config["PasswordVerifier"]), "big")

    AWSSRP.generate_random_small_a = lambda self: small_a
    srp = AWSSRP(username="someone", password="unused", pool_id="us-east-1_x", client_id="vectors",
                 client=object(), device_key=device_key, device_group_key=group_key,
                 device_password=device_password)
    big_a = srp.large_a_value
    counter = 0
    while True:
        small_b = seeded_int(f"{label}/b/{counter}")
        big_b = (K * v + pow(G, small_b, N)) % N
        u = calculate_u(big_a, big_b)
        if big_b != 0 and u != 0:
            break
        counter += 1
    x = hex_to_long(hex_hash(pad_hex(salt_hex) + hash_sha256(f"{group_key}{device_key}:{device_password}".encode())))
    s_client = pow(big_b - K * pow(G, x, N), small_a + u * x, N)
    assert s_client == pow(big_a * pow(v, u, N) % N, small_b, N), name
    secret_block_b64 = base64.standard_b64encode(secret_block).decode()
    saved_clock = aws_srp.datetime
    aws_srp.datetime = fixed_clock(moment)
    try:
        answer = srp.process_device_challenge(
            {"USERNAME": "someone", "SALT": salt_hex, "SRP_B": long_to_hex(big_b),
             "SECRET_BLOCK": secret_block_b64})
    finally:
        aws_srp.datetime = saved_clock
    return {
        "name": name,
        "device_group_key": group_key,
        "device_key": device_key,
        "device_password": device_password,
        "salt_random_hex": long_to_hex(seeded_int(f"{label}/salt", 16)),
        "expected_salt_b64": config["Salt"],
        "expected_verifier_b64": config["PasswordVerifier"],
        "a_hex": long_to_hex(small_a),
        "b_hex": long_to_hex(small_b),
        "B_hex": long_to_hex(big_b),
        "salt_hex": salt_hex,
        "secret_block_b64": secret_block_b64,
        "timestamp": answer["TIMESTAMP"],
        "expected_signature_b64": answer["PASSWORD_CLAIM_SIGNATURE"],
    }


def device_cases() -> list[dict]:
    return [
        make_device_case("device keys as Cognito issues them", "-a1B2c3D4e", "us-east-1_0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
                         "device1", seeded_int("device1/a", 128), seeded_bytes("device1/block", 512),
                         datetime.datetime(2026, 12, 4, 19, 45, 1)),
        make_device_case("group key with an underscore; salt whose top bit is set", "-Zz_9yX8", "eu-west-1_abc",
                         "device3", seeded_int("device3/a"), seeded_bytes("device3/block", 64),
                         datetime.datetime(2027, 3, 1, 0, 0, 0)),
    ]


def timestamps() -> list[dict]:
    moments = [
        datetime.datetime(2026, 11, 28, 11, 29, 4),
        datetime.datetime(2026, 11, 3, 7, 5, 9),
        datetime.datetime(2024, 2, 29, 0, 0, 0),
        datetime.datetime(2025, 1, 1, 23, 59, 59),
        datetime.datetime(2027, 7, 10, 12, 0, 1),
    ]
    return [{"utc": m.strftime("%Y-%m-%dT%H:%M:%SZ"), "timestamp": AWSSRP.get_cognito_formatted_timestamp(m)}
            for m in moments]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(here, "..", "vectors", "srp.json"))
    args = parser.parse_args()
    document = {
        "notes": (
            "Generated by tests/emulator/srp_vectors.py with pycognito's AWSSRP (random a and clock pinned). "
            "Group: RFC 5054 3072-bit N, g = 2, k = H(pad(N) | pad(g)). "
            "Every *_hex integer is lowercase hex without 0x and without leading zeros, as pycognito's "
            "long_to_hex prints it, so it may have odd length; salt_hex is the SALT string exactly as the "
            "server sends it. Padding is not in the JSON: before hashing, pad(n) is the big-endian bytes of n "
            "with one leading 0x00 byte when the top bit of the first byte is set (odd-length hex first gets a "
            "leading 0 nibble), i.e. n.bit_length()/8 + 1 bytes. "
            "u = H(pad(A) | pad(B)); x = H(pad(salt) | H(pool_name | user_id_for_srp | ':' | password)) where "
            "pool_name is pool_id after the '_'; S = (B - k*g^x)^(a + u*x) mod N; "
            "hkdf = HKDF-SHA256(ikm = pad(S), salt = pad(u), info = 'Caldera Derived Key')[0..16]; "
            "signature = base64(HMAC-SHA256(hkdf, pool_name | user_id_for_srp | base64decode(secret_block) | timestamp)). "
            "b_hex is the server secret that made B = k*v + g^b (v = g^x), for server-side checks. "
            "Strings are UTF-8. 'timestamps' lists UTC datetimes with the TIMESTAMP text pycognito sends. "
            "'devices': remembered devices, from pycognito's generate_hash_device (random device password and "
            "salt pinned: salt_random_hex is the 16-byte random number) and process_device_challenge: the same "
            "arithmetic with device_group_key in place of the pool name, device_key in place of the user id and "
            "the device password; the verifier is base64(pad(g^x)), the salt base64(pad(salt))."
        ),
        "cases": cases(),
        "devices": device_cases(),
        "timestamps": timestamps(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(document['cases'])} cases to {os.path.relpath(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
