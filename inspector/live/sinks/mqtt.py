"""MQTT sink (paho-mqtt): one JSON result per part, retained station status with a last will, PLC triggers.

Topics (prefix defaults to ``inspector``):

- ``<prefix>/<station>/<camera>/result``   one JSON object per inspected part (FrameRecord.summary()), QoS 1
- ``<prefix>/<station>/status``            retained ``{"status": "online"|"offline", ...}``; the broker publishes
                                            "offline" itself (last will) when the station dies without saying goodbye
- ``<prefix>/<station>/alarms``            retained ``{"alarms": ["drift_cam0_score_up", ...], "station", "time"}``:
                                            the snapshot's active alarms (docs/verdicts.md#drift), published at open
                                            (so a previous run's alarms are cleared) and within `alarms_poll_s` of
                                            any change
- ``<prefix>/<station>/<camera>/trigger``  subscribed: any message asks that camera for its next frame
- ``<prefix>/<station>/golden/run``        subscribed: any message runs the golden self-test; the outcome on
                                            ``.../golden/result`` (inspector.live.sinks.plc_mqtt.MqttGolden)

Delivery is at-least-once (QoS 1): a result whose acknowledgement times out is retried, so a consumer may see
the same ``(station, camera, run, frame_id)`` twice and should de-duplicate on it (frame ids restart at 1 in
every daemon run; `run` is unique per start). While the broker is away results wait in the sink's queue
(bounded; the oldest are dropped and counted) and are published once it is back; reconnects are retried
every 1 s doubling to `reconnect_max_s` (5 s).

Anyone who may publish to ``.../trigger`` can trigger inspections: give the broker users and an ACL
(deploy/INSTALL.md), and set `username`, `password_file` (or `password_env`), `tls`, `ca_file` (and a client
certificate, `cert_file` + `key_file`, where the broker asks for one) in `[sinks.mqtt]` (MqttSettings).
A broker that refuses the credentials is named in the sink's health (/readyz) and in the log.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr, model_validator

from inspector.live.record import FrameRecord
from inspector.live.settings import ConfigFile, check_secret, fail, secret, setting
from inspector.live.sinks.base import (
    Sink,
    SinkContext,
    SinkSettings,
    SinkUnavailable,
    register_sink,
)
from inspector.live.sinks.extras import require
from inspector.live.sinks.plc_mqtt import MqttGolden, MqttPlc, MqttRecipes
from inspector.live.sources.base import redact_url

if TYPE_CHECKING:  # paho-mqtt is the `mqtt` extra: imported when a sink is made (require)
    import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)

TriggerCallback = Callable[[str], object]  # called with a camera id; what it returns is not used


def _topic_part(name: str) -> str:
    """A station/camera id usable as one topic level (no wildcards or separators)."""
    cleaned = "".join("_" if ch in "/+#\0" else ch for ch in str(name)).strip()
    if not cleaned:
        raise ValueError(f"{name!r} cannot be used as an MQTT topic level")
    return cleaned


def no_delay(client: mqtt.Client) -> None:
    """Turn Nagle off on the client's socket (paho leaves it on): a small message (a PLC result, a trigger)
    otherwise waits up to ~40 ms for the TCP acknowledgement of the previous one."""
    sock = client.socket()
    try:
        if sock is not None and hasattr(sock, "setsockopt"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:  # not a TCP socket (a websocket wrapper): leave it
        log.debug("mqtt: TCP_NODELAY not set: %s", exc)


class MqttSettings(SinkSettings):
    """`[sinks.mqtt]`: the broker, topics, credentials and TLS. File paths are relative to the config file."""

    host: str = setting(help="broker host")
    port: int | None = setting(
        None,
        help="broker port",
        ge=1,
        le=65535,
        shown="`1883`; `8883` with `tls`",
        problem="{input!r} is not a port",
        fix="use 1..65535",
    )
    topic_prefix: str = setting("inspector", help="topics are `<topic_prefix>/<station>/...`")
    qos: int = setting(
        1, help="MQTT QoS", ge=0, le=2, problem="{input!r} is not a QoS", fix="use 0, 1 or 2 (1 recommended)"
    )
    client_id: str = setting("", help="client id; empty = `inspector-<station>`")
    username: str = setting("", help="broker user; empty = anonymous")
    password: SecretStr | None = setting(
        None,
        shown="none",
        help="the broker password written here; prefer "
        "`password_file` or `password_env`, which keep it out of this file",
    )
    password_file: ConfigFile = setting("", help="file holding the broker password (e.g. a systemd credential)")
    password_env: str = setting("", help="environment variable holding the broker password")
    tls: bool = setting(False, help="connect with TLS")
    ca_file: ConfigFile = setting(
        "", help="CA certificate(s) that signed the broker's certificate (PEM); empty = the system's CAs"
    )
    cert_file: ConfigFile = setting("", help="client certificate (PEM), for a broker that asks for one")
    key_file: ConfigFile = setting("", help="the client certificate's private key (PEM)")
    tls_insecure: bool = setting(
        False,
        help="do not check that the broker's certificate names `host` (the "
        "certificate itself is still checked against `ca_file`); for tests only",
    )

    @model_validator(mode="after")
    def _consistent(self) -> MqttSettings:
        check_secret(self, "password")
        if (self.password or self.password_file or self.password_env) and not self.username:
            raise fail(("username",), "missing: a password is set without a user", 'add username = "..."')
        for key in ("ca_file", "cert_file", "key_file", "tls_insecure"):
            if getattr(self, key) and not self.tls:
                raise fail((key,), "is set but tls is off", "add tls = true (and port = 8883 by convention)")
        if bool(self.cert_file) != bool(self.key_file):
            missing = "key_file" if self.cert_file else "cert_file"
            raise fail(
                (missing,), "missing: a client certificate needs both cert_file and key_file", f'add {missing} = "..."'
            )
        return self


@register_sink("mqtt")
class MqttSink(Sink):
    """Publishes results to an MQTT broker; reconnects by itself; never logs credentials.

    `url` (``mqtt://[user:password@]host[:port]``, ``mqtts://`` for TLS) is an alternative to host/port/
    username/password; explicit arguments win over what the URL carries. `password_file` (read at open,
    e.g. a systemd credential) keeps the password out of the config. `cameras` (ids, or a callable giving
    them at open) limits which trigger topics are honoured; empty: any camera.
    """

    Settings = MqttSettings

    def __init__(
        self,
        *,
        station: str,
        host: str = "127.0.0.1",
        port: int | None = None,
        url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        password_file: str | None = None,
        prefix: str = "inspector",
        cameras: Iterable[str] | Callable[[], Iterable[str]] = (),
        tls: bool = False,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        tls_insecure: bool = False,
        client_id: str | None = None,
        keepalive: int = 30,
        qos: int = 1,
        publish_timeout: float = 5.0,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 5,
        on_trigger: TriggerCallback | None = None,
        queue_size: int = 256,
        retries: int = 3,
        retry_delay: float = 0.5,
        handshake: Callable[[], Any] | None = None,
        recipes: Callable[[], Any] | None = None,
        alarms: Callable[[], Iterable[str]] | None = None,
        golden: Callable[[], Any] | None = None,
        alarms_poll_s: float = 1.0,
    ) -> None:
        super().__init__(queue_size=queue_size, retries=retries, retry_delay=retry_delay)
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
                raise ValueError(f"MQTT url must start with mqtt:// or mqtts://, got {redact_url(url)}")
            host = parts.hostname or host
            port = port if port is not None else parts.port
            tls = tls or parts.scheme in ("mqtts", "ssl")
            if username is None and parts.username:
                username = unquote(parts.username)
            if password is None and parts.password:
                password = unquote(parts.password)
        self.station = _topic_part(station)
        self.prefix = prefix.strip("/")
        self.host = host
        self.port = int(port if port is not None else (8883 if tls else 1883))
        self.tls = tls
        self.ca_file = ca_file
        self.cert_file, self.key_file, self.tls_insecure = cert_file, key_file, bool(tls_insecure)
        self.qos = int(qos)
        self.keepalive = int(keepalive)
        self.publish_timeout = float(publish_timeout)
        self._camera_ids = cameras
        self.cameras: set[str] = set() if callable(cameras) else {_topic_part(c) for c in cameras}
        self.on_trigger = on_trigger
        self._username = username
        self._password = password
        self._password_file = password_file
        self._client_id = client_id or f"inspector-{self.station}"
        self._reconnect = (int(reconnect_min_s), int(reconnect_max_s))
        self._connected = threading.Event()
        self._refused = ""  # why the broker refused the last connection ("" when it did not)
        self._mqtt = require("mqtt")  # InspectorError naming `pip install inspector[mqtt]` without paho-mqtt
        self._client: mqtt.Client | None = None
        self.triggers_received = 0
        self._handshake_of = handshake  # the station's PLC handshake, looked up at open ([sinks.plc])
        self._plc: MqttPlc | None = None
        self._recipes_of = recipes  # the station's recipe/lot changeover, looked up at open
        self._recipes: MqttRecipes | None = None
        self._golden_of = golden  # the station's run_self_test, looked up at open
        self._golden: MqttGolden | None = None
        self._alarms_of = alarms  # the station's active alarms (PipelineSnapshot.alarms), polled
        self.alarms_poll_s = float(alarms_poll_s)
        self._alarms_sent: list[str] | None = None  # what the retained alarms topic says now (None: not yet)
        self._alarms_stop = threading.Event()
        self._alarms_thread: threading.Thread | None = None

    @classmethod
    def from_config(cls, settings: Any, context: SinkContext) -> MqttSink:
        """From `[sinks.mqtt]` (MqttSettings) and the station's context; the password is read here."""
        config: MqttSettings = cls.settings_of(settings)
        options: dict[str, Any] = dict(config)
        options["prefix"] = options.pop("topic_prefix")
        password = secret(config, "password")
        options["password"] = None if password is None else password.get_secret_value()
        del options["password_file"], options["password_env"]
        for key in ("client_id", "username", "ca_file", "cert_file", "key_file"):
            options[key] = options[key] or None
        # the context's methods go to whichever pipeline runs at the time (it is rebound after a restart)
        return cls(
            station=context.station,
            on_trigger=context.trigger,
            cameras=context.cameras,
            handshake=lambda: context.handshake,
            recipes=lambda: context.recipes,
            golden=lambda: context.golden,
            alarms=lambda: context.snapshot().alarms,
            **options,
        )

    # topics -------------------------------------------------------------------------------------------
    @property
    def status_topic(self) -> str:
        return f"{self.prefix}/{self.station}/status"

    @property
    def alarms_topic(self) -> str:
        return f"{self.prefix}/{self.station}/alarms"

    def result_topic(self, camera: str) -> str:
        return f"{self.prefix}/{self.station}/{_topic_part(camera)}/result"

    @property
    def trigger_filter(self) -> str:
        return f"{self.prefix}/{self.station}/+/trigger"

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def describe(self) -> str:
        """Where this sink publishes, safe to log (no credentials)."""
        auth = " (authenticated)" if self._username else ""
        return f"mqtt{'s' if self.tls else ''}://{self.host}:{self.port}/{self.prefix}/{self.station}{auth}"

    def refusal(self) -> str:
        """The broker's refusal in words, with the settings to check ("" when it did not refuse)."""
        if not self._refused:
            return ""
        check = "username and password" if self._username else "whether the broker allows anonymous clients"
        return f"broker {self.describe()} refused the connection ({self._refused}): check [sinks.mqtt] {check}"

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def _status(self, state: str) -> bytes:
        return json.dumps({"status": state, "station": self.station, "time": time.time()}).encode()

    # lifecycle ----------------------------------------------------------------------------------------
    def open(self) -> None:
        if callable(self._camera_ids):
            self.cameras = {_topic_part(c) for c in self._camera_ids()}
        if self._password_file and self._password is None:
            self._password = Path(self._password_file).read_text(encoding="utf-8").strip()
        mqtt = self._mqtt
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self._client_id, protocol=mqtt.MQTTv311, clean_session=True
        )
        client.enable_logger(logging.getLogger("inspector.live.sinks.mqtt.paho"))
        if self._username:
            client.username_pw_set(self._username, self._password)
        if self.tls:
            client.tls_set(ca_certs=self.ca_file, certfile=self.cert_file, keyfile=self.key_file)
            client.tls_insecure_set(self.tls_insecure)
        client.will_set(self.status_topic, self._status("offline"), qos=1, retain=True)
        client.reconnect_delay_set(min_delay=self._reconnect[0], max_delay=self._reconnect[1])
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        handshake = self._handshake_of() if self._handshake_of is not None else None
        if handshake is not None:  # the PLC handshake's topics (docs/plc.md)
            self._plc = MqttPlc(client, handshake, base=f"{self.prefix}/{self.station}", qos=self.qos)
            self._plc.start()
        changeover = self._recipes_of() if self._recipes_of is not None else None
        if changeover is not None:  # recipe and lot commands (docs/plc.md#recipes)
            self._recipes = MqttRecipes(client, changeover, base=f"{self.prefix}/{self.station}", qos=self.qos)
            self._recipes.start()
        run = self._golden_of() if self._golden_of is not None else None
        if run is not None:  # on-demand golden self-test (docs/verdicts.md#golden-samples)
            self._golden = MqttGolden(client, run, base=f"{self.prefix}/{self.station}", qos=self.qos)
        log.info("mqtt sink connecting to %s", self.describe())
        client.connect_async(self.host, self.port, keepalive=self.keepalive)
        client.loop_start()  # paho's network thread: keeps the session alive and reconnects with backoff
        if self._alarms_of is not None:
            self._alarms_stop.clear()
            self._alarms_thread = threading.Thread(target=self._watch_alarms, name="sink-mqtt-alarms", daemon=True)
            self._alarms_thread.start()

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, properties: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            self._refused = str(reason)
            self._problem = self.refusal()
            log.error("mqtt sink: %s", self._problem)
            return
        self._refused = ""
        no_delay(client)
        client.publish(self.status_topic, self._status("online"), qos=1, retain=True)
        client.subscribe(self.trigger_filter, qos=1)
        if self._plc is not None:
            client.subscribe(self._plc.subscription, qos=1)
        if self._recipes is not None:
            self._recipes.connected()
        if self._golden is not None:
            self._golden.connected()
        if self._alarms_sent is not None:  # again after a reconnect: the broker may have lost the retained one
            self._send_alarms(client, self._alarms_sent)
        self._connected.set()
        log.info("mqtt sink connected to %s", self.describe())

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, properties: object
    ) -> None:
        self._connected.clear()
        if getattr(reason, "is_failure", True):
            log.warning("mqtt sink lost %s: %s (reconnecting)", self.describe(), reason)
        else:
            log.info("mqtt sink disconnected from %s", self.describe())

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        levels = message.topic.split("/")
        if self._golden is not None and self._golden.on_message(message.topic, bytes(message.payload)):
            return
        if self._recipes is not None and message.topic in self._recipes.topics:
            try:
                self._recipes.on_message(message.topic, bytes(message.payload))
            except Exception as exc:  # noqa: BLE001 (a failing changeover must not kill paho's network thread)
                log.error("recipe/lot command failed: %s", exc)
            return
        if self._plc is not None and len(levels) >= 3 and levels[-2] == "plc":
            self._on_plc_message(levels[-3], levels[-1], bytes(message.payload))  # paho types it bytes | bytearray
            return
        if len(levels) < 2 or levels[-1] != "trigger":
            return
        camera = levels[-2]
        if self.cameras and camera not in self.cameras:
            log.warning("mqtt trigger for unknown camera %r ignored", camera)
            return
        self.triggers_received += 1
        if self.on_trigger is None:
            log.warning("mqtt trigger for %r ignored: no trigger handler", camera)
            return
        try:
            self.on_trigger(camera)
        except Exception as exc:  # noqa: BLE001 (a failing trigger handler must not kill paho's network thread)
            log.error("trigger handler for camera %r failed: %s", camera, redact_url(str(exc)))

    def _on_plc_message(self, camera: str, verb: str, payload: bytes) -> None:
        if self.cameras and camera not in self.cameras:
            log.warning("mqtt plc %s for unknown camera %r ignored", verb, camera)
            return
        try:
            if self._plc is not None:
                self._plc.on_message(camera, verb, payload)
        except Exception as exc:  # noqa: BLE001 (a failing handshake must not kill paho's network thread)
            log.error("plc %s for camera %r failed: %s", verb, camera, exc)

    # alarms -------------------------------------------------------------------------------------------
    def _current_alarms(self) -> list[str] | None:
        """The station's active alarms now; None when they cannot be known (no pipeline bound yet)."""
        if self._alarms_of is None:
            return None
        try:
            return sorted(str(a) for a in self._alarms_of())
        except LookupError:
            return None
        except Exception as exc:  # noqa: BLE001 (a failing probe must not stop the watcher; it tries again)
            log.warning("mqtt sink: alarms unavailable: %s", exc)
            return None

    def _send_alarms(self, client: mqtt.Client, alarms: list[str]) -> bool:
        payload = json.dumps({"alarms": alarms, "station": self.station, "time": time.time()})
        info = client.publish(self.alarms_topic, payload, qos=1, retain=True)
        return info.rc == self._mqtt.MQTT_ERR_SUCCESS

    def publish_alarms(self, alarms: Iterable[str]) -> bool:
        """Publish `alarms` (retained) if they differ from what the topic says; True when sent or unchanged."""
        current = sorted(str(a) for a in alarms)
        client = self._client
        if current == self._alarms_sent:
            return True
        if client is None or not self._connected.is_set():
            return False
        if self._send_alarms(client, current):
            self._alarms_sent = current
            log.info("mqtt sink: alarms now %s", ", ".join(current) or "none")
            return True
        return False

    def _watch_alarms(self) -> None:
        """Polls the station's alarms every `alarms_poll_s` and publishes each change."""
        while True:
            alarms = self._current_alarms()
            if alarms is not None:
                self.publish_alarms(alarms)
            if self._alarms_stop.wait(self.alarms_poll_s):
                return

    def write(self, record: FrameRecord) -> None:
        client = self._client
        if client is None:
            raise SinkUnavailable("mqtt sink is not open")
        if not self._connected.wait(self.publish_timeout):
            raise SinkUnavailable(self.refusal() if self._refused else f"not connected to {self.describe()}")
        info = client.publish(self.result_topic(record.camera), json.dumps(record.summary()), qos=self.qos)
        if info.rc != self._mqtt.MQTT_ERR_SUCCESS:
            raise SinkUnavailable(f"publish failed: {self._mqtt.error_string(info.rc)}")
        if self.qos > 0:
            info.wait_for_publish(self.publish_timeout)
            if not info.is_published():
                raise SinkUnavailable(f"broker did not acknowledge within {self.publish_timeout:g} s")

    def close(self) -> None:
        """Say "offline" (retained) ourselves, then disconnect cleanly (so the will is not needed)."""
        client = self._client
        if client is None:
            return
        if self._plc is not None:
            self._plc.stop()
            self._plc = None
        if self._recipes is not None:
            self._recipes.stop()
            self._recipes = None
        self._alarms_stop.set()
        if self._alarms_thread is not None:
            self._alarms_thread.join(timeout=5.0)
            self._alarms_thread = None
        try:
            if self._connected.is_set():
                info = client.publish(self.status_topic, self._status("offline"), qos=1, retain=True)
                info.wait_for_publish(min(self.publish_timeout, 2.0))
        except (RuntimeError, ValueError, OSError) as exc:
            log.warning("mqtt sink could not publish offline status: %s", exc)
        finally:
            client.disconnect()
            client.loop_stop()
            self._connected.clear()
            self._client = None
            log.info("mqtt sink closed (%s)", self.describe())
