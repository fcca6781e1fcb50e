#!/usr/bin/env bash
# Runs vic beside the baseline implementations on the two reference VAEs and prints
# ms per step, whole-process seconds and their ratios. One run, side by side: wall
# times on a shared machine carry about ±30% noise, so compare only within one table.
#
# usage: scripts/bench.sh [DIGITS_EPOCHS [MNIST_EPOCHS]]
#   VIC_DATA   the data directory (default /work/shared/data)
#   BASELINES  the baseline scripts (default /work/shared/baselines)
#   VENV       their Python environment from $BASELINES/setup.sh (default
#              ~/.vic-baselines); without it only vic's rows are printed.
set -eu
cd "$(dirname "$0")/.."
DATA=${VIC_DATA:-/work/shared/data}
BASELINES=${BASELINES:-/work/shared/baselines}
VENV=${VENV:-$HOME/.vic-baselines}
DIGITS_EPOCHS=${1:-200}
MNIST_EPOCHS=${2:-20}
cargo build --release --quiet
VIC=target/release/vic
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# One JSON line per run in $OUT/<data>.jsonl: impl, ms per step, process seconds.
run_vic() { # data model epochs threads
  local t0 t1 json
  t0=$(date +%s.%N)
  json=$("$VIC" fit "$2" --data "$DATA/$1_train.csv" --epochs "$3" --threads "$4" --json | tail -n 1)
  t1=$(date +%s.%N)
  python3 - "$json" "$t0" "$t1" "$4" >>"$OUT/$1.jsonl" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(json.dumps({"impl": "vic, %s thread%s" % (sys.argv[4], "" if sys.argv[4] == "1" else "s"),
                  "ms": 1e3 * r["seconds"] / r["steps"],
                  "process": float(sys.argv[3]) - float(sys.argv[2])}))
PY
}

run_baseline() { # data name script args...
  local data=$1 name=$2 script=$3
  shift 3
  [ -x "$VENV/bin/python" ] || return 0
  local json
  json=$(cd "$BASELINES" && "$VENV/bin/python" "$script" --data "$data" "$@" | tail -n 1)
  python3 - "$json" "$name" >>"$OUT/$data.jsonl" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(json.dumps({"impl": sys.argv[2], "ms": 1e3 * r["median_epoch_s"] * r["epochs"] / r["steps"],
                  "process": r["process_wall_s"]}))
PY
}

for spec in "digits examples/vae.vi $DIGITS_EPOCHS" "mnist5k benches/mnist5k_vae.vi $MNIST_EPOCHS"; do
  set -- $spec
  run_vic "$1" "$2" "$3" 1
  run_vic "$1" "$2" "$3" 2
  run_baseline "$1" "NumPyro-scan" vae_numpyro.py --mode scan --epochs "$3"
  run_baseline "$1" "PyTorch, 1 thread" vae_torch.py --threads 1 --epochs "$3"
  run_baseline "$1" "Pyro" vae_pyro.py --epochs "$3"
done

# The floors are the step's matrix products at one core's sustained sgemm rate
# (../shared/baselines.md): 10 MFLOP and 164 MFLOP at about 80 GFLOP/s; two cores halve them.
python3 - "$OUT" <<'PY'
import json, os, sys
floors = {"digits": 0.15, "mnist5k": 2.0}
for data in ("digits", "mnist5k"):
    rows = [json.loads(l) for l in open(os.path.join(sys.argv[1], data + ".jsonl"))]
    ref = next((r for r in rows if r["impl"] == "NumPyro-scan"), None)
    print(f"\n{data}: ms per step (ratio to NumPyro-scan), whole process s")
    print(f"  {'implementation':<20} {'ms/step':>9} {'ratio':>7} {'process s':>10}")
    for r in rows + [{"impl": "floor, 1 core", "ms": floors[data], "process": None},
                     {"impl": "floor, 2 cores", "ms": floors[data] / 2, "process": None}]:
        ratio = f"{r['ms'] / ref['ms']:.2f}" if ref else "-"
        proc = f"{r['process']:.2f}" if r["process"] is not None else "-"
        print(f"  {r['impl']:<20} {r['ms']:>9.3f} {ratio:>7} {proc:>10}")
PY
