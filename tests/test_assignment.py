"""Exercise files: every mistake an instructor can make comes back with the file and the line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mpgrade import patterns, regexes
from mpgrade.assignment import AssignmentError, discover, load_assignment

VALID = """\
id = "mini"
title = "Mini exercise"

[[questions]]
id = "Q1"
title = "Start a process"
text = "Start one process."
kind = "code"
points = 1.0

[[questions.checks]]
id = "process.started"
points = 1.0

[[questions]]
id = "Q2"
text = "Why processes?"
kind = "prose"
points = 1.0

[questions.rubric]
points = 1.0

[[questions.rubric.concepts]]
id = "parallel"
description = "they run in parallel"
synonyms = ["parallel"]
"""


def write(folder: Path, text: str, name: str = "mini") -> Path:
    path = folder / name / "exercise.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth - 1]


def error_of(path: Path) -> str:
    with pytest.raises(AssignmentError) as info:
        load_assignment(path)
    return str(info.value)


def assert_at(message: str, path: Path, line: int, *words: str) -> None:
    assert message.startswith(f"{path.resolve()}:{line}: "), message
    for w in words:
        assert w in message, message


def test_valid_file_loads(tmp_path: Path) -> None:
    a = load_assignment(write(tmp_path, VALID))
    assert a.id == "mini"
    assert [q.id for q in a.questions] == ["Q1", "Q2"]
    assert a.questions[1].title == "Q2"  # title defaults to the id
    assert a.solution is None and a.variants == () and a.custom_checks is None


def test_invalid_toml(tmp_path: Path) -> None:
    text = VALID.replace('title = "Mini exercise"', 'title = "Mini exercise')
    path = write(tmp_path, text)
    assert_at(error_of(path), path, 2, "invalid TOML")


def test_missing_key_in_a_question(tmp_path: Path) -> None:
    text = VALID.replace('kind = "code"\n', "")
    path = write(tmp_path, text)
    assert_at(error_of(path), path, line_of(text, "[[questions]]"), "questions[0]",
              "missing required key 'kind'")


def test_missing_top_level_key_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('id = "mini"\n', ""))
    message = error_of(path)
    assert message.startswith(str(path.resolve())) and "missing required key 'id'" in message


def test_unknown_key(tmp_path: Path) -> None:
    text = VALID.replace("points = 1.0\n\n[[questions.checks]]", "pionts = 1.0\n\n[[questions.checks]]")
    path = write(tmp_path, text)
    assert_at(error_of(path), path, line_of(text, "[[questions]]"), "unknown key 'pionts'")


def test_wrong_type(tmp_path: Path) -> None:
    text = VALID.replace("points = 1.0\n\n[[questions.checks]]", 'points = "one"\n\n[[questions.checks]]')
    path = write(tmp_path, text)
    assert_at(error_of(path), path, line_of(text, 'points = "one"'), "questions[0].points",
              "expected float, got str")


def test_bad_regex(tmp_path: Path) -> None:
    text = VALID.replace('synonyms = ["parallel"]', 'synonyms = ["parallel", "(unclosed"]')
    path = write(tmp_path, text)
    assert_at(error_of(path), path, line_of(text, "synonyms"), "invalid regular expression",
              "(unclosed")


def test_a_file_whose_regexes_compiled_is_remembered_by_its_text(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MPGRADE_CACHE_DIR", str(tmp_path / "cache"))
    compiled: list[str] = []
    real = regexes.compile
    monkeypatch.setattr(regexes, "compile", lambda p, *a: compiled.append(p) or real(p, *a))
    path = write(tmp_path, VALID)
    patterns.compiled.cache_clear()  # compiled in this process before: not what is measured
    load_assignment(str(path))
    assert "parallel" in compiled
    compiled.clear()
    patterns.compiled.cache_clear()
    load_assignment(str(path))  # the same text again: its regexes are not compiled at load
    assert "parallel" not in compiled
    text = VALID.replace('synonyms = ["parallel"]', 'synonyms = ["parallel", "(unclosed"]')
    path.write_text(text)  # a new text is checked anew, however the old one fared
    assert_at(error_of(path), path, line_of(text, "synonyms"), "invalid regular expression")


def test_a_parsed_exercise_is_kept_until_its_text_changes(tmp_path: Path, monkeypatch) -> None:
    """The cache spares the TOML parse of a text read before, and never hides an edit."""
    tomllib = pytest.importorskip("tomllib")
    monkeypatch.setenv("MPGRADE_CACHE_DIR", str(tmp_path / "cache"))
    parsed: list[str] = []
    real = tomllib.loads
    monkeypatch.setattr(tomllib, "loads", lambda text: parsed.append(text) or real(text))
    path = write(tmp_path, VALID)
    first = load_assignment(str(path))
    second = load_assignment(str(path))
    assert len(parsed) == 1 and second == first
    path.write_text(VALID.replace("points = 1.0", "points = 2.0", 1))
    assert_at(error_of(path), path, line_of(path.read_text(), "points = 2.0"), "worth 2")
    assert len(parsed) == 2
    path.write_text(VALID)
    assert load_assignment(str(path)) == first and len(parsed) == 3


def test_unknown_subject_of_a_synonym(tmp_path: Path) -> None:
    text = VALID.replace('synonyms = ["parallel"]', 'synonyms = ["@core parallel"]')
    path = write(tmp_path, text)
    assert_at(error_of(path), path, line_of(text, "synonyms"), "unknown subject @core", "known: process, thread")


def test_points_that_do_not_add_up(tmp_path: Path) -> None:
    text = VALID.replace("points = 1.0\n\n[[questions.checks]]", "points = 2.0\n\n[[questions.checks]]")
    path = write(tmp_path, text)
    assert_at(error_of(path), path, line_of(text, "points = 2.0"),
              "worth 2 but its checks and rubric add up to 1")


def test_unknown_check_id(tmp_path: Path) -> None:
    text = VALID.replace('id = "process.started"', 'id = "process.startd"')
    path = write(tmp_path, text)
    assert_at(error_of(path), path, line_of(text, "process.startd"), "unknown check 'process.startd'")


def test_duplicate_question_id_points_at_the_second(tmp_path: Path) -> None:
    text = VALID.replace('id = "Q2"', 'id = "Q1"')
    path = write(tmp_path, text)
    assert_at(error_of(path), path, line_of(text, 'id = "Q1"', nth=2), "duplicate question id 'Q1'")


def test_unknown_start_method(tmp_path: Path) -> None:
    text = VALID.replace('title = "Mini exercise"\n', 'title = "Mini exercise"\nstart_method = "thread"\n')
    path = write(tmp_path, text)
    assert_at(error_of(path), path, 3, "start_method", "fork, spawn, forkserver")


def test_unknown_start_method_in_a_question(tmp_path: Path) -> None:
    text = VALID.replace('kind = "code"\n', 'kind = "code"\nstart_method = "spwan"\n')
    path = write(tmp_path, text)
    assert_at(error_of(path), path, line_of(text, "spwan"), "questions[0].start_method")


def test_prose_question_without_rubric(tmp_path: Path) -> None:
    text = VALID.split("[questions.rubric]")[0]
    path = write(tmp_path, text)
    assert_at(error_of(path), path, line_of(text, "[[questions]]", nth=2), "needs a [questions.rubric]")


@pytest.mark.parametrize("value", ["0", "-1.5", "nan", "inf"])
def test_a_limit_that_is_not_positive_and_finite(tmp_path: Path, value: str) -> None:
    text = VALID.replace('title = "Mini exercise"\n', f'title = "Mini exercise"\n\n[limits]\nwall_s = {value}\n')
    path = write(tmp_path, text)
    assert_at(error_of(path), path, line_of(text, "wall_s"), "limits.wall_s", "must be a positive, finite number")


def test_variant_file_must_exist_and_name_known_questions(tmp_path: Path) -> None:
    text = VALID.replace('title = "Mini exercise"\n', 'title = "Mini exercise"\n'
                         '\n[[variants]]\npath = "variants/gone.py"\nloses = ["Q1"]\n')
    path = write(tmp_path, text)
    assert_at(error_of(path), path, line_of(text, "gone.py"), "no such file")
    (path.parent / "variants").mkdir()
    (path.parent / "variants" / "gone.py").write_text("print(1)\n")
    path.write_text(text.replace('loses = ["Q1"]', 'loses = ["Q9"]'))
    assert_at(error_of(path), path, line_of(text, "loses"), "unknown question id 'Q9'")


def test_broken_custom_checks_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    (path.parent / "checks.py").write_text("def broken(:\n")
    message = error_of(path)
    assert "checks.py" in message and "cannot load custom checks" in message


def test_discovery_through_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, VALID.replace('id = "mini"', 'id = "mini-env"'), name="mini-env")
    monkeypatch.setenv("MPGRADE_EXERCISES", str(tmp_path))
    found = discover()
    assert found["mini-env"] == (tmp_path / "mini-env" / "exercise.toml").resolve()
    assert "15feb-multiprocessing" in found and "locks-queues" in found  # bundled ones still there
    assert load_assignment("mini-env").title == "Mini exercise"


def test_load_by_folder_or_file_path(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    assert load_assignment(path.parent).id == load_assignment(path).id == "mini"


def test_unknown_id_lists_the_known_ones() -> None:
    with pytest.raises(AssignmentError, match=r"unknown assignment 'nope' \(known: .*locks-queues"):
        load_assignment("nope")


@pytest.mark.parametrize("aid", ["15feb-multiprocessing", "locks-queues"])
def test_bundled_sets_are_complete(aid: str) -> None:
    a = load_assignment(aid)
    assert a.id == aid
    assert a.solution and Path(a.solution).is_file()
    assert len(a.variants) >= 2
    ids = {q.id for q in a.questions}
    assert all(set(v.loses) <= ids and Path(v.path).is_file() for v in a.variants)
    assert all(re.fullmatch(r"Q\d+", q) for q in ids)


def test_custom_checks_of_locks_queues_are_registered() -> None:
    from mpgrade.checks import available_checks

    a = load_assignment("locks-queues")
    assert a.custom_checks and a.custom_checks.endswith("checks.py")
    known = available_checks(a.custom_checks)
    for cid in ("lq.lock_held", "lq.final_total", "lq.consumer_printed", "lq.sentinel",
                "lq.manager_dict", "lq.dict_printed"):
        assert known[cid], cid  # registered, with a docstring for `mpgrade checks`


def test_two_copies_of_an_exercise_keep_their_own_custom_checks(tmp_path: Path) -> None:
    """An instructor copies locks-queues to adapt it: both load in one process, and each
    grades with its own checks.py."""
    import shutil

    from mpgrade.checks import CheckError, run_check
    from mpgrade.resources import data_dir

    copy = tmp_path / "my-locks"
    shutil.copytree(data_dir("exercises") / "locks-queues", copy)
    text = (copy / "exercise.toml").read_text().replace('id = "locks-queues"', 'id = "my-locks"')
    (copy / "exercise.toml").write_text(text.replace("../../solutions/locks-queues/", "../"))
    (copy / "checks.py").write_text((copy / "checks.py").read_text() + (
        "\n\n@check('lq.adapted')\ndef adapted(ctx, params):\n"
        "    \"\"\"Only in the copy.\"\"\"\n    return Outcome(True, 'the copy ran')\n"))
    original, adapted = load_assignment("locks-queues"), load_assignment(copy)
    spec = next(s for q in adapted.questions for s in q.checks if s.id == "lq.lock_held")
    assert spec.source == str(copy / "checks.py")
    assert next(s for q in original.questions for s in q.checks if s.id == "lq.lock_held").source \
        == original.custom_checks
    from mpgrade.model import CheckContext, CheckSpec, Trace

    q = adapted.questions[0]
    ctx = CheckContext(q, None, None, None, Trace())
    probe = run_check(CheckSpec("lq.adapted", 1.0, {"optional_code": True}, source=spec.source), ctx)
    assert probe.outcome == "not_applicable"  # found in the copy's checks.py, and no code given
    with pytest.raises(CheckError):
        run_check(CheckSpec("lq.adapted", 1.0, {}, source=original.custom_checks), ctx)


# --------------------------------------------------------------------------- declared checks


@pytest.mark.parametrize(("params", "words"), [
    ("{ mni = 4 }", ("unknown parameter 'mni' of check 'process.started'", "min")),
    ("{ min = \"four\" }", ("'min' must be int, got str",)),
    ("{ pool = \"sometimes\" }", ("'pool' must be one of 'count', 'note', 'no'",)),
    ("{ requires = [\"process.nope\"] }", ("requires 'process.nope'",)),
])
def test_check_params_are_validated_against_the_declaration(tmp_path: Path, params: str, words) -> None:
    text = VALID.replace('id = "process.started"\npoints = 1.0\n',
                         f'id = "process.started"\npoints = 1.0\nparams = {params}\n')
    path = write(tmp_path, text)
    assert_at(error_of(path), path, line_of(text, "params ="), "questions[0].checks[0].params", *words)


def test_a_misspelt_expectation_fails_at_load_time(tmp_path: Path) -> None:
    text = VALID.replace('id = "process.started"\npoints = 1.0\n',
                         'id = "pool.results_correct"\npoints = 1.0\nparams = { expect = "cubed" }\n')
    path = write(tmp_path, text)
    assert_at(error_of(path), path, line_of(text, "params ="), "'expect' must be one of",
              "'square', 'cube', 'by_name'", "got 'cubed'")


def test_custom_checks_declare_their_parameters_too(tmp_path: Path) -> None:
    import shutil

    from mpgrade.resources import data_dir

    copy = tmp_path / "my-locks"
    shutil.copytree(data_dir("exercises") / "locks-queues", copy)
    text = (copy / "exercise.toml").read_text().replace('id = "locks-queues"', 'id = "my-locks"')
    text = text.replace("params = { expect = 4000 }", "params = { expected = 4000 }")
    (copy / "exercise.toml").write_text(text.replace("../../solutions/locks-queues/", "../"))
    message = error_of(copy)
    assert "unknown parameter 'expected' of check 'lq.final_total'" in message
    assert message.startswith(f"{(copy / 'exercise.toml').resolve()}:{line_of(text, 'expected = 4000')}:")


def test_a_prose_answer_must_be_worth_its_code_question(tmp_path: Path) -> None:
    words = ('\n[questions.prose_answer]\npoints = 0.5\n\n[[questions.prose_answer.concepts]]\n'
             'id = "p"\ndescription = "a process"\nsynonyms = ["process"]\n')
    text = VALID.replace('id = "process.started"\npoints = 1.0\n',
                         'id = "process.started"\npoints = 1.0\n' + words)
    path = write(tmp_path, text)
    assert "questions[0].prose_answer" in error_of(path)
    assert "must be worth the question's points" in error_of(path)
    good = write(tmp_path, text.replace("points = 0.5\n\n[[questions.prose_answer", "points = 1.0\n\n[[questions.prose_answer"))
    assert load_assignment(str(good)).questions[0].prose_answer is not None


def _six_code_questions(first_check: str) -> str:
    """An exercise whose questions Q1..Q6 a notebook's headers all name."""
    parts = ['id = "x"\ntitle = "Six"\n']
    for n in range(1, 7):
        check = first_check if n == 1 else "process.started"
        parts.append(f'[[questions]]\nid = "Q{n}"\ntext = "Question {n}"\nkind = "code"\n'
                     f'points = 1.0\n\n[[questions.checks]]\nid = "{check}"\npoints = 1.0\n')
    return "\n".join(parts)


def test_the_best_match_skips_a_set_with_wrong_checks_and_loads_no_losers_checks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_notebook) -> None:
    from mpgrade.assignment import choose_assignment
    from mpgrade.segment import segment
    from mpgrade.submission import load

    # "00-..." sorts first and names all six questions, as the bundled set does: it would
    # win the tie, but its checks are wrong, so the next best is taken.
    write(tmp_path, _six_code_questions("no.such.check"), name="00-wrong-checks")
    marker = tmp_path / "imported"
    spy = write(tmp_path, VALID, name="01-two-questions")  # names only Q1 and Q2
    (spy.parent / "checks.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.setenv("MPGRADE_EXERCISES", str(tmp_path))
    sub = load(make_notebook())
    choice = choose_assignment(None, sub)
    assert choice.assignment.id == "15feb-multiprocessing"
    assert not marker.exists()  # a loser's checks.py is never run
    assert choice.segmentation == segment(sub, choice.assignment.questions)
    assert load_assignment("01-two-questions").custom_checks and marker.exists()


def test_a_set_that_cannot_overtake_the_best_match_is_not_segmented(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_notebook) -> None:
    import mpgrade.segment
    from mpgrade.assignment import choose_assignment
    from mpgrade.submission import load

    # The notebook's headers name all six questions of the bundled set; "locks-queues"
    # (four questions) and this two-question set could at best tie, and a tie goes to
    # the first by id.
    write(tmp_path, VALID, name="zz-two-questions")
    monkeypatch.setenv("MPGRADE_EXERCISES", str(tmp_path))
    segmented: list[int] = []
    real = mpgrade.segment.segment

    def counting(sub, questions):
        segmented.append(len(questions))
        return real(sub, questions)

    monkeypatch.setattr(mpgrade.segment, "segment", counting)
    choice = choose_assignment(None, load(make_notebook()))
    assert choice.assignment.id == "15feb-multiprocessing"
    assert segmented == [6]
