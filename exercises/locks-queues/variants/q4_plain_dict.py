# Known-wrong answer: a plain dict is copied into every child, so the parent's stays empty.
# `mpgrade validate` requires it to lose Q4.

# %% [markdown]
# ## Q4.

# %% tags=["Q4"]
import multiprocessing


def cube(i, results):
    results[i] = i ** 3


if __name__ == "__main__":
    results = {}
    workers = [multiprocessing.Process(target=cube, args=(i, results)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(dict(results))
