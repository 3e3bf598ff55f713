# Known-wrong answer: a plain loop prints four numbers from the one main process.
# `mpgrade validate` requires it to lose Q6.

# %% [markdown]
# ## Q6. Write a python program to create 4 processes, each process should print a different number using the multiprocessing module in python.

# %% tags=["Q6"]
for i in range(1, 5):
    print(i)
