# Known-wrong answer: `target=show(n)` calls the function in the parent, so the parent prints
# the four numbers and the children run nothing. `mpgrade validate` requires it to lose Q6.

# %% [markdown]
# ## Q6. Write a python program to create 4 processes, each process should print a different number using the multiprocessing module in python.

# %% tags=["Q6"]
import multiprocessing


def show(number):
    print(number)


if __name__ == "__main__":
    processes = [multiprocessing.Process(target=show(n)) for n in range(1, 5)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
