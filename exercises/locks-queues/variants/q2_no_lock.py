# Known-wrong answer: the counter is incremented without a lock. The total is wrong only on
# some runs, so the lq.lock_held check reads the source. `mpgrade validate` requires it to lose Q2.

# %% [markdown]
# ## Q2.

# %% tags=["Q2"]
import multiprocessing


def add(counter, times):
    for _ in range(times):
        counter.value += 1


if __name__ == "__main__":
    counter = multiprocessing.Value("i", 0)
    workers = [multiprocessing.Process(target=add, args=(counter, 1000)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print("total:", counter.value)
