"""The decode tool, in-process and once as a real `python -m`."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
import subprocess
import sys
from typing import Any

import pytest

from custom_components.flexscada.protocol import (
    Layout,
    __main__ as entry_point,
    build_config_packet,
    build_measurement_packet,
    seal,
)
from custom_components.flexscada.protocol.cli import main

from .conftest import EXAMPLE_CONFIG, KEY_HEX, PASSPHRASE, UID

ROOT = Path(__file__).parents[2]


@pytest.fixture
def packet_file(tmp_path: Path, key: bytes, example_layout: Layout) -> Path:
    rows = [
        (1764000000, {"relays.1.state": True, "inputs.2.avg": 12.5, "mfeeds.1.value": 3.0}),
        (
            1764000060,
            {
                "power_metrics.0.power factor": 0.97,
                "inputs.1.avg": math.nan,
                "inputs.1.max": math.inf,
            },
        ),
    ]
    path = tmp_path / "packet.bin"
    path.write_bytes(build_measurement_packet(key, UID, example_layout, rows, epoch=1764000100))
    return path


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_decode_with_config_json(packet_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["decode", "--config", str(EXAMPLE_CONFIG), "--passphrase", PASSPHRASE, str(packet_file)]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    first, second = _lines(out)
    assert first["uid"] == UID
    assert first["timestamp"] == 1764000000
    assert first["values"]["relays.1.state"] is True
    assert first["values"]["inputs.2.avg"] == 12.5
    assert first["values"]["mfeeds.1.value"] == 3.0
    assert first["values"]["relays.2.fuse"] is False
    assert len(first["values"]) == 28
    assert second["values"]["power_metrics.0.power factor"] == pytest.approx(0.97, abs=1e-7)
    assert second["values"]["inputs.1.avg"] is None  # NaN
    assert second["values"]["inputs.1.max"] is None  # inf
    assert "NaN" not in out
    assert "Infinity" not in out


def test_decode_with_config_packet_and_hex_key(
    tmp_path: Path, key: bytes, packet_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_packet = tmp_path / "config.bin"
    config_packet.write_bytes(build_config_packet(key, EXAMPLE_CONFIG.read_text()))
    argv = ["decode", "--config-packet", str(config_packet), "--key", KEY_HEX, str(packet_file)]
    assert main(argv) == 0
    assert [line["timestamp"] for line in _lines(capsys.readouterr().out)] == [
        1764000000,
        1764000060,
    ]


def test_cfg_version_mismatch(
    tmp_path: Path, key: bytes, example_layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    packet = tmp_path / "old.bin"
    packet.write_bytes(
        build_measurement_packet(key, UID, example_layout, [(1, {})], epoch=2, cfg_version=41)
    )
    base = ["decode", "--config", str(EXAMPLE_CONFIG), "--key", KEY_HEX, str(packet)]
    assert main(base) == 2
    assert "LayoutMismatchError" in capsys.readouterr().err
    assert main([*base[:-1], "--any-cfg-version", str(packet)]) == 0
    assert len(_lines(capsys.readouterr().out)) == 1


def _bad_config(tmp_path: Path) -> Path:
    path = tmp_path / "bad.json"
    path.write_text('{"version": "x"}')
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--passphrase", "wrong"], "IntegrityError: SHA-256 digest mismatch"),
        (["--key", "1234"], "InvalidKeyError: a key is 64 hex digits"),
        (["--passphrase", ""], "InvalidKeyError: the passphrase is empty"),
        (["--passphrase", PASSPHRASE, "--config", "BAD"], "BadConfigError"),
        (["--passphrase", PASSPHRASE, "--config", "MISSING"], "cannot read"),
        (["--passphrase", PASSPHRASE, "PACKET:truncated"], "TruncatedPacketError"),
        (["--passphrase", PASSPHRASE, "--key", KEY_HEX], "usage error: argument --key"),
        ([], "usage error: one of the arguments --passphrase --key is required"),
    ],
)
def test_bad_input(
    tmp_path: Path,
    packet_file: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    config = str(EXAMPLE_CONFIG)
    packet = str(packet_file)
    argv: list[str] = []
    for arg in args:
        if arg == "BAD":
            argv[-1:] = ["--config", str(_bad_config(tmp_path))]
            continue
        if arg == "MISSING":
            argv[-1:] = ["--config", str(tmp_path / "missing.json")]
            continue
        if arg == "PACKET:truncated":
            truncated = tmp_path / "short.bin"
            truncated.write_bytes(packet_file.read_bytes()[:50])
            packet = str(truncated)
            continue
        argv.append(arg)
    if "--config" not in argv:
        argv = ["--config", config, *argv]
    assert main(["decode", *argv, packet]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert message in err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--help"]) == 0
    assert "null" in capsys.readouterr().out


def test_no_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage error" in capsys.readouterr().err


def test_as_subprocess(packet_file: Path, key: bytes) -> None:
    argv = [sys.executable, "-m", "custom_components.flexscada.protocol", "decode"]
    argv += ["--config", str(EXAMPLE_CONFIG), "--key", KEY_HEX, str(packet_file)]
    result = subprocess.run(
        argv, capture_output=True, text=True, check=False, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert len(_lines(result.stdout)) == 2

    bad = packet_file.with_name("bad.bin")
    bad.write_bytes(b"\1\2\3\4" + seal(key, b"\0" * 12))
    result = subprocess.run(
        [*argv[:-1], str(bad)], capture_output=True, text=True, check=False, cwd=ROOT, timeout=120
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().endswith("of meta fields")
    assert result.stderr.count("\n") == 1


def _hide_home_assistant(tmp_path: Path) -> dict[str, str]:
    """Return an environment in which `import homeassistant` fails, as if it were not installed."""
    shadow = tmp_path / "no_home_assistant" / "homeassistant"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError('Home Assistant is hidden', name='homeassistant')\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(shadow.parent), env.get("PYTHONPATH")]))
    return env


def test_runs_as_a_directory_without_home_assistant(
    tmp_path: Path, packet_file: Path, key: bytes
) -> None:
    """`python path/to/protocol decode` needs only numpy and cryptography; it warns of nothing."""
    env = _hide_home_assistant(tmp_path)
    # The shadow works: the integration package itself can no longer be imported.
    hidden = subprocess.run(
        [sys.executable, "-c", "import custom_components.flexscada"],
        capture_output=True, text=True, check=False, cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    assert hidden.returncode == 1
    assert "Home Assistant is hidden" in hidden.stderr

    tool = ROOT / "custom_components" / "flexscada" / "protocol"
    # -W default shows every warning, the ones Python hides by default included.
    argv = [sys.executable, "-W", "default", str(tool), "decode", "--config", str(EXAMPLE_CONFIG)]
    argv += ["--passphrase", PASSPHRASE, str(packet_file)]
    # From another directory, so nothing is found through the checkout's root on sys.path.
    result = subprocess.run(
        argv, capture_output=True, text=True, check=False, cwd=tmp_path, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    first, second = _lines(result.stdout)
    assert first["uid"] == UID
    assert first["values"]["inputs.2.avg"] == 12.5
    assert second["values"]["inputs.1.avg"] is None

    bad = packet_file.with_name("bad.bin")
    bad.write_bytes(b"\1\2\3\4" + seal(key, b"\0" * 12))
    result = subprocess.run(
        [*argv[:-1], str(bad)], capture_output=True, text=True, check=False, cwd=tmp_path, env=env,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    # One line, naming the tool as it was run.
    assert result.stderr.startswith(f"python {tool}: TruncatedPacketError")
    assert result.stderr.count("\n") == 1


def test_entry_point_in_process(
    monkeypatch: pytest.MonkeyPatch, packet_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both ways the entry point runs: inside the integration's package, and standalone."""
    argv = ["decode", "--config", str(EXAMPLE_CONFIG), "--passphrase", PASSPHRASE, str(packet_file)]
    monkeypatch.setattr(sys, "argv", ["protocol", *argv])
    assert entry_point.run() == 0
    assert len(_lines(capsys.readouterr().out)) == 2

    directory = Path(entry_point.__file__).parent
    monkeypatch.setattr(entry_point, "__package__", "")
    monkeypatch.setattr(sys, "path", [str(directory), *sys.path])
    try:
        assert entry_point.run() == 0
        assert str(directory) not in sys.path  # the sibling modules no longer shadow anything
        standalone = sys.modules[entry_point.STANDALONE_PACKAGE]
        assert standalone.cli.main is not main  # a second copy, not the integration's package
    finally:
        for name in [n for n in sys.modules if n.startswith(entry_point.STANDALONE_PACKAGE)]:
            del sys.modules[name]
    out, err = capsys.readouterr()
    assert err == ""
    assert [line["timestamp"] for line in _lines(out)] == [1764000000, 1764000060]
