# Known-wrong answer: a thread instead of a process. `mpgrade validate` requires it to lose Q3.

# %% [markdown]
# ## Q3. Write a python code to create a process using the multiprocessing module.

# %% tags=["Q3"]
import threading


def greet(name):
    print(f"hello {name}, from the thread")


if __name__ == "__main__":
    t = threading.Thread(target=greet, args=("world",))
    t.start()
    t.join()
