"""How long explaining a strategy's trials takes: design, surrogate fit (5-fold cross-validation plus the final model),
TreeSHAP and the UMAP map, on 1,000 and 5,000 synthetic trials.

The trials have six parameters like a real search space: three numbers that matter (one through a curve, two through
an interaction), one that does not, a category that matters and a conditional number present in half of the trials;
score = their known function + noise. The first UMAP map of a process compiles UMAP's numba kernels: that one-off
cost is measured on its own, on a small map, before the timed runs. Single-threaded (LightGBM ``num_threads=1``).
``--quick``: 300 and 1,000 trials.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import cpu_model, versions  # noqa: E402

SIZES = {"full": (1_000, 5_000), "quick": (300, 1_000)}


def synthetic_trials(rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    fast = rng.integers(2, 50, rows)
    slow = rng.integers(20, 200, rows)
    stop = rng.uniform(0.5, 5.0, rows)
    noise_param = rng.uniform(0, 1, rows)
    kind = rng.choice(["ema", "sma", "wma", "hma"], rows)
    trailing = rng.random(rows) < 0.5
    trail = rng.uniform(0.1, 2.0, rows)
    score = (
        -((np.log(slow / fast) - 1.5) ** 2)
        + 0.3 * stop * (kind == "ema")
        + np.where(trailing, 0.4 - 0.2 * trail, 0.0)
        + rng.normal(0, 0.3, rows)
    )
    params: list[dict[str, Any]] = []
    for i in range(rows):
        row: dict[str, Any] = {
            "fast": int(fast[i]), "slow": int(slow[i]), "stop_atr": float(stop[i]), "unused": float(noise_param[i]),
            "ma_type": str(kind[i]),
        }  # fmt: skip
        if trailing[i]:
            row["trail_atr"] = float(trail[i])
        params.append(row)
    return pd.DataFrame({"strategy": "demo", "params_json": params}), score


def timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 and 1,000 trials")
    args = parser.parse_args()

    from stratlab.research.surrogate import fit_surrogate, importance, shap_values, trials_design, umap_embedding

    print(f"cpu: {cpu_model()}")
    print(versions("lightgbm", "shap", "umap-learn", "numba", "numpy"))
    warm_frame, warm_score = synthetic_trials(200, seed=99)
    warm_shap = shap_values(fit_surrogate(trials_design(warm_frame), warm_score))
    _, compile_s = timed(lambda: umap_embedding(warm_shap))
    print(f"first UMAP map of the process (numba compile, 200 trials): {compile_s:.1f} s")
    print(f"{'trials':>7} {'design s':>9} {'fit+CV s':>9} {'SHAP s':>7} {'UMAP s':>7} {'total s':>8}  quality, top 3")
    for rows in SIZES["quick" if args.quick else "full"]:
        frame, score = synthetic_trials(rows)
        design, design_s = timed(lambda frame=frame: trials_design(frame))
        surrogate, fit_s = timed(lambda design=design, score=score: fit_surrogate(design, score))
        shap, shap_s = timed(lambda surrogate=surrogate: shap_values(surrogate))
        _, umap_s = timed(lambda shap=shap: umap_embedding(shap))
        total = design_s + fit_s + shap_s + umap_s
        top = ", ".join(importance(shap).index[:3])
        print(
            f"{rows:>7,} {design_s:>9.2f} {fit_s:>9.2f} {shap_s:>7.2f} {umap_s:>7.2f} {total:>8.2f}  "
            f"rho {surrogate.quality.spearman:.2f} (mean {surrogate.quality.baseline_spearman:.2f}), {top}"
        )


if __name__ == "__main__":
    main()
