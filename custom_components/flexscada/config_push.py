"""A config change waiting for the device: pushed with `cfg` until an upload reports it.

The runtime asks this piece three things, and nothing here touches Home Assistant:

* `to_send()` while building the reply to a processed upload: the pending raw config (counted
  as one delivery), or None;
* `resolve(reported_version, current_version)` for every fresh measurement upload: whether the
  device adopted the pending config (it reports the pending version), rejected it (it still
  reports the old version after `MAX_DELIVERIES` deliveries) or is still to be asked;
* `device_sent_config(version)` when the device uploads a config itself: its own config wins
  unless it *is* the pushed one.

Until it is resolved, the device's own (current) config stays in force: uploads that report the
old version are decoded with the old layout, since the device's queue holds rows measured under
it. Pending state is persisted in the device store (`as_stored`/`from_stored`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict

from .protocol import DeviceConfig, Q5ProtocolError, parse_config

#: Deliveries after which a device still reporting its old version has rejected the config.
MAX_DELIVERIES = 3


class StoredPendingConfig(TypedDict):
    """The pending config as persisted in the device store."""

    config: dict[str, Any]
    deliveries: int


class PushOutcome(StrEnum):
    """What a measurement upload says about the pending config."""

    NONE = "none"  # nothing pending
    WAITING = "waiting"  # still to be delivered or adopted
    ADOPTED = "adopted"  # the upload reports the pushed version
    REJECTED = "rejected"  # delivered MAX_DELIVERIES times, the device kept its old version
    SUPERSEDED = "superseded"  # the device uploaded a config of its own: it wins


@dataclass(slots=True)
class PendingConfig:
    """A config sent with `cfg` until the device reports its version."""

    raw: dict[str, Any]
    config: DeviceConfig
    deliveries: int = 0

    @property
    def version(self) -> int:
        """Return the version the device reports once it adopted this config."""
        return self.config.version


class ConfigPush:
    """The pending config push of one device."""

    def __init__(self, uid: int, pending: PendingConfig | None = None) -> None:
        """Initialize with nothing pending (or `pending`)."""
        self.uid = uid
        self.pending = pending

    @classmethod
    def from_stored(cls, uid: int, stored: StoredPendingConfig | None) -> ConfigPush:
        """Restore from the device store; a store without the field has nothing pending."""
        if stored is None:
            return cls(uid)
        try:
            config = parse_config(stored["config"])
        except Q5ProtocolError:  # we validated it before storing; never expected
            return cls(uid)
        return cls(uid, PendingConfig(stored["config"], config, stored["deliveries"]))

    def as_stored(self) -> StoredPendingConfig | None:
        """Return what to persist."""
        if self.pending is None:
            return None
        return {"config": self.pending.raw, "deliveries": self.pending.deliveries}

    def stage(self, raw: dict[str, Any], config: DeviceConfig) -> None:
        """Make a validated config the pending one; it is delivered from the next reply on."""
        self.pending = PendingConfig(raw, config)

    def drop(self) -> PendingConfig | None:
        """Forget the pending config; return it."""
        pending, self.pending = self.pending, None
        return pending

    def to_send(self) -> Mapping[str, Any] | None:
        """Return the config to put in this reply, counting the delivery; None if none."""
        if self.pending is None:
            return None
        self.pending.deliveries += 1
        return self.pending.raw

    def resolve(self, reported_version: int, current_version: int | None) -> PushOutcome:
        """Judge a fresh measurement upload's `cfg_version` against the pending config."""
        pending = self.pending
        if pending is None:
            return PushOutcome.NONE
        if reported_version == pending.version:
            return PushOutcome.ADOPTED
        # Another version is the device's own new config: it is asked for (409 + getcfg) and
        # `device_sent_config` settles the push when it arrives.
        if reported_version == current_version and pending.deliveries >= MAX_DELIVERIES:
            return PushOutcome.REJECTED
        return PushOutcome.WAITING

    def device_sent_config(self, raw: Mapping[str, Any]) -> PushOutcome:
        """Judge a config the device uploaded: the pushed one (adopted) or its own (it wins).

        Either way the push is settled and dropped; the uploaded config is the device's.
        Compared by content, not version: a config saved on the device may carry the same
        version number as ours.
        """
        pending = self.drop()
        if pending is None:
            return PushOutcome.NONE
        return PushOutcome.ADOPTED if dict(raw) == pending.raw else PushOutcome.SUPERSEDED
