#!/bin/sh
# demo.sh -- `make demo`: write a few real scikit-learn models into ./demo/models,
# mount them at ./mnt and show what the mount looks like.  The mount is left up
# for you to explore; unmount with `fusermount3 -u mnt`.  Running it again first
# unmounts the previous demo, so it can be run any number of times.
#
# Must never touch anything outside ./demo and ./mnt, and never leave a second
# daemon behind.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${MODELFS_BIN:-$ROOT/modelfs}
MODELS=$ROOT/demo/models
MNT=$ROOT/mnt
PY=/usr/bin/python3

# A previous demo (or a daemon that died and left "Transport endpoint is not
# connected") is unmounted first.
if grep -q " $MNT fuse" /proc/mounts; then
  fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT"
fi
mkdir -p "$MODELS" "$MNT"

echo "== writing example models with scikit-learn into demo/models"
"$PY" - "$MODELS" <<'EOF'
import os, pickle, sys, warnings
warnings.filterwarnings("ignore")
import joblib
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

out = sys.argv[1]
X, y = load_iris(return_X_y=True)

def save(obj, name):
    tmp = os.path.join(out, "." + name + ".tmp")
    if name.endswith(".pkl"):
        with open(tmp, "wb") as f:
            pickle.dump(obj, f)
    else:
        joblib.dump(obj, tmp, compress=("gzip", 3) if name.endswith(".gz") else 0)
    os.replace(tmp, os.path.join(out, name))   # a running mount sees a clean re-save

strong = LogisticRegression(C=1.0, max_iter=500).fit(X, y)
weak = LogisticRegression(C=0.01, max_iter=500).fit(X, y)
save(strong, "iris_logreg_C1.pkl")
save(weak, "iris_logreg_C0.01.pkl")
save(strong, "iris_logreg_C1.joblib.gz")        # the same model, as compressed joblib
save(Pipeline([("scale", StandardScaler()),
               ("clf", LogisticRegression(max_iter=500))]).fit(X, y), "pipeline.pkl")
save(RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y),
     "forest.joblib")
with open(os.path.join(out, "broken.pkl"), "wb") as f:
    f.write(pickle.dumps(strong)[:300])         # truncated: an error directory
with open(os.path.join(out, "README.txt"), "w") as f:
    f.write("Plain files are passed through unchanged.\n")
EOF

echo "== mounting: $BIN demo/models mnt"
"$BIN" "$MODELS" "$MNT"
i=0
until grep -q " $MNT fuse" /proc/mounts; do
  i=$((i + 1))
  [ $i -lt 100 ] || { echo "demo: mount did not come up" >&2; exit 1; }
  sleep 0.1
done

show() { echo; echo "\$ $*"; "$@" || true; }
cd "$ROOT"
show ls -l mnt
show ls mnt/iris_logreg_C1.pkl
show cat mnt/iris_logreg_C1.pkl/meta.json
show cat mnt/iris_logreg_C1.pkl/classes_.txt
echo
echo "\$ python3 -c 'import numpy; print(numpy.load(\"mnt/iris_logreg_C1.pkl/coef_.npy\", mmap_mode=\"r\"))'"
"$PY" -c 'import numpy; print(numpy.load("mnt/iris_logreg_C1.pkl/coef_.npy", mmap_mode="r"))' || true
show diff -r mnt/iris_logreg_C1.pkl mnt/iris_logreg_C0.01.pkl
show diff -r mnt/iris_logreg_C1.pkl mnt/iris_logreg_C1.joblib.gz
echo "# reviewing a retrained model: one screen per version, and what changed"
show cat mnt/iris_logreg_C1.pkl/summary.txt
show cat mnt/iris_logreg_C0.01.pkl/summary.txt
echo
echo "\$ modelfs diff mnt/iris_logreg_C1.pkl mnt/iris_logreg_C0.01.pkl"
"$BIN" diff mnt/iris_logreg_C1.pkl mnt/iris_logreg_C0.01.pkl || true
echo "# diff -r stays exact; these options hide the copies (object.json, .npy beside .txt):"
show diff -r -x object.json -x '*.npy' -x compat.json -x summary.txt mnt/iris_logreg_C1.pkl mnt/iris_logreg_C0.01.pkl
show cat mnt/broken.pkl/meta.json
echo "# what was decoded before the cut is still there:"
show ls mnt/broken.pkl
cat <<EOF

The mount is still up: explore mnt/ with ls, cat, find, diff, jq, numpy...
Unmount it with:   fusermount3 -u mnt
EOF
