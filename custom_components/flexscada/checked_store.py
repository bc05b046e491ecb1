"""A store of one device whose failed writes are seen, and which sets an unusable file aside.

Home Assistant's `Store` logs a failed write and forgets it; a caller that acknowledges the
device's data with 200 must know. And a store that cannot be read is renamed out of the way (as
Home Assistant does with corrupt JSON), so the device starts empty instead of failing its setup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
import os
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import UnsupportedStorageVersionError
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.file import WriteError
from homeassistant.util.json import SerializationError

from .const import LOGGER
from .logs import ThrottledLogger


class StoreWriteError(Exception):
    """What was saved did not reach the disk (Home Assistant's writer failed)."""


class StoreClosedError(Exception):
    """The device's entry unloaded: its runtime saves and acknowledges nothing more."""


class DamagedStoreError(Exception):
    """The stored data cannot be used: a missing key, a wrong type, an unknown version."""


class CheckedStore[T: Mapping[str, Any]](Store[T]):
    """A store of one device whose failed writes are seen (HA's Store logs and forgets them)."""

    #: What happens after `async_set_aside`, for its warning.
    set_aside_outcome = "the device starts empty and is asked for its config"

    def __init__(
        self,
        hass: HomeAssistant,
        version: int,
        key: str,
        uid: int,
        *,
        serialize_in_event_loop: bool = True,
    ) -> None:
        """Initialize the store `key` of device `uid`.

        `serialize_in_event_loop=False` encodes the JSON in the executor: for large stores.
        """
        super().__init__(hass, version, key, serialize_in_event_loop=serialize_in_event_loop)
        self.uid = uid
        #: Why the last write failed; None once a write reached the disk.
        self.write_error: Exception | None = None
        self._problems = ThrottledLogger()

    async def async_save_or_raise(self, data: T) -> None:
        """Save now; raise StoreWriteError if it did not reach the disk."""
        await self.async_save(data)
        if self.write_error is not None:
            raise StoreWriteError(str(self.write_error)) from self.write_error

    async def _async_write_data(self, data: dict[Any, Any]) -> None:
        """Write, and remember whether it worked (Home Assistant logs and forgets a failure)."""
        try:
            await super()._async_write_data(data)
        except (SerializationError, WriteError) as err:
            self.write_error = err
            self._problems.report(
                "write",
                "Device %s: could not save (%s); uploads get 503 until it works",
                self.uid,
                err,
            )
        else:
            self.write_error = None

    async def async_load_or_set_aside(self, restore: Callable[[T], object]) -> T | None:
        """Load and hand the data to `restore`; set an unusable store aside and return None."""
        try:
            if (stored := await self.async_load()) is not None:
                restore(stored)
        except (DamagedStoreError, UnsupportedStorageVersionError) as err:
            await self.async_set_aside(err)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            await self.async_set_aside(DamagedStoreError(f"{type(err).__name__}: {err}"))
        else:
            return stored
        return None

    async def async_set_aside(self, reason: Exception) -> None:
        """Rename an unusable store out of the way (as Home Assistant does with corrupt JSON)."""
        aside = f"{self.path}.corrupt.{dt_util.utcnow().isoformat()}"
        with suppress(FileNotFoundError):
            await self.hass.async_add_executor_job(os.rename, self.path, aside)
        # Nothing of the unusable data may be written back.
        await self.async_remove()
        LOGGER.warning(
            "Device %s: its stored data cannot be used (%s); set aside as %s, %s",
            self.uid,
            reason,
            aside,
            self.set_aside_outcome,
        )
