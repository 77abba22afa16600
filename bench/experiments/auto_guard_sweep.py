"""auto's guard margin: accuracy of auto(margin m) vs protonet / softkmeans, same episodes."""
import os, sys, time
from pathlib import Path
sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]
import numpy as np
import core.evaluation.choice as choice
from core.episodes import evaluate, sample_episodes
from bench_evaluation import load
from bench_backbones import omniglot_folder
data = Path(os.environ.get("FEWLENS_BENCH_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))  # ../shared/data
eps_n = int(sys.argv[1]); margins = sys.argv[2].split(",")
sets = sys.argv[3].split(",")
for name in sets:
    if name == "omniglot":
        from core.episodes import FolderDataset
        import bench_evaluation as be
        folder = omniglot_folder(data / "omniglot" / "images_background_small1.zip")
        ds, feats = be.load(folder.parent, folder.name)
    else:
        ds, feats = load(data, name)
    for shots in (2, 3, 4, 5):
        eps = sample_episodes(ds.labels, 5, shots, 15, eps_n, seed=0)
        row = {}
        for m in ("protonet", "softkmeans"):
            row[m] = evaluate(feats, eps, m).accuracy
        for mg in margins:
            m_, z_ = (mg.split("z") + ["0"])[:2] if "z" in mg else (mg, "0")
            choice.SOFTKMEANS_MIN_EXTRA = int(m_ or 0); choice.SOFTKMEANS_Z = float(z_)
            row[f"auto{mg}"] = evaluate(feats, eps, "auto").accuracy
        print(name, shots, " ".join(f"{k}={v:.2f}" for k, v in row.items()),
              " | auto-proto:", " ".join(f"{row[f'auto{mg}'] - row['protonet']:+.2f}" for mg in margins),
              " auto-skm:", " ".join(f"{row[f'auto{mg}'] - row['softkmeans']:+.2f}" for mg in margins), flush=True)
