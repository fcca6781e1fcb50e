#!/bin/sh
# Issue 10's acceptance runs: the MNIST VAE of baselines.md trained 200 epochs (batch
# 100, lr 1e-3) per configuration and seed, then IWAE-1000 estimates of log p(x) on the
# first 1000 training rows and on the test set. Results go to OUT (not the repository):
# one fit file and eval line per run, and results.tsv with
#   name seed ms_per_step train_elbo train_iwae1000 test_iwae1000 gap
# Usage: scripts/bounds_acceptance.sh VIC OUT "name|flags" ...
# e.g.   scripts/bounds_acceptance.sh target/release/vic /tmp/acc "plain|" "iwae5|--objective iwae:5"
# Each argument is one configuration; set SEEDS (default "0 1") and EPOCHS (default 200).
set -eu
vic=$1
out=$2
shift 2
data=${DATA:-/work/shared/data}
seeds=${SEEDS:-0 1}
epochs=${EPOCHS:-200}
here=$(dirname "$0")
mkdir -p "$out"
head -n 1001 "$data/mnist5k_train.csv" > "$out/train1000.csv"
field() { sed -n "s/.*\"$1\":\([-0-9.e]*\).*/\1/p"; }
for config in "$@"; do
  name=${config%%|*}
  flags=${config#*|}
  for seed in $seeds; do
    run="$out/${name}_s$seed"
    # shellcheck disable=SC2086
    nice "$vic" fit "$here/mnist_vae.vi" --data "$data/mnist5k_train.csv" --epochs "$epochs" \
      --batch 100 --lr 1e-3 --seed "$seed" $flags --out "$run.json" --json > "$run.fit" 2>&1 || true
    fit=$(tail -n 1 "$run.fit")
    seconds=$(echo "$fit" | field seconds)
    steps=$(echo "$fit" | field steps)
    elbo=$(echo "$fit" | field train_elbo)
    tr=$(nice "$vic" eval "$run.json" --data "$out/train1000.csv" --iwae 1000 --json | tail -n 1 | field iwae)
    te=$(nice "$vic" eval "$run.json" --data "$data/mnist5k_test.csv" --iwae 1000 --json | tail -n 1 | field iwae)
    ms=$(echo "$seconds $steps" | awk '{ printf "%.2f", 1000 * $1 / $2 }')
    gap=$(echo "$tr $te" | awk '{ printf "%.2f", $1 - $2 }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$seed" "$ms" "$elbo" "$tr" "$te" "$gap" >> "$out/results.tsv"
  done
done
