#!/usr/bin/env bash
# unlearnbench on Slurm: one config run end to end by a job array of
# SHARDS tasks, then a scoring job that starts when every task succeeded.
# See docs/sharding.md.
#
#   docs/slurm-array.sh my-config.yaml [SHARDS]   # on a login node: submits both jobs
#
# Task k of the array has SLURM_ARRAY_TASK_ID=k and SLURM_ARRAY_TASK_COUNT
# (Slurm sets both); `unlearnbench run --shard slurm` reads them and
# computes members i with i mod SHARDS = k of every population (the
# retrained reference and each method) into the cache. The scoring job
# runs the same config without --shard: it finds every population
# complete, computes nothing, and scores into the config's runs: folder.
# If a task fails, Slurm cancels the scoring job (its dependency can no
# longer be met); submit both again the same way: the tasks that had
# finished find all their members in the cache and end at once, the
# failed one computes only the members it had not finished, and the
# scoring follows.
#
# Every job runs in WORKDIR (default: here), where the config's cache: and
# runs: folders (by default cache and runs, relative) are: it must be on a
# file system every node mounts, with atomic rename and hard links (NFS,
# Lustre, GPFS, BeeGFS). UNLEARNBENCH is the binary (make build; its
# third_party/onnxruntime beside it). Every task must run the same binary
# on the same kind of node: members are bit-identical across shards only
# with the same binary and instruction set.
set -euo pipefail

UNLEARNBENCH=${UNLEARNBENCH:-$(command -v unlearnbench || echo "$PWD/bin/unlearnbench")}
WORKDIR=${WORKDIR:-$PWD}
LOGS=${LOGS:-$WORKDIR/logs}
CPUS=${CPUS:-4}          # per task: members run in parallel, one per core
MEM=${MEM:-8G}           # per task
TIME=${TIME:-08:00:00}   # per task
PARTITION=${PARTITION:-} # sbatch --partition, if your cluster wants one
GRES=${GRES:-}           # gpu:1 on GPU nodes (a config with runtime: {device: cuda})

case "${UNLEARNBENCH_STEP:-submit}" in
submit)
  config=${1:?usage: $0 CONFIG.yaml [SHARDS]}
  shards=${2:-8}
  config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
  mkdir -p "$LOGS"
  common=(--chdir="$WORKDIR" --cpus-per-task="$CPUS" --mem="$MEM" --time="$TIME")
  if [ -n "$PARTITION" ]; then common+=(--partition="$PARTITION"); fi
  if [ -n "$GRES" ]; then common+=(--gres="$GRES"); fi
  vars=ALL,UNLEARNBENCH="$UNLEARNBENCH",UNLEARNBENCH_CONFIG="$config"
  # The array's ids must be 0..SHARDS-1 (a %N suffix throttles it).
  array=$(sbatch --parsable "${common[@]}" --job-name=unlearnbench-shard \
    --array=0-$((shards - 1)) --output="$LOGS/shard-%A_%a.out" \
    --export="$vars",UNLEARNBENCH_STEP=shard "$0")
  array=${array%%;*} # --parsable prints id;cluster on federated clusters
  score=$(sbatch --parsable "${common[@]}" --job-name=unlearnbench-score \
    --dependency=afterok:"$array" --kill-on-invalid-dep=yes --output="$LOGS/score-%j.out" \
    --export="$vars",UNLEARNBENCH_STEP=score "$0")
  echo "submitted the shards as job array $array (tasks 0-$((shards - 1))) and the scoring as job ${score%%;*}; logs in $LOGS"
  ;;
shard)
  exec "$UNLEARNBENCH" run -c "$UNLEARNBENCH_CONFIG" --shard slurm
  ;;
score)
  exec "$UNLEARNBENCH" run -c "$UNLEARNBENCH_CONFIG"
  ;;
*)
  echo "$0: UNLEARNBENCH_STEP=$UNLEARNBENCH_STEP: want submit, shard or score" >&2
  exit 2
  ;;
esac
