"""Carrying out a config push: queue a change, adopt it, give it up, let the device's own win.

The state of a pending push is `pending_config.ConfigPush`; these functions act on what it says
against a narrow `ConfigPushHost`: the device runtime, whatever module holds its store and
entities.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .const import DOMAIN, LOGGER
from .issues import ISSUE_CONFIG_REJECTED, async_clear_issue, async_raise_config_rejected
from .pending_config import ConfigPush, PendingConfig, PushOutcome
from .protocol import DeviceConfig, Layout, compile_layout
from .protocol.config_edit import ConfigEditError, apply_config_changes, same_settings


class ConfigPushHost(Protocol):
    """What the config push needs of a device runtime."""

    hass: HomeAssistant
    uid: int
    config: DeviceConfig | None
    config_push: ConfigPush

    @property
    def name(self) -> str:
        """Return the device's name."""

    async def async_save(self) -> None:
        """Persist the device store now (pending config included); HomeAssistantError if not."""

    async def async_take_config(self, config: DeviceConfig, layout: Layout) -> None:
        """Make `config` the device's config, persist it and tell the listeners."""

    @callback
    def async_notify_updated(self) -> None:
        """Tell the listeners (every entity) that what they show may have changed."""


def wanted_config(host: ConfigPushHost) -> DeviceConfig | None:
    """Return the config being pushed if one is pending, else the device's own."""
    if (pending := host.config_push.pending) is not None:
        return pending.config
    return host.config


async def async_push_config_changes(host: ConfigPushHost, changes: Mapping[str, Any]) -> None:
    """Validate changes and queue the changed config for the device's next upload.

    Changes stack on a config still pending. Its version stays the device's + 1 while nothing
    sent it; once a reply carried it the device may run it already, so the stacked config gets
    the next version: an upload reporting the sent one is then asked for its config (409 +
    getcfg), and that config settles the push (`device_sent_config`), rather than being decoded
    with the stacked config's layout. Nothing is queued when a change is refused
    (ServiceValidationError naming the key).
    """
    if host.config is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="config_unknown",
            translation_placeholders={"device": host.name},
        )
    push, config = host.config_push, host.config
    previous = push.pending
    version_after = config.version + 1
    if previous is None:
        base, version = config.raw, version_after
    else:
        base, version = previous.raw, previous.version + (1 if previous.sent else 0)
    try:
        edit = apply_config_changes(base, changes, version=version)
    except ConfigEditError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=err.problem,
            translation_placeholders={"device": host.name, "key": err.key, "detail": err.detail},
        ) from err
    if previous is not None and same_settings(edit.raw, previous.raw):
        return  # nothing new: what is pending stays, under its version
    # A config stacked on a sent one has a later version than the device's + 1.
    sent_before = previous is not None and (previous.sent or previous.version > version_after)
    if same_settings(edit.raw, config.raw) and not sent_before:
        push.drop()  # the changes undo what was pending and never sent: nothing left to push
        LOGGER.info("Device %s: no config change left to push", host.uid)
    else:
        push.stage(edit.raw, edit.config)
        LOGGER.info(
            "Device %s: config version %s (%d characters) queued for its next upload",
            host.uid,
            edit.config.version,
            edit.size,
        )
    async_clear_issue(host.hass, ISSUE_CONFIG_REJECTED, host.uid)
    # Saved before the action returns: a pending config survives a restart.
    staged = push.pending
    try:
        await host.async_save()
    except HomeAssistantError:
        # Not saved, so not queued: undone unless an upload sent, adopted or settled it (or
        # brought a config of the device's) during the save; then that is what holds.
        if push.pending is staged and host.config is config and not (staged and staged.sent):
            push.pending = previous
        raise
    host.async_notify_updated()


def _drop_if(
    host: ConfigPushHost, reported_version: int, outcome: PushOutcome
) -> PendingConfig | None:
    """Drop and return the pending config if the reported version settles it as `outcome`."""
    push = host.config_push
    current = host.config.version if host.config is not None else None
    if push.resolve(reported_version, current) is not outcome:
        return None
    return push.drop()


async def async_follow_config_push(host: ConfigPushHost, reported_version: int) -> None:
    """Adopt the pushed config when an authentic measurement upload reports its version.

    Called before the upload's version is checked and its rows decoded, so it is decoded with
    the pushed layout, and the adopted config is stored before the upload is acknowledged.
    """
    if (pending := _drop_if(host, reported_version, PushOutcome.ADOPTED)) is None:
        return
    LOGGER.info("Device %s: adopted the pushed config version %s", host.uid, pending.version)
    await host.async_take_config(pending.config, compile_layout(pending.config))


@callback
def async_judge_config_rejection(host: ConfigPushHost, reported_version: int) -> None:
    """Give up a push the device keeps ignoring; call for an upload with new rows.

    The caller persists the device store before answering the upload.
    """
    if (pending := _drop_if(host, reported_version, PushOutcome.REJECTED)) is None:
        return
    LOGGER.warning(
        "Device %s: still reports config version %s after the pushed version %s was "
        "delivered %d times; the device rejected it, the push is dropped",
        host.uid,
        reported_version,
        pending.version,
        pending.deliveries,
    )
    async_raise_config_rejected(
        host.hass,
        host.uid,
        device=host.name,
        version=pending.version,
        deliveries=pending.deliveries,
    )


@callback
def device_sent_config(host: ConfigPushHost, config: DeviceConfig) -> None:
    """Settle a pending push when the device uploads a config: the device's truth wins.

    Call before the uploaded config replaces `host.config` and is persisted, so the store no
    longer holds a settled push.
    """
    current = host.config.raw if host.config is not None else None
    outcome = host.config_push.device_sent_config(config.raw, current)
    if outcome is PushOutcome.SUPERSEDED:
        LOGGER.warning(
            "Device %s: uploaded its own config version %s while a pushed change was "
            "pending; the device's config wins and the push is dropped",
            host.uid,
            config.version,
        )
    elif outcome is PushOutcome.ADOPTED:
        LOGGER.info("Device %s: adopted the pushed config version %s", host.uid, config.version)
