"""A program with flags whose best values are known (threads=11, block=512, mode=b: cost 1.0).

Its own defaults are threads=1, block=64, mode=a. Prints ``cost: X``; with --sleep it also sleeps
X * SLEEP seconds, so its wall time follows the cost.
"""

import argparse
import math
import time

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
p.add_argument("--block", type=int, default=64)
p.add_argument("--mode", default="a", choices=["a", "b", "c"])
p.add_argument("--sleep", type=float, default=0.0)
a = p.parse_args()
cost = 1 + 0.02 * (a.threads - 11) ** 2 + 0.15 * (math.log2(a.block) - 9) ** 2 + {"a": 0.5, "b": 0.0, "c": 0.25}[a.mode]
if a.sleep:
    time.sleep(cost * a.sleep)
print(f"cost: {cost:.6f}")
