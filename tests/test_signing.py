"""Issue 11 item 20: ed25519-signed bundles with real keys and real bundle files.

`inspector keys new|list|sign|verify`, `inspector export --sign`, and the one check in
`read_verified`: with trusted keys an unsigned bundle, a foreign key, a changed bundle or a changed
signature is refused, naming the keys expected and found.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bundle_edit import with_props

from inspector.bundle.session import load_bundle
from inspector.bundle.verify import read_verified, sidecar_path
from inspector.cli import main
from inspector.errors import BundleError
from inspector.signing import load_public_key, new_key, sign_bundle, signature_path

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "assets" / "demo.onnx"


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    """A copy of the demo bundle with its checksum sidecar."""
    path = tmp_path / "models" / "model.onnx"
    path.parent.mkdir()
    shutil.copy(DEMO, path)
    sidecar_path(path).write_text(sidecar_path(DEMO).read_text().replace("demo.onnx", "model.onnx"))
    return path


def test_keys_new_writes_a_private_key_only_its_owner_reads_and_list_shows_the_ids(tmp_path: Path, capsys) -> None:
    keys = tmp_path / "keys"
    assert main(["keys", "new", "plant", "--dir", str(keys)]) == 0
    assert main(["keys", "new", "spare", "--dir", str(keys)]) == 0
    made = capsys.readouterr().out
    assert (keys / "plant.key").stat().st_mode & 0o777 == 0o600 and keys.stat().st_mode & 0o777 == 0o700
    plant = load_public_key(keys / "plant.pub").key_id
    assert f"key {plant}" in made
    assert main(["keys", "list", "--dir", str(keys)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert sum(plant in line for line in listing) == 2 and len(listing) == 5  # header, 2 keys x (key, pub)
    assert main(["keys", "new", "plant", "--dir", str(keys)]) == 2  # never overwritten
    assert "exists already" in capsys.readouterr().err
    assert main(["keys", "new", "../evil", "--dir", str(keys)]) == 2


def test_a_signed_bundle_loads_and_the_signature_survives_a_rename(tmp_path: Path, bundle: Path) -> None:
    key, pub, ident = new_key(tmp_path / "keys", "plant")
    assert main(["keys", "sign", str(bundle), "--key", str(key)]) == 0
    record = json.loads(signature_path(bundle).read_text())
    assert record["key_id"] == ident and record["algorithm"] == "ed25519"
    assert load_bundle(bundle, trusted_keys=[pub]).fingerprint == record["sha256"]
    renamed = bundle.with_name("line3.onnx")
    for suffix in ("", ".sha256", ".sig"):
        shutil.copy(f"{bundle}{suffix}", f"{renamed}{suffix}")
    assert read_verified(renamed, [pub])[1] == record["sha256"]  # the signature covers bytes, not the name
    assert main(["keys", "verify", str(renamed), "--trusted", str(pub)]) == 0


def test_unsigned_and_foreign_bundles_are_refused_naming_the_keys(tmp_path: Path, bundle: Path) -> None:
    _, trusted, trusted_id = new_key(tmp_path / "keys", "plant")
    other_key, _, other_id = new_key(tmp_path / "keys", "laptop")
    with pytest.raises(BundleError) as unsigned:
        load_bundle(bundle, trusted_keys=[trusted])
    assert "not signed" in unsigned.value.message and f"{trusted_id} (plant.pub)" in unsigned.value.message
    assert "inspector keys sign" in unsigned.value.fix
    sign_bundle(bundle, other_key)
    with pytest.raises(BundleError) as foreign:
        load_bundle(bundle, trusted_keys=[trusted])
    assert f"signed by key {other_id}" in foreign.value.message
    assert f"expected key {trusted_id} (plant.pub)" in foreign.value.message
    assert load_bundle(bundle).fingerprint  # a station without trusted keys does not ask for signatures


def test_a_changed_bundle_or_a_forged_signature_is_refused(tmp_path: Path, bundle: Path) -> None:
    key, pub, ident = new_key(tmp_path / "keys", "plant")
    sign_bundle(bundle, key)
    signed = signature_path(bundle).read_text()
    # whoever can write the model folder replaces the bundle and rewrites its checksum sidecar ...
    with_props(bundle, bundle, threshold="0.001")
    with pytest.raises(BundleError, match="signs another file"):
        read_verified(bundle, [pub])
    # ... and rewrites the digest in the signature file too: the signature no longer matches
    record = json.loads(signed)
    record["sha256"] = read_verified(bundle)[1]
    signature_path(bundle).write_text(json.dumps(record))
    with pytest.raises(BundleError, match=f"signature by key {ident} \\(plant.pub\\) is not valid"):
        read_verified(bundle, [pub])
    signature_path(bundle).write_text("{not json")
    with pytest.raises(BundleError, match="not an Inspector signature file"):
        read_verified(bundle, [pub])


def test_key_files_of_the_wrong_kind_are_named(tmp_path: Path, bundle: Path) -> None:
    key, pub, _ = new_key(tmp_path / "keys", "plant")
    sign_bundle(bundle, key)
    with pytest.raises(BundleError, match="a private key; a station needs only the public one"):
        read_verified(bundle, [key])
    garbage = tmp_path / "keys" / "garbage.pub"
    garbage.write_text("hello")
    with pytest.raises(BundleError, match="not a PEM public key"):
        read_verified(bundle, [garbage])
    out = subprocess.run(
        [sys.executable, "-m", "inspector", "keys", "sign", str(bundle), "--key", str(pub)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and "signing needs the .key" in out.stderr and "Traceback" not in out.stderr


def test_export_sign_writes_a_signature_a_station_accepts(tmp_path: Path, patchcore_bundle) -> None:
    run, _ = patchcore_bundle
    key, pub, ident = new_key(tmp_path / "keys", "plant")
    out = tmp_path / "signed.onnx"
    assert main(["export", str(run), "--out", str(out), "--sign", str(pub)]) == 2  # a .pub cannot sign: refused
    assert not out.exists()  # ... before anything was exported
    assert main(["export", str(run), "--out", str(out), "--sign", str(key)]) == 0
    assert json.loads(signature_path(out).read_text())["key_id"] == ident
    assert load_bundle(out, trusted_keys=[pub]).metadata.method == "patchcore"
