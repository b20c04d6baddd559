"""The digest's HTML part as a browser draws it: headless Chromium renders the digests of
2020-W15 and 2020-W51 of the real virtualization threads to PNG, kept under
tests/artifacts/ (git-ignored) for a person to look at; the test checks the images are
real pictures of a page with something on it, from the top down.

Skipped when no Chromium is installed (`apt-get install chromium`; .ci/run tries)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from abiwatch.bot.digest import build_digest, parse_week
from abiwatch.db import open_db

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WIDTH, HEIGHT = 1000, 2000
CHROMIUM = next((p for p in (shutil.which(n) for n in (
    "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")) if p), None)


def png_rows(path: Path) -> tuple[int, int, list[bytes]]:
    """Return (width, height, rows of RGB(A) bytes) of an 8-bit, non-interlaced PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    unchanged = bytes(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 2:  # "Up", most rows of a page: fast, and a row like the one above is a copy
            line = bytearray(prev) if line == unchanged else \
                bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
            kind = 0
        for x in range(stride if kind else 0):  # undo the row filter (PNG spec, section 9)
            left = line[x - bpp] if x >= bpp else 0
            up, corner = prev[x], prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc
                                      else corner)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def inked(rows: list[bytes], bpp: int) -> list[bool]:
    """Return, per row, whether any pixel in it is not (nearly) white."""
    return [r.count(255) != len(r) and any(min(r[x:x + 3]) < 200 for x in range(0, len(r), bpp))
            for r in rows]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary found (apt-get install "
                                              "chromium): the HTML part is not rendered")
@pytest.mark.parametrize("week", ["2020-W15", "2020-W51"])
def test_the_html_part_renders_in_chromium(digest_db, week, tmp_path):
    msg = build_digest(open_db(digest_db, readonly=True), *parse_week(week),
                       recipient="maintainer@example.org")
    ARTIFACTS.mkdir(exist_ok=True)
    page, png = ARTIFACTS / f"digest-{week}.html", ARTIFACTS / f"digest-{week}.png"
    page.write_text(msg.get_body(("html",)).get_content(), encoding="utf-8")
    png.unlink(missing_ok=True)
    subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
                    f"--window-size={WIDTH},{HEIGHT}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    width, height, rows = png_rows(png)
    assert (width, height) == (WIDTH, HEIGHT)
    ink = inked(rows, len(rows[0]) // width)
    # The page is drawn: its title in the first lines, then text down the page (a blank or
    # broken page would be white throughout, an unstyled error page a few lines at most).
    assert any(ink[:80]), "nothing at the top of the page"
    assert sum(ink) > 300, f"only {sum(ink)} rows with any ink"
    # Links are drawn in the style's blue (#0969da): the block titles and mail links.
    bpp = len(rows[0]) // width
    blue = sum(1 for r, any_ink in zip(rows, ink, strict=True) if any_ink
               for x in range(0, len(r), bpp) if r[x] < 40 and 80 < r[x + 1] < 130 and r[x + 2] > 190)
    assert blue > 200, "no link drawn"
