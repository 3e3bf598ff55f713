# Known-wrong answer, from a real submission: two processes over a Pipe instead of four
# processes each printing a number (and under fork the receiver never sees end-of-file).
# `mpgrade validate` requires it to lose Q6.

# %% [markdown]
# ## Q6. Write a python program to create 4 processes, each process should print a different number using the multiprocessing module in python.

# %% tags=["Q6"]
import multiprocessing


def sender(conn, msg):
    for i in msg:
        conn.send(i)
    conn.close()


def receive(conn):
    while True:
        try:
            msg = conn.recv()
        except Exception as e:
            print(e)
            break
        print(msg)


if __name__ == "__main__":
    msg = [1, 2, 3, 4, [5, 6, 7], 8, 9, 10, [11, 12, 13, 14]]
    parent_conn, child_conn = multiprocessing.Pipe()
    m1 = multiprocessing.Process(target=sender, args=(child_conn, msg))
    m2 = multiprocessing.Process(target=receive, args=(parent_conn,))
    m1.start()
    m2.start()
    m1.join()
    child_conn.close()
    m2.join()
    parent_conn.close()
