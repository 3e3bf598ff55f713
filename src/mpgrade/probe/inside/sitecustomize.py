"""Loaded by every interpreter of the student's process tree (the sandbox puts this folder
first on PYTHONPATH), so spawn and forkserver children are traced like the main process.

Stdlib only, Python 3.10+, Linux and macOS. Does nothing unless the sandbox set
MPGRADE_TRACE or MPGRADE_META, and never lets a probe failure reach the student's code.
Because this file shadows any sitecustomize of the Python installation, that one is run
afterwards, so the interpreter behaves as it would without the probe.
"""

import os
import sys


def _install_probe() -> None:
    """Import the probe only when asked: a plain run pays nothing beyond this check."""
    if not (os.environ.get("MPGRADE_TRACE") or os.environ.get("MPGRADE_META")):
        return
    try:
        import _mpgrade_probe

        _mpgrade_probe.install()
    except Exception:  # the student's program must run even if the probe cannot
        pass


def _chain_shadowed() -> None:
    """Run the installation's own sitecustomize, which this file hides on sys.path."""
    try:
        # The import system's own path finder, loaded at start-up: importlib.machinery
        # re-exports it, at the cost of importing the importlib package and warnings.
        import _frozen_importlib_external

        here = os.path.dirname(os.path.abspath(__file__))
        rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
        spec = _frozen_importlib_external.PathFinder.find_spec("sitecustomize", rest)
        if spec is None or spec.loader is None:
            return
        module = type(sys)("sitecustomize")
        module.__file__, module.__spec__, module.__loader__ = spec.origin, spec, spec.loader
        spec.loader.exec_module(module)
    except Exception:
        pass


_install_probe()
_chain_shadowed()
