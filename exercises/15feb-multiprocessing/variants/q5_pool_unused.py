# Known-wrong answer: a Pool is created but the parent computes the cubes itself.
# `mpgrade validate` requires it to lose Q5.

# %% [markdown]
# ## Q5. How can we create a pool of worker processes in python using the multiprocessing module?

# %% tags=["Q5"]
import multiprocessing


def cube(n):
    return n ** 3


if __name__ == "__main__":
    with multiprocessing.Pool(processes=4) as pool:
        cubes = [cube(n) for n in [1, 2, 3, 4, 5, 6, 7, 8]]
    print(cubes)
