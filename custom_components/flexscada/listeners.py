"""A list of callbacks to tell about one kind of event, each removable by what adding returned."""

from __future__ import annotations

from homeassistant.core import CALLBACK_TYPE, callback


class Listeners:
    """Callbacks told, in the order they were added, each time the event happens."""

    def __init__(self) -> None:
        """Start with no listener."""
        self._listeners: list[CALLBACK_TYPE] = []

    @callback
    def async_add(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Add a listener; return the callback that removes it again."""
        self._listeners.append(listener)

        @callback
        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    @callback
    def async_notify(self) -> None:
        """Call every listener (one may remove itself or another while being called)."""
        for listener in list(self._listeners):
            listener()
