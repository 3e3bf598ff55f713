"""End to end: `mpgrade check` on real submissions, real sandboxed runs, every format."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
from conftest import CODE, EXAMPLE, MPGRADE, by_id, check_json, processes_with, run_cli

from mpgrade.resources import schema_path

SCHEMA = json.loads(schema_path().read_text())


def test_example_notebook_grades_as_the_issue_demands() -> None:
    code, result = check_json(EXAMPLE)
    jsonschema.validate(result, SCHEMA)
    q = by_id(result)
    assert code == 1
    # Q6's hang is cut short as a deadlock: no question waits for the wall-clock limit.
    assert {x["id"]: x["reason"] for x in result["questions"] if x["reason"]} in ({}, {"Q6": "deadlock"})
    assert [q[i]["status"] for i in ("Q3", "Q5")] == ["passed"] * 2
    assert q["Q1"]["status"] == q["Q2"]["status"] == q["Q4"]["status"] == "needs_review"
    assert q["Q4"]["score"] == q["Q4"]["max_score"]
    assert q["Q6"]["status"] in ("failed", "timeout")
    q6 = q["Q6"]["feedback"] + " ".join(c["message"] for c in q["Q6"]["checks"])
    assert "two" in q6.lower() or "2 " in q6, q6  # two processes instead of four
    assert "recv" in q6 and "write end" in q6, q6  # the hang, explained
    assert result["submission"]["format"] == "ipynb"
    assert result["environment"]["start_method"]


def test_correct_notebook_gets_full_marks_on_code(make_notebook) -> None:
    code, result = check_json(make_notebook())
    q = by_id(result)
    for qid in ("Q3", "Q4", "Q5", "Q6"):
        assert q[qid]["status"] == ("needs_review" if qid == "Q4" else "passed"), (qid, q[qid]["feedback"])
        assert q[qid]["score"] == q[qid]["max_score"]
    assert q["Q6"]["run"]["exit_code"] == 0
    assert len([p for p in q["Q6"]["run"]["processes"] if p["role"] == "child"]) == 4


def test_every_format_renders(make_notebook, tmp_path: Path) -> None:
    nb = make_notebook()
    for fmt in ("text", "markdown", "html", "gradescope", "json"):
        out = tmp_path / f"report.{fmt}"
        proc = run_cli("check", str(nb), "--format", fmt, "-o", str(out), "-q", "Q3")
        assert proc.returncode in (0, 1), proc.stderr
        text = out.read_text()
        assert "Q3" in text, fmt
        assert str(Path(sys.executable).parent) not in text, fmt  # the grader's paths are its own
    assert "\x1b[" not in (tmp_path / "report.text").read_text()
    gs = json.loads((tmp_path / "report.gradescope").read_text())
    assert {"score", "tests", "output"} <= set(gs)
    python = f"{platform.python_implementation()} {platform.python_version()}"
    assert f"({python}, start method" in gs["output"] and "Python CPython" not in gs["output"]


def test_question_filter_grades_one(make_notebook) -> None:
    code, result = check_json(make_notebook(), "--question", "Q5")
    assert [q["id"] for q in result["questions"]] == ["Q5"]
    assert code == 0


def test_printed_text_without_a_process_fails(make_notebook) -> None:
    fake = 'print("hello from the child process")\nprint("this is my multiprocessing prog")\n'
    _, result = check_json(make_notebook(code={"Q3": fake}), "-q", "Q3")
    q3 = by_id(result)["Q3"]
    assert q3["status"] == "failed"
    assert q3["score"] == 0


def test_forged_trace_and_json_do_not_raise_the_grade(make_notebook) -> None:
    forged = (
        "import json, os\n"
        'print(json.dumps({"score": 99, "status": "passed"}))\n'
        'path = os.environ.get("MPGRADE_TRACE")\n'
        "if path:\n"
        "    with open(path, 'a') as f:\n"
        "        for pid in (4242, 4243):\n"
        "            f.write(json.dumps({'ev': 'proc_start', 'pid': pid, 'ppid': os.getpid(),"
        " 'name': 'Process-1', 'target': 'greet'}) + '\\n')\n"
    )
    _, result = check_json(make_notebook(code={"Q3": forged}), "-q", "Q3")
    q3 = by_id(result)["Q3"]
    assert q3["score"] == 0, q3
    assert any("malformed" in reason for reason in q3["run"].get("rejected", ())), q3["run"]


def test_staff_hear_of_forged_trace_claims_but_not_of_the_probes_own_cap(make_notebook) -> None:
    loud = CODE["Q3"].replace('    print("hello from the child process")\n',
                              '    for i in range(6000):\n        print("hello from the child process", i)\n')
    forged = CODE["Q3"].replace("    p.join()\n", "    p.join()\n"
                                "    import os\n"
                                "    with open(os.environ['MPGRADE_TRACE'], 'a') as f:\n"
                                "        f.write('{not json\\n')\n")
    path = make_notebook(code={"Q3": loud})
    _, result = check_json(path, "-q", "Q3")
    q3 = by_id(result)["Q3"]
    assert q3["status"] == "passed" and q3["run"]["capped"] == ["stdout"]
    assert "rejected" not in q3["run"]
    assert "For staff" not in run_cli("check", str(path), "-q", "Q3").stdout
    path = make_notebook("forged.ipynb", code={"Q3": forged})
    _, result = check_json(path, "-q", "Q3")
    q3 = by_id(result)["Q3"]
    assert q3["status"] == "passed" and q3["run"]["rejected"] == ["malformed: not JSON (1 line)"]
    shown = " ".join(run_cli("check", str(path), "-q", "Q3").stdout.split())
    assert "For staff: the grader discarded trace events" in shown and "malformed: not JSON" in shown


def test_threads_instead_of_processes_fail(make_notebook) -> None:
    threads = """import threading

def greet():
    print("hello from a thread")

t = threading.Thread(target=greet)
t.start()
t.join()
"""
    _, result = check_json(make_notebook(code={"Q3": threads}), "-q", "Q3")
    q3 = by_id(result)["Q3"]
    assert q3["status"] == "failed"
    assert "thread" in q3["feedback"].lower()


def test_lambda_in_pool_map_is_explained(make_notebook) -> None:
    lam = """import multiprocessing

if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        print(pool.map(lambda n: n ** 3, [1, 2, 3]))
"""
    _, result = check_json(make_notebook(code={"Q5": lam}), "-q", "Q5")
    q5 = by_id(result)["Q5"]
    assert q5["status"] == "error"
    assert "lambda" in q5["feedback"].lower() or "pickl" in q5["feedback"].lower()


def test_syntax_error_in_one_answer_leaves_the_others_alone(make_notebook) -> None:
    broken = "import multiprocessing\ndef cube(n)\n    return n ** 3\n"
    _, result = check_json(make_notebook(code={"Q5": broken}))
    q = by_id(result)
    assert q["Q5"]["status"] == "error"
    assert "SyntaxError" in q["Q5"]["feedback"] or "syntax" in q["Q5"]["feedback"].lower()
    assert q["Q6"]["status"] == q["Q3"]["status"] == "passed"


def test_infinite_loop_hits_the_time_limit(make_notebook) -> None:
    loop = "import multiprocessing\nwhile True:\n    pass\n"
    _, result = check_json(make_notebook(code={"Q3": loop}), "-q", "Q3", "--timeout", "2")
    q3 = by_id(result)["Q3"]
    assert q3["status"] == "timeout"
    assert q3["reason"] == "time_limit"
    # the limit given on the command line stopped it, not the exercise's own
    assert result["environment"]["limits"]["wall_s"] == 2
    assert q3["run"]["reason_detail"] == "Stopped after 2.0 s (the time limit for this question)."


def test_setsid_escape_is_killed(make_notebook) -> None:
    marker = "73.1379"
    escape = f"""import multiprocessing, os, subprocess, time

def runaway():
    os.setsid()
    subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
    time.sleep(60)

if __name__ == "__main__":
    p = multiprocessing.Process(target=runaway)
    p.start()
    time.sleep(60)
"""
    _, result = check_json(make_notebook(code={"Q3": escape}), "-q", "Q3", "--timeout", "2")
    assert by_id(result)["Q3"]["status"] == "timeout"
    time.sleep(0.2)
    assert processes_with(marker) == []


def test_cross_cell_definitions_are_available(tmp_path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import multiprocessing\nprint('setup done')\n"),
        nbformat.v4.new_markdown_cell("Q4. What is a pool? A pool of worker processes runs a "
                                      "function over many inputs in parallel."),
        nbformat.v4.new_code_cell("def cube(n):\n    return n ** 3\n"),
        nbformat.v4.new_markdown_cell("Q5. Pool of workers"),
        nbformat.v4.new_code_cell(
            "if __name__ == '__main__':\n"
            "    with multiprocessing.Pool(2) as pool:\n"
            "        print(pool.map(cube, [1, 2, 3]))\n"
        ),
    ]
    path = tmp_path / "cross.ipynb"
    nbformat.write(nb, str(path))
    _, result = check_json(path, "-q", "Q5")
    assert by_id(result)["Q5"]["status"] == "passed", by_id(result)["Q5"]["feedback"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"{not json", "JSON"),
        (b'{"hello": 1}', "notebook"),
        (b'{"cells": "x"}', 'its "cells" is a string, not a list of cells'),
        (b'{"cells": [{"cell_type": "code", "source": ""}, 7]}', "cell 2 is a number, not a cell"),
        (b'{"cells": [], "metadata": [1, 2]}', 'its "metadata" is a list, not an object'),
        (b'{"cells": [{"cell_type": "code", "source": "", "metadata": "x"}]}',
         'the "metadata" of cell 1 is a string, not an object'),
        (b'{"nbformat": 4, "cells": [{"cell_type": "code", "source": 5}]}',
         'the "source" of cell 1 is a number, not text'),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), ""),
    ],
)
def test_unreadable_input_exits_2_with_one_line(cli, tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    proc = cli("check", str(path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "bad.ipynb" in lines[0] and needle in lines[0]
    assert "Traceback" not in proc.stderr


def test_unreadable_input_still_has_a_machine_result(cli, tmp_path: Path) -> None:
    from mpgrade.report import validate_json

    path = tmp_path / "bad.ipynb"
    path.write_bytes(b"{not json")
    proc = cli("check", str(path), "--format", "json", "-a", "15feb-multiprocessing")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    result = json.loads(proc.stdout)
    validate_json(result)
    assert (result["status"], result["score"], result["max_score"]) == ("error", None, 10)
    assert result["error"].startswith("Your file could not be read: bad.ipynb: not valid JSON")
    assert result["assignment"]["id"] == "15feb-multiprocessing"
    lti = json.loads(cli("check", str(path), "--format", "lti").stdout)
    assert lti["gradingProgress"] == "Failed" and "scoreGiven" not in lti
    assert lti["scoreMaximum"] == 10  # without -a: the set a batch would use, never a maximum of 0
    assert json.loads(cli("check", str(path), "--format", "json").stdout)["max_score"] == 10
    wrong = cli("check", str(path), "--format", "json", "-a", "no-such-set")
    assert wrong.returncode == 2 and "no-such-set" in wrong.stderr  # not a result against another set
    gradescope = json.loads(cli("check", str(path), "--format", "gradescope").stdout)
    assert gradescope["score"] == 0 and gradescope["tests"] == []
    assert cli("check", str(path), "--format", "text").stdout == ""  # people read stderr


def test_a_missing_file_is_reported_as_not_found_not_as_one_to_resave(tmp_path: Path) -> None:
    missing = tmp_path / "nosuch.ipynb"
    for fmt, reason in (("lti", lambda r: r["comment"]), ("json", lambda r: r["error"])):
        proc = run_cli("check", "--format", fmt, str(missing))
        assert proc.returncode == 2 and _one_line(proc) == "mpgrade: error: nosuch.ipynb: no such file"
        said = reason(json.loads(proc.stdout))
        assert said == "nosuch.ipynb was not found, so nothing was graded. Check the file's name and folder."


def test_bad_arguments_exit_2(cli, make_notebook) -> None:
    for args in (["check", "/no/such/file.ipynb"], ["check", str(make_notebook()), "-a", "nope"],
                 ["check", str(make_notebook()), "-q", "Q9"], ["frobnicate"],
                 ["grade", str(make_notebook()), "-o", str(make_notebook().parent / "out"), "--canvas-assignment-id", "abc"],
                 ["grade", str(make_notebook()), "-o", str(make_notebook().parent / "out"), "--csv-encoding", "klingon"],
                 ["gradescope-build", "-a", "15feb-multiprocessing", "--budget", "0"],
                 ["gradescope-build", "-a", "15feb-multiprocessing", "--budget", "nan"],
                 ["gradescope-build", "-a", "15feb-multiprocessing", "--visibility", "everyone"],
                 # float() reads these; no limit comparison stops them
                 ["check", str(make_notebook()), "-q", "Q6", "--timeout", "nan"],
                 ["check", str(make_notebook()), "-q", "Q6", "--timeout", "inf"],
                 ["check", str(make_notebook()), "-q", "Q6", "--cpu", "nan"],
                 ["grade", str(make_notebook()), "-o", str(make_notebook().parent / "out"), "--cpu", "inf"]):
        proc = cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr


def test_empty_notebook_is_all_missing(tmp_path: Path) -> None:
    import nbformat

    path = tmp_path / "empty.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), str(path))
    code, result = check_json(path, "-a", "15feb-multiprocessing")
    assert code == 1
    assert {q["status"] for q in result["questions"]} == {"missing"}
    assert result["score"] == 0


def test_the_line_that_raised_is_marked(make_notebook, tmp_path: Path) -> None:
    raising = """import multiprocessing

def cube(n):
    return n / 0

if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        print(pool.map(cube, [1, 2, 3]))
"""
    nb = make_notebook(code={"Q5": raising})
    _, result = check_json(nb, "-q", "Q5")
    jsonschema.validate(result, SCHEMA)
    q5 = by_id(result)["Q5"]
    assert q5["status"] == "error"
    assert q5["run"]["error_line"] == 4  # in the worker, not the map() call on line 8
    md = tmp_path / "q5.md"
    run_cli("check", str(nb), "-q", "Q5", "--format", "markdown", "-o", str(md))
    assert re.search(r"^4\s+return n / 0   ◀ raised here$", md.read_text(), re.M)


def test_script_submissions_are_numbered_by_file_line(tmp_path: Path) -> None:
    script = tmp_path / "answers.py"
    script.write_text("# Q5. pool of workers\nimport multiprocessing\n\ndef cube(n):\n"
                      "    return n / 0\n\nif __name__ == '__main__':\n"
                      "    with multiprocessing.Pool(2) as pool:\n        print(pool.map(cube, [1]))\n")
    _, result = check_json(script, "-q", "Q5")
    assert by_id(result)["Q5"]["run"]["error_line"] == 5


def test_informational_commands() -> None:
    doctor = run_cli("doctor")
    assert doctor.returncode == 0 and "bubblewrap" in doctor.stdout and "cgroup" in doctor.stdout
    listing = run_cli("list")
    assert listing.returncode == 0 and "15feb-multiprocessing" in listing.stdout
    assert "locks-queues" in listing.stdout
    checks = run_cli("checks")
    assert checks.returncode == 0 and "process.started" in checks.stdout
    schema = run_cli("schema")
    assert schema.returncode == 0 and json.loads(schema.stdout) == SCHEMA


def _one_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_output_that_cannot_be_written_exits_2_before_grading(cli, make_notebook, tmp_path: Path,
                                                              monkeypatch) -> None:
    import mpgrade.grader

    def no_grading(*args, **kwargs):
        raise AssertionError("graded although the report could not be written")

    monkeypatch.setattr(mpgrade.grader, "grade_submission", no_grading)
    path = make_notebook()
    proc = cli("check", str(path), "-o", str(tmp_path / "nowhere" / "report.html"))
    assert proc.returncode == 2 and "does not exist" in _one_line(proc)
    proc = cli("check", str(path), "-o", str(tmp_path))
    assert proc.returncode == 2 and "is a folder" in _one_line(proc)


@pytest.mark.parametrize("command", [
    ["check", str(EXAMPLE)],
    ["template", "locks-queues"],
    ["gradescope-build", "-a", "15feb-multiprocessing"],
])
def test_every_command_that_writes_a_file_refuses_a_missing_folder_alike(command: list[str],
                                                                         tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "out.file"
    proc = run_cli(*command, "-o", str(missing))
    assert proc.returncode == 2, proc.stderr
    assert _one_line(proc) == f"mpgrade: error: -o {missing}: folder {missing.parent} does not exist"
    assert not missing.parent.exists()  # never created behind the user's back
    proc = run_cli(*command, "-o", str(tmp_path))
    assert proc.returncode == 2 and "is a folder; give a file name such as" in _one_line(proc)


def test_output_file_is_announced_on_stderr(make_notebook, tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    proc = run_cli("check", str(make_notebook()), "-q", "Q1", "-f", "markdown", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr.strip() == f"wrote {out}"
    assert "## Q1" in out.read_text()


def test_corrupted_notebook_message_is_whole_with_line_and_column(cli, make_notebook) -> None:
    path = make_notebook()
    text = path.read_text()
    path.write_text(text[: text.index('"source"') + 20])  # cut inside a string
    line = _one_line(cli("check", str(path)))
    assert re.search(r"Unterminated string starting at line \d+, column \d+ \(", line), line


def test_a_folder_suggests_grade(cli, tmp_path: Path) -> None:
    proc = cli("check", str(tmp_path))
    assert proc.returncode == 2
    assert f"mpgrade grade {tmp_path} -o OUT" in _one_line(proc)


def test_forced_assignment_that_fits_no_header_warns(make_notebook) -> None:
    path = make_notebook()
    proc = run_cli("check", str(path), "-a", "locks-queues", "-q", "Q1")
    assert "warning: --assignment locks-queues" in proc.stderr
    assert "15feb-multiprocessing" in proc.stderr
    quiet = run_cli("check", str(path), "-a", "15feb-multiprocessing", "-q", "Q1")
    assert "warning" not in quiet.stderr


def test_input_failure_says_stdin_is_closed(make_notebook) -> None:
    code = CODE["Q5"].replace('if __name__ == "__main__":\n', 'if __name__ == "__main__":\n    n = input("n? ")\n')
    proc = run_cli("check", str(make_notebook(code={"Q5": code})), "-q", "Q5", env={"COLUMNS": "100"})
    assert proc.returncode == 1
    assert "stdin is closed during grading" in " ".join(proc.stdout.split())
    assert "◀ raised here" in proc.stdout and 'n = input("n? ")' in proc.stdout


def test_error_lines_are_inert(cli, tmp_path: Path) -> None:
    path = tmp_path / "\x1b[2Jevil.ipynb"
    path.write_text("{not json")
    line = _one_line(cli("check", str(path)))
    assert "\x1b" not in line and "␛[2Jevil.ipynb" in line


def test_an_unusable_backend_asked_for_by_name_exits_2_before_grading(cli, make_notebook,
                                                                      monkeypatch) -> None:
    from mpgrade.sandbox import bwrap

    monkeypatch.setattr(bwrap, "probe", lambda: "user namespaces are disabled")
    proc = cli("check", str(make_notebook()), "--isolation", "bwrap")
    assert proc.returncode == 2 and proc.stdout == ""
    line = proc.stderr.strip()
    assert "\n" not in line and "--isolation bwrap cannot run here: user namespaces are disabled" in line


def test_a_file_that_is_no_submission_exits_2(cli, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("Remember: start 4 processes, then join them.\n")
    proc = cli("check", str(notes))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "notes.txt" in _one_line(proc) and "not a notebook or script" in _one_line(proc)


def test_output_into_a_closed_pipe_stops_quietly_as_interrupted() -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte, as after `| head -1`
    try:
        proc = subprocess.run([MPGRADE, "schema"], stdout=write, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True, timeout=60)
    finally:
        os.close(write)
    assert proc.returncode == 130
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
