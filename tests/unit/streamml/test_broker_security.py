"""The secure broker's configuration: no client listener left plaintext, users and probes."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.settings import Secret, Settings
from streamml.broker.security import (
    BrokerSecurity,
    BrokerSecurityError,
    grant_and_describe,
    parse_properties,
    secure_properties,
)
from streamml.broker.single_node import (
    ProxiedListener,
    argument_file,
    format_storage,
    server_properties,
    write_private,
)

USERS = {"admin": Secret("a-pw"), "processor": Secret("p-pw")}


def _security(**overrides: object) -> BrokerSecurity:
    values: dict[str, object] = {"ca_file": Path("/pki/ca.pem"),
                                 "keystore_file": Path("/pki/broker.pem"), "users": USERS,
                                 "controller_password": Secret("c-pw"), **overrides}
    return BrokerSecurity(**values)  # type: ignore[arg-type]


def _secured(proxied: ProxiedListener | None = None) -> dict[str, str]:
    plain = parse_properties(server_properties(9093, 9094, Path("/data"), proxied=proxied))
    return secure_properties(plain, _security())


def test_every_client_listener_becomes_sasl_ssl_and_the_controller_asks_a_password() -> None:
    secured = _secured(ProxiedListener(port=9095, advertised_port=9096))

    assert secured["listeners"] == ("SASL_SSL://127.0.0.1:9093,CONTROLLER://127.0.0.1:9094,"
                                    "PROXIED://127.0.0.1:9095")
    assert secured["advertised.listeners"] == ("SASL_SSL://127.0.0.1:9093,"
                                               "PROXIED://127.0.0.1:9096")
    assert secured["listener.security.protocol.map"] == (
        "SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT,PROXIED:SASL_SSL")
    assert "PLAINTEXT://" not in secured["listeners"]
    assert secured["inter.broker.listener.name"] == "SASL_SSL"
    assert secured["sasl.mechanism.controller.protocol"] == "PLAIN"
    assert 'user_controller="c-pw"' in secured["listener.name.controller.plain.sasl.jaas.config"]


def test_client_listeners_take_scram_and_the_pem_keystore() -> None:
    secured = _secured(ProxiedListener(port=9095, advertised_port=9096))

    for listener in ("sasl_ssl", "proxied"):
        jaas = secured[f"listener.name.{listener}.scram-sha-512.sasl.jaas.config"]
        assert jaas.startswith("org.apache.kafka.common.security.scram.ScramLoginModule required")
        assert 'username="admin" password="a-pw"' in jaas
    assert secured["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert (secured["ssl.keystore.type"], secured["ssl.keystore.location"]) == (
        "PEM", "/pki/broker.pem")
    assert secured["ssl.truststore.location"] == "/pki/ca.pem"


def test_the_authorizer_denies_what_no_acl_allows() -> None:
    secured = _secured()

    assert secured["authorizer.class.name"].endswith("StandardAuthorizer")
    assert secured["allow.everyone.if.no.acl.found"] == "false"
    assert secured["super.users"] == "User:admin;User:controller"


def test_other_settings_pass_through_unchanged() -> None:
    plain = parse_properties(server_properties(9093, 9094, Path("/data")))
    secured = secure_properties(plain, _security())

    assert {k: secured[k] for k in ("log.dirs", "auto.create.topics.enable", "node.id")} == {
        k: plain[k] for k in ("log.dirs", "auto.create.topics.enable", "node.id")}


def test_storage_format_creates_every_scram_user() -> None:
    assert _security().format_arguments() == [
        "--add-scram", "SCRAM-SHA-512=[name=admin,password=a-pw]",
        "--add-scram", "SCRAM-SHA-512=[name=processor,password=p-pw]",
    ]


def test_client_settings_carry_the_users_credentials_and_the_ca() -> None:
    settings = _security().client_settings(Settings(bootstrap_servers="k:1"), "processor")

    assert (settings.security_protocol, settings.sasl_mechanism, settings.sasl_username) == (
        "SASL_SSL", "SCRAM-SHA-512", "processor")
    assert settings.sasl_password == Secret("p-pw")
    assert settings.ssl_ca_location == "/pki/ca.pem"


@pytest.mark.parametrize(("users", "super_user", "expected"), [
    ({"processor": Secret("p")}, "admin", "super user 'admin' needs a password"),
    ({"admin": Secret("a,b]")}, "admin", "may hold only letters"),
    ({"ad min": Secret("a")}, "ad min", "may hold only letters"),
])
def test_unusable_users_are_refused_by_name(users: dict[str, Secret], super_user: str,
                                            expected: str) -> None:
    with pytest.raises(BrokerSecurityError, match=expected):
        _security(users=users, super_user=super_user)


def test_passwords_stay_out_of_the_repr() -> None:
    assert "a-pw" not in repr(_security())
    assert "c-pw" not in repr(_security())


def _folder(folder: Path) -> Path:
    (folder / "ca.pem").write_text("ca")
    (folder / "broker.pem").write_text("key and cert")
    (folder / "users.toml").write_text('super_user = "root"\n[users]\nroot = "r-pw"\n'
                                       'svc = "s-pw"\n[components]\nprocessor = "svc"\n')
    (folder / "broker.pem").chmod(0o600)
    (folder / "users.toml").chmod(0o600)
    return folder


def test_a_directory_gives_its_ca_keystore_and_users(tmp_path: Path) -> None:
    _folder(tmp_path)

    security = BrokerSecurity.from_directory(tmp_path)

    assert (security.ca_file, security.keystore_file) == (tmp_path / "ca.pem",
                                                          tmp_path / "broker.pem")
    assert (security.super_user, security.users) == (
        "root", {"root": Secret("r-pw"), "svc": Secret("s-pw")})
    assert security.components == {"processor": "svc"}


def test_the_start_command_tells_how_to_connect_without_a_password() -> None:
    text = grant_and_describe(_security(), Settings(), "127.0.0.1:9093")

    assert "export STREAMML_SECURITY_PROTOCOL=SASL_SSL" in text
    assert "export STREAMML_SSL_CA_LOCATION=/pki/ca.pem" in text
    assert "pw" not in text


def test_a_directory_missing_files_names_them(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("ca")
    with pytest.raises(BrokerSecurityError, match="missing broker.pem, users.toml"):
        BrokerSecurity.from_directory(tmp_path)


@pytest.mark.parametrize(("name", "mode"), [("users.toml", 0o644), ("broker.pem", 0o640),
                                            ("users.toml", 0o604)])
def test_secret_files_others_may_read_are_refused(tmp_path: Path, name: str, mode: int) -> None:
    (_folder(tmp_path) / name).chmod(mode)

    with pytest.raises(BrokerSecurityError, match=f"others may read it; run chmod 600 .*{name}"):
        BrokerSecurity.from_directory(tmp_path)


def test_secret_files_are_written_owner_only_even_over_a_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text("old")
    path.chmod(0o644)

    write_private(path, "sasl.jaas.config=...")

    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text() == "sasl.jaas.config=..."


def test_the_secured_server_properties_are_owner_only(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The broker is not launched: formatting and launching are replaced after the
    properties are written."""
    from streamml.broker import single_node

    class Stop(Exception):
        pass

    def stop(*args: object, **kwargs: object) -> None:
        raise Stop

    monkeypatch.setattr(single_node, "format_storage", stop)
    with pytest.raises(Stop):
        single_node.start(single_node.free_port(), tmp_path, security=_security())

    config = tmp_path / "server.properties"
    assert "a-pw" in config.read_text()
    assert config.stat().st_mode & 0o777 == 0o600


def test_no_argument_of_the_storage_tool_holds_a_password(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The argfile is checked while the (replaced) tool runs: mode 0600, passwords inside;
    afterwards it is gone."""
    import subprocess

    from streamml.broker import single_node

    seen: dict[str, object] = {}

    def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        argfile = Path(argv[-1].removeprefix("@"))
        seen.update(argv=argv, mode=argfile.stat().st_mode & 0o777, text=argfile.read_text())
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(single_node.subprocess, "run", run)
    monkeypatch.setattr(single_node, "broker_classpath", lambda: tmp_path)
    monkeypatch.setattr(single_node, "java_command", lambda: "java")
    format_storage(tmp_path, "cluster", _security().format_arguments())

    argv = seen["argv"]
    assert isinstance(argv, list) and argv[-1].startswith("@")
    assert not any("pw" in argument for argument in argv)
    assert seen["mode"] == 0o600
    assert seen["text"] == argument_file(["kafka.tools.StorageTool", "format", "-t", "cluster",
                                          "-c", str(tmp_path / "server.properties"),
                                          "--ignore-formatted",
                                          *_security().format_arguments()])
    assert "password=a-pw" in str(seen["text"])
    assert not list(tmp_path.glob("*.args"))
