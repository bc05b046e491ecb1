"""Draw custom_components/flexscada/brand/icon.png: a white "Q5" on a blue rounded square.

Pure Python (zlib + struct), so anyone can regenerate it: `.venv/bin/python scripts/brand_icon.py`.
Each pixel is supersampled 4x4 against signed distances of a few shapes, for smooth edges.
"""

from __future__ import annotations

import math
from pathlib import Path
import struct
import zlib

SIZE = 256
SAMPLES = 4
BACKGROUND = (15, 94, 156)  # FlexSCADA-ish blue
GLYPH = (255, 255, 255)
CORNER = 52
STROKE = 19
OUT = Path(__file__).parents[1] / "custom_components" / "flexscada" / "brand" / "icon.png"


def rounded_square(x: float, y: float) -> float:
    """Return the signed distance to the background's rounded square (negative inside)."""
    half = SIZE / 2
    qx = abs(x - half) - (half - CORNER)
    qy = abs(y - half) - (half - CORNER)
    outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
    return outside + min(max(qx, qy), 0.0) - CORNER


type Point = tuple[float, float]


def segment(p: Point, a: Point, b: Point) -> float:
    """Return the distance from p to the segment a-b."""
    (x, y), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(x - ax - t * dx, y - ay - t * dy)


def arc(p: Point, center: Point, r: float, degrees: tuple[float, float]) -> float:
    """Return the distance from p to a circular arc between two angles (y down)."""
    (x, y), (cx, cy), (start, end) = p, center, degrees
    angle = math.degrees(math.atan2(y - cy, x - cx))
    if start <= angle <= end:
        return abs(math.hypot(x - cx, y - cy) - r)
    ends = [
        (cx + r * math.cos(math.radians(a)), cy + r * math.sin(math.radians(a))) for a in degrees
    ]
    return min(math.hypot(x - ex, y - ey) for ex, ey in ends)


def glyph(x: float, y: float) -> bool:
    """Return True where the "Q5" strokes are."""
    half = STROKE / 2
    p = (x, y)
    q_ring = abs(math.hypot(x - 86, y - 126) - 50) <= half
    q_tail = segment(p, (104, 148), (136, 184)) <= half
    five = min(
        segment(p, (158, 78), (214, 78)),
        segment(p, (158, 78), (158, 128)),
        arc(p, (182, 152), 34, (-135, 145)),
    )
    return q_ring or q_tail or five <= half


def pixel(px: int, py: int) -> tuple[int, int, int, int]:
    """Return the RGBA colour of one pixel, averaged over its subsamples."""
    inside = ink = 0
    for sy in range(SAMPLES):
        for sx in range(SAMPLES):
            x = px + (sx + 0.5) / SAMPLES
            y = py + (sy + 0.5) / SAMPLES
            if rounded_square(x, y) <= 0:
                inside += 1
                ink += glyph(x, y)
    if not inside:
        return (0, 0, 0, 0)
    share = ink / inside
    rgb = [round(b + (g - b) * share) for b, g in zip(BACKGROUND, GLYPH, strict=True)]
    return (rgb[0], rgb[1], rgb[2], round(255 * inside / SAMPLES**2))


def png(width: int, height: int, rows: list[bytes]) -> bytes:
    """Return an 8-bit RGBA PNG of the given rows."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    raw = b"".join(b"\0" + row for row in rows)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    """Write the icon."""
    rows = [bytes(c for px in range(SIZE) for c in pixel(px, py)) for py in range(SIZE)]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(png(SIZE, SIZE, rows))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
