"""Encryption at rest: upstream's value transformers, and a `Storage` that applies them.

A transformer turns a value into what is stored and back (upstream's
`storage/value.Transformer`). The layouts are upstream's, byte for byte, so that data is
readable by either: `k8s:enc:aescbc:v1:<key name>:` then a random 16-byte IV and AES-CBC
with PKCS#7 padding; `k8s:enc:aesgcm:v1:<key name>:` then a random 12-byte nonce and
AES-GCM sealed with the storage key as additional data (a value copied under another key
does not open); `k8s:enc:secretbox:v1:<key name>:` then a random 24-byte nonce and NaCl
secretbox (XSalsa20-Poly1305). The identity transformer stores values as they are and
refuses to read anything that starts with `k8s:enc:`.

`PrefixTransformers` is upstream's list of prefixed transformers: the first writes, every
one reads the values that carry its prefix. A value read through any but the first is
*stale*: rewriting it, even unchanged, moves it to the current key (`is_stale`), which is
how a key rotation's "rewrite every Secret" step takes effect.

`EncryptedStorage` wraps a backend and applies, to the value of each key, the transformer
the configuration gives that key's resource, on every path (create, update, get, list,
delete results, conflicts, watch events), so the watch cache and everything above it only
ever see plain values.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM as _AESGCM
from nacl.exceptions import CryptoError
from nacl.secret import SecretBox as _SecretBox

from kybernetes.api.goquote import go_quote
from kybernetes.storage.delegating import DelegatingStorage
from kybernetes.storage.interface import (
    ConflictError,
    Event,
    KeyValue,
    ListResult,
    Storage,
    StorageError,
    WatchBatch,
)

AESCBC_PREFIX = "k8s:enc:aescbc:v1:"
AESGCM_PREFIX = "k8s:enc:aesgcm:v1:"
SECRETBOX_PREFIX = "k8s:enc:secretbox:v1:"
ENCRYPTED_MARK = b"k8s:enc:"

_BLOCK = 16
_GCM_NONCE = 12
_SECRETBOX_NONCE = 24
_SECRETBOX_OVERHEAD = 16
_SHORT = "the stored data was shorter than the required size"


class TransformError(StorageError):
    """A stored value could not be turned back into what was written (wrong or missing
    key, tampered or truncated data)."""


class Transformer(Protocol):
    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        """The plain value, and whether it is stale (written with other than the current
        key); raises TransformError. `context` is the storage key."""
        ...

    def to_storage(self, data: bytes, context: bytes) -> bytes: ...


class AESCBC:
    """AES-CBC with a random IV and PKCS#7 padding (upstream's aes.NewCBCTransformer)."""

    def __init__(self, key: bytes) -> None:
        self._algorithm = algorithms.AES(key)

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        iv = os.urandom(_BLOCK)
        padding = _BLOCK - len(data) % _BLOCK
        encryptor = Cipher(self._algorithm, modes.CBC(iv)).encryptor()
        return iv + encryptor.update(data + bytes([padding]) * padding) + encryptor.finalize()

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        if len(data) < _BLOCK:
            raise TransformError(_SHORT)
        iv, body = data[:_BLOCK], data[_BLOCK:]
        if len(body) % _BLOCK:
            raise TransformError("the stored data is not a multiple of the block size")
        decryptor = Cipher(self._algorithm, modes.CBC(iv)).decryptor()
        plain = decryptor.update(body) + decryptor.finalize()
        padding = plain[-1] if plain else 0
        if padding == 0 or padding > len(plain):
            raise TransformError("invalid PKCS7 data (empty or not padded)")
        if plain[-padding:] != bytes([padding]) * padding:
            raise TransformError("invalid padding on input")
        return plain[:-padding], False


class AESGCM:
    """AES-GCM with a random 12-byte nonce, the storage key as additional authenticated
    data (upstream's aes.NewGCMTransformer)."""

    def __init__(self, key: bytes) -> None:
        self._aead = _AESGCM(key)

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_GCM_NONCE)
        return nonce + self._aead.encrypt(nonce, data, context)

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        if len(data) < _GCM_NONCE:
            raise TransformError(_SHORT)
        try:
            return self._aead.decrypt(data[:_GCM_NONCE], data[_GCM_NONCE:], context), False
        except InvalidTag:
            raise TransformError("cipher: message authentication failed") from None


class Secretbox:
    """NaCl secretbox (XSalsa20 and Poly1305) with a random 24-byte nonce in front
    (upstream's secretbox.NewSecretboxTransformer)."""

    def __init__(self, key: bytes) -> None:
        self._box = _SecretBox(key)

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        return bytes(self._box.encrypt(data, os.urandom(_SECRETBOX_NONCE)))

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        if len(data) < _SECRETBOX_OVERHEAD + _SECRETBOX_NONCE:
            raise TransformError(_SHORT)
        try:
            return self._box.decrypt(data[_SECRETBOX_NONCE:], data[:_SECRETBOX_NONCE]), False
        except CryptoError:
            # Upstream's message for a box that does not open.
            raise TransformError("output array was not large enough for encryption") from None


class Identity:
    """Values stored as they are; reading an encrypted one is an error (upstream's
    identity.NewEncryptCheckTransformer), so a resource whose encryption was dropped from
    the configuration fails loudly instead of serving ciphertext."""

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        return data

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        if data.startswith(ENCRYPTED_MARK):
            raise TransformError("identity transformer tried to read encrypted data")
        return data, False


IDENTITY = Identity()


class PrefixTransformers:
    """Transformers told apart by the prefix of what they store (upstream's
    `value.NewPrefixTransformers`): the first writes, each reads the values carrying its
    prefix, trying the next on a failure (two providers of one kind share a prefix while
    a key is rotated). A read through any but the first is stale."""

    def __init__(self, transformers: Sequence[tuple[str, Transformer]], no_match: str) -> None:
        if not transformers:
            raise ValueError("at least one transformer is required")
        self._transformers = [(prefix.encode(), t) for prefix, t in transformers]
        self._no_match = no_match

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        prefix, transformer = self._transformers[0]
        return prefix + transformer.to_storage(data, context)

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        failures: list[str] = []
        for index, (prefix, transformer) in enumerate(self._transformers):
            if not data.startswith(prefix):
                continue
            try:
                plain, stale = transformer.from_storage(data[len(prefix):], context)
            except TransformError as err:
                # An identity (empty prefix) that meets encrypted data lets the next try
                # silently, as upstream's does.
                if prefix:
                    failures.append(str(err))
                continue
            return plain, stale or index != 0
        if failures:
            raise TransformError(failures[0] if len(failures) == 1
                                 else f"[{', '.join(failures)}]")
        raise TransformError(self._no_match)


@dataclass(frozen=True, slots=True)
class StaleKeyValue(KeyValue):
    """A value read through other than the current key: an update must write it even when
    the object is unchanged (upstream's `stale` from TransformFromStorage)."""


def is_stale(kv: KeyValue) -> bool:
    return isinstance(kv, StaleKeyValue)


class EncryptedStorage(DelegatingStorage):
    """A `Storage` whose values are transformed on the way in and out, per key, by
    `transformer_for(key)`. Everything not about values is the inner backend's."""

    def __init__(self, inner: Storage, transformer_for: Callable[[str], Transformer]) -> None:
        super().__init__(inner)
        self.transformer_for = transformer_for

    def _read(self, kv: KeyValue) -> KeyValue:
        context = kv.key.encode()
        try:
            plain, stale = self.transformer_for(kv.key).from_storage(kv.value, context)
        except TransformError as err:
            raise TransformError(f"unable to transform key {go_quote(kv.key)}: {err}") from None
        kind = StaleKeyValue if stale else KeyValue
        return kind(kv.key, plain, kv.create_revision, kv.mod_revision)

    def _write(self, key: str, value: bytes) -> bytes:
        return self.transformer_for(key).to_storage(value, key.encode())

    def _conflict(self, err: ConflictError) -> ConflictError:
        current = None if err.current is None else self._read(err.current)
        return ConflictError(str(err), current)

    async def get(self, key: str) -> KeyValue | None:
        kv = await self.inner.get(key)
        return None if kv is None else self._read(kv)

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0,
                   start_key: str = "") -> ListResult:
        result = await self.inner.list(prefix, revision=revision, limit=limit,
                                       start_key=start_key)
        return ListResult([self._read(kv) for kv in result.items], result.revision,
                          result.remaining)

    async def create(self, key: str, value: bytes) -> KeyValue:
        kv = await self.inner.create(key, self._write(key, value))
        return KeyValue(key, value, kv.create_revision, kv.mod_revision)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        try:
            kv = await self.inner.update(key, self._write(key, value),
                                         expected_revision=expected_revision)
        except ConflictError as err:
            raise self._conflict(err) from None
        return KeyValue(key, value, kv.create_revision, kv.mod_revision)

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        try:
            return self._read(await self.inner.delete(key, expected_revision=expected_revision))
        except ConflictError as err:
            raise self._conflict(err) from None

    async def watch(self, prefix: str, revision: int, *, progress: bool = False
                    ) -> AsyncIterator[WatchBatch]:
        stream = self.inner.watch(prefix, revision, progress=progress)
        try:
            async for batch in stream:
                if not batch:
                    yield batch
                    continue
                events: builtins.list[Event] = [Event(e.type, self._read(e.kv), e.created)
                                                for e in batch]
                yield WatchBatch(events, batch.revision)
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
