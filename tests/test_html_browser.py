"""The HTML report in a real headless Chromium: it loads offline, keeps every question and draws the timeline."""

from __future__ import annotations

import html
import json
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


# Measures the laid-out page and writes the numbers into the outer page, for --dump-dom to
# return. Added to a copy of the page only (the report itself carries no script), shown in
# an iframe of the width under test (headless windows are never narrower than 500 px).
MEASURE = """<script>
window.addEventListener("load", () => {
  const r = (el) => el ? el.getBoundingClientRect() : null;
  const box = document.querySelector("#q-Q6 .timeline-box");
  const svg = box && box.querySelector("svg");
  const legend = document.querySelector("#q-Q6 .legend");
  const facts = document.querySelector("dl.facts");
  const wide = [...document.querySelectorAll("main *")].filter(
    (el) => !el.closest(".timeline-box, pre, .table-box") && r(el).right > innerWidth + 1);
  const out = {
    viewport: innerWidth,
    page: document.documentElement.scrollWidth,
    box: box.clientWidth, boxScroll: box.scrollWidth, svg: r(svg).width,
    legend: r(legend).height, legendRight: r(legend).right,
    facts: r(facts).right, fontPx: parseFloat(getComputedStyle(document.querySelector(".feedback")).fontSize),
    wide: wide.slice(0, 5).map((el) => el.tagName + "." + el.className),
    code: document.querySelectorAll(".feedback code, .diagnosis code").length,
  };
  const pre = parent.document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify(out);
  parent.document.body.appendChild(pre);
});
</script>"""


@pytest.mark.parametrize("width", [1200, 400])
def test_layout_fits_desktop_and_mobile(tmp_path: Path, width: int) -> None:
    report = render(sample_report(), "html").replace("</body>", MEASURE + "</body>")
    page = tmp_path / "measured.html"
    page.write_text(f'<!DOCTYPE html><body style="margin:0"><iframe width="{width}" height="900" '
                    f'style="border:0" srcdoc="{html.escape(report)}"></iframe></body>', encoding="utf-8")
    dom = _chromium(tmp_path, "--window-size=1300,1000", "--virtual-time-budget=3000",
                    "--dump-dom", page.as_uri()).stdout
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, flags=re.S)
    assert found, dom[-2000:]
    m = json.loads(html.unescape(found.group(1)))
    assert m["viewport"] <= width
    assert m["page"] <= m["viewport"], m  # nothing makes the page scroll sideways
    assert m["wide"] == [], m
    assert m["facts"] <= m["viewport"] and m["legendRight"] <= m["viewport"]
    assert m["legend"] > 0 and m["fontPx"] >= 14
    assert m["svg"] >= 640  # legible: the timeline keeps its size ...
    if width == 400:
        assert m["boxScroll"] > m["box"]  # ... and scrolls in its own box on a phone
    else:
        assert m["boxScroll"] <= m["box"] + 1
    assert m["code"] >= 1  # backticks in feedback became code
