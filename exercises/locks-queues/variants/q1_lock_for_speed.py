# Known-wrong prose answer: a lock as a speed-up, no race condition explained.
# `mpgrade validate` requires it to lose Q1.

# %% [markdown]
# ## Q1.

# %% [markdown] tags=["Q1"]
# A race condition is when processes race each other to finish first. A lock makes the
# program faster because the processes do not get in each other's way, so it is good to
# use one whenever there are several processes.
