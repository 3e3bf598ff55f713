# Known-wrong answer: the "cube" function squares. `mpgrade validate` requires it to lose Q5.

# %% [markdown]
# ## Q5. How can we create a pool of worker processes in python using the multiprocessing module?

# %% tags=["Q5"]
import multiprocessing


def cube(n):
    return n ** 2


if __name__ == "__main__":
    with multiprocessing.Pool(processes=4) as pool:
        print(pool.map(cube, [1, 2, 3, 4, 5, 6, 7, 8]))
