# Known-wrong answer: the consumer has no sentinel to stop on, so after the tenth item it
# waits on an empty queue forever and the parent waits in join(): a deadlock.
# `mpgrade validate` requires it to lose Q3.

# %% [markdown]
# ## Q3.

# %% tags=["Q3"]
import multiprocessing


def producer(queue):
    for item in range(1, 11):
        queue.put(item)


def consumer(queue):
    while True:
        item = queue.get()
        print("consumed", item)


if __name__ == "__main__":
    queue = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=producer, args=(queue,)),
        multiprocessing.Process(target=consumer, args=(queue,)),
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
