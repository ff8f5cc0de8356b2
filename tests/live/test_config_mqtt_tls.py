"""Issue 12 item 2 (Must show): a station config with MQTT TLS and credentials works against a real Mosquitto
started with a password file and a certificate made in the test; a wrong password is a clear refusal in the
sink's health, never a silent outage. The certificates: a self-signed CA, a broker certificate for 127.0.0.1
and a client certificate (the broker requires one), made with `cryptography`."""

from __future__ import annotations

import datetime
import getpass
import ipaddress
import json
import threading
from pathlib import Path

import pytest

pytest.importorskip("paho.mqtt")

import paho.mqtt.client as mqtt
from conftest_services import (
    MQTT_PASSWORD,
    MQTT_USER,
    MosquittoProcess,
    make_mosquitto,
    wait_until,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_mqtt import record

from inspector.errors import InspectorError
from inspector.live.config import load_config
from inspector.live.sinks.base import SINKS, SinkContext

pytestmark = pytest.mark.timeout(90)


def _write_cert(
    folder: Path,
    name: str,
    subject: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    ip: str | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_cert, issuer_key = issuer if issuer is not None else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else subject_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip)), x509.DNSName("localhost")]),
            critical=False,
        )
    cert = builder.sign(issuer_key, hashes.SHA256())
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    (folder / f"{name}.key").chmod(0o600)
    return cert, key


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory):
    """Mosquitto with a password file, TLS only, and client certificates required."""
    folder = tmp_path_factory.mktemp("tls-broker")
    process, broker = make_mosquitto(folder)  # the password file (mosquitto_passwd) and a free port
    ca = _write_cert(folder, "ca", "Inspector test CA", None, ca=True)
    _write_cert(folder, "broker", "127.0.0.1", ca, ip="127.0.0.1")
    _write_cert(folder, "client", "inspector-station", ca)
    process.conf.write_text(
        "\n".join(
            [
                f"user {getpass.getuser()}",
                f"listener {broker.port} 127.0.0.1",
                f"cafile {folder / 'ca.pem'}",
                f"certfile {folder / 'broker.pem'}",
                f"keyfile {folder / 'broker.key'}",
                "require_certificate true",
                "allow_anonymous false",
                f"password_file {folder / 'passwd'}",
                "persistence false",
                f"log_dest file {broker.log_path}",
                "log_type all",
                "",
            ]
        )
    )
    process = MosquittoProcess(process.binary, process.conf, broker.port)
    process.start()
    try:
        yield folder, broker
    finally:
        process.stop()


def station(folder: Path, certs: Path, port: int, model: Path, credentials: str, name: str) -> Path:
    """A station TOML in `folder` whose MQTT sink uses TLS with the test CA and a client certificate."""
    for part in ("ca.pem", "client.pem", "client.key"):
        (folder / part).write_bytes((certs / part).read_bytes())
    path = folder / "station.toml"
    path.write_text(f'''schema_version = 1
station = "{name}"
[model]
path = "{model}"
[[cameras]]
id = "cam0"
[cameras.source]
kind = "synthetic"
[sinks.mqtt]
host = "127.0.0.1"
port = {port}
tls = true
ca_file = "ca.pem"
cert_file = "client.pem"
key_file = "client.key"
username = "{MQTT_USER}"
{credentials}
''')
    return path


class TlsSubscriber:
    """A plain paho client over the same TLS listener, collecting results."""

    def __init__(self, certs: Path, port: int, topic: str) -> None:
        self.messages: list[dict] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-subscriber")
        self.client.username_pw_set(MQTT_USER, MQTT_PASSWORD)
        self.client.tls_set(
            ca_certs=str(certs / "ca.pem"), certfile=str(certs / "client.pem"), keyfile=str(certs / "client.key")
        )
        self.client.on_connect = lambda c, u, f, reason, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = lambda c, u, message: self.messages.append(json.loads(message.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the test subscriber could not subscribe over TLS"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_tls_and_credentials_from_the_config_publish_to_a_real_broker(
    tmp_path: Path, tls_broker, tiny_bundle_path: Path
) -> None:
    certs, broker = tls_broker
    (tmp_path / "mqtt.pass").write_text(MQTT_PASSWORD + "\n")
    config = load_config(
        station(tmp_path, certs, broker.port, tiny_bundle_path, 'password_file = "mqtt.pass"', "tls-ok")
    )
    settings = config.sinks["mqtt"]
    assert settings.ca_file == str(tmp_path / "ca.pem") and settings.tls and MQTT_PASSWORD not in repr(settings)
    subscriber = TlsSubscriber(certs, broker.port, "inspector/tls-ok/+/result")
    sink = SINKS["mqtt"].from_config(settings, SinkContext(station="tls-ok"))
    sink.start()
    try:
        assert sink.wait_connected(15), f"TLS connection refused: {sink.health()}\n{broker.log_text()[-2000:]}"
        sink.submit(record("cam0", 7, 0.9, "tls-ok"))
        assert wait_until(lambda: subscriber.messages, 10), "no result reached the subscriber"
        assert subscriber.messages[0]["frame_id"] == 7 and subscriber.messages[0]["verdict"] == "NG"
        assert wait_until(lambda: sink.stats.written == 1, 10)  # acknowledged (the subscriber may see it first)
        assert sink.health() == ""
    finally:
        sink.stop(3)
        subscriber.close()
    assert MQTT_PASSWORD not in broker.log_text()


def test_a_wrong_password_is_named_in_the_sink_health(
    tmp_path: Path, tls_broker, tiny_bundle_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs, broker = tls_broker
    monkeypatch.setenv("INSPECTOR_TEST_MQTT_PASSWORD", "not-the-password")
    config = load_config(
        station(
            tmp_path, certs, broker.port, tiny_bundle_path, 'password_env = "INSPECTOR_TEST_MQTT_PASSWORD"', "tls-bad"
        )
    )
    sink = SINKS["mqtt"].from_config(config.sinks["mqtt"], SinkContext(station="tls-bad"))
    sink.start()
    try:
        sink.submit(record("cam0", 1, 0.1, "tls-bad"))
        assert wait_until(lambda: "refused the connection" in sink.health(), 15), sink.health()
        health = sink.health()
        assert "check [sinks.mqtt] username and password" in health and "mqtts://127.0.0.1" in health
        assert "not-the-password" not in health and not sink.connected and sink.stats.written == 0
    finally:
        sink.stop(1)


def test_secret_sources_are_checked_at_load(tmp_path: Path, tiny_bundle_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    for part in ("ca.pem", "client.pem", "client.key"):
        (certs / part).write_text("-")
    cases = {
        'password_env = "INSPECTOR_TEST_UNSET_VARIABLE"': (
            "sinks.mqtt.password_env: environment variable 'INSPECTOR_TEST_UNSET_VARIABLE' is not set"
        ),
        'password_file = "nowhere.pass"': "sinks.mqtt.password_file: file",
        'password = "inline"\npassword_file = "p"': "password and password_file are both set",
        'pasword_file = "p"': "did you mean 'password_file'?",
    }
    for i, (lines, expected) in enumerate(cases.items()):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        (folder / "p").write_text("x")
        with pytest.raises(InspectorError) as caught:
            load_config(station(folder, certs, 8883, tiny_bundle_path, lines, "secrets"))
        assert expected in f"{caught.value.message} {caught.value.fix}", caught.value.message
