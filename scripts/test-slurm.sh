#!/usr/bin/env bash
# make test-slurm: docs/slurm-array.sh on a real Slurm. Brings up a
# one-node cluster on this machine (munged, slurmctld and slurmd from
# Debian's munge and slurm-wlm, installed with apt-get when missing, a
# slurm.conf of its own in a temporary folder, no cgroups, so it runs in
# a container), runs the documented array and scoring job on a tiny config
# and checks that:
#
#   - the result equals an unsharded run's: every member's arrays
#     bit-identical (their stored wall time and checksum differ), result.json
#     equal once wall times and the config's path are left out; the scoring
#     job computed nothing;
#   - the jobs read the config copied at submission, not the file, which is
#     edited while they run;
#   - a request no node can hold is refused before submitting, and the
#     defaults (CPUS=2, MEM=4G) fit a node of 2 CPUs and 4 GB;
#   - one task resubmitted alone runs as shard k of 2, and its log keeps the
#     first attempt's (--open-mode=append), as does a requeued task's;
#   - a cancelled task does not leave the scoring job pending: it fails,
#     naming the missing shard, and computes nothing; `run --shard slurm` in
#     an array of one task is refused with a message that names the count
#     to use; resubmitting the submission's folder completes the run.
#
# It needs root (slurmd starts jobs as their user) and python3 (its
# standard library compares the files). Every daemon it started is stopped
# on exit, whatever the outcome; KEEP=1 keeps the temporary folder.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${UNLEARNBENCH:-$ROOT/bin/unlearnbench}
SCRIPT=$ROOT/docs/slurm-array.sh
TIMEOUT=${TIMEOUT:-300} # seconds to wait for each batch of jobs

say() { echo "test-slurm: $(date -u +%T) $*"; }
fail() {
  echo "test-slurm: FAIL: $*" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || fail "needs root: slurmd runs jobs as their user"
[ -x "$BIN" ] || fail "no $BIN: make build"
command -v python3 >/dev/null || fail "needs python3"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || fail "needs slurmctld, slurmd and munged (Debian: slurm-wlm, munge)"
  say "installing slurm-wlm and munge with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

T=$(mktemp -d /tmp/unlearnbench-slurm.XXXXXX)
chmod 755 "$T"
export SLURM_CONF=$T/slurm.conf
daemons=() # pids, in the order started

cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  set +e
  if [ -n "$(squeue --noheader -o %i 2>/dev/null)" ]; then
    scancel --user="$(id -un)" 2>/dev/null # every job of this private cluster
    for _ in $(seq 20); do
      [ -z "$(squeue --noheader -o %i 2>/dev/null)" ] && break
      sleep 1
    done
  fi
  if [ "$rc" -ne 0 ]; then
    for f in "$T"/*.log "$T"/*.stderr; do
      [ -f "$f" ] && { echo "--- tail of $f"; tail -n 15 "$f"; }
    done
    for f in "$T"/work/logs/*/*.out "$T"/*.out; do
      [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
    done
  fi
  # Daemons last started first: slurmd, slurmctld, munged.
  for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do
    kill "${daemons[i]}" 2>/dev/null
    wait "${daemons[i]}" 2>/dev/null
  done
  # Job steps slurmd left behind carry the variable every daemon was
  # started with.
  for pid in $(grep -lsz "^UNLEARNBENCH_SLURM_TEST=$T\$" /proc/[0-9]*/environ | cut -d/ -f3); do
    kill -9 "$pid" 2>/dev/null
  done
  if [ "${KEEP:-}" = 1 ]; then say "kept $T"; else rm -rf "$T"; fi
  if [ "$rc" -eq 0 ]; then say "PASS"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# freeport prints a TCP port nothing listens on.
freeport() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
}

# start runs a daemon in the foreground of a background job, so that its
# pid is ours to stop.
start() {
  env UNLEARNBENCH_SLURM_TEST="$T" "$@" >"$T/$1.stderr" 2>&1 &
  daemons+=($!)
}

# --- munge: a key of our own, on a socket of our own.
mkdir -m 700 "$T/munge"
dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$T/munge/munge.key"
start munged --foreground --force --key-file="$T/munge/munge.key" --socket="$T/munge/socket" \
  --pid-file="$T/munge/munged.pid" --log-file="$T/munged.log" --seed-file="$T/munge/seed"
for _ in $(seq 50); do
  if munge --socket="$T/munge/socket" --no-input 2>/dev/null | unmunge --socket="$T/munge/socket" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
munge --socket="$T/munge/socket" --no-input | unmunge --socket="$T/munge/socket" >/dev/null || fail "munged did not start (see above)"

# --- slurm: one node, this machine, sized from nproc and free.
node=$(hostname -s)
cpus=$(nproc)
mem=$(free -m | awk '/^Mem:/ {print int($2 * 0.9)}')
mkdir -p "$T/ctld" "$T/spool"
: >"$T/plugstack.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=unlearnbench-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(freeport)
SlurmdPort=$(freeport)
AuthType=auth/munge
AuthInfo=socket=$T/munge/socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$T/ctld
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
PlugStackConfig=$T/plugstack.conf
# No cgroups: processes are tracked by their parents, tasks not bound.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# Finished jobs stay visible to scontrol for the checks.
MinJobAge=3600
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
start slurmctld -D -i -f "$SLURM_CONF"
start slurmd -D -N "$node" -f "$SLURM_CONF"
for _ in $(seq 60); do
  state=$(sinfo --noheader -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 1
done
[ "$state" = idle ] || fail "the node is not idle after 60 s: sinfo says '${state:-nothing}'"
say "one-node cluster up: $node, $cpus CPUs, $mem MB ($(sinfo --version))"

# --- helpers
# waitjobs waits until the cluster has no job pending or running.
waitjobs() {
  local t=0
  while [ -n "$(squeue --noheader -o %i)" ]; do
    [ "$t" -lt "$TIMEOUT" ] || fail "jobs still queued after $TIMEOUT s: $(squeue --noheader -o '%i %T %r' | tr '\n' ';')"
    sleep 1
    t=$((t + 1))
  done
}
# jobstate prints JOB's state and exit code (every task's, for an array).
jobstate() {
  scontrol -o show job "$1" | awk '{
    for (i = 1; i <= NF; i++) {
      if ($i ~ /^JobState=/) s = substr($i, 10)
      if ($i ~ /^ExitCode=/) c = substr($i, 10)
    }
    print s, c
  }'
}
# submitted prints the submission folder from docs/slurm-array.sh's output.
submitted() { sed -n 's/.*config, logs and done\/ in \(.*\)$/\1/p' <<<"$1"; }
has() { grep -qF -- "$2" "$1" || fail "$1 lacks \"$2\": $(cat "$1")"; }
count() { grep -cF -- "$2" "$1" || true; }

# A tiny config: the MLP on 600 Fashion-MNIST images, N = 4 members of the
# reference and two methods, a quick attack.
mkdir -p "$T/work" "$T/single"
cat >"$T/run.yaml" <<'EOF'
name: slurm
data: {train_examples: 600, test_examples: 200}
split: {forget: {random: "40"}}
recipe: {epochs: 2, batch_size: 64}
n: 4
methods:
  - method: noop
  - {method: finetune, params: {epochs: 1}}
attacks: {classifiers: [logreg], pooled: [logreg], folds: 2, mia_splits: 2}
EOF
cp "$T/run.yaml" "$T/work/run.yaml"
cp "$T/run.yaml" "$T/single/run.yaml"
cd "$T/work"
export UNLEARNBENCH=$BIN WORKDIR=$T/work

# --- 1. A request no node holds is refused before anything is submitted.
if out=$(CPUS=$((cpus + 1)) "$SCRIPT" run.yaml 2 2>&1); then fail "CPUS=$((cpus + 1)) on a $cpus-CPU node was submitted: $out"; fi
grep -q "no node has that many" <<<"$out" || fail "CPUS=$((cpus + 1)): $out"
[ -z "$(squeue --noheader)" ] && [ ! -e logs ] || fail "a refused request left jobs or a submission folder"
say "ok: CPUS=$((cpus + 1)) refused before submitting: $out"

# --- 2. The documented array (defaults: CPUS=2, MEM=4G), the config
# edited as soon as it is submitted.
out=$("$SCRIPT" run.yaml 2)
echo "$out"
s1=$(submitted "$out")
[ -d "$s1" ] || fail "no submission folder in: $out"
sed -i 's/^n: 4$/n: 5/' run.yaml
waitjobs
array=$(sed -n 's/.*as job array \([0-9]*\)$/\1/p' <<<"$out")
score=$(sed -n 's/.*scoring as job \([0-9]*\);.*/\1/p' <<<"$out")
[ "$(jobstate "$array" | sort -u)" = "COMPLETED 0:0" ] || fail "array $array: $(jobstate "$array")"
[ "$(jobstate "$score")" = "COMPLETED 0:0" ] || fail "scoring job $score: $(jobstate "$score")"
for k in 0 1; do has "$s1/shard-$k.out" "shard $k/2: computed 6 members"; done
has "$s1/score.out" "wrote runs/slurm"
if grep -q computing "$s1/score.out"; then fail "the scoring job computed members: $(cat "$s1/score.out")"; fi
say "ok: shards 0/2 and 1/2 computed 6 members each, the scoring job none"

(cd "$T/single" && "$BIN" run -c run.yaml >single.out 2>&1) || fail "the unsharded run: $(cat "$T/single/single.out")"
python3 - "$T/work" "$T/single" <<'EOF' || fail "the sharded run differs from the unsharded one"
import glob, json, os, sys, zipfile

a, b = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(os.path.join(a, "cache/populations/*/member-*.npz")))
if len(files) != 12:
    sys.exit(f"{len(files)} member files after the shards; want 3 populations x 4")
for f in files:
    rel = os.path.relpath(f, a)
    za, zb = zipfile.ZipFile(f), zipfile.ZipFile(os.path.join(b, rel))
    names = sorted(za.namelist())
    if names != sorted(zb.namelist()) or "retain.npy" not in names:
        sys.exit(f"{rel}: arrays {names} and {sorted(zb.namelist())}")
    for n in names:
        # The wall time is a measurement; the checksum covers it.
        if n not in ("seconds.npy", "sha256.npy") and za.read(n) != zb.read(n):
            sys.exit(f"{rel}: {n} differs")

def result(d):
    r = json.load(open(os.path.join(d, "runs/slurm/result.json")))
    def strip(x):
        if isinstance(x, dict):
            x.pop("seconds", None)
            for v in x.values():
                strip(v)
        elif isinstance(x, list):
            for v in x:
                strip(v)
    strip(r)
    r["inputs"].pop("config")  # the submission's copy, or run.yaml
    return r

ra, rb = result(a), result(b)
if ra["config"]["n"] != 4 or "methods" not in ra:
    sys.exit("the sharded result is not the submitted config's (n 4)")
if ra != rb:
    sys.exit("result.json differs beyond wall times")
print(f"test-slurm: ok: {len(files)} members' arrays bit-identical, result.json equal beyond wall times")
EOF

# --- 3. One task resubmitted alone runs as shard 1 of 2; its log and the
# scoring job's keep the first attempt's.
out=$(TASKS=1 "$SCRIPT" "$s1")
echo "$out"
waitjobs
[ "$(count "$s1/shard-1.out" "== shard 1/2")" = 2 ] || fail "shard-1.out has not two attempts: $(cat "$s1/shard-1.out")"
has "$s1/shard-1.out" "shard 1/2: computed 6 members"
has "$s1/shard-1.out" "shard 1/2: computed 0 members"
[ "$(count "$s1/score.out" "== scoring")" = 2 ] || fail "score.out has not two attempts: $(cat "$s1/score.out")"
say "ok: task 1 resubmitted alone ran as shard 1/2, computed nothing, and its log kept the first attempt's"

# --- 4. A requeued task appends to its log too.
scontrol requeue "${array}_0" || fail "scontrol requeue ${array}_0"
# Slurm holds a requeued job back for a while (BeginTime); not this one.
scontrol update JobId="${array}_0" StartTime=now || true
waitjobs
has "$s1/shard-0.out" "attempt 2"
has "$s1/shard-0.out" "shard 0/2: computed 6 members"
has "$s1/shard-0.out" "shard 0/2: computed 0 members"
say "ok: the requeued task 0 appended its second attempt to its log"

# --- 5. A cancelled task: the scoring job fails, naming it. N grows to 6
# (the config copied at submission); every CPU is held by a blocker job
# while task 1 is cancelled, so it never starts.
sed -i 's/^n: 5$/n: 6/' run.yaml
blocker=$(sbatch --parsable --cpus-per-task="$cpus" --mem=100M --output=/dev/null --wrap='sleep 600')
out=$(CPUS=1 MEM=1G "$SCRIPT" run.yaml 2)
echo "$out"
s2=$(submitted "$out")
array=$(sed -n 's/.*as job array \([0-9]*\)$/\1/p' <<<"$out")
score=$(sed -n 's/.*scoring as job \([0-9]*\);.*/\1/p' <<<"$out")
scancel "${array}_1"
scancel "$blocker"
waitjobs
[ "$(jobstate "$score")" = "FAILED 1:0" ] || fail "scoring job $score after a cancelled task: $(jobstate "$score"), $(scontrol -o show job "$score" | grep -o 'Reason=[^ ]*')"
has "$s2/score.out" "shards 1 of 2 did not finish"
has "$s2/score.out" "i mod 2 in {1}"
has "$s2/score.out" "$SCRIPT $s2"
if grep -q computing "$s2/score.out"; then fail "the scoring job computed members: $(cat "$s2/score.out")"; fi
[ ! -e "$s2/done/1" ] && [ -e "$s2/done/0" ] || fail "done/ of $s2: $(ls "$s2/done")"
say "ok: with task 1 cancelled the scoring job failed, naming shard 1, and computed nothing"

# The old way to retry one task, --shard slurm in an array of one task
# (shard 0 of 1), is refused as the same config counting 1 shard.
retry=$(sbatch --parsable --array=1 --chdir="$T/work" --output="$T/slurm-shard.out" \
  --wrap="$BIN run -c $s2/config.yaml --shard slurm")
waitjobs
[ "$(jobstate "$retry")" = "FAILED 2:0" ] || fail "--shard slurm as an array of one task: $(jobstate "$retry")"
has "$T/slurm-shard.out" "this same config"
has "$T/slurm-shard.out" "--shard K/2"
say "ok: --shard slurm in an array of one task refused: $(grep -o 'this same config.*' "$T/slurm-shard.out")"

# Resubmitting the folder runs the missing task and the scoring.
out=$("$SCRIPT" "$s2")
echo "$out"
grep -q "submitted tasks 1 of 2 shards" <<<"$out" || fail "the resubmission: $out"
waitjobs
has "$s2/shard-1.out" "shard 1/2: computed 3 members"
has "$s2/score.out" "shards 1 of 2 did not finish"
has "$s2/score.out" "wrote runs/slurm"
python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); sys.exit(r["config"]["n"] != 6)' "$T/work/runs/slurm/result.json" ||
  fail "the resubmitted run's result is not n 6"
say "ok: resubmitting $s2 computed shard 1 (members 5 of 3 populations) and scored N = 6"
