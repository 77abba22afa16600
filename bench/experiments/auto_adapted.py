"""Adapted backbone at K shots: softkmeans vs auto vs protonet on the SAME adapted features per episode."""
import os, sys, time
from pathlib import Path
sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]
from bench_evaluation import load, BACKBONE
from core.adaptation import adapted_episode, adapted_method_kwargs
from core.episodes import evaluate, sample_episodes
data = Path(os.environ.get("FEWLENS_BENCH_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))  # ../shared/data
n_ep = int(sys.argv[1]); shots = int(sys.argv[2])
for name in sys.argv[3].split(","):
    ds, feats = load(data, name)
    eps = sample_episodes(ds.labels, 5, shots, 15, n_ep, seed=0)
    memo = {}
    def feat(ep):
        k = id(ep)
        if k not in memo:
            memo[k] = adapted_episode(ds.paths, feats, ep, BACKBONE)
        return memo[k]
    t0 = time.perf_counter()
    res = {}
    for m in ("softkmeans", "auto", "protonet"):
        res[m] = evaluate(feats, eps, m, method_kwargs=adapted_method_kwargs(m), episode_features=feat)
    import numpy as np
    from core.episodes import mean_ci95
    d1 = mean_ci95(res["auto"].accuracies - res["softkmeans"].accuracies)
    d2 = mean_ci95(res["auto"].accuracies - res["protonet"].accuracies)
    print(name, shots, n_ep, " ".join(f"{m}={r.accuracy:.2f}±{r.ci95:.2f}" for m, r in res.items()),
          f"auto-skm={100*d1[0]:+.2f}±{100*d1[1]:.2f} auto-proto={100*d2[0]:+.2f}±{100*d2[1]:.2f}",
          f"{(time.perf_counter() - t0) / n_ep:.1f} s/ep", flush=True)
