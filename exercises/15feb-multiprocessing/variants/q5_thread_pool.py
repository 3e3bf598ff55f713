# Known-wrong answer: a ThreadPool, whose workers are threads of one process.
# `mpgrade validate` requires it to lose Q5.

# %% [markdown]
# ## Q5. How can we create a pool of worker processes in python using the multiprocessing module?

# %% tags=["Q5"]
from multiprocessing.pool import ThreadPool


def cube(n):
    return n ** 3


if __name__ == "__main__":
    with ThreadPool(4) as pool:
        print(pool.map(cube, [1, 2, 3, 4]))
