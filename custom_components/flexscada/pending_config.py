"""A config change waiting for the device: the state, pushed with `cfg` until an upload reports it.

No Home Assistant in it; the runtime asks it three things:

* `to_send(counted)` while building the reply to a processed upload (answered 200 with it): the
  pending raw config, or None. It is counted as a delivery only in the reply to an upload with
  new rows: a reply to a duplicate may go to whoever replayed a capture, not to the device.
  Any reply marks it `sent`, though (it may be the device's retransmission): a change stacked
  on a sent config gets the next version;
* `resolve(reported_version, current_version)`: whether the device adopted the pending config
  (it reports the pending version: judged on every authentic upload, as only the device can
  seal one), rejected it (an upload with new rows still reports the old version after
  `MAX_DELIVERIES` deliveries) or is still to be asked;
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
from typing import Any, NotRequired, TypedDict

from .protocol import DeviceConfig, Q5ProtocolError, parse_config

#: Deliveries after which a device still reporting its old version has rejected the config.
MAX_DELIVERIES = 3


class StoredPendingConfig(TypedDict):
    """The pending config as persisted in the device store."""

    config: dict[str, Any]
    deliveries: int
    sent: NotRequired[bool]  # absent in stores written before it: `deliveries > 0` then


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
    #: In a reply at all, counted or not: a reply to a retransmission reaches the device too.
    sent: bool = False

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
        deliveries = stored["deliveries"]
        sent = stored.get("sent", deliveries > 0)
        return cls(uid, PendingConfig(stored["config"], config, deliveries, sent))

    def as_stored(self) -> StoredPendingConfig | None:
        """Return what to persist."""
        if self.pending is None:
            return None
        pending = self.pending
        return {"config": pending.raw, "deliveries": pending.deliveries, "sent": pending.sent}

    def stage(self, raw: dict[str, Any], config: DeviceConfig) -> None:
        """Make a validated config the pending one; it is delivered from the next reply on."""
        self.pending = PendingConfig(raw, config)

    def drop(self) -> PendingConfig | None:
        """Forget the pending config; return it."""
        pending, self.pending = self.pending, None
        return pending

    def to_send(self, *, counted: bool) -> Mapping[str, Any] | None:
        """Return the config to put in this reply (a delivery if `counted`); None if none."""
        if self.pending is None:
            return None
        if counted:
            self.pending.deliveries += 1
        self.pending.sent = True
        return self.pending.raw

    def resolve(self, reported_version: int, current_version: int | None) -> PushOutcome:
        """Judge an authentic measurement upload's `cfg_version` against the pending config.

        REJECTED is only an answer for an upload with new rows (the caller's to check).
        """
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

    def device_sent_config(
        self, raw: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> PushOutcome:
        """Judge a config the device uploaded while `current` is the one we hold.

        The pushed config itself: adopted. Another one: the device's own, which wins; the push
        is dropped. Compared by content, not version: a config saved on the device may carry
        the same version number as ours. A re-upload of the config we hold changes nothing.
        """
        if self.pending is None:
            return PushOutcome.NONE
        if current is not None and dict(raw) == dict(current) != self.pending.raw:
            return PushOutcome.WAITING
        pending = self.drop()
        assert pending is not None
        return PushOutcome.ADOPTED if dict(raw) == pending.raw else PushOutcome.SUPERSEDED
