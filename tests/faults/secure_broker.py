"""A broker of its own for the transport security tests: TLS, SCRAM users and ACLs."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from contracts.component_access import apply_grants, component_grants
from contracts.kafka_clients import make_admin
from contracts.settings import Secret, Settings
from contracts.topic_admin import ensure_topics
from contracts.topics import Topics
from streamml.broker import single_node
from streamml.broker.security import BrokerSecurity
from tests.broker_disk import logs_in_memory
from tests.faults.pki import new_authority, write_server_keystore
from tests.integration.scoring_fixtures import SIGNING_KEY

# The certificate names the broker by its address and one DNS name; "localhost" also
# reaches it but is not in the certificate.
BROKER_DNS_NAME = "broker.streamml.test"
# component -> the user it signs in as
USERS = {"processor": "processor", "joiner": "joiner", "monitor": "monitor",
         "retrainer": "retrainer", "producer": "producer-app"}
ADMIN = "admin"


@dataclass(frozen=True)
class SecureBroker:
    security: BrokerSecurity
    bootstrap: str
    data_dir: Path

    @classmethod
    def start(cls, directory: Path, logs: Path | None = None) -> SecureBroker:
        """A broker in ``directory``, its logs in ``logs`` (see tests.broker_disk)."""
        authority = new_authority()
        keystore = write_server_keystore(authority, directory / "broker.pem",
                                         ips=["127.0.0.1"], dns_names=[BROKER_DNS_NAME])
        passwords = {name: Secret(secrets.token_hex(16)) for name in (ADMIN, *USERS.values())}
        security = BrokerSecurity(authority.write(directory / "ca.pem"), keystore, passwords,
                                  super_user=ADMIN)
        data_dir = logs_in_memory(directory / "broker", logs)
        state = single_node.start(single_node.free_port(), data_dir, security=security,
                                  footprint=single_node.SMALL)
        return cls(security, state.bootstrap, data_dir)

    def stop(self) -> None:
        # Its data is thrown away: no need to wait long for a clean shutdown.
        single_node.stop(self.data_dir, wait_seconds=10)

    def deployment(self) -> Settings:
        """Plain settings (no credentials) of a fresh deployment: topics and group prefix."""
        tag = uuid.uuid4().hex[:8]
        return Settings(bootstrap_servers=self.bootstrap, topic_prefix=f"s{tag}.",
                        group_prefix=f"g{tag}", partitions=3,
                        model_private_key=Secret(SIGNING_KEY))

    def as_user(self, settings: Settings, user: str) -> Settings:
        return self.security.client_settings(settings, user)

    def as_component(self, settings: Settings, component: str) -> Settings:
        return self.as_user(settings, USERS[component])

    def create_topics(self, deployment: Settings) -> None:
        admin = make_admin(self.as_user(deployment, ADMIN))
        ensure_topics(admin, Topics(deployment.topic_prefix).specs(partitions=3,
                                                                   replication_factor=1))

    def grant_components(self, deployment: Settings) -> int:
        grants = component_grants(USERS, Topics(deployment.topic_prefix),
                                  deployment.group_prefix)
        return apply_grants(make_admin(self.as_user(deployment, ADMIN)), grants)
