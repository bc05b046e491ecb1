"""Hypothesis strategies: random device configs in every shape the parser accepts."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

RELAY_METRICS = ["amperage", "fuse", "hvd", "lvd", "power", "state", "future"]
INPUT_METRICS = ["avg", "inst", "max", "min", "ripple", "power", "state"]
DS_METRICS = ["inst", "avg", "min", "max"]
POWER_METRICS = ["power avg", "apparent power", "power factor", "freq", "voltage thd inst"]


def _logging(names: list[str]) -> st.SearchStrategy[list[str]]:
    # Mostly distinct metrics; sometimes a repeat, which the walk must still count.
    return st.lists(st.sampled_from(names), max_size=len(names) + 1)


def _section(entries: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """A section as an array, or as an object keyed by 1-based channel number in any order."""
    as_list = st.lists(entries, max_size=5)

    def keyed(items: list[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        keys = [str(n + 1) for n in range(len(items))]
        return st.permutations(list(zip(keys, items, strict=True))).map(dict)

    return st.one_of(as_list, as_list.flatmap(keyed))


def _entry(names: list[str], **extra: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"label": st.text(max_size=8), "logging": _logging(names)}, optional=extra
    )


MFEED = st.one_of(
    st.fixed_dictionaries({"label": st.just("feed"), "type": st.sampled_from([0, 1001])}),
    st.fixed_dictionaries(
        {"logging": _logging(["state", "value"])}, optional={"type": st.integers(0, 2000)}
    ),
)

CONFIGS = st.fixed_dictionaries(
    {"version": st.integers(0, 2**32 - 1)},
    optional={
        "relays": _section(_entry(RELAY_METRICS)),
        "inputs": _section(_entry(INPUT_METRICS, enabled=st.booleans(), unit=st.text(max_size=5))),
        "ds18b20": st.lists(_entry(DS_METRICS, id=st.integers(0, 10**6)), max_size=4),
        "power_metrics": st.lists(_entry(POWER_METRICS), max_size=3),
        "mfeeds": st.lists(MFEED, max_size=4),
        "plugins": st.just([{"logging": ["ignored"]}]),
    },
)
