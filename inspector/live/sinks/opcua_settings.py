"""`[sinks.opcua]` settings and the OPC UA server's security: offered policies and the one user (opcua.py).

`security_policies` lists the endpoints offered ("None" is unsecured); a signing policy needs the server's
`certificate` and `private_key`. With `username` set the server refuses anonymous clients and accepts only
that user and password (the password travels encrypted with the server certificate, so a username needs one).
asyncua is imported only inside `OneUser.get_user` (a core install has no asyncua; extras.py).
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING, Any, Literal

from pydantic import SecretStr, field_validator, model_validator

from inspector.live.settings import ConfigFile, check_secret, fail, setting
from inspector.live.sinks.base import SinkSettings

if TYPE_CHECKING:
    from asyncua.crypto.permission_rules import User

log = logging.getLogger("inspector.live.sinks.opcua")  # the sink's logger, as before the split

Policy = Literal[
    "None",
    "Basic256Sha256_Sign",
    "Basic256Sha256_SignAndEncrypt",
    "Aes128Sha256RsaOaep_Sign",
    "Aes128Sha256RsaOaep_SignAndEncrypt",
    "Aes256Sha256RsaPss_Sign",
    "Aes256Sha256RsaPss_SignAndEncrypt",
]


class OpcUaSettings(SinkSettings):
    """`[sinks.opcua]`: the server's endpoint and security. File paths are relative to the config file."""

    endpoint: str = setting(help="server endpoint, must start with `opc.tcp://`")
    namespace: str = setting("urn:inspector", help="namespace URI of the Inspector nodes")
    heartbeat_s: float = setting(1.0, gt=0, help="seconds between Heartbeat increments (and Ready updates)")
    security_policies: list[Policy] = setting(
        ["None"],
        min_length=1,
        help="endpoints offered: `None` "
        "(unsecured) and/or signing policies such as "
        "`Basic256Sha256_SignAndEncrypt` (need `certificate`)",
    )
    certificate: ConfigFile = setting("", help="the server's certificate (DER or PEM)")
    private_key: ConfigFile = setting("", help="the server certificate's private key (PEM)")
    username: str = setting("", help="the one user clients must log in as; empty = anonymous clients")
    password: SecretStr | None = setting(
        None, shown="none", help="that user's password written here; prefer `password_file` or `password_env`"
    )
    password_file: ConfigFile = setting("", help="file holding that user's password")
    password_env: str = setting("", help="environment variable holding that user's password")

    @field_validator("endpoint")
    @classmethod
    def _opc_tcp(cls, value: str) -> str:
        if not value.startswith("opc.tcp://"):
            raise fail((), "must start with opc.tcp://", 'e.g. endpoint = "opc.tcp://0.0.0.0:4840"', value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> OpcUaSettings:
        check_secret(self, "password")
        signed = [p for p in self.security_policies if p != "None"]
        if bool(self.certificate) != bool(self.private_key):
            missing = "private_key" if self.certificate else "certificate"
            raise fail(
                (missing,),
                "missing: the server certificate needs both certificate and private_key",
                f'add {missing} = "..."',
            )
        if (signed or self.username) and not self.certificate:
            why = f"security policy {signed[0]}" if signed else "a username (its password is sent encrypted)"
            raise fail(
                ("certificate",),
                f"missing: {why} needs the server's certificate and private_key",
                'add certificate = "server.der" and private_key = "server.pem"',
            )
        has_password = bool(self.password or self.password_file or self.password_env)
        if bool(self.username) != has_password:
            key = "password_file" if self.username else "username"
            raise fail(
                (key,),
                "missing: a user needs both username and a password",
                "set username and one of password_file, password_env",
            )
        return self


class OneUser:
    """asyncua's UserManager interface: accepts exactly one username/password (compared in constant time);
    everyone else is refused."""

    def __init__(self, username: str, password: str) -> None:
        self._username, self._password = username.encode(), password.encode()

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        from asyncua.crypto.permission_rules import User, UserRole

        given_user, given_password = (username or "").encode(), (password or "").encode()
        if hmac.compare_digest(given_user, self._username) & hmac.compare_digest(given_password, self._password):
            return User(role=UserRole.User)
        log.warning("OPC UA login refused for user %r", username)
        return None
