#!/usr/bin/env bash
# unlearnbench on Slurm: one config run end to end by a job array of
# SHARDS tasks, then a scoring job. See docs/sharding.md.
#
#   docs/slurm-array.sh my-config.yaml [SHARDS]  # on a login node: submits both jobs
#   docs/slurm-array.sh logs/my-config-<time>    # resubmits the tasks that did not
#                                                # finish, and the scoring job
#
# Submitting copies the config into a new folder under LOGS, the
# submission's folder (the config, each task's log, the scoring job's log
# and a file per finished task in done/), and every job reads that copy:
# editing the config while the array runs cannot mix two configs.
#
# Task k of the array runs `unlearnbench run --shard k/SHARDS`: it computes
# members i with i mod SHARDS = k of every population (the retrained
# reference and each method) into the cache, then writes done/k. SHARDS is
# passed, not read from SLURM_ARRAY_TASK_COUNT (`--shard slurm`), so a task
# retried alone (`sbatch --array=k`, an array of one task) is still shard k
# of SHARDS.
#
# The scoring job waits for every task to end, however it ended
# (--dependency=afterany: with afterok, a failed or cancelled task would
# leave it pending for ever, or cancelled, as DependencyNeverSatisfied,
# saying nothing of what is missing).
# It then checks done/: if a task did not finish, it names the missing
# shards and their members, shows what each population lacks (run
# --dry-run), says how to resubmit, and fails without computing them (on
# one node that takes SHARDS times as long as rerunning the shard).
# Otherwise it runs the config without --shard: it finds every population
# complete, computes nothing, and scores into the config's runs: folder.
# To resubmit, give the submission's folder instead of the config: the
# tasks without done/k (or those in TASKS, e.g. TASKS=3,5) and a new
# scoring job are submitted; tasks that had finished find all their
# members in the cache, a failed one computes only the members it had not
# finished.
#
# Logs are opened for appending (--open-mode=append), one per task for
# every attempt (shard-k.out, score.out): a requeued or resubmitted task
# adds to its log, after a line naming the attempt, instead of replacing
# the first attempt's.
#
# Resources are per job and yours to size: CPUS (members run one per
# CPU), MEM, TIME (empty: the partition's default), PARTITION, GRES. The
# defaults fit a small node (2 CPUs, 4 GB); before submitting, the script
# refuses a request that no node can hold, which Slurm would leave pending
# for ever.
#
# Every job runs in WORKDIR (default: here), where the config's cache: and
# runs: folders (by default cache and runs, relative) are: it must be on a
# file system every node mounts, with atomic rename and hard links (NFS,
# Lustre, GPFS, BeeGFS), and so must LOGS. UNLEARNBENCH is the binary (make
# build; its third_party/onnxruntime beside it): do not rebuild it while an
# array runs. Every task must run the same binary on the same kind of node:
# members' arrays are bit-identical across shards only with the same binary
# and instruction set.
set -euo pipefail

UNLEARNBENCH=${UNLEARNBENCH:-$(command -v unlearnbench || echo "$PWD/bin/unlearnbench")}
WORKDIR=${WORKDIR:-$PWD}
LOGS=${LOGS:-$WORKDIR/logs}
CPUS=${CPUS:-2}          # per job: members run in parallel, one per CPU
MEM=${MEM:-4G}           # per job: sbatch --mem
TIME=${TIME:-}           # per job: sbatch --time; empty: the partition's default
PARTITION=${PARTITION:-} # sbatch --partition, if your cluster wants one
GRES=${GRES:-}           # gpu:1 on GPU nodes (a config with runtime: {device: cuda})
TASKS=${TASKS:-}         # the array's task ids (default: every shard; on resubmission, those not done)

die() {
  echo "$0: $*" >&2
  exit 2
}

# megabytes is sbatch's --mem size in MB (no suffix: MB), or fails.
megabytes() {
  [[ ${1^^} =~ ^([0-9]+)([KMGT]?)B?$ ]] || return 1
  local n=${BASH_REMATCH[1]}
  case ${BASH_REMATCH[2]} in
  K) echo $((n / 1024)) ;;
  M | '') echo "$n" ;;
  G) echo $((n * 1024)) ;;
  T) echo $((n * 1024 * 1024)) ;;
  esac
}

# fits refuses CPUS and MEM when no node has that many: Slurm would keep
# such jobs pending (with a reason only squeue shows) instead of refusing.
fits() {
  [[ $CPUS =~ ^[1-9][0-9]*$ ]] || die "CPUS=$CPUS: want a whole number of CPUs per job"
  local mb
  mb=$(megabytes "$MEM") || die "MEM=$MEM: want a size such as 4G or 500M"
  command -v sinfo >/dev/null || return 0
  local where=() c m best_c=0 best_m=0 nodes=0
  if [ -n "$PARTITION" ]; then where=(--partition="$PARTITION"); fi
  while read -r c m; do
    c=${c%%[!0-9]*} m=${m%%[!0-9]*}
    [ -n "$c" ] && [ -n "$m" ] || continue
    nodes=$((nodes + 1))
    if [ "$c" -ge "$CPUS" ] && [ "$m" -ge "$mb" ]; then return 0; fi
    if [ "$c" -gt "$best_c" ]; then best_c=$c; fi
    if [ "$m" -gt "$best_m" ]; then best_m=$m; fi
  done < <(sinfo --noheader --Node "${where[@]}" --format='%c %m' 2>/dev/null || true)
  if [ "$nodes" -eq 0 ]; then return 0; fi # sinfo said nothing: let sbatch judge
  die "CPUS=$CPUS MEM=$MEM: no node${PARTITION:+ of partition $PARTITION} has that many CPUs and that much memory (at most $best_c CPUs, $best_m MB): the jobs would stay pending; set CPUS and MEM"
}

case "${UNLEARNBENCH_STEP:-submit}" in
submit)
  [ $# -ge 1 ] && [ $# -le 2 ] || die "usage: $0 CONFIG.yaml [SHARDS] | $0 SUBMISSION-FOLDER"
  [ -x "$UNLEARNBENCH" ] || die "UNLEARNBENCH=$UNLEARNBENCH: no such executable (make build)"
  fits
  script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
  if [ -d "$1" ]; then
    # A resubmission: the tasks that did not finish, and the scoring.
    state=$(cd "$1" && pwd)
    [ -f "$state/config.yaml" ] && [ -f "$state/shards" ] || die "$1: not a submission folder (no config.yaml and shards)"
    [ $# -eq 1 ] || die "$1 is a submission folder: its shard count is in $1/shards, give none"
    shards=$(<"$state/shards")
    if [ -z "$TASKS" ]; then
      for ((k = 0; k < shards; k++)); do
        if [ ! -e "$state/done/$k" ]; then TASKS+=${TASKS:+,}$k; fi
      done
    fi
  else
    [ -f "$1" ] || die "$1: no such config file"
    shards=${2:-8}
    [[ $shards =~ ^[1-9][0-9]*$ ]] || die "SHARDS=$shards: want a whole number of shards"
    TASKS=${TASKS:-0-$((shards - 1))}
    mkdir -p "$LOGS"
    name=$(basename "$1")
    state=$(mktemp -d "$LOGS/${name%.y*ml}-$(date -u +%Y%m%dT%H%M%SZ)-XXXX")
    cp "$1" "$state/config.yaml"
    chmod a-w "$state/config.yaml"
    echo "$shards" >"$state/shards"
    mkdir "$state/done"
  fi
  common=(--chdir="$WORKDIR" --cpus-per-task="$CPUS" --mem="$MEM" --open-mode=append)
  if [ -n "$TIME" ]; then common+=(--time="$TIME"); fi
  if [ -n "$PARTITION" ]; then common+=(--partition="$PARTITION"); fi
  if [ -n "$GRES" ]; then common+=(--gres="$GRES"); fi
  vars=ALL,UNLEARNBENCH="$UNLEARNBENCH",UNLEARNBENCH_STATE="$state",UNLEARNBENCH_SCRIPT="$script"
  after=()
  if [ -n "$TASKS" ]; then
    # --parsable prints id;cluster on federated clusters.
    array=$(sbatch --parsable "${common[@]}" --job-name=unlearnbench-shard \
      --array="$TASKS" --output="$state/shard-%a.out" \
      --export="$vars",UNLEARNBENCH_STEP=shard "$script")
    array=${array%%;*}
    after=(--dependency=afterany:"$array")
    echo "submitted tasks $TASKS of $shards shards as job array $array"
  fi
  score=$(sbatch --parsable "${common[@]}" --job-name=unlearnbench-score "${after[@]}" \
    --output="$state/score.out" --export="$vars",UNLEARNBENCH_STEP=score "$script")
  echo "submitted the scoring as job ${score%%;*}; config, logs and done/ in $state"
  ;;
shard)
  k=$SLURM_ARRAY_TASK_ID
  shards=$(<"$UNLEARNBENCH_STATE/shards")
  echo "== shard $k/$shards: job ${SLURM_ARRAY_JOB_ID}_$k, attempt $((${SLURM_RESTART_COUNT:-0} + 1)), on $(hostname) at $(date -u +%FT%TZ)"
  # Members run one per core that Go counts: on a node without CPU
  # binding (no task/affinity or cgroups) it would count them all.
  if [ -z "${GOMAXPROCS:-}" ] && [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then export GOMAXPROCS=$SLURM_CPUS_PER_TASK; fi
  "$UNLEARNBENCH" run -c "$UNLEARNBENCH_STATE/config.yaml" --shard "$k/$shards"
  touch "$UNLEARNBENCH_STATE/done/$k"
  ;;
score)
  shards=$(<"$UNLEARNBENCH_STATE/shards")
  echo "== scoring: job $SLURM_JOB_ID, attempt $((${SLURM_RESTART_COUNT:-0} + 1)), on $(hostname) at $(date -u +%FT%TZ)"
  missing=
  for ((k = 0; k < shards; k++)); do
    if [ ! -e "$UNLEARNBENCH_STATE/done/$k" ]; then missing+=${missing:+,}$k; fi
  done
  if [ -n "$missing" ]; then
    echo "what the cache lacks:"
    "$UNLEARNBENCH" run -c "$UNLEARNBENCH_STATE/config.yaml" --dry-run || true
    echo "unlearnbench-score: shards $missing of $shards did not finish (logs: $UNLEARNBENCH_STATE/shard-K.out), so every population lacks the members i with i mod $shards in {$missing}; not scoring (that would compute them here, on one node); resubmit them and the scoring: $UNLEARNBENCH_SCRIPT $UNLEARNBENCH_STATE" >&2
    exit 1
  fi
  if [ -z "${GOMAXPROCS:-}" ] && [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then export GOMAXPROCS=$SLURM_CPUS_PER_TASK; fi
  exec "$UNLEARNBENCH" run -c "$UNLEARNBENCH_STATE/config.yaml"
  ;;
*)
  echo "$0: UNLEARNBENCH_STEP=$UNLEARNBENCH_STEP: want submit, shard or score" >&2
  exit 2
  ;;
esac
