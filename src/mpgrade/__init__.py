"""mpgrade: an auto-grader for Python multiprocessing exercises."""

__version__ = "0.1.0"
