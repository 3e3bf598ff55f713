"""mpgrade: an auto-grader for Python multiprocessing exercises.

``mpgrade.check(path, question=...)`` grades a file (see ``mpgrade.api``);
``%load_ext mpgrade`` adds the ``%%mpgrade`` and ``%mpgrade`` magics to IPython (see
``mpgrade.jupyter``). Both import the grader only when called, so ``import mpgrade``
stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mpgrade.api import Result

__version__ = "0.1.0"
__all__ = ["__version__", "check", "load_ipython_extension"]


def check(path: Any, question: Any = None, assignment: str | None = None, **options: Any) -> Result:
    """Grade ``path`` as ``mpgrade check`` does; see ``mpgrade.api.check``."""
    from mpgrade.api import check as _check

    return _check(path, question, assignment, **options)


def load_ipython_extension(shell: Any) -> None:
    """Entry point of ``%load_ext mpgrade``."""
    from mpgrade.jupyter import load_ipython_extension as _load

    _load(shell)
