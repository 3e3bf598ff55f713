"""The HTML report in a real headless Chromium: it loads offline, keeps every question and draws the timeline."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_report import sample_report

from mpgrade.report import render

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )


@pytest.fixture()
def page(tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    path.write_text(render(sample_report(), "html"), encoding="utf-8")
    return path


def test_dom_has_every_question_and_a_drawn_timeline(page: Path, tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    for qid in ("Q1", "Q2", "Q3", "Q4", "Q5", "Q6"):
        assert f'id="q-{qid}"' in dom
    svgs = re.findall(r'<svg class="timeline".*?</svg>', dom, flags=re.S)
    assert len(svgs) == 3
    q6 = svgs[-1]
    assert q6.count('class="lane"') == 3 and q6.count('class="message"') == 3
    assert 'class="blocked"' in q6


def test_screenshot_is_a_real_png(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri())
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
