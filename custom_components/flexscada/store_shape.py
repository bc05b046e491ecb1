"""The shape of a device's stored data, checked before any of it is used.

A store written by an older or broken version, or edited by hand, must not half-restore a
device or fail on every upload: `check_shape` raises on any field of the wrong type, and the
store is then set aside (store.py).
"""

from __future__ import annotations

from homeassistant.util import dt as dt_util

_INT = (int,)
_OPTIONAL_INT = (int, type(None))
#: The type of each stored field (`bool` is refused where an int is meant, see `_is`).
_SHAPE: dict[str, tuple[type, ...]] = {
    "config": (dict, type(None)),
    "values": (dict,),
    "latest_timestamp": _OPTIONAL_INT,
    "last_upload": (str, type(None)),
    "meta": (dict, type(None)),
    "rows_in_last_upload": _INT,
    "rows_total": _INT,
    "commands": (dict, type(None)),
}
_FRESHNESS_SHAPE: dict[str, tuple[type, ...]] = {
    "newest": _OPTIONAL_INT,
    "floor": _OPTIONAL_INT,
    "last_epoch": _OPTIONAL_INT,
    "sync_time": _OPTIONAL_INT,
    "seen": (dict,),
    "ahead": (dict,),
    "rows_duplicate": _INT,
    "uploads_duplicate": _INT,
}
_QUEUE_SHAPE: dict[str, tuple[type, ...]] = {"next_id": _INT, "last_ack": _INT, "pending": (list,)}
_PENDING_CONFIG_SHAPE: dict[str, tuple[type, ...]] = {"config": (dict,), "deliveries": _INT}


def _is(value: object, types: tuple[type, ...]) -> bool:
    """Return True if `value` is one of `types` (a bool is no int here: JSON keeps them apart)."""
    return isinstance(value, types) and not (isinstance(value, bool) and bool not in types)


def _check_fields(where: str, data: object, shape: dict[str, tuple[type, ...]]) -> None:
    """Raise TypeError/KeyError unless `data` is a dict with every field of `shape`."""
    if not isinstance(data, dict):
        raise TypeError(f"{where or 'the data'} is a {type(data).__name__}, not an object")
    for name, types in shape.items():
        if not _is(data[name], types):
            raise TypeError(f"{where}{name} is {data[name]!r}")


def check_shape(stored: object) -> None:
    """Raise TypeError/KeyError unless `stored` has the shape `to_stored` writes."""
    _check_fields("", stored, _SHAPE)
    assert isinstance(stored, dict)
    for key, value in stored["values"].items():
        if not _is(value, (float, int, bool, type(None))):
            raise TypeError(f"values.{key} is {value!r}")
    if stored["last_upload"] is not None and dt_util.parse_datetime(stored["last_upload"]) is None:
        raise ValueError(f"last_upload is {stored['last_upload']!r}")
    if stored["meta"] is not None and not all(_is(v, _INT) for v in stored["meta"].values()):
        raise TypeError(f"meta is {stored['meta']!r}")
    if stored["commands"] is not None:
        _check_fields("commands.", stored["commands"], _QUEUE_SHAPE)
    if (pending := stored.get("pending_config")) is not None:
        _check_fields("pending_config.", pending, _PENDING_CONFIG_SHAPE)
        if not _is(pending.get("sent", False), (bool,)):
            raise TypeError(f"pending_config.sent is {pending['sent']!r}")
    if (freshness := stored.get("freshness")) is not None:
        _check_fields("freshness.", freshness, _FRESHNESS_SHAPE)
        for digests in (freshness["seen"], freshness["ahead"]):
            if not all(_is(time, _INT) for time in digests.values()):
                raise TypeError("freshness holds a row time that is no integer")
