"""Staff review: overrides stored with their history, merged into every output, kept across
regrades (flagged stale when the automatic score moved), and the review page in Chromium."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest
from conftest import CHROMIUM
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from mpgrade.batch import refresh_class
from mpgrade.report import validate_json
from mpgrade.review.codec import CodecError, dump_report, load_graded
from mpgrade.review.store import ReviewStore

MPGRADE = str(Path(sys.executable).with_name("mpgrade"))

QUESTIONS = ("-q", "Q1", "-q", "Q2", "-q", "Q3")

Q3 = ("import multiprocessing\n\ndef hello():\n    print('hello from the child')\n\n"
      "if __name__ == '__main__':\n    p = multiprocessing.Process(target=hello)\n    p.start()\n    p.join()\n")
ANSWERS = {
    "alice": ("Multiprocessing runs several processes in parallel, each with its own interpreter and memory, "
              "so CPU-bound code uses every core and finishes faster.",
              "Processes have separate memory while threads share the memory of their process. The GIL lets "
              "only one thread run Python code at a time, so threads suit I/O-bound work; processes have more "
              "overhead to start and run in parallel on several cores."),
    "bob": ("Multiprocessing breaks the program into smaller threads that run at the same time.",
            "Multiprocessing is never parallel and threads never share memory. The GIL is irrelevant to both."),
    "carol": ("Multiprocessing is the use of two or more CPUs in one computer system. The CPUs are added to "
              "increase the computing power of the system.",
              "Multiprocessing uses more CPUs <script>alert(1)</script> while multithreading uses one CPU "
              "with many threads of a process."),
}


def _class(root: Path) -> Path:
    folder = root / "class"
    folder.mkdir()
    for name, (q1, q2) in ANSWERS.items():
        nb = new_notebook(cells=[
            new_markdown_cell("## Q1. What is multiprocessing in python? Why is it useful?"), new_markdown_cell(q1),
            new_markdown_cell("## Q2. What are the differences between multiprocessing and multithreading?"),
            new_markdown_cell(q2),
            new_markdown_cell("## Q3. Write a python code to create a process using the multiprocessing module."),
            new_code_cell(Q3),
        ])
        nbformat.write(nb, folder / f"{name}.ipynb")
    roster = "id,name,email\n" + "".join(f"{n},{n.title()} Doe,{n}@example.edu\n" for n in ANSWERS)
    (root / "roster.csv").write_text(roster, encoding="utf-8")
    return folder


def _grade(folder: Path, out: Path, *extra: str) -> None:
    done = subprocess.run([MPGRADE, "grade", str(folder), "-o", str(out), "-a", "15feb-multiprocessing",
                           "--roster", str(folder.parent / "roster.csv"), *QUESTIONS, *extra],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def _mpgrade(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MPGRADE, *args], capture_output=True, text=True, timeout=120)


def _grades(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8-sig") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def _question(out: Path, student: str, qid: str) -> dict:
    data = json.loads((out / "results" / f"{student}.json").read_text())
    validate_json(data)
    return next(q for q in data["questions"] if q["id"] == qid)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("review")
    folder = _class(root)
    out = root / "out"
    _grade(folder, out)
    return folder, out


def test_proposals_are_marked_until_reviewed(graded: tuple[Path, Path]) -> None:
    _, out = graded
    rows = _grades(out)
    assert {r["proposals"] for r in rows.values()} == {"Q1 Q2"} and {r["reviewed"] for r in rows.values()} == {""}
    bob = _question(out, "bob", "Q2")
    assert bob["status"] == "needs_review" and bob["review"] is None
    assert "Proposal: 0/1.5, until staff review it." in bob["feedback"] and "well done" not in bob["feedback"].lower()
    moodle = (out / "moodle-gradebook.csv").read_text(encoding="utf-8-sig")
    assert "Proposed, not yet reviewed by staff: Q1, Q2." in moodle


def test_override_command_stores_history_and_rewrites_outputs(graded: tuple[Path, Path], tmp_path: Path) -> None:
    folder, _ = graded
    out = tmp_path / "out"
    _grade(folder, out)
    first = _mpgrade("override", str(out), "bob", "q1", "0.5", "--comment", "Processes, not threads.", "--by", "ta1")
    assert first.returncode == 0, first.stderr
    assert "Q1 of bob: 0.5/1.5 (automatic 0), reviewed by ta1" in first.stdout
    assert _mpgrade("override", str(out), "bob", "Q1", "0.75", "--by", "ta2").returncode == 0
    history = ReviewStore(out).history("bob")
    assert [(c.old_score, c.new_score, c.by) for c in history] == [(0.0, 0.5, "ta1"), (0.5, 0.75, "ta2")]
    rows = _grades(out)
    assert rows["bob"]["Q1"] == "0.75" and rows["bob"]["reviewed"] == "Q1" and rows["bob"]["proposals"] == "Q2"
    q1 = _question(out, "bob", "Q1")
    assert q1["score"] == 0.75 and q1["status"] == "partial"
    assert q1["review"]["auto_score"] == 0.0 and q1["review"]["by"] == "ta2"
    assert "Reviewed by staff: 0.75/1.5 (the automatic score was 0)." in q1["feedback"]
    report = (out / "reports" / "bob.html").read_text()
    assert 'class="badge reviewed"' in report
    for name in ("summary.html", "summary.md"):
        assert "Staff reviews: 1 reviewed, 5 still automatic proposals" in (out / name).read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reviews"]["by_student"]["bob"] == {"reviewed": ["Q1"], "proposals": ["Q2"]}
    # code questions can be overridden too; "accept" confirms the automatic score
    assert _mpgrade("override", str(out), "carol", "Q3", "accept").returncode == 0
    assert _question(out, "carol", "Q3")["review"]["score"] == 1.5


def _lms_feedback(out: Path) -> dict[str, dict[str, str]]:
    """student -> {file: the feedback that file sends to the LMS}."""
    found: dict[str, dict[str, str]] = {}
    for name, key, column in (("moodle-gradebook.csv", "Email address", "Feedback"),
                              ("moodle-worksheet.csv", "Email address", "Feedback comments")):
        with open(out / name, newline="", encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                found.setdefault(row[key].split("@")[0], {})[name] = row[column]
    for student in ANSWERS:
        found[student]["lti"] = json.loads((out / "lti" / f"{student}.json").read_text())["comment"]
    return found


def test_a_review_comment_reaches_the_student_in_every_lms_file(graded: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    folder, shared = graded
    out = tmp_path / "out"
    shutil.copytree(shared, out)
    roster = tmp_path / "moodle-roster.csv"  # with Moodle's participant numbers, for the worksheet
    roster.write_text("id,name,email,identifier\n" + "".join(
        f"{n},{n.title()} Doe,{n}@example.edu,Participant {100 + i}\n" for i, n in enumerate(ANSWERS)))
    done = subprocess.run([MPGRADE, "grade", str(folder), "-o", str(out), "-a", "15feb-multiprocessing",
                           "--roster", str(roster), *QUESTIONS], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    said = "Say why processes avoid the GIL."
    assert _mpgrade("override", str(out), "bob", "Q1", "1.25", "--comment", said).returncode == 0
    rambling = "More CPUs are hardware,\nnot the module. " * 100  # 3,700 characters over many lines
    assert _mpgrade("override", str(out), "carol", "Q2", "0.5", "--comment", rambling).returncode == 0
    feedback = _lms_feedback(out)
    for bob in feedback["bob"].values():
        q1 = bob.index("Q1: 1.25/1.5 partial")
        assert bob.index(f"reviewed by staff. Staff comment on Q1: {said}", q1) < bob.index("Q2:")
    for carol in feedback["carol"].values():
        assert "Q2: 0.5/1.5 partial" in carol and "Staff comment on Q2: More CPUs are hardware, not the" in carol
        assert len(carol) < 1000 and "\n" not in carol and "…" in carol
        assert carol.endswith("Proposed, not yet reviewed by staff: Q1.")  # the rest of the line is still there
    assert set(feedback["bob"]) == set(feedback["carol"]) == {"moodle-gradebook.csv", "moodle-worksheet.csv", "lti"}
    assert len({*feedback["bob"].values()}) == 1 and len({*feedback["carol"].values()}) == 1  # one text


def _question_table(out: Path) -> dict[str, dict[str, str]]:
    """summary.md's question table: question id -> {column: cell}."""
    lines = [line for line in (out / "summary.md").read_text().splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = ([c.strip() for c in line.strip("|").split("|")] for line in lines[1:])
    return {row[0].split()[0]: dict(zip(header, row, strict=True)) for row in rows}


def test_a_full_points_proposal_is_not_counted_as_passed(graded: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    _, shared = graded
    assert _grades(shared)["alice"]["Q1"] == "1.5"  # alice's proposal is full points, still unreviewed
    q1 = json.loads((shared / "summary.json").read_text())["questions"][0]
    assert (q1["pass_rate"], q1["status_counts"]) == (0.0, {"needs_review": 3})
    table = _question_table(shared)["Q1"]
    assert (table["pass rate"], table["passed"], table["needs review"]) == ("0%", "0", "3")
    for name in ("summary.md", "summary.html"):
        assert "counts under needs review, not as passed" in (shared / name).read_text()
    out = tmp_path / "out"
    shutil.copytree(shared, out)
    assert _mpgrade("override", str(out), "alice", "Q1", "accept").returncode == 0
    table = _question_table(out)["Q1"]
    assert (table["pass rate"], table["passed"], table["needs review"]) == ("33%", "1", "2")


@pytest.mark.parametrize("args, message", [
    (("bob", "Q1", "2"), "outside 0..1.5"),
    (("bob", "Q1", "lots"), "must be a number or 'accept'"),
    (("zed", "Q1", "1"), "no graded submission of 'zed'"),
    (("bob", "Q9", "1"), "unknown question 'Q9'"),
])
def test_override_refuses_bad_input_in_one_line(graded: tuple[Path, Path], args: tuple[str, ...], message: str) -> None:
    _, out = graded
    done = _mpgrade("override", str(out), *args)
    assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_review_of_a_folder_that_was_never_graded(tmp_path: Path) -> None:
    done = _mpgrade("override", str(tmp_path), "bob", "Q1", "1")
    assert done.returncode == 2 and "not a graded class folder" in done.stderr


def test_a_regrade_that_moves_the_automatic_score_flags_the_review(graded: tuple[Path, Path], tmp_path: Path) -> None:
    folder, _ = graded
    out = tmp_path / "out"
    _grade(folder, out)
    ReviewStore(out).set("alice", "Q2", 1.0, 0.4, 1.5, "seen", by="ta1")  # proposal was 0.4 back then
    refresh_class(out)
    q2 = _question(out, "alice", "Q2")
    assert q2["score"] == 1.0 and q2["review"]["stale"] is True
    auto = _question(out, "alice", "Q2")["review"]["auto_score"]
    assert auto == 0.4 and "Q2: the automatic score changed to" in _grades(out)["alice"]["notes"]
    _grade(folder, out, "--force")  # kept, still flagged, never dropped
    assert _question(out, "alice", "Q2")["review"]["stale"] is True and _grades(out)["alice"]["Q2"] == "1"


def test_saved_reports_are_data_not_code(tmp_path: Path) -> None:
    with pytest.raises(CodecError):
        load_graded(b"\x80\x04not gzip")
    from test_report import sample_report

    report = sample_report()
    back, answers = load_graded(dump_report(report, {"Q1": "text"}))
    assert back == report and answers == {"Q1": "text"}


def test_reviews_live_in_sqlite_next_to_the_grades(tmp_path: Path) -> None:
    store = ReviewStore(tmp_path)
    assert store.all() == {} and not store.exists()  # reading creates nothing
    review = store.set("bob", "Q1", 1.0, 0.5, 1.5, "  ok  ", by="ta1")
    assert (review.score, review.auto_score, review.by, review.comment) == (1.0, 0.5, "ta1", "ok")
    db = sqlite3.connect(tmp_path / "reviews.sqlite")
    try:
        rows = db.execute("SELECT student, question, old_score, new_score, by FROM history").fetchall()
    finally:
        db.close()
    assert rows == [("bob", "Q1", 0.5, 1.0, "ta1")]


# --------------------------------------------------------------------------- the page, in Chromium


def _type_score(page, score: str) -> None:
    """Open the selected answer's score field (key "s") and type ``score`` over it."""
    page.keyboard.press("s")
    page.keyboard.press("Control+A")
    page.keyboard.type(score)


@contextmanager
def _review_server(out: Path, *args: str) -> Iterator[str]:
    """`mpgrade review OUT` running for real until the block ends; yields its address."""
    server = subprocess.Popen([MPGRADE, "review", str(out), "--no-browser", *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline() if server.stdout else ""
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, line
        yield found.group()
    finally:
        server.terminate()
        server.wait(timeout=30)


def _token(url: str) -> str:
    with urllib.request.urlopen(url + "q/Q1", timeout=30) as page:
        return re.search(r'name="review-token" content="([^"]+)"', page.read().decode()).group(1)


def _api(url: str, body: object = None, token: str = "", host: str = "") -> tuple[int, str, dict]:
    """POST a decision (GET without a body); the answer's status, media type and JSON."""
    from mpgrade.review.app import TOKEN_HEADER

    headers = {"Content-Type": "application/json", TOKEN_HEADER: token, **({"Host": host} if host else {})}
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + "api/decide", data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.headers.get_content_type(), json.loads(answer.read())
    except urllib.error.HTTPError as answer:
        return answer.code, answer.headers.get_content_type(), json.loads(answer.read())


@pytest.mark.browser
def test_review_in_the_browser_reaches_the_gradebooks_and_survives_a_regrade(
        graded: tuple[Path, Path], tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    folder, _ = graded
    out = tmp_path / "out"
    _grade(folder, out)
    with _review_server(out, "--by", "ta-browser") as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        assert page.url.endswith("/q/Q1")  # the first prose question
        progress = page.locator("#progress")
        assert progress.inner_text() == "0 / 3 reviewed"
        cards = page.locator("article.item")
        assert cards.count() == 3
        assert "Multiprocessing breaks the program into smaller threads" in cards.nth(1).inner_text()
        assert "Proposal: 0/1.5" in cards.nth(1).inner_text()  # the rubric's reasons are shown

        page.keyboard.press("a")  # alice: accept the proposal
        page.wait_for_function("document.getElementById('done').textContent === '1'")
        _type_score(page, "1")  # bob, now selected
        page.keyboard.press("Escape")
        page.keyboard.press("c")
        page.keyboard.type("Processes, not threads: half the idea is there.")
        page.keyboard.press("Enter")
        page.wait_for_function("document.getElementById('done').textContent === '2'")
        assert progress.inner_text() == "2 / 3 reviewed"

        page.keyboard.press("f")  # not yet reviewed only: carol is left
        visible = page.locator("article.item:not([hidden])")
        assert visible.count() == 1 and visible.get_attribute("data-student") == "carol"
        _type_score(page, "0.25")
        page.keyboard.press("Enter")
        page.wait_for_function("document.getElementById('done').textContent === '3'")
        assert page.locator("#all-done").is_visible()

        page.locator("nav a.tab", has_text="Q3").click()  # code is reviewed the same way
        page.wait_for_url(re.compile(r"/q/Q3"))
        page.keyboard.press("f")
        _type_score(page, "1")
        page.keyboard.press("Enter")
        page.wait_for_function("document.getElementById('done').textContent === '1'")
        page.reload()
        assert page.locator("article.item.reviewed").count() == 1
        assert errors == []
        browser.close()

    def check() -> None:
        rows = _grades(out)
        assert (rows["alice"]["Q1"], rows["bob"]["Q1"], rows["carol"]["Q1"]) == ("1.5", "1", "0.25")
        assert rows["alice"]["Q3"] == "1" and rows["alice"]["reviewed"] == "Q1 Q3"
        assert {r["proposals"] for r in rows.values()} == {"Q2"}
        bob = _question(out, "bob", "Q1")
        assert bob["review"]["by"] == "ta-browser"
        assert bob["review"]["comment"] == "Processes, not threads: half the idea is there."
        assert "Processes, not threads: half the idea is there." in (out / "reports" / "bob.html").read_text()
        canvas = {r[0]: r[-1] for r in csv.reader((out / "canvas.csv").read_text(encoding="utf-8-sig").splitlines())}
        assert canvas["Alice Doe"] == rows["alice"]["total"] and canvas["Bob Doe"] == rows["bob"]["total"]

    check()
    _grade(folder, out)  # a re-run keeps them
    check()
    _grade(folder, out, "--force")  # and so does a regrade
    check()


def test_the_page_refuses_other_hosts_and_posts_without_its_token(graded: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("flask")
    import shutil

    from mpgrade.review.app import TOKEN_HEADER, create_app
    from mpgrade.review.session import ReviewSession

    _, shared = graded
    out = tmp_path / "out"
    shutil.copytree(shared, out)
    client = create_app(ReviewSession(out)).test_client()
    page = client.get("/q/Q1", headers={"Host": "127.0.0.1:5000"})
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Multiprocessing breaks the program" in body
    q2 = client.get("/q/Q2", headers={"Host": "127.0.0.1"}).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in q2 and "&lt;script&gt;alert(1)&lt;/script&gt;" in q2
    token = re.search(r'name="review-token" content="([^"]+)"', body).group(1)
    decision = {"student": "bob", "question": "Q1", "score": 1}
    assert client.get("/q/Q1", headers={"Host": "evil.example:5000"}).status_code == 403
    assert client.post("/api/decide", json=decision, headers={"Host": "127.0.0.1"}).status_code == 403
    assert client.post("/api/decide", json=decision,
                       headers={"Host": "127.0.0.1", TOKEN_HEADER: "guess"}).status_code == 403
    bad = client.post("/api/decide", json={**decision, "score": 7}, headers={"Host": "127.0.0.1", TOKEN_HEADER: token})
    assert bad.status_code == 400 and "outside 0..1.5" in bad.get_json()["error"]
    ok = client.post("/api/decide", json=decision, headers={"Host": "127.0.0.1", TOKEN_HEADER: token})
    assert ok.status_code == 200 and ok.get_json()["item"]["score"] == 1.0 and ok.get_json()["reviewed"] == 1
    assert client.get("/q/Q9", headers={"Host": "127.0.0.1"}).status_code == 404


def test_a_decision_is_kept_when_the_outputs_cannot_be_rewritten_yet(graded: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    folder, _ = graded
    mine = tmp_path / "class"
    shutil.copytree(folder, mine)
    shutil.copy(folder.parent / "roster.csv", tmp_path / "roster.csv")
    out = tmp_path / "out"
    _grade(mine, out)
    mine.rename(tmp_path / "moved")
    done = _mpgrade("override", str(out), "bob", "Q1", "1")
    assert done.returncode == 0 and "not rewritten yet" in done.stdout
    assert _grades(out)["bob"]["Q1"] == "0"
    (tmp_path / "moved").rename(mine)
    _grade(mine, out)
    assert _grades(out)["bob"]["Q1"] == "1" and _question(out, "bob", "Q1")["review"]["score"] == 1.0


def test_review_refuses_an_unreadable_database_before_serving(graded: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    _, shared = graded
    out = tmp_path / "out"
    shutil.copytree(shared, out)
    (out / "reviews.sqlite").write_text("garbage\n")
    done = subprocess.run([MPGRADE, "review", str(out), "--no-browser"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"mpgrade: error: {out / 'reviews.sqlite'}: file is not a database\n"


def test_review_on_a_port_in_use_says_so_in_one_line(graded: tuple[Path, Path]) -> None:
    import socket

    _, out = graded
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run([MPGRADE, "review", str(out), "--no-browser", "--port", str(port)],
                              capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"mpgrade: error: port {port} is in use by another program; give another --port\n"


def test_the_api_answers_its_errors_in_json_with_a_sentence(graded: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    _, shared = graded
    out = tmp_path / "out"
    shutil.copytree(shared, out)
    decision = {"student": "bob", "question": "Q1", "score": 1}
    with _review_server(out) as url:
        token = _token(url)
        assert _api(url, decision, "token-of-the-server-before-a-restart") == (
            403, "application/json",
            {"error": "the review server was restarted since this page was opened: reload the page"})
        assert _api(url, decision, token, host="evil.example") == (
            403, "application/json", {"error": "this server answers only requests to 127.0.0.1 or localhost"})
        status, kind, body = _api(url, token=token)  # a GET
        assert (status, kind) == (405, "application/json") and "method is not allowed" in body["error"]
    assert ReviewStore(out).all() == {}


@pytest.mark.browser
def test_the_page_says_why_a_decision_was_not_saved(graded: tuple[Path, Path], tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    import shutil

    _, shared = graded
    out = tmp_path / "out"
    shutil.copytree(shared, out)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        alice = page.locator('article.item[data-student="alice"]')  # selected first
        message = alice.locator(".message")
        with _review_server(out) as url:
            page.goto(url)
            # an answer that is not JSON (a proxy in between): its HTTP status, not a parse error
            page.route("**/api/decide", lambda route: route.fulfill(
                status=502, content_type="text/html", body="<html><body>Bad Gateway</body></html>"))
            page.keyboard.press("a")
            alice.and_(page.locator(".error")).wait_for()
            assert message.inner_text() == "not saved: HTTP 502 Bad Gateway"
            page.unroute("**/api/decide")
        with _review_server(out, "--port", str(urlsplit(url).port)) as again:
            assert again == url
            page.keyboard.press("a")  # the page still holds the token of the server before
            page.get_by_text("not saved: the review server").wait_for()
            assert message.inner_text() == (
                "not saved: the review server was restarted since this page was opened: reload the page")
            page.reload()
            page.keyboard.press("a")
            page.wait_for_function("document.getElementById('done').textContent === '1'")
            assert message.inner_text() == "saved"
        browser.close()
    assert set(ReviewStore(out).all()) == {"alice"}


def test_the_api_refuses_a_score_or_comment_of_the_wrong_type(graded: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    _, shared = graded
    out = tmp_path / "out"
    shutil.copytree(shared, out)
    decision = {"student": "bob", "question": "Q1", "score": "0.5", "comment": "ok"}
    with _review_server(out) as url:
        token = _token(url)
        for change, error in [
            ({"score": True}, "score must be a number, got true"),
            ({"score": [1]}, "score must be a number, got [1]"),
            ({"score": 10 ** 400}, "score must be a number, got 1" + "0" * 400),
            ({"comment": 123}, "comment must be text, got 123"),
            ({"comment": None}, "comment must be text, got null"),
        ]:
            assert _api(url, {**decision, **change}, token) == (400, "application/json", {"error": error}), change
        assert ReviewStore(out).all() == {}
        status, _, body = _api(url, decision, token)  # the form sends its score as text
        assert status == 200 and (body["item"]["score"], body["item"]["comment"]) == (0.5, "ok")
