"""Label-suggestion knobs on the simulated user: python bench/experiments/suggestion_sweep.py REPEATS FLOOR:POWER,... SETS"""
import os, sys, time
from pathlib import Path
sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]
import numpy as np
import core.evaluation.suggestions as sg
import bench_evaluation as be
data = Path(os.environ.get("FEWLENS_BENCH_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))  # ../shared/data
reps = int(sys.argv[1]); variants = sys.argv[2].split(",")  # floor:power
for name in sys.argv[3].split(","):
    if name == "omniglot":
        from bench_backbones import omniglot_folder
        folder = omniglot_folder(data / "omniglot" / "images_background_small1.zip")
        ds, feats = be.load(folder.parent, folder.name)
    else:
        ds, feats = be.load(data, name)
    C = len(ds.classes); budget = 10 * C
    res = {}
    for key in ["random"] + variants:
        curves = []
        for rep in range(reps):
            sub = np.random.default_rng([rep, 99]); keep = np.sort(sub.choice(len(feats), int(0.9 * len(feats)), replace=False))
            if key != "random":
                f_, p_ = key.split(":"); sg.UNCERTAINTY_FLOOR = float(f_); sg.TYPICALITY_POWER = float(p_)
            curves.append(be.simulate(feats[keep], ds.labels[keep], "random" if key == "random" else "suggest", budget, 5, np.random.default_rng([rep, 7])))
        res[key] = be._mean_curve(curves)
    target = be._at(res["random"], 5 * C)
    for key, mc in res.items():
        reach = be._labels_to_reach(mc, target)
        print(name, key, f"acc@1/2/3/5/10 per class: " + " ".join(f"{100*be._at(mc, k*C):.1f}" for k in (1,2,3,5,10)),
              f"reach random5 ({100*target:.1f}) at {reach} labels: {be._saving(reach, 5*C)}", flush=True)
