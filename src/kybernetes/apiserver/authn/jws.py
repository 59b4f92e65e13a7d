"""JSON Web Signatures in compact form, as the service-account tokens use them (upstream's
go-jose signer and verifier in `pkg/serviceaccount/jwt.go`).

The API server signs with one private key (RSA: RS256; EC P-256/384/521: ES256/384/512) and
names it in the `kid` header the way upstream derives it: the unpadded base64url SHA-256 of
the public key's DER (PKIX). Verification accepts only the algorithm of that key, so a token
cannot choose a weaker one (`none`, or HMAC keyed with the public key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

# go-jose's message for a signature that does not verify.
BAD_SIGNATURE = "go-jose/go-jose: error in cryptographic primitive"
_EC_ALGORITHMS: dict[str, tuple[str, hashes.HashAlgorithm]] = {
    "secp256r1": ("ES256", hashes.SHA256()), "secp384r1": ("ES384", hashes.SHA384()),
    "secp521r1": ("ES512", hashes.SHA512())}


class SignatureError(Exception):
    """The token is well formed but its signature is not the server's."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Unpadded base64url, strictly (as Go's RawURLEncoding): ValueError otherwise."""
    if "=" in text:
        raise ValueError("padded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as err:
        raise ValueError(str(err)) from err


def key_id(public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    """Upstream's `keyIDFromPublicKey`."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64url_encode(hashlib.sha256(der).digest())


@dataclass(frozen=True)
class Parsed:
    """A compact JWS split into its parts; the payload is not yet trusted."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse(token: str) -> Parsed | None:
    """The parts of `header.payload.signature`, or None if it is not a JWS of JSON objects."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = orjson.loads(b64url_decode(parts[0]))
        payload = orjson.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except ValueError:
        return None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return None
    return Parsed(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


class SigningKey:
    """The private key tokens are signed with, and the public half they are checked with."""

    def __init__(self, private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
        self.private = private
        self.public = private.public_key()
        self.kid = key_id(self.public)
        self._hash: hashes.HashAlgorithm = hashes.SHA256()
        self._size = 0
        if isinstance(private, rsa.RSAPrivateKey):
            self.algorithm = "RS256"
        else:
            if private.curve.name not in _EC_ALGORITHMS:
                raise ValueError("unknown private key curve, must be 256, 384, or 521")
            self.algorithm, self._hash = _EC_ALGORITHMS[private.curve.name]
            self._size = (private.curve.key_size + 7) // 8

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path}: the service-account key must be RSA or EC")
        return cls(key)

    def sign(self, claims: dict[str, Any]) -> str:
        """The compact JWS of `claims` (keys sorted, as go-jose's map encoding has them)."""
        header = {"alg": self.algorithm, "kid": self.kid}
        signing_input = (b64url_encode(orjson.dumps(header, option=orjson.OPT_SORT_KEYS)) + "."
                         + b64url_encode(orjson.dumps(claims, option=orjson.OPT_SORT_KEYS)))
        data = signing_input.encode("ascii")
        if isinstance(self.private, rsa.RSAPrivateKey):
            signature = self.private.sign(data, padding.PKCS1v15(), self._hash)
        else:
            r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(self._hash)))
            signature = r.to_bytes(self._size, "big") + s.to_bytes(self._size, "big")
        return f"{signing_input}.{b64url_encode(signature)}"

    def verify(self, parsed: Parsed) -> None:
        """Raise `SignatureError` unless this key signed `parsed`, with its own algorithm."""
        kid = parsed.header.get("kid")
        if kid and kid != self.kid:
            raise SignatureError("invalid signature, no keys found")
        if parsed.header.get("alg") != self.algorithm:
            raise SignatureError(BAD_SIGNATURE)
        try:
            if isinstance(self.public, rsa.RSAPublicKey):
                self.public.verify(parsed.signature, parsed.signing_input, padding.PKCS1v15(),
                                   self._hash)
                return
            if len(parsed.signature) != 2 * self._size:
                raise SignatureError(BAD_SIGNATURE)
            r = int.from_bytes(parsed.signature[:self._size], "big")
            s = int.from_bytes(parsed.signature[self._size:], "big")
            self.public.verify(encode_dss_signature(r, s), parsed.signing_input,
                               ec.ECDSA(self._hash))
        except InvalidSignature:
            raise SignatureError(BAD_SIGNATURE) from None
