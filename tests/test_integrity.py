"""The grader's own integrity against hostile submissions: it never crashes, never gives
points for a forged record, and only the caller chooses how a submission is graded.

Every adversarial answer here is bounded by the sandbox's limits (time, processes,
memory) and by the test's own timeout.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import jsonschema
import pytest
from conftest import MPGRADE, ROOT, by_id, notebook, run_cli

from mpgrade.resources import schema_path
from mpgrade.sandbox import capabilities

FIXTURES = Path(__file__).parent / "fixtures"
BACKENDS = ["plain"] + (["bwrap"] if capabilities().usable("bwrap") else [])
SCHEMA = json.loads(schema_path().read_text())

# Each answer attacks one parser of the grader; each must cost at most its own question.
ATTACKS = {
    # A forged faulthandler dump with a 5000-digit line number, then a real hang.
    "Q3": '''import multiprocessing, os

def greet():
    print("hello from the child process")
    path = f"{os.environ['MPGRADE_META']}/stacks-{os.getpid()}.txt"
    os.unlink(path)
    with open(path, "w") as f:
        f.write('Current thread 0x1 (most recent call first):\\n  File "answer.py", line '
                + "9" * 5000 + " in greet\\n")
    r, w = os.pipe()
    os.read(r, 1)  # [/bold] in a blocked line

if __name__ == "__main__":
    p = multiprocessing.Process(target=greet)
    p.start()
    p.join()
''',
    # rich markup in a pipe message and a task input.
    "Q4": '''import multiprocessing

def square(n):
    return n * n

def send(conn):
    conn.send("[/bold] [/]")

if __name__ == "__main__":
    a, b = multiprocessing.Pipe()
    p = multiprocessing.Process(target=send, args=(b,))
    p.start()
    print(a.recv())
    p.join()
    with multiprocessing.Pool(2) as pool:
        print(pool.map(str, ["[/bold]"]))
''',
    # A Process name with a lone surrogate.
    "Q5": '''import multiprocessing

def cube(n):
    return n ** 3

if __name__ == "__main__":
    p = multiprocessing.Process(target=cube, args=(2,), name="evil\\udcff")
    p.start()
    p.join()
    print("\\udcff".encode("utf-8", "surrogatepass"))
''',
    # A fake traceback on stderr with a line number int() refuses.
    "Q6": '''import sys
print(1)
sys.stderr.write('Traceback (most recent call last):\\n  File "answer.py", line '
                 + "7" * 5000 + ', in show\\nValueError: [/bold]\\n')
sys.exit(1)
''',
}

# Sources that make ast.parse / compile / ast.unparse raise instead of failing to parse.
BOMBS = {
    "Q3": "x = " + "-" * 100_000 + "1\n",  # MemoryError in the parser
    "Q5": "x = 1" + "+1" * 200_000 + "\n",  # RecursionError building the tree
    "Q6": "x = a" + ".b" * 900 + "\n",  # parses, but ast.unparse recurses too deep
}


def _valid_outputs(path: Path, tmp_path: Path, *extra: str) -> dict:
    """Every format: exit 0 or 1, valid UTF-8, JSON that the schema accepts."""
    proc = run_cli("check", str(path), "--format", "json", *extra, timeout=180)
    assert proc.returncode in (0, 1), proc.stderr
    result = json.loads(proc.stdout.encode("utf-8").decode("utf-8"))
    jsonschema.validate(result, SCHEMA)
    for fmt in ("text", "markdown", "gradescope", "html"):
        out = tmp_path / f"report.{fmt}"
        proc = run_cli("check", str(path), "--format", fmt, "-o", str(out), *extra, timeout=180)
        assert proc.returncode in (0, 1), (fmt, proc.stderr)
        out.read_bytes().decode("utf-8")  # strict
    proc = run_cli("check", str(path), *extra, timeout=180)  # the terminal report
    assert proc.returncode in (0, 1), proc.stderr
    return result


@pytest.mark.parametrize("backend", BACKENDS)
def test_untrusted_input_costs_one_answer(backend: str, tmp_path: Path) -> None:
    path = notebook(tmp_path / "attacks.ipynb", code=ATTACKS)
    q = by_id(_valid_outputs(path, tmp_path, "--isolation", backend))
    assert q["Q1"]["max_score"] > 0 and q["Q3"]["score"] < q["Q3"]["max_score"]
    assert q["Q6"]["status"] in ("error", "failed")
    names = json.dumps(q["Q5"])
    assert "\\udcff" not in names and "evil" in names


def test_compile_bombs_are_syntax_errors(tmp_path: Path) -> None:
    path = notebook(tmp_path / "bombs.ipynb", code=BOMBS)
    q = by_id(_valid_outputs(path, tmp_path, "-q", "Q3", "-q", "Q4", "-q", "Q5", "-q", "Q6"))
    assert q["Q4"]["status"] in ("passed", "needs_review")  # its written part is a proposal
    for qid in BOMBS:
        assert q[qid]["score"] < q[qid]["max_score"]


def _nested(path: Path, depth: int = 100_000) -> Path:
    nb = json.loads(notebook(path).read_text())
    nb["metadata"]["x"] = "NEST"
    path.write_text(json.dumps(nb).replace('"NEST"', "[" * depth + "]" * depth))
    return path


def test_deeply_nested_notebook_is_an_unreadable_file(tmp_path: Path) -> None:
    proc = run_cli("check", str(_nested(tmp_path / "deep.ipynb")))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "nested too deeply" in proc.stderr


def test_batch_one_hostile_submission_costs_one_row(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    notebook(subs / "alice.ipynb")
    notebook(subs / "bombs.ipynb", code=BOMBS)
    notebook(subs / "attacks.ipynb", code={"Q5": ATTACKS["Q5"]})
    _nested(subs / "nested.ipynb")
    notebook(Path(os.fsdecode(bytes(subs) + b"/b\xffob.ipynb")))  # a name that is not UTF-8
    with zipfile.ZipFile(subs / "carol.zip", "w") as zf:  # folders nested 1500 deep
        zf.writestr("d/" * 1500 + "deep.py", "print(1)\n")
        zf.write(notebook(tmp_path / "carol.ipynb"), "carol.ipynb")
    out = tmp_path / "out"
    proc = run_cli("grade", str(subs), "-o", str(out), "-q", "Q3", "-q", "Q5", "-j", "2",
                   timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open(encoding="utf-8-sig"))}
    assert set(rows) == {"alice", "bombs", "attacks", "nested", "b\\xffob", "carol"}
    assert rows["alice"]["status"] == rows["b\\xffob"]["status"] == "passed"
    assert rows["nested"]["status"] == "error"
    texts = [f for f in out.rglob("*") if f.suffix in (".csv", ".json", ".md", ".html", ".txt")]
    assert len(texts) > 6
    for f in texts:
        f.read_bytes().decode("utf-8")


# --------------------------------------------------------------------------- forgery


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("qid", "role"), [("Q3", "child"), ("Q5", "worker")])
def test_forged_main_process_earns_nothing(backend: str, qid: str, role: str,
                                           tmp_path: Path) -> None:
    """One process rewrites the trace: a pid that never existed "boots" first and the real
    process claims to be the child or the pool worker. The main process is the one the
    supervisor started, so no process-based check passes."""
    source = (FIXTURES / "forged_trace.py").read_text().replace('ROLE = "child"',
                                                                f'ROLE = "{role}"')
    path = notebook(tmp_path / "forged.ipynb", code={qid: source})
    proc = run_cli("check", str(path), "-q", qid, "--format", "json", "--isolation", backend)
    q = by_id(json.loads(proc.stdout))[qid]
    passed = {c["id"] for c in q["checks"] if c.get("passed")}
    assert q["score"] < q["max_score"], q
    assert not passed & {"process.started", "process.target_ran", "process.child_printed",
                         "pool.workers_computed", "pool.used"}, passed


# --------------------------------------------------------------------------- who chooses


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([MPGRADE, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env={**os.environ, "NO_COLOR": "1"}, stdin=subprocess.DEVNULL)


def test_notebook_naming_an_exercise_path_loads_nothing_from_it(tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    shutil.copytree(ROOT / "exercises" / "15feb-multiprocessing", evil)
    marker = tmp_path / "imported"
    (evil / "checks.py").write_text(f"open({str(marker)!r}, 'w').write('ran in the grader')\n")
    path = notebook(tmp_path / "sub.ipynb")
    nb = json.loads(path.read_text())
    nb["metadata"]["mpgrade"] = {"assignment": str(evil)}
    path.write_text(json.dumps(nb))
    proc = _cli("check", str(path), "-q", "Q3", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    assert json.loads(proc.stdout)["assignment"]["id"] == "15feb-multiprocessing"
    assert "warning" in proc.stderr and "not a known exercise id" in proc.stderr


POLYGLOT = '''# ---
# mpgrade:
#   assignment: answer.py
# ---
id = "answer.py"
title = "a script that is also its own exercise"
[[questions]]
id = "Q1"
'''


def test_script_that_is_also_toml_cannot_be_its_own_exercise(tmp_path: Path) -> None:
    (tmp_path / "answer.py").write_text(POLYGLOT + 'kind = "code"\npoints = 10\n')
    proc = _cli("check", "answer.py", "--format", "json", cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads(proc.stdout)["assignment"]["id"] != "answer.py"
    assert "'answer.py', which is not a known exercise id" in proc.stderr


def test_the_caller_wins_over_the_notebook_with_a_warning(tmp_path: Path) -> None:
    path = notebook(tmp_path / "sub.ipynb")
    nb = json.loads(path.read_text())
    nb["metadata"]["mpgrade"] = {"assignment": "locks-queues"}
    path.write_text(json.dumps(nb))
    proc = _cli("check", str(path), "-q", "Q3", "--format", "json",
                "--assignment", "15feb-multiprocessing", cwd=tmp_path)
    assert json.loads(proc.stdout)["assignment"]["id"] == "15feb-multiprocessing"
    assert "warning" in proc.stderr and "locks-queues" in proc.stderr
    nb["metadata"]["mpgrade"] = {"assignment": "15feb-multiprocessing"}
    path.write_text(json.dumps(nb))
    proc = _cli("check", str(path), "-q", "Q3", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0 and "warning" not in proc.stderr
