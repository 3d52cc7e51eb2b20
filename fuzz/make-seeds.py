#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/seeds/<target>/: inputs shaped like
those of the tests (valid assertions, request objects, proofs, statements, forms, metadata,
certificates, headers, cookies, configuration files), so each target starts past the first
checks. Run from anywhere; needs openssl for the certificates. The output is committed."""
import base64, json, os, pathlib, shutil, subprocess, tempfile, urllib.parse

here = pathlib.Path(__file__).resolve().parent
root = here.parent
seeds = here / "seeds"
ISS, NOW, CB = "https://as.example", 1800000000, "https://c.example/cb"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
PUB = {"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "k1", "use": "sig",
       "x": "YldKvCpq2x2LfpGUVxeFidgK9FZvP_egM9JxI8yDx6k",
       "y": "q1u27ac6fNWe4pY3gl5klMyjzDOVu6YuWUYpxPxHI-E"}
PRIV = dict(PUB, d="FyYd_A2ESWPy2KuijXkp-LzrPKHD1g9amQ8dJaAKafQ")
OKP = {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "e1",
       "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header, claims, sig=b"\x00" * 64):
    return ".".join([b64u(json.dumps(header).encode()), b64u(json.dumps(claims).encode()), b64u(sig)])


def write(target, name, data):
    d = seeds / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def signed(target, name, claims, prefix=b""):
    """Odd first byte: the harness signs the claims with the fixed key."""
    write(target, name, prefix + b"\x01" + json.dumps(claims).encode())


def raw(target, name, text, prefix=b""):
    write(target, name, prefix + b"\x00" + text.encode())


shutil.rmtree(seeds, ignore_errors=True)

assertion = {"iss": "c1", "sub": "c1", "aud": ISS, "jti": "j-1", "iat": NOW, "nbf": NOW, "exp": NOW + 60}
request = {"iss": "c1", "aud": ISS, "client_id": "c1", "jti": "r-1", "iat": NOW, "nbf": NOW,
           "exp": NOW + 300, "response_type": "code", "redirect_uri": CB, "scope": "openid accounts",
           "code_challenge": CHALLENGE, "code_challenge_method": "S256", "state": "st", "nonce": "no",
           "claims": {"id_token": {"acr": {"essential": True}}}, "max_age": 300}
proof = {"jti": "p-1", "htm": "POST", "htu": ISS + "/token", "iat": NOW}
statement = {"iss": "https://directory.example", "iat": NOW, "exp": NOW + 600, "software_id": "s-1",
             "client_name": "Budget Planner", "redirect_uris": [CB], "jwks": {"keys": [PUB]},
             "token_endpoint_auth_method": "private_key_jwt", "scope": "accounts"}
for target, claims, typ in [("jws", assertion, "JWT"), ("client_assertion", assertion, "client-authentication+jwt"),
                            ("request_object", request, "oauth-authz-req+jwt"),
                            ("software_statement", statement, "JWT")]:
    signed(target, "valid", claims)
    signed(target, "expired", dict(claims, exp=NOW - 1))
    raw(target, "alg-none", unsigned({"alg": "none", "typ": typ}, claims, b""))
    raw(target, "hs256", unsigned({"alg": "HS256", "kid": "k1"}, claims, b"\x01" * 32))
    raw(target, "es256-bad-signature", unsigned({"alg": "ES256", "kid": "k1", "typ": typ}, claims))
    raw(target, "crit", unsigned({"alg": "ES256", "kid": "k1", "crit": ["exp"]}, claims))
    raw(target, "jku", unsigned({"alg": "ES256", "jku": "https://evil.example/jwks"}, claims))
    raw(target, "five-parts", "a.b.c.d.e")
for mode in range(8):
    signed("dpop_proof", f"valid-{mode}", dict(proof, ath=b64u(b"\x00" * 32)), bytes([mode]))
raw("dpop_proof", "private-jwk", unsigned({"alg": "ES256", "typ": "dpop+jwt", "jwk": PRIV}, proof), b"\x00")
raw("dpop_proof", "okp-jwk", unsigned({"alg": "EdDSA", "typ": "dpop+jwt", "jwk": OKP}, proof), b"\x00")
raw("dpop_proof", "two-headers", "a.b.c\nd.e.f", b"\x04")
raw("jws", "jwk-header", unsigned({"alg": "ES256", "typ": "dpop+jwt", "jwk": PUB}, proof))

write("jarm_id_token", "code", "code=abc\nstate=xyz\niss=https://evil.example")
write("jarm_id_token", "error", "error=access_denied\nerror_description=no\nstate=s")
write("jarm_id_token", "nonce-extra", 'n-0S6_WzA2Mj\n{"acr":"urn:x","iss":"evil","name":"A"}')

for name, jwk in [("ec-private", PRIV), ("ec-public", PUB), ("okp", OKP),
                  ("rsa", {"kty": "RSA", "alg": "PS256", "kid": "r1", "e": "AQAB", "n": b64u(b"\xc1" * 256)}),
                  ("oct", {"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "kid": "h"})]:
    write("jwk", name, json.dumps(jwk))
write("jwks", "inline", "max-age=600\n" + json.dumps({"keys": [PUB, OKP]}))
write("jwks", "mixed", 'no-store, max-age="99999999999"\n' + json.dumps({"keys": [PRIV, {"kty": "EC", "use": "enc"}, 3]}))
write("jwks", "empty", "max-age=0\n{\"keys\":[]}")

forms = {
    "code": {"grant_type": "authorization_code", "code": "l-o5DnvAc11cqRv1zmH8", "redirect_uri": CB,
             "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
             "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
             "client_assertion": "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"},
    "par": {"response_type": "code", "client_id": "c1", "redirect_uri": CB, "scope": "openid profile",
            "code_challenge": CHALLENGE, "code_challenge_method": "S256", "state": "st-123", "nonce": "n" * 64},
}
for name, form in forms.items():
    write("form", name, urllib.parse.urlencode(form))
write("form", "repeated", "a=1&a=2&b=&c=x%20y&%ZZ=%&&=")
for name, accept, body in [("jwt", "application/token-introspection+jwt", "token=abc&token_type_hint=access_token"),
                           ("refresh", "application/json;q=0.9, */*", "token=abc&token_type_hint=refresh_token"),
                           ("bad-hint", "", "token=abc&token_type_hint=id_token")]:
    write("introspection_revocation", name, accept + "\n" + body)

metadata = {"client_name": "Budget Planner", "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [PUB]}, "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "redirect_uris": [CB], "scope": "openid profile accounts", "dpop_bound_access_tokens": True,
            "authorization_signed_response_alg": "ES256", "id_token_signed_response_alg": "PS256"}
write("registration", "private-key-jwt", json.dumps(metadata))
write("registration", "tls-client-auth", json.dumps({"token_endpoint_auth_method": "tls_client_auth",
      "tls_client_auth_subject_dn": "CN=client.example,O=Example", "grant_types": ["client_credentials"],
      "scope": "accounts", "jwks_uri": "https://c.example/jwks", "client_id": "c1"}))
write("registration", "statement", json.dumps(dict(metadata, software_statement="eyJhbGciOiJub25lIn0.e30.", client_id="c1")))
write("registration", "policy", json.dumps({"scope": "accounts", "resource_server": False}))

for name, dn in [("plain", "CN=client.example,O=Example"), ("escaped", r"CN=a\,b+OU=x\2Cy,O=\"q\",C=DE"),
                 ("oid", "2.5.4.3=#0c0161,DC=example,DC=com"), ("spaces", " CN = a , O = b ")]:
    write("dn", name, dn)

with tempfile.TemporaryDirectory() as tmp:
    def cert(name, subj, ext):
        key, crt = f"{tmp}/{name}.key", f"{tmp}/{name}.der"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", key, "-subj", subj, "-days", "1", "-addext", ext,
                        "-outform", "DER", "-out", crt], check=True, capture_output=True)
        return pathlib.Path(crt).read_bytes()
    a = cert("a", "/CN=client.example/O=Example", "subjectAltName=DNS:client.example,URI:https://client.example,IP:192.0.2.1,email:client@example.com")
    b = cert("b", "/CN=other/O=Example", "subjectAltName=DNS:other.example")
for name, der in [("san", a), ("other", b)]:
    write("certificate", name, der)
pem = "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(a).decode() + "-----END CERTIFICATE-----\n"
write("client_cert_header", "rfc9440", b":" + base64.b64encode(a) + b":\x00:" + base64.b64encode(b) + b":, :" + base64.b64encode(a) + b":\x00")
write("client_cert_header", "legacy", b"\x00\x00" + urllib.parse.quote(pem).encode())
write("client_cert_header", "repeated", b":" + base64.b64encode(a) + b":\n:AAAA:\x00\x00")

write("cookie", "session", "__Host-portcullis\nsid=abc; __Host-portcullis=V1StGXR8_Z5jdHi6B-myT\n__Host-portcullis=second")
write("cookie", "admin", "__Host-portcullis-admin\n__Host-portcullis-admin=x=y; a=b;;=;")

for path in [root / "docs/portcullis.example.toml"]:
    write("config", path.name, path.read_bytes())
write("config", "proxy", '[tls]\nmode = "proxy"\n[proxy]\ntrusted = ["10.0.0.0/8"]\nclient_cert_header = "client-cert"\n')
write("config", "bad", 'issuer = "http://as.example"\ndatabase_url = "mysql://x"\n[keys]\nkek = "dG9vIHNob3J0"\n')
# p256_verify: odd first byte, a message whose first 64 bytes (zero) leave the real signature
# as it is, or flip one bit of r / of s; even, an r ‖ s of the group order's edges.
N = bytes.fromhex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
write("p256_verify", "valid", b"\x01" + b"\x00" * 64 + b"header.payload")
write("p256_verify", "flip-r", b"\x01\x80" + b"\x00" * 63 + b"header.payload")
write("p256_verify", "flip-s", b"\x01" + b"\x00" * 63 + b"\x01header.payload")
write("p256_verify", "order", b"\x00" + N + N + b"header.payload")
write("p256_verify", "one", b"\x00" + b"\x00" * 31 + b"\x01" + b"\x00" * 31 + b"\x01m")
print("seeds written:", sum(1 for _ in seeds.rglob("*") if _.is_file()))
