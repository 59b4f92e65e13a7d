"""Encryption at rest: upstream's providers and layouts, the EncryptionConfiguration file,
and `EncryptedStorage` over the real backends (SQLite and etcd).

The layout checks decrypt what kybernetes stored with an independent implementation of
upstream's format (cryptography and PyNaCl used directly), and build ciphertexts that way
for kybernetes to read, so the bytes on disk are upstream's in both directions.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import nacl.secret
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kybernetes.api.registry import ResourceInfo, builtin_registry
from kybernetes.storage import encryptionconfig
from kybernetes.storage.encryption import EncryptedStorage, TransformError, is_stale
from kybernetes.storage.encryptionconfig import EncryptionConfigError, KeyTransformers
from kybernetes.storage.interface import ConflictError, Storage

KEY1 = bytes(range(32))
KEY2 = bytes(range(100, 132))
SECRET_KEY = "/registry/secrets/default/s1"
PLAIN = b'{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}'


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def write_config(path: Path, *entries: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"apiVersion": "apiserver.config.k8s.io/v1",
                                "kind": "EncryptionConfiguration", "resources": list(entries)}))
    return path


def provider(kind: str, *keys: tuple[str, bytes]) -> dict[str, Any]:
    if kind == "identity":
        return {"identity": {}}
    return {kind: {"keys": [{"name": name, "secret": b64(key)} for name, key in keys]}}


def transformers(tmp_path: Path, *entries: dict[str, Any]) -> KeyTransformers:
    loaded = encryptionconfig.load(write_config(tmp_path / "enc.json", *entries))
    return KeyTransformers(loaded, builtin_registry())


def secrets_with(tmp_path: Path, *providers: dict[str, Any]) -> KeyTransformers:
    return transformers(tmp_path, {"resources": ["secrets"], "providers": list(providers)})


# ------------------------------------------------------------------- providers and layouts


@pytest.mark.parametrize(("kind", "size"), [("aescbc", 16), ("aescbc", 24), ("aescbc", 32),
                                            ("aesgcm", 16), ("aesgcm", 32), ("secretbox", 32)])
def test_round_trip_with_upstream_prefix(tmp_path: Path, kind: str, size: int) -> None:
    key = KEY1[:size]
    transformer = secrets_with(tmp_path, provider(kind, ("key1", key)))(SECRET_KEY)
    stored = transformer.to_storage(PLAIN, SECRET_KEY.encode())
    prefix = f"k8s:enc:{kind}:v1:key1:".encode()
    assert stored.startswith(prefix)
    assert b"password" not in stored and b"aHVudGVyMg" not in stored
    # A random IV/nonce: the same value never encrypts twice alike.
    assert stored != transformer.to_storage(PLAIN, SECRET_KEY.encode())
    assert transformer.from_storage(stored, SECRET_KEY.encode()) == (PLAIN, False)


def _cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    pad = 16 - len(data) % 16
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return iv + encryptor.update(data + bytes([pad]) * pad) + encryptor.finalize()


def test_aescbc_layout_is_upstreams(tmp_path: Path) -> None:
    """IV (16 bytes), then AES-CBC with PKCS#7 padding, after the prefix."""
    transformer = secrets_with(tmp_path, provider("aescbc", ("key1", KEY1)))(SECRET_KEY)
    body = transformer.to_storage(PLAIN, b"")[len(b"k8s:enc:aescbc:v1:key1:"):]
    iv, ciphertext = body[:16], body[16:]
    decryptor = Cipher(algorithms.AES(KEY1), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    assert padded[:-padded[-1]] == PLAIN
    made_elsewhere = b"k8s:enc:aescbc:v1:key1:" + _cbc_encrypt(KEY1, b"\x07" * 16, PLAIN)
    assert transformer.from_storage(made_elsewhere, b"") == (PLAIN, False)


def test_aesgcm_layout_is_upstreams_and_bound_to_its_key(tmp_path: Path) -> None:
    """Nonce (12 bytes), then AES-GCM sealed with the storage key as additional data."""
    transformer = secrets_with(tmp_path, provider("aesgcm", ("key1", KEY1)))(SECRET_KEY)
    stored = transformer.to_storage(PLAIN, SECRET_KEY.encode())
    body = stored[len(b"k8s:enc:aesgcm:v1:key1:"):]
    assert AESGCM(KEY1).decrypt(body[:12], body[12:], SECRET_KEY.encode()) == PLAIN
    nonce = b"\x01" * 12
    made_elsewhere = b"k8s:enc:aesgcm:v1:key1:" + nonce + AESGCM(KEY1).encrypt(
        nonce, PLAIN, SECRET_KEY.encode())
    assert transformer.from_storage(made_elsewhere, SECRET_KEY.encode()) == (PLAIN, False)
    # Copied under another key, the value does not open.
    with pytest.raises(TransformError, match="message authentication failed"):
        transformer.from_storage(stored, b"/registry/secrets/default/other")


def test_secretbox_layout_is_upstreams(tmp_path: Path) -> None:
    """Nonce (24 bytes), then NaCl secretbox (tag and ciphertext)."""
    transformer = secrets_with(tmp_path, provider("secretbox", ("key1", KEY1)))(SECRET_KEY)
    body = transformer.to_storage(PLAIN, b"")[len(b"k8s:enc:secretbox:v1:key1:"):]
    box = nacl.secret.SecretBox(KEY1)
    assert box.decrypt(body[24:], body[:24]) == PLAIN
    made_elsewhere = b"k8s:enc:secretbox:v1:key1:" + bytes(box.encrypt(PLAIN, b"\x02" * 24))
    assert transformer.from_storage(made_elsewhere, b"") == (PLAIN, False)


@pytest.mark.parametrize(("kind", "message"), [
    ("aescbc", r"invalid PKCS7 data \(empty or not padded\)"),
    ("aesgcm", "cipher: message authentication failed"),
    ("secretbox", "output array was not large enough for encryption"),
])
def test_wrong_key_fails_cleanly(tmp_path: Path, kind: str, message: str) -> None:
    """A value written with another secret under the same key name is an error, never
    garbage."""
    writer = secrets_with(tmp_path, provider(kind, ("key1", KEY1)))(SECRET_KEY)
    reader = secrets_with(tmp_path, provider(kind, ("key1", KEY2)))(SECRET_KEY)
    if kind == "aescbc":
        # A fixed IV, so the padding the wrong key produces is known to be invalid.
        stored = b"k8s:enc:aescbc:v1:key1:" + _cbc_encrypt(KEY1, b"\x00" * 16, PLAIN)
    else:
        stored = writer.to_storage(PLAIN, SECRET_KEY.encode())
    with pytest.raises(TransformError, match=message):
        reader.from_storage(stored, SECRET_KEY.encode())


def test_unknown_key_name_and_truncated_data(tmp_path: Path) -> None:
    transformer = secrets_with(tmp_path, provider("aescbc", ("key2", KEY2)))(SECRET_KEY)
    old = secrets_with(tmp_path, provider("aescbc", ("key1", KEY1)))(SECRET_KEY)
    with pytest.raises(TransformError,
                       match="no matching key was found for the provided AES transformer"):
        transformer.from_storage(old.to_storage(PLAIN, b""), b"")
    with pytest.raises(TransformError, match="the stored data was shorter than the required"):
        transformer.from_storage(b"k8s:enc:aescbc:v1:key2:short", b"")
    with pytest.raises(TransformError, match="not a multiple of the block size"):
        transformer.from_storage(b"k8s:enc:aescbc:v1:key2:" + b"x" * 20, b"")


def test_plain_data_under_an_encrypting_config(tmp_path: Path) -> None:
    """Data written before encryption was turned on reads through a trailing identity
    provider (stale, so a rewrite encrypts it); without one it is an error."""
    with_identity = secrets_with(tmp_path, provider("aescbc", ("key1", KEY1)),
                                 provider("identity"))(SECRET_KEY)
    assert with_identity.from_storage(PLAIN, b"") == (PLAIN, True)
    without = secrets_with(tmp_path, provider("aescbc", ("key1", KEY1)))(SECRET_KEY)
    with pytest.raises(TransformError, match="no matching prefix found"):
        without.from_storage(PLAIN, b"")


def test_identity_first_decrypts_old_data_and_writes_plain(tmp_path: Path) -> None:
    """Turning encryption off: identity first, the old provider after it."""
    encrypted = secrets_with(tmp_path, provider("aesgcm", ("key1", KEY1)))(SECRET_KEY) \
        .to_storage(PLAIN, SECRET_KEY.encode())
    decrypting = secrets_with(tmp_path, provider("identity"),
                              provider("aesgcm", ("key1", KEY1)))(SECRET_KEY)
    assert decrypting.from_storage(encrypted, SECRET_KEY.encode()) == (PLAIN, True)
    assert decrypting.to_storage(PLAIN, SECRET_KEY.encode()) == PLAIN


def test_rotation_reads_the_old_key_as_stale(tmp_path: Path) -> None:
    old = secrets_with(tmp_path, provider("aescbc", ("key1", KEY1)))(SECRET_KEY)
    rotating = secrets_with(tmp_path, provider("aescbc", ("key2", KEY2), ("key1", KEY1)))(
        SECRET_KEY)
    assert rotating.from_storage(old.to_storage(PLAIN, b""), b"") == (PLAIN, True)
    rewritten = rotating.to_storage(PLAIN, b"")
    assert rewritten.startswith(b"k8s:enc:aescbc:v1:key2:")
    assert rotating.from_storage(rewritten, b"") == (PLAIN, False)
    # Two providers of one kind share a prefix: the second is tried when the first fails.
    split = secrets_with(tmp_path, provider("aescbc", ("key2", KEY2)),
                         provider("aescbc", ("key1", KEY1)))(SECRET_KEY)
    assert split.from_storage(old.to_storage(PLAIN, b""), b"") == (PLAIN, True)


def test_unconfigured_resources_stay_plain_and_refuse_ciphertext(tmp_path: Path) -> None:
    keys = secrets_with(tmp_path, provider("aescbc", ("key1", KEY1)))
    pods = keys("/registry/pods/default/p")
    assert pods.to_storage(PLAIN, b"") == PLAIN
    with pytest.raises(TransformError, match="identity transformer tried to read encrypted"):
        pods.from_storage(keys(SECRET_KEY).to_storage(PLAIN, b""), b"")


def _prefix_of(keys: KeyTransformers, key: str) -> str:
    """The provider and key name a value of `key` is written with ("" for identity)."""
    stored = keys(key).to_storage(b"{}", key.encode())
    found = re.match(rb"k8s:enc:[a-z]+:v1:[^:]+:", stored)
    return found.group().decode() if found else ""


def test_wildcards_pick_resources_as_upstream(tmp_path: Path) -> None:
    keys = transformers(
        tmp_path,
        {"resources": ["secrets"], "providers": [provider("aesgcm", ("k", KEY1))]},
        {"resources": ["*.apps"], "providers": [provider("secretbox", ("k", KEY1))]},
        {"resources": ["*."], "providers": [provider("aescbc", ("k", KEY1))]},
        {"resources": ["*.*"], "providers": [provider("identity")]})
    assert _prefix_of(keys, "/registry/secrets/ns/a") == "k8s:enc:aesgcm:v1:k:"
    assert _prefix_of(keys, "/registry/deployments/ns/a") == "k8s:enc:secretbox:v1:k:"
    assert _prefix_of(keys, "/registry/configmaps/ns/a") == "k8s:enc:aescbc:v1:k:"
    assert _prefix_of(keys, "/registry/jobs/ns/a") == ""  # batch: *.* (identity)
    everything = transformers(tmp_path, {"resources": ["*.*"],
                                         "providers": [provider("aescbc", ("k", KEY1))]})
    assert _prefix_of(everything, "/registry/jobs/ns/a") == "k8s:enc:aescbc:v1:k:"
    # Custom resources registered later live under /registry/<group>/<plural>/.
    registry = builtin_registry()
    crds = KeyTransformers(encryptionconfig.load(write_config(
        tmp_path / "crd.json", {"resources": ["widgets.example.com"],
                                "providers": [provider("aescbc", ("k", KEY1))]})), registry)
    assert _prefix_of(crds, "/registry/example.com/widgets/ns/w") == ""
    registry.add(ResourceInfo("example.com", "v1", "Widget", "widgets", "widget", True,
                              storage_prefix="/registry/example.com/widgets/"))
    assert _prefix_of(crds, "/registry/example.com/widgets/ns/w") == "k8s:enc:aescbc:v1:k:"


# ------------------------------------------------------------------- configuration errors


def _entry(resources: list[str], *providers: dict[str, Any]) -> dict[str, Any]:
    return {"resources": resources, "providers": list(providers)}


AES = provider("aescbc", ("key1", KEY1))


@pytest.mark.parametrize(("entries", "message"), [
    ([_entry(["secrets"], {"aescbc": {"keys": [{"name": "k", "secret": b64(b"short")}]}})],
     'resources[0].providers[0].aescbc.keys[0].secret: Invalid value: "REDACTED": secret is '
     "not of the expected length, got 5, expected one of [16 24 32]"),
    ([_entry(["secrets"], {"secretbox": {"keys": [{"name": "k", "secret": b64(KEY1[:16])}]}})],
     "expected one of [32]"),
    ([_entry(["secrets"], {"aesgcm": {"keys": [{"name": "k", "secret": "not base64!"}]}})],
     'secret: Invalid value: "REDACTED": secrets must be base64 encoded'),
    ([_entry(["secrets"], {"aesgcm": {"keys": [{"secret": b64(KEY1)}]}})],
     "resources[0].providers[0].aesgcm.keys[0].name: Required value: name is a mandatory "
     "field for a key"),
    ([_entry(["secrets"], {"aescbc": {"keys": []}})],
     "resources[0].providers[0].aescbc.keys: Required value: at least one keys is required"),
    ([_entry(["secrets"])],
     "resources[0].providers: Required value: at least one resources[0].providers is required"),
    ([_entry(["secrets"], {"identity": {}, "aescbc": AES["aescbc"]})],
     "more than one provider specified in a single element"),
    ([_entry(["secrets"], {})],
     "provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, "
     "Secretbox, Identity"),
    ([_entry(["secrets", "*."], AES)],
     "using overlapping resources such as 'secrets' and '*.' in the same resource list"),
    ([_entry(["secrets", "secrets"], AES)],
     "the same resource cannot be specified multiple times"),
    ([_entry(["Secrets"], AES)], "resource name should not contain capital letters"),
    ([_entry(["*"], AES)], "use '*.' to encrypt all the resources from core API group"),
    ([_entry(["events.events.k8s.io"], AES)], "objects are stored using the 'events' API group"),
    ([_entry(["*.*"], AES), _entry(["secrets"], AES)],
     'error while building transformers: resource "secrets" is masked by earlier rule "*.*"'),
    ([_entry(["*.apps"], AES), _entry(["deployments.apps"], AES)],
     'resource "deployments.apps" is masked by earlier rule "*.apps"'),
    ([_entry(["secrets"], {"kms": {"name": "k", "endpoint": "unix:///k.sock"}})],
     "KMS providers are not supported"),
    ([], "resources: Required value: at least one resources is required"),
])
def test_invalid_configurations_are_refused(tmp_path: Path, entries: list[dict[str, Any]],
                                            message: str) -> None:
    with pytest.raises(EncryptionConfigError) as refused:
        encryptionconfig.load(write_config(tmp_path / "enc.json", *entries))
    assert message in str(refused.value)


def test_unreadable_or_foreign_files_are_refused(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(EncryptionConfigError, match=r"error reading encryption provider "
                                                    r"configuration file .*no such file"):
        encryptionconfig.load(missing)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(EncryptionConfigError, match="is empty"):
        encryptionconfig.load(empty)
    typo = tmp_path / "typo.yaml"
    typo.write_text("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
                    "resources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n"
                    f"      kyes: [{{name: k, secret: {b64(KEY1)}}}]\n")
    with pytest.raises(EncryptionConfigError,
                       match=r'strict decoding error: unknown field "resources\[0\]'
                             r'.providers\[0\].aescbc.kyes"'):
        encryptionconfig.load(typo)
    other = tmp_path / "other.yaml"
    other.write_text("apiVersion: v1\nkind: ConfigMap\n")
    with pytest.raises(EncryptionConfigError, match='no kind "ConfigMap" is registered'):
        encryptionconfig.load(other)


# ------------------------------------------------------------------- the storage wrapper


async def test_storage_stores_ciphertext_and_serves_plain_values(
        storage: Storage, tmp_path: Path) -> None:
    keys = secrets_with(tmp_path, provider("aesgcm", ("key1", KEY1)), provider("identity"))
    encrypted = EncryptedStorage(storage, keys)
    start = await storage.current_revision()
    watch = encrypted.watch("/registry/", start)
    created = await encrypted.create(SECRET_KEY, PLAIN)
    assert created.value == PLAIN
    await encrypted.create("/registry/pods/default/p", b'{"kind":"Pod"}')
    raw = await storage.get(SECRET_KEY)
    assert raw is not None and raw.value.startswith(b"k8s:enc:aesgcm:v1:key1:")
    assert b"password" not in raw.value
    assert (await storage.get("/registry/pods/default/p")).value == b'{"kind":"Pod"}'  # type: ignore[union-attr]
    assert await encrypted.get(SECRET_KEY) == created
    listed = await encrypted.list("/registry/secrets/")
    assert [kv.value for kv in listed.items] == [PLAIN]
    updated = await encrypted.update(SECRET_KEY, PLAIN + b" ",
                                     expected_revision=created.mod_revision)
    with pytest.raises(ConflictError) as conflict:
        await encrypted.update(SECRET_KEY, b"{}", expected_revision=created.mod_revision)
    assert conflict.value.current is not None and conflict.value.current.value == PLAIN + b" "
    deleted = await encrypted.delete(SECRET_KEY)
    assert deleted.value == PLAIN + b" "
    seen = []
    async for batch in watch:
        seen += [(e.type, e.kv.key, e.kv.value) for e in batch]
        if len(seen) >= 4:
            break
    await watch.aclose()  # type: ignore[attr-defined]
    assert seen == [("PUT", SECRET_KEY, PLAIN),
                    ("PUT", "/registry/pods/default/p", b'{"kind":"Pod"}'),
                    ("PUT", SECRET_KEY, PLAIN + b" "), ("DELETE", SECRET_KEY, PLAIN + b" ")]
    assert updated.mod_revision > created.mod_revision


async def test_storage_key_rotation(storage: Storage, tmp_path: Path) -> None:
    """Add the new key first, rewrite, drop the old key: the value stays readable."""
    first = EncryptedStorage(storage, secrets_with(tmp_path, provider("aescbc", ("key1", KEY1))))
    written = await first.create(SECRET_KEY, PLAIN)
    rotating = EncryptedStorage(storage, secrets_with(
        tmp_path, provider("aescbc", ("key2", KEY2), ("key1", KEY1))))
    current = await rotating.get(SECRET_KEY)
    assert current is not None and current.value == PLAIN and is_stale(current)
    await rotating.update(SECRET_KEY, current.value, expected_revision=written.mod_revision)
    raw = await storage.get(SECRET_KEY)
    assert raw is not None and raw.value.startswith(b"k8s:enc:aescbc:v1:key2:")
    rewritten = await rotating.get(SECRET_KEY)
    assert rewritten is not None and not is_stale(rewritten)
    final = EncryptedStorage(storage, secrets_with(tmp_path, provider("aescbc", ("key2", KEY2))))
    assert (await final.get(SECRET_KEY)).value == PLAIN  # type: ignore[union-attr]
    # Dropping a key too early is an error naming the key, not a silent loss.
    await first.create("/registry/secrets/default/s2", PLAIN)
    with pytest.raises(TransformError, match='unable to transform key '
                                             '"/registry/secrets/default/s2": no matching key'):
        await final.list("/registry/secrets/")
