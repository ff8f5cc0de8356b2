"""Signed bundles: ed25519 signatures in a detached `<model>.sig` beside the bundle (docs/signing.md).

The `.sha256` sidecar catches accidents; whoever can write the model folder can rewrite it too. A
signature can only be made with the private key, which stays on the signing machine. A station that
lists `[model] trusted_keys` accepts only bundles signed by one of them: `inspector.bundle.verify.
read_verified` (the one place bundle bytes are trusted) calls `verify_signature` for every load, at
start, on SIGHUP and in the GUI's model loader.

The signed message is a fixed prefix plus the bundle's SHA-256 (hex), so a renamed copy stays valid and
any changed byte does not. Key files are PEM (PKCS#8 private, SubjectPublicKeyInfo public), readable by
`openssl pkey`. A key's id is the first 16 hex digits of the SHA-256 of its 32 raw public bytes.

`inspector keys new|list|sign|verify` is the command line (this module's `add_arguments` and `run`).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from inspector.atomic import atomic_write
from inspector.errors import BundleError, InspectorError

log = logging.getLogger("inspector.signing")
SIG_SUFFIX = ".sig"
FORMAT = "inspector-signature/1"
MESSAGE_PREFIX = b"inspector-bundle-signature/1\n"
PRIVATE_SUFFIX, PUBLIC_SUFFIX = ".key", ".pub"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DOCS = "docs/signing.md"


@dataclass(frozen=True)
class PublicKey:
    """A public key read from `path`, with its id."""

    path: Path
    key: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        return key_id(self.key)

    def describe(self) -> str:
        return f"{self.key_id} ({self.path.name})"


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signature_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + SIG_SUFFIX)


def default_keys_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "inspector" / "keys"


# ---------------------------------------------------------------------------------------------- key files
def new_key(folder: Path, name: str) -> tuple[Path, Path, str]:
    """Write `NAME.key` (private, mode 0600) and `NAME.pub` in `folder`; never overwrites. Returns both and the id."""
    if not _NAME.match(name):
        raise InspectorError(f"key name {name!r} is not valid", "use letters, digits, '-', '_' or '.' (at most 64)")
    folder = Path(folder)
    private, public = folder / f"{name}{PRIVATE_SUFFIX}", folder / f"{name}{PUBLIC_SUFFIX}"
    for path in (private, public):
        if path.exists():
            raise InspectorError(
                f"{path} exists already; a key is never overwritten",
                "choose another NAME, or move the old key away first",
            )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    atomic_write(
        private,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        mode=0o600,
    )
    os.chmod(private, 0o600)  # whatever the umask
    atomic_write(
        public,
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    )
    return private, public, key_id(key.public_key())


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise InspectorError(f"{path}: {what} not found", f"check the path (see {DOCS})") from exc
    except OSError as exc:
        raise InspectorError(f"{path}: {what} cannot be read ({exc})", "check the file and its permissions") from exc


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The ed25519 private key in a PEM file; InspectorError naming the file otherwise."""
    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        hint = " (a .pub file is the public half; signing needs the .key)" if b"PUBLIC KEY" in data else ""
        raise InspectorError(
            f"{path}: not an unencrypted PEM private key{hint}",
            f"give the NAME.key written by `inspector keys new NAME` (see {DOCS})",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InspectorError(f"{path}: a {type(key).__name__}, not an ed25519 key", "make one: inspector keys new NAME")
    return key


def load_public_key(path: Path) -> PublicKey:
    """The ed25519 public key in a PEM file (a private key file gives its public half)."""
    data = _read(path, "public key")
    try:
        key: Any = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        if b"PRIVATE KEY" in data:
            raise InspectorError(
                f"{path}: a private key; a station needs only the public one",
                f"list the NAME.pub in trusted_keys and keep the .key on the signing machine (see {DOCS})",
            ) from exc
        raise InspectorError(
            f"{path}: not a PEM public key", f"give the NAME.pub of `inspector keys new` (see {DOCS})"
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InspectorError(f"{path}: a {type(key).__name__}, not an ed25519 key", "make one: inspector keys new NAME")
    return PublicKey(Path(path), key)


# ---------------------------------------------------------------------------------------------- signatures
def sign_bundle(model_path: Path, key: Ed25519PrivateKey | Path) -> Path:
    """Write `<model>.sig`: the signature of the bundle's SHA-256 by `key`. Returns the signature's path."""
    from inspector.bundle.verify import sha256_bytes

    model_path = Path(model_path)
    private = key if isinstance(key, Ed25519PrivateKey) else load_private_key(key)
    digest = sha256_bytes(_read(model_path, "model bundle"))
    record = {
        "format": FORMAT,
        "algorithm": "ed25519",
        "key_id": key_id(private.public_key()),
        "sha256": digest,
        "signed_file": model_path.name,
        "signature": base64.b64encode(private.sign(MESSAGE_PREFIX + digest.encode())).decode(),
    }
    return atomic_write(signature_path(model_path), json.dumps(record, indent=2) + "\n")


def _trusted_list(keys: Sequence[PublicKey]) -> str:
    return ", ".join(k.describe() for k in keys)


def read_signature(model_path: Path) -> dict[str, str] | None:
    """The signature record beside `model_path` (None when there is none); BundleError when malformed."""
    path = signature_path(model_path)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(
            f"{path}: not an Inspector signature file ({exc})",
            f"copy {path.name} again from the signing machine, or sign again",
        ) from exc
    fields = ("format", "algorithm", "key_id", "sha256", "signature")
    if (
        not isinstance(record, dict)
        or record.get("format") != FORMAT
        or record.get("algorithm") != "ed25519"
        or not all(isinstance(record.get(f), str) for f in fields)
    ):
        raise BundleError(
            f"{path}: not an {FORMAT} ed25519 signature file",
            f"sign the bundle again: inspector keys sign {model_path.name} --key NAME.key",
        )
    return record


def verify_signature(model_path: Path, digest: str, trusted: Sequence[Path | PublicKey]) -> str:
    """Refuse the bundle unless `<model>.sig` is a valid signature of `digest` by a trusted key; its key id."""
    model_path = Path(model_path)
    try:
        keys = [k if isinstance(k, PublicKey) else load_public_key(k) for k in trusted]
    except InspectorError as exc:  # a bad trust anchor refuses the bundle like any other reason
        raise BundleError(f"{model_path}: cannot check its signature: {exc.message}", exc.fix) from exc
    sig_name = signature_path(model_path).name
    sign_fix = (
        f"sign it on the signing machine (inspector keys sign {model_path.name} --key NAME.key, or "
        f"inspector export --sign NAME.key) and copy {sig_name} beside the model"
    )
    record = read_signature(model_path)
    if record is None:
        raise BundleError(
            f"{model_path}: the bundle is not signed (no {sig_name} beside it) and this station "
            f"accepts only bundles signed by key {_trusted_list(keys)}",
            sign_fix,
        )
    found = record["key_id"]
    if record["sha256"].lower() != digest:
        raise BundleError(
            f"{model_path}: {sig_name} (key {found}) signs another file (SHA-256 "
            f"{record['sha256'][:16]}…, this bundle is {digest[:16]}…)",
            sign_fix,
        )
    match = next((k for k in keys if k.key_id == found), None)
    if match is None:
        raise BundleError(
            f"{model_path}: signed by key {found}, which this station does not trust "
            f"(expected key {_trusted_list(keys)})",
            f"sign the bundle with a trusted key, or add key {found}'s .pub to [model] trusted_keys",
        )
    try:
        match.key.verify(base64.b64decode(record["signature"], validate=True), MESSAGE_PREFIX + digest.encode())
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise BundleError(
            f"{model_path}: the signature by key {match.describe()} is not valid: the bundle or "
            f"{sig_name} was changed after signing",
            "copy both again from the signing machine",
        ) from exc
    log.info("bundle signature verified", extra={"fields": {"path": str(model_path), "key": match.describe()}})
    return found


# ---------------------------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="action", required=True, metavar="new|list|sign|verify")
    new = verbs.add_parser("new", help="make a key pair: NAME.key (private, 0600) and NAME.pub")
    new.add_argument("name", help="the key's name (file names NAME.key and NAME.pub)")
    listing = verbs.add_parser("list", help="the keys in a folder (or the given files) with their ids")
    listing.add_argument("paths", nargs="*", type=Path, help="key files (default: every key in --dir)")
    for sub in (new, listing):
        sub.add_argument(
            "--dir", type=Path, default=default_keys_dir(), help=f"the key folder (default: {default_keys_dir()})"
        )
    sign = verbs.add_parser("sign", help="write MODEL.sig, the signature of a bundle by a private key")
    sign.add_argument("model", type=Path, help="the bundle (.onnx)")
    sign.add_argument("--key", type=Path, required=True, help="the private key (NAME.key)")
    verify = verbs.add_parser("verify", help="check MODEL.sig against trusted public keys, as a station does")
    verify.add_argument("model", type=Path, help="the bundle (.onnx)")
    verify.add_argument("--trusted", type=Path, nargs="+", required=True, help="trusted public keys (NAME.pub)")


def _list(paths: list[Path], folder: Path) -> int:
    if not paths:
        if not folder.is_dir():
            raise InspectorError(f"{folder}: no such key folder", "give --dir, or make a key: inspector keys new NAME")
        paths = sorted(p for p in folder.iterdir() if p.suffix in (PRIVATE_SUFFIX, PUBLIC_SUFFIX))
    print(f"{'key id':<16}  {'kind':<7}  file")
    for path in paths:
        try:
            kind, ident = "public", load_public_key(path).key_id
        except InspectorError:
            try:
                kind, ident = "private", key_id(load_private_key(path).public_key())
            except InspectorError as exc:
                kind, ident = "invalid", exc.message.split(": ", 1)[-1]
        print(f"{ident:<16}  {kind:<7}  {path}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "new":
        private, public, ident = new_key(args.dir, args.name)
        print(
            f"key {ident}: private {private} (mode 0600: keep it on the signing machine), public {public} "
            "(copy it to the stations' trusted_keys)"
        )
        return 0
    if args.action == "list":
        return _list(args.paths, args.dir)
    if args.action == "sign":
        path = sign_bundle(args.model, args.key)
        print(f"signed {args.model} with key {json.loads(path.read_text())['key_id']}: wrote {path}")
        return 0
    from inspector.bundle.verify import read_verified

    _, digest = read_verified(args.model, args.trusted)
    print(f"{args.model}: signed by trusted key {verify_signature(args.model, digest, args.trusted)}")
    return 0
