"""Which Kafka principal may do what: the ACLs each streamml component needs, and no more.

Each component reads and writes named topics, and uses consumer groups (and, for the
retrainer, transactional ids) under the deployment's group prefix. Only the
retrainer may write ``model-versions``: a scoring worker that is taken over cannot
publish a model. Idempotent producers need no cluster-wide right: since Kafka 3.0,
WRITE on a topic lets a client ask for a producer id.

>>> grants = component_grants({"processor": "svc-scoring"}, Topics(""), "streamml")
>>> sorted({g.operation for g in grants if g.resource == "topic"})
['read', 'write']
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from contracts import topics as t
from contracts.exceptions import StreamMLError
from contracts.topics import Topics

if TYPE_CHECKING:
    from confluent_kafka.admin import AclBinding, AdminClient


@dataclass(frozen=True)
class Access:
    """Topics (base names) a component reads and writes, and its group and transaction ids."""

    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    transactional_ids: tuple[str, ...] = ()


COMPONENT_ACCESS: Final[Mapping[str, Access]] = {
    # Not alerts: what acts on an alert trusts only the monitor's and the retrainer's.
    "processor": Access(reads=(t.USER_EVENTS, t.MODEL_VERSIONS),
                        writes=(t.PREDICTIONS, t.DEAD_LETTERS, t.FEATURE_SUMMARIES,
                                t.PREDICTION_SUMMARIES),
                        groups=("scoring", "model-watcher")),
    "joiner": Access(reads=(t.USER_EVENTS, t.PREDICTIONS, t.LABELS, t.JOIN_REPARTITION),
                     writes=(t.LABELED_EVENTS, t.LABELED_OUTCOMES, t.DEAD_LETTERS,
                             t.JOIN_REPARTITION),
                     groups=("joiner",)),
    # user-events, predictions and labeled-events only with
    # STREAMML_MONITOR_SOURCE=records; their summaries and outcomes otherwise.
    "monitor": Access(reads=(t.USER_EVENTS, t.FEATURE_SUMMARIES, t.PREDICTIONS,
                             t.PREDICTION_SUMMARIES, t.LABELED_EVENTS, t.LABELED_OUTCOMES,
                             t.MODEL_VERSIONS, t.ALERTS),
                      writes=(t.ALERTS,), groups=("monitor",)),
    # Command-line registry changes use transactional ids "<group prefix>.cli.<random>".
    "retrainer": Access(reads=(t.LABELED_EVENTS, t.ALERTS, t.MODEL_VERSIONS),
                        writes=(t.MODEL_VERSIONS, t.ALERTS),
                        groups=("retrainer", "registry-reader"),
                        transactional_ids=("retrainer", "cli.")),
    "producer": Access(writes=(t.USER_EVENTS, t.LABELS)),
}


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW rule: ``principal`` may ``operation`` on ``resource`` ``name``."""

    principal: str
    resource: str  # topic | group | transactional_id
    name: str
    prefixed: bool
    operation: str  # read | write | describe


def component_grants(users: Mapping[str, str], topics: Topics, group_prefix: str) -> list[Grant]:
    """The grants for each component in ``users`` (component -> user name).

    Groups and transactional ids match by prefix, so one component's several
    consumers ("monitor", "monitor-registry", ...) share one rule.
    """
    unknown = sorted(set(users) - set(COMPONENT_ACCESS))
    if unknown:
        raise ValueError(f"unknown component(s) {', '.join(unknown)}; "
                         f"expected some of {', '.join(COMPONENT_ACCESS)}")
    grants: set[Grant] = set()
    for component, user in users.items():
        access, principal = COMPONENT_ACCESS[component], f"User:{user}"
        grants.update(Grant(principal, "topic", topics.name(n), False, "read")
                      for n in access.reads)
        grants.update(Grant(principal, "topic", topics.name(n), False, "write")
                      for n in access.writes)
        grants.update(Grant(principal, "group", f"{group_prefix}.{g}", True, "read")
                      for g in access.groups)
        for tid in access.transactional_ids:
            for operation in ("write", "describe"):
                grants.add(Grant(principal, "transactional_id", f"{group_prefix}.{tid}", True,
                                 operation))
    return sorted(grants)


def acl_bindings(grants: Iterable[Grant]) -> list[AclBinding]:
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    return [
        AclBinding(ResourceType[g.resource.upper()], g.name,
                   ResourcePatternType.PREFIXED if g.prefixed else ResourcePatternType.LITERAL,
                   g.principal, "*", AclOperation[g.operation.upper()], AclPermissionType.ALLOW)
        for g in grants
    ]


def apply_grants(admin: AdminClient, grants: Iterable[Grant], *, timeout: float = 30.0) -> int:
    """Create the ACLs of ``grants`` (as a super user's admin client); return how many.

    Returns once the broker lists them all: the controller accepts ACLs before the
    broker's authorizer applies them, and a client let in earlier would be refused.
    """
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    bindings = acl_bindings(grants)
    for future in admin.create_acls(bindings, request_timeout=timeout).values():
        future.result()
    # None matches any name, principal and host, as the class documents; its hints say str.
    every_acl = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY,  # type: ignore[arg-type]
                                 None, None, AclOperation.ANY, AclPermissionType.ANY)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout
    while not set(bindings) <= set(admin.describe_acls(every_acl).result()):
        if time.monotonic() > deadline:
            raise StreamMLError(f"the broker did not list the new ACLs within {timeout:.0f} s")
        time.sleep(0.2)
    return len(bindings)


__all__ = [
    "Access", "COMPONENT_ACCESS", "Grant", "acl_bindings", "apply_grants", "component_grants",
]
