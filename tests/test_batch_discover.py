"""Discovery, roster and gradebook pieces of batch grading, without running any code."""

from __future__ import annotations

import os
import stat
import time
import zipfile
from pathlib import Path

import pytest

from mpgrade.batch import discover as disc
from mpgrade.batch.discover import (
    DiscoveryError,
    choose_newest,
    find_submissions,
    parse_gradescope_metadata,
)
from mpgrade.batch.roster import RosterError, RosterIndex, load_roster

CODE = "# %%\nprint('hi')\n"


def _touch(path: Path, text: str = CODE, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _entries(tmp_path: Path, *inputs: Path) -> dict[str, disc.Entry]:
    found = find_submissions(tuple(inputs), tmp_path / "scratch")
    return {e.student: e for e in choose_newest(found)}


def test_plain_folder_uses_file_stems_and_skips_noise(tmp_path: Path) -> None:
    root = tmp_path / "class"
    _touch(root / "alice.py")
    _touch(root / "sub" / "bob.ipynb", "{}")
    _touch(root / "notes.txt")
    _touch(root / ".ipynb_checkpoints" / "alice-checkpoint.ipynb")
    _touch(root / "__MACOSX" / "alice.py")
    entries = _entries(tmp_path, root)
    assert sorted(entries) == ["alice", "bob"]
    assert entries["bob"].source == "class/sub/bob.ipynb"
    assert entries["alice"].identity.layout == "plain"


def test_folder_per_student_with_the_same_file_name(tmp_path: Path) -> None:
    """``alice/hw.ipynb`` and ``bob/hw.ipynb``: the folders name the students, nobody is lost."""
    root = tmp_path / "class"
    _touch(root / "alice" / "hw.py", mtime=1_000)
    _touch(root / "bob" / "hw.py", mtime=2_000)
    _touch(root / "carol.py")
    entries = _entries(tmp_path, root)
    assert sorted(entries) == ["alice", "bob", "carol"]
    assert entries["alice"].source == "class/alice/hw.py" and not entries["alice"].notes


def test_single_file_input_and_missing_input(tmp_path: Path) -> None:
    f = _touch(tmp_path / "carol.py")
    assert list(_entries(tmp_path, f)) == ["carol"]
    with pytest.raises(DiscoveryError, match="no such file"):
        find_submissions((tmp_path / "nope",), tmp_path / "scratch")


def test_canvas_names_late_flag_and_newest_of_several(tmp_path: Path) -> None:
    root = tmp_path / "canvas"
    now = time.time()
    _touch(root / "smith_john_1234_5678_ass.ipynb", "{}", mtime=now - 3600)
    _touch(root / "smith_john_LATE_1234_5690_ass-1.py", mtime=now)
    _touch(root / "doe_jane_2222_5679_answers.py", mtime=now)
    entries = _entries(tmp_path, root)
    assert sorted(entries) == ["1234", "2222"]
    john = entries["1234"]
    assert john.identity.name == "smith john" and john.identity.layout == "canvas"
    assert john.source.endswith("smith_john_LATE_1234_5690_ass-1.py")
    assert john.notes[0].startswith("2 files submitted: graded the newest, canvas/smith_john_LATE_1234_5690_ass-1.py")
    assert "ignored canvas/smith_john_1234_5678_ass.ipynb" in john.notes[0]
    assert "marked late by the LMS" in john.notes
    assert entries["2222"].notes == ()


def test_moodle_folders_and_nothing_gradable(tmp_path: Path) -> None:
    root = tmp_path / "moodle"
    _touch(root / "Jane Doe_4567_assignsubmission_file_" / "ass.ipynb", "{}")
    _touch(root / "Max Mustermann_4568_assignsubmission_file_" / "report.pdf", "%PDF")
    entries = _entries(tmp_path, root)
    assert entries["4567"].identity.name == "Jane Doe"
    assert entries["4568"].path is None
    assert "no .ipynb or .py file (found report.pdf)" in entries["4568"].error


def test_gradescope_export_with_metadata(tmp_path: Path) -> None:
    root = tmp_path / "gs"
    (root).mkdir()
    (root / "submission_metadata.yml").write_text(
        "submission_111:\n"
        "  :submitters:\n"
        "  - :name: Ada Lovelace\n"
        "    :sid: '9001'\n"
        "    :email: ada@example.edu\n"
        "  :created_at: 2024-03-07 10:00:00\n"
        "submission_222:\n"
        "  :submitters:\n"
        "  - :name: Alan Turing\n"
        "    :email: alan@example.edu\n"
    )
    _touch(root / "submission_111" / "ass.ipynb", "{}")
    _touch(root / "submission_222" / "work" / "answers.py")
    _touch(root / "submission_333" / "answers.py")
    entries = _entries(tmp_path, root)
    assert sorted(entries) == ["9001", "alan@example.edu", "submission_333"]
    assert entries["9001"].identity.name == "Ada Lovelace"
    assert entries["alan@example.edu"].identity.layout == "gradescope"


def test_gradescope_metadata_parser_takes_first_submitter() -> None:
    meta = parse_gradescope_metadata(
        "submission_5:\n  :submitters:\n  - :name: A\n    :sid: '1'\n  - :name: B\n    :sid: '2'\n"
    )
    assert meta["submission_5"].student == "1" and meta["submission_5"].name == "A"


def _zip(path: Path, members: dict[str, tuple[str | bytes, tuple[int, ...]]], links: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, (data, when) in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=when), data)
        for name in links:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def test_zip_extraction_is_safe_and_uses_entry_dates(tmp_path: Path) -> None:
    early, late = (2024, 3, 7, 9, 0, 0), (2024, 3, 7, 11, 30, 0)
    archive = _zip(
        tmp_path / "export.zip",
        {
            "smith_john_1234_5678_ass.py": (CODE, late),
            "smith_john_1234_5600_old.py": (CODE, early),
            "../../evil_1_2_x.py": (CODE, early),
            "/abs/root_3_4_y.py": (CODE, early),
            "doe_jane_2222_1_hw.zip": (_inner_zip(), early),
            "readme.txt": ("hello", early),
        },
        links=("link_5_6_z.py",),
    )
    scratch = tmp_path / "scratch"
    found = find_submissions((archive,), scratch)
    entries = {e.student: e for e in choose_newest(found)}
    assert entries["1234"].source == "export.zip/smith_john_1234_5678_ass.py"
    assert "ignored export.zip/smith_john_1234_5600_old.py" in entries["1234"].notes[0]
    assert "(2024-03-07 11:30)" in entries["1234"].notes[0]
    assert entries["2222"].source == "export.zip/doe_jane_2222_1_hw.zip/answers/q.py"
    assert entries["1"].error.endswith("refused: path escapes the archive")
    assert entries["3"].error.endswith("refused: path escapes the archive")
    assert entries["5"].error.endswith("refused: symbolic link")
    written = [p for p in scratch.rglob("*") if p.is_file()]
    assert all(scratch in p.resolve().parents for p in written)
    assert not (tmp_path / "evil_1_2_x.py").exists()


def _inner_zip() -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("answers/q.py", CODE)
        zf.writestr("answers/data.csv", "1,2")
    return buf.getvalue()


def _without_utf8_flag(archive: Path) -> None:
    """Clear the UTF-8 name flag (bit 11) in every header, as Info-ZIP and macOS leave it."""
    data = bytearray(archive.read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (at := data.find(signature, start)) >= 0:
            data[at + flags_at + 1] &= ~0x08 & 0xFF  # the flag's high byte
            start = at + 4
    archive.write_bytes(bytes(data))


def test_zip_names_written_as_utf8_without_the_flag_are_read_as_utf8(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "moodle.zip", {
        "Alice Ångström_12345_assignsubmission_file_/ass.py": (CODE, (2024, 1, 1, 0, 0, 0)),
    })
    _without_utf8_flag(archive)
    with zipfile.ZipFile(archive) as zf:  # what the format alone says: cp437
        assert zf.namelist() == ["Alice ├àngstr├╢m_12345_assignsubmission_file_/ass.py"]
    (entry,) = _entries(tmp_path, archive).values()
    assert entry.source == "moodle.zip/Alice Ångström_12345_assignsubmission_file_/ass.py"
    assert entry.path is not None and "Ångström" in str(entry.path)


def test_zip_bomb_and_corrupt_zip_become_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disc, "MAX_MEMBER_BYTES", 10_000)
    root = tmp_path / "in"
    root.mkdir()
    _zip(root / "bomb.zip", {"bomb.py": ("#" * 1_000_000, (2024, 1, 1, 0, 0, 0))})
    (root / "corrupt.zip").write_bytes(b"PK\x03\x04 not really a zip")
    entries = _entries(tmp_path, root)
    assert "refused: larger than 0 MiB once uncompressed" in entries["bomb"].error
    assert entries["corrupt"].error.startswith("in/corrupt.zip: unreadable zip archive")


def test_student_zip_without_code_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    _zip(root / "smith_john_1234_5678_hw.zip", {"essay.docx": ("x", (2024, 1, 1, 0, 0, 0))})
    entries = _entries(tmp_path, root)
    assert "no .ipynb or .py file (found essay.docx)" in entries["1234"].error


# --------------------------------------------------------------------------- roster


def test_roster_reads_canvas_export_and_matches_every_alias(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section\n"
        "    Points Possible,,,,\n"
        "\"Smith, John\",1234,S-1,jsmith,A\n"
        "\"Doe, Jane\",2222,S-2,jdoe,B\n"
    )
    roster = RosterIndex(load_roster(path))
    assert [s.id for s in roster.students] == ["1234", "2222"]
    john = roster.match("jsmith")
    assert john is not None and john.name == "Smith, John" and john.sis_user_id == "S-1"
    assert roster.match("S-2") is roster.match("2222")
    assert roster.match("nobody") is None


def test_roster_plain_and_moodle_worksheet(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("id,name,email\nalice,Alice A,alice@uni.edu\n")
    alice = RosterIndex(load_roster(plain)).match("ALICE@uni.edu")
    assert alice is not None and alice.id == "alice"
    moodle = tmp_path / "moodle.csv"
    moodle.write_text("Identifier,Full name,Email address,Status\nParticipant 4567,Jane Doe,jane@x.org,Submitted\n")
    jane = RosterIndex(load_roster(moodle)).match("4567")
    assert jane is not None and jane.moodle_id == "4567" and jane.name == "Jane Doe"


def test_roster_without_id_column_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("colour,size\nred,3\n")
    with pytest.raises(RosterError, match="no id column"):
        load_roster(bad)
