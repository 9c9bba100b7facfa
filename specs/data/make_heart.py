"""Write ``heart.csv``: 303 synthetic patients shaped like the Cleveland heart-disease
data of keras.io's structured-data example, for ``specs/structured_data.yaml``.

Deterministic (seeded): run ``python specs/data/make_heart.py`` to write the same
file again. Numeric columns (age, trestbps, chol, thalach, oldpeak), integer
categories (sex, cp, fbs, restecg, exang, ca) and a string category (thal:
fixed, normal, reversible); ``target`` (1: heart disease) follows a logistic
model of several of them, so a classifier can beat chance.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

ROWS = 303
SEED = 12
COLUMNS = [
    *("age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang"),
    *("oldpeak", "ca", "thal", "target"),
]


def rows(n: int = ROWS, seed: int = SEED) -> list[list[str]]:
    """``n`` rows of the table, as text cells in :data:`COLUMNS` order."""
    rng = np.random.default_rng(seed)
    age = rng.normal(54, 9, n).round().clip(29, 77).astype(int)
    sex = rng.binomial(1, 0.68, n)
    cp = rng.choice([0, 1, 2, 3], n, p=[0.47, 0.17, 0.28, 0.08])
    trestbps = rng.normal(131, 17, n).round().clip(94, 200).astype(int)
    chol = rng.normal(246, 50, n).round().clip(126, 564).astype(int)
    fbs = rng.binomial(1, 0.15, n)
    restecg = rng.choice([0, 1, 2], n, p=[0.49, 0.49, 0.02])
    thalach = (rng.normal(150, 22, n) - 0.5 * (age - 54)).round().clip(71, 202).astype(int)
    exang = rng.binomial(1, 0.33, n)
    oldpeak = rng.exponential(1.0, n).round(1).clip(0, 6.2)
    ca = rng.choice([0, 1, 2, 3], n, p=[0.58, 0.22, 0.13, 0.07])
    thal = rng.choice(["normal", "fixed", "reversible"], n, p=[0.55, 0.07, 0.38])
    logit = 2.0 * (
        -0.4
        + 0.04 * (age - 54)
        + 0.9 * sex
        + 1.2 * (cp == 0)
        + 0.01 * (trestbps - 131)
        - 0.035 * (thalach - 150)
        + 1.0 * exang
        + 0.7 * oldpeak
        + 0.8 * ca
        + 1.3 * (thal == "reversible")
        + 0.6 * (thal == "fixed")
        - 2.9
    )
    target = rng.binomial(1, 1 / (1 + np.exp(-logit)))
    table = zip(
        age,
        sex,
        cp,
        trestbps,
        chol,
        fbs,
        restecg,
        thalach,
        exang,
        oldpeak,
        ca,
        thal,
        target,
        strict=True,
    )
    return [[str(v) for v in row] for row in table]


def main() -> None:
    path = Path(__file__).with_name("heart.csv")
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows())
    print(f"wrote {path} ({ROWS} rows)")


if __name__ == "__main__":
    main()
