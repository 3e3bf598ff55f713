# Known-wrong answer: `target=greet()` calls the function in the parent and hands the child
# None to run. `mpgrade validate` requires it to lose Q3.

# %% [markdown]
# ## Q3. Write a python code to create a process using the multiprocessing module.

# %% tags=["Q3"]
import multiprocessing


def greet():
    print("hello from greet")


if __name__ == "__main__":
    p = multiprocessing.Process(target=greet())
    p.start()
    p.join()
