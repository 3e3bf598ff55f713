"""Render an HTML report and photograph it with headless Chromium, for the README.

    python docs/make_screenshot.py                       # grade examples/ass.ipynb
    python docs/make_screenshot.py path/to/answer.ipynb --assignment 15feb-multiprocessing
    python docs/make_screenshot.py -q Q6 --out docs/report-q6.png   # one question
    python docs/make_screenshot.py --sample              # the hand-built report of the tests
    python docs/make_screenshot.py --jupyter --out docs/jupyter-magic.png   # %%mpgrade in a notebook

Writes docs/report-example.png (and, with --html, the HTML it photographed). With
--jupyter: a notebook that checks the example's Q6 with `%%mpgrade`, executed in a real
kernel (nbclient) and rendered to HTML by nbconvert. Needs the `chromium` binary
(Debian: apt-get install chromium) and, for --jupyter, `pip install '.[test]'`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def report_for(args: argparse.Namespace):
    """The Report to show: a real grading of a submission, or the tests' sample report."""
    if args.sample:
        sys.path.insert(0, str(ROOT / "tests"))
        from test_report import sample_report

        return sample_report()
    from mpgrade.assignment import load_assignment
    from mpgrade.grader import grade_file
    from mpgrade.model import GradeOptions

    options = GradeOptions(questions=tuple(args.question))
    return grade_file(args.submission, load_assignment(args.assignment), options)


def jupyter_html() -> str:
    """A student's notebook checking Q6 with the cell magic, run and rendered as Jupyter would."""
    import nbclient
    import nbformat
    from nbconvert import HTMLExporter

    example = nbformat.read(str(ROOT / "examples" / "ass.ipynb"), as_version=4)
    q6 = next(c.source for c in example.cells if "Pipe()" in c.source)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("Q6. Write a python program to create 4 processes, each "
                                      "process should print a different number."),
        nbformat.v4.new_code_cell("%load_ext mpgrade"),
        nbformat.v4.new_code_cell("%%mpgrade Q6\n" + q6),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    html, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    return html


def screenshot(html: str, out: Path, width: int, height: int) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={tmp}/profile",
                f"--screenshot={out.resolve()}",
                f"--window-size={width},{height}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission", nargs="?", default=str(ROOT / "examples" / "ass.ipynb"))
    parser.add_argument("--assignment", default="15feb-multiprocessing")
    parser.add_argument("--question", "-q", action="append", default=[],
                        help="grade only this question (repeatable)")
    parser.add_argument("--sample", action="store_true", help="use the tests' hand-built report")
    parser.add_argument("--jupyter", action="store_true",
                        help="photograph %%%%mpgrade's output in a notebook instead")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report-example.png")
    parser.add_argument("--html", type=Path, help="also keep the rendered HTML here")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()

    from mpgrade.report import render

    html = jupyter_html() if args.jupyter else render(report_for(args), "html")
    if args.html:
        args.html.write_text(html, encoding="utf-8")
    screenshot(html, args.out, args.width, args.height)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
