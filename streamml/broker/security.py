"""TLS, SCRAM users and ACLs for the local broker: no client listener stays plaintext.

Every client listener becomes SASL_SSL with SCRAM-SHA-512. The broker presents a PEM
keystore (its key and certificate chain), so no keytool is needed. SCRAM users are
written into the metadata when the storage is formatted; ACLs are enforced by the
StandardAuthorizer, with one super user that creates topics and grants the rest.
The controller listener only serves the broker itself, on loopback, and asks for a
password (SASL PLAIN) that exists only in this broker's configuration.
"""

from __future__ import annotations

import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from contracts.exceptions import StreamMLError
from contracts.settings import Secret, Settings

MECHANISM: Final = "SCRAM-SHA-512"
CLIENT_PROTOCOL: Final = "SASL_SSL"
CONTROLLER_USER: Final = "controller"
AUTHORIZER: Final = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
CA_FILE: Final = "ca.pem"
KEYSTORE_FILE: Final = "broker.pem"
USERS_FILE: Final = "users.toml"
# The storage tool's --add-scram syntax has no escapes: commas, brackets and quotes
# would end a field early.
_SAFE: Final = re.compile(r"[A-Za-z0-9._@-]+")


class BrokerSecurityError(StreamMLError):
    """The broker's certificates or users are missing or unusable."""


def _random_password() -> Secret:
    return Secret(secrets.token_hex(24))


@dataclass(frozen=True)
class BrokerSecurity:
    """What a secure local broker needs: its CA, its keystore and its SCRAM users.

    Parameters
    ----------
    ca_file : Path
        PEM certificate of the CA that signed the broker; clients trust it too.
    keystore_file : Path
        PEM file with the broker's private key (PKCS#8, unencrypted) and certificate chain.
    users : Mapping[str, Secret]
        SCRAM-SHA-512 user names and passwords, created when the storage is formatted.
    super_user : str
        The user allowed everything (creating topics, granting ACLs); one of ``users``.
    components : Mapping[str, str]
        Which user each streamml component signs in as, for granting its ACLs
        (:mod:`contracts.component_access`); may be empty.

    >>> s = BrokerSecurity(Path("ca.pem"), Path("broker.pem"), {"admin": Secret("pw")})
    >>> s.format_arguments()
    ['--add-scram', 'SCRAM-SHA-512=[name=admin,password=pw]']
    """

    ca_file: Path
    keystore_file: Path
    users: Mapping[str, Secret]
    super_user: str = "admin"
    components: Mapping[str, str] = field(default_factory=dict)
    controller_password: Secret = field(default_factory=_random_password, repr=False)

    def __post_init__(self) -> None:
        if self.super_user not in self.users:
            raise BrokerSecurityError(
                f"the super user {self.super_user!r} needs a password among the users "
                f"({', '.join(sorted(self.users)) or 'none given'})"
            )
        for name, password in self.users.items():
            if not (_SAFE.fullmatch(name) and _SAFE.fullmatch(password.reveal())):
                raise BrokerSecurityError(
                    f"user {name!r}: names and passwords may hold only letters, digits "
                    "and . _ @ -"
                )

    @classmethod
    def from_directory(cls, directory: Path) -> BrokerSecurity:
        """Read ``ca.pem``, ``broker.pem`` and ``users.toml`` from ``directory``.

        ``users.toml`` holds ``super_user = "NAME"``, a ``[users]`` table of
        ``NAME = "PASSWORD"`` and optionally a ``[components]`` table of
        ``COMPONENT = "NAME"`` (processor, joiner, monitor, retrainer, producer).
        ``users.toml`` and ``broker.pem`` hold secrets: readable by others, they are
        refused.
        """
        paths = [directory / name for name in (CA_FILE, KEYSTORE_FILE, USERS_FILE)]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise BrokerSecurityError(
                f"{directory}: missing {', '.join(missing)}; expected {CA_FILE} (the CA), "
                f"{KEYSTORE_FILE} (the broker's key and certificate, PEM) and {USERS_FILE}"
            )
        for path in paths[1:]:
            if path.stat().st_mode & 0o077:
                raise BrokerSecurityError(
                    f"{path} holds secrets but others may read it; run chmod 600 {path}")
        try:
            table = tomllib.loads(paths[2].read_text())
        except tomllib.TOMLDecodeError as exc:
            raise BrokerSecurityError(f"{paths[2]}: not valid TOML ({exc})") from None
        users = {str(k): Secret(str(v)) for k, v in table.get("users", {}).items()}
        components = {str(k): str(v) for k, v in table.get("components", {}).items()}
        return cls(paths[0], paths[1], users, str(table.get("super_user", "admin")), components)

    def server_properties(self, properties: str) -> str:
        """``properties`` with every client listener turned SASL_SSL, and the authorizer on."""
        return render_properties(secure_properties(parse_properties(properties), self))

    def format_arguments(self) -> list[str]:
        """Storage tool arguments creating every SCRAM user with the metadata."""
        arguments = []
        for name, password in sorted(self.users.items()):
            arguments += ["--add-scram", f"{MECHANISM}=[name={name},password={password.reveal()}]"]
        return arguments

    def client_config(self, user: str) -> dict[str, Any]:
        """confluent-kafka settings of ``user``, for probes that run before any Settings."""
        return {
            "security.protocol": CLIENT_PROTOCOL,
            "sasl.mechanism": MECHANISM,
            "sasl.username": user,
            "sasl.password": self.users[user].reveal(),
            "ssl.ca.location": str(self.ca_file),
        }

    def client_settings(self, settings: Settings, user: str) -> Settings:
        """``settings`` with ``user``'s credentials and this broker's CA."""
        return settings.with_overrides(
            security_protocol=CLIENT_PROTOCOL, sasl_mechanism=MECHANISM, sasl_username=user,
            sasl_password=self.users[user], ssl_ca_location=str(self.ca_file),
        )


def parse_properties(text: str) -> dict[str, str]:
    """``key=value`` lines (comments and blank lines skipped), in order."""
    pairs = (line.split("=", 1) for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def render_properties(properties: Mapping[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in properties.items())


def _jaas(module: str, user: str, password: Secret, **accounts: Secret) -> str:
    fields = [f'username="{user}"', f'password="{password.reveal()}"']
    fields += [f'user_{name}="{secret.reveal()}"' for name, secret in accounts.items()]
    return f"org.apache.kafka.common.security.{module} required {' '.join(fields)};"


def secure_properties(properties: Mapping[str, str], security: BrokerSecurity) -> dict[str, str]:
    """Turn every non-controller listener into SASL_SSL and protect the controller's.

    A listener named PLAINTEXT is renamed SASL_SSL, so no name says plaintext where
    the protocol is not. Other listener names (a proxied one, say) keep their name.
    """
    secured = dict(properties)
    controllers = properties["controller.listener.names"].split(",")
    protocols = dict(item.split(":", 1)
                     for item in properties["listener.security.protocol.map"].split(","))
    names = {n: CLIENT_PROTOCOL if n == "PLAINTEXT" else n
             for n in protocols if n not in controllers}
    for key in ("listeners", "advertised.listeners"):
        if key in properties:
            secured[key] = ",".join(_renamed(entry, names) for entry in properties[key].split(","))
    inter_broker = properties.get("inter.broker.listener.name", "PLAINTEXT")
    secured["inter.broker.listener.name"] = names.get(inter_broker, inter_broker)
    secured["listener.security.protocol.map"] = ",".join(
        f"{names[n]}:{CLIENT_PROTOCOL}" if n in names else f"{n}:SASL_PLAINTEXT"
        for n in protocols
    )
    admin = security.users[security.super_user]
    for name in names.values():
        secured[f"listener.name.{name.lower()}.{MECHANISM.lower()}.sasl.jaas.config"] = _jaas(
            "scram.ScramLoginModule", security.super_user, admin)
    for name in controllers:
        prefix = f"listener.name.{name.lower()}."
        secured[prefix + "sasl.enabled.mechanisms"] = "PLAIN"
        secured[prefix + "plain.sasl.jaas.config"] = _jaas(
            "plain.PlainLoginModule", CONTROLLER_USER, security.controller_password,
            **{CONTROLLER_USER: security.controller_password})
    secured.update({
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        "sasl.mechanism.controller.protocol": "PLAIN",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(security.keystore_file),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(security.ca_file),
        "authorizer.class.name": AUTHORIZER,
        "super.users": f"User:{security.super_user};User:{CONTROLLER_USER}",
        "allow.everyone.if.no.acl.found": "false",
    })
    return secured


def _renamed(entry: str, names: Mapping[str, str]) -> str:
    name, _, address = entry.partition("://")
    return f"{names.get(name, name)}://{address}"


def grant_and_describe(security: BrokerSecurity, settings: Settings, bootstrap: str) -> str:
    """Grant the components' ACLs (topic and group prefixes from ``settings``) as the
    super user; return what a shell needs to connect, without any password."""
    from contracts.component_access import apply_grants, component_grants
    from contracts.kafka_clients import make_admin
    from contracts.topics import Topics

    lines = []
    if security.components:
        admin_settings = security.client_settings(
            settings.with_overrides(bootstrap_servers=bootstrap), security.super_user)
        grants = component_grants(security.components, Topics(settings.topic_prefix),
                                  settings.group_prefix)
        count = apply_grants(make_admin(admin_settings), grants)
        lines.append(f"granted {count} ACLs to "
                     f"{', '.join(sorted(set(security.components.values())))}")
    lines += [f"export STREAMML_SECURITY_PROTOCOL={CLIENT_PROTOCOL}",
              f"export STREAMML_SASL_MECHANISM={MECHANISM}",
              f"export STREAMML_SSL_CA_LOCATION={security.ca_file}",
              "# and STREAMML_SASL_USERNAME, STREAMML_SASL_PASSWORD (or _FILE) of a user "
              f"in {USERS_FILE}"]
    return "\n".join(lines)


__all__ = [
    "AUTHORIZER", "BrokerSecurity", "BrokerSecurityError", "CA_FILE", "CLIENT_PROTOCOL",
    "CONTROLLER_USER", "KEYSTORE_FILE", "MECHANISM", "USERS_FILE", "grant_and_describe",
    "parse_properties", "render_properties", "secure_properties",
]
