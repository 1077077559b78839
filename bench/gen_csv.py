#!/usr/bin/env python3
"""Generates a realistic CSV for the benchmarks: ids, names with quotes and commas,
emails, timestamps, amounts, booleans and free text; deterministic for a given seed.

    python3 bench/gen_csv.py ROWS OUT [--start N] [--seed S]

About 100 bytes a row: 1,000,000 rows is ~100 MB.
"""

import argparse
import random

FIRST = ["Ann", "Bob", "Cy", "Dee", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kim", "Lu"]
LAST = ["Smith", "O'Neil", "Brown", "Nguyen", "Müller", "García", "Kowalski", "Li"]
WORDS = ["alpha", "beta", "gamma", "delta", "red", "green", "blue", "fast", "slow", "new"]

HEADER = "id,name,email,created_at,amount,active,note\n"


def rows(n, start, seed):
    rnd = random.Random(seed)
    for i in range(start, start + n):
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        name = f'"{last}, {first}"' if i % 7 == 0 else f"{first} {last}"
        email = f"{first.lower()}.{i}@example.com"
        ts = f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}Z"
        amount = f"{rnd.randint(0, 999999) / 100:.2f}"
        active = "true" if i % 3 else "false"
        words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 5)))
        note = f'"{words}, ""quoted"""' if i % 11 == 0 else words
        if i % 13 == 0:
            note = ""
        yield f"{i},{name},{email},{ts},{amount},{active},{note}\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rows", type=int)
    ap.add_argument("out")
    ap.add_argument("--start", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(HEADER)
        buf = []
        for r in rows(a.rows, a.start, a.seed):
            buf.append(r)
            if len(buf) == 10000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))


if __name__ == "__main__":
    main()
