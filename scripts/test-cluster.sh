#!/usr/bin/env bash
# npm run test:cluster: runs docs/cluster/slurm-sweep.sh on a real single-node Slurm and checks that the
# merged stores of its array tasks hold exactly the runs of the same sweep run unsharded.
#   1. the array 0-2 (3 shards), merged by a dependent job as the script's comment says;
#   2. the array 0-1 with task 0 cancelled (scancel) after its first run, then resubmitted alone
#      (sbatch --array=0): merged, still exact.
# Each shard's store must hold only its shard's points: a task that ran the whole sweep would still merge
# to the right rows. Installs Debian's slurmctld, slurmd, slurm-client and munge when missing (needs root
# and apt); the daemons run as root from a temporary directory (config, keys, state, logs) on free ports,
# and are stopped and the directory removed on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

say() { printf '\n== %s\n' "$*"; }
FAILED=""
fail() {
  FAILED="test:cluster FAILED: $*"
  printf '\n%s\n' "$FAILED" >&2
  exit 1
}

# --- Slurm and munge from Debian ----------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null ||
  ! command -v munged >/dev/null; then
  [ "$(id -u)" = 0 ] || fail "Slurm is not installed and installing it needs root: apt-get install slurmctld slurmd slurm-client munge"
  command -v apt-get >/dev/null || fail "Slurm is not installed and there is no apt-get: install slurmctld, slurmd, slurm-client and munge"
  say "installing slurmctld slurmd slurm-client munge (Debian)"
  apt-get update -qq || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null ||
    fail "apt-get install slurmctld slurmd slurm-client munge failed"
fi
[ "$(id -u)" = 0 ] || fail "slurmd must run as root to start jobs; run as root (CI does)"

# --- a single-node cluster in a temporary directory ----------------------------------------------------
T=$(mktemp -d /tmp/vnetlab-slurm.XXXXXX)
chmod 700 "$T"
PIDS=()
cleanup() {
  local rc=$?
  set +e
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ]; then scancel --quiet --user=root 2>/dev/null; fi
  # Daemons in reverse order of start; each by the pid we started.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[i]}" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  if [ "$rc" != 0 ]; then
    for log in "$T"/munged.log "$T"/*.out "$T"/results*/*.log; do
      [ -f "$log" ] && { printf '\n--- %s (last lines)\n' "${log#"$T"/}"; tail -n 20 "$log"; }
    done
    # Again below the logs, where it is seen.
    [ -n "$FAILED" ] && printf '\n%s\n' "$FAILED" >&2
  fi
  rm -rf "$T"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# until TIMEOUT_S MESSAGE CMD…: run CMD every half second until it succeeds, or fail with MESSAGE.
until_ok() {
  local timeout=$1 message=$2
  shift 2
  local end=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || fail "$message (after ${timeout}s)"
    sleep 0.5
  done
}

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

say "starting munged, slurmctld and slurmd in $T"
mkdir -p "$T/state" "$T/spool" "$T/munge"
chmod 700 "$T/munge"
mungekey --create --keyfile="$T/munge/munge.key" --force >/dev/null 2>&1 ||
  dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$T/munge/munge.key"
munged --foreground --force --key-file="$T/munge/munge.key" --socket="$T/munge/munge.sock" \
  --pid-file="$T/munge/munged.pid" --seed-file="$T/munge/munge.seed" --log-file="$T/munged.log" \
  >"$T/munged.out" 2>&1 &
PIDS+=($!)
until_ok 20 "munged did not start (see munged.log)" test -S "$T/munge/munge.sock"

# The node as slurmd sees it (CPUs, sockets, cores, memory), under this host's short name.
NODE=$(slurmd -C | head -n 1) || fail "slurmd -C could not describe this machine"
HOST=$(hostname -s)
NODE="NodeName=$HOST NodeAddr=127.0.0.1 ${NODE#NodeName=* }"
export SLURM_CONF="$T/slurm.conf"
cat >"$SLURM_CONF" <<CONF
ClusterName=vnetlab-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge/munge.sock
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
# No cgroups in a container: track processes through /proc and bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to scontrol for their states (there is no accounting database for sacct).
MinJobAge=600
$NODE State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

# In the foreground (-D) so that their pids are ours; they also copy their logs to stderr.
slurmctld -D -i -f "$SLURM_CONF" >"$T/slurmctld.out" 2>&1 &
PIDS+=($!)
until_ok 30 "slurmctld did not answer (see slurmctld.log)" scontrol ping
slurmd -D -f "$SLURM_CONF" -N "$HOST" >"$T/slurmd.out" 2>&1 &
PIDS+=($!)
node_idle() { [ "$(sinfo -h -N -o %T)" = idle ]; }
until_ok 60 "the node did not become idle (sinfo: $(sinfo -h -N -o '%T %E' 2>&1)); see slurmd.log" node_idle
sinfo -N -o '%N %T %c CPUs %m MB'

# --- the sweep ------------------------------------------------------------------------------------------
# 3 drivers × 2 seeds, one-second runs (the 40 flows of a torrent client open over the first half second): 6 points, a few seconds of CPU each.
SWEEP=(seed-torrent --set duration=1s --set warmup=0s --grid guest.driver.version=v3.2,patch1,mainline --seeds 2)
# The script asks for 4 CPUs and 4G per task; this machine may have 2 cores. Command-line options
# override the #SBATCH lines, as a user on a smaller cluster would do.
SBATCH=(sbatch --parsable --cpus-per-task=1 --mem=1G --time=00:10:00)

say "reference: the same sweep unsharded, outside Slurm"
node bin/vnetlab.js sweep "${SWEEP[@]}" --jobs 1 --store "$T/unsharded.sqlite"
node scripts/cluster-store.mjs rows "$T/unsharded.sqlite" >"$T/unsharded.rows"
node scripts/cluster-store.mjs points "$T/unsharded.sqlite" >"$T/unsharded.points"
[ "$(wc -l <"$T/unsharded.rows")" = 6 ] || fail "the unsharded sweep stored $(wc -l <"$T/unsharded.rows") runs, not 6"

array_done() { [ -z "$(squeue -h -j "$1" 2>/dev/null)" ]; }
# The state of each task of a job as "JobId_index STATE" lines (scontrol keeps finished jobs MinJobAge s).
task_states() {
  scontrol -o show job "$1" | sed -E 's/.*ArrayJobId=([0-9]+) ArrayTaskId=([0-9]+) .*JobState=([A-Z_]+).*/\1_\2 \3/'
}

# check_case NAME RESULTS N: every shard store holds its own points only, and the merge equals the
# reference.
check_case() {
  local name=$1 results=$2 n=$3
  say "$name: points per shard store"
  : >"$T/$name.points"
  for ((i = 0; i < n; i++)); do
    [ -f "$results/shard-$i.sqlite" ] || fail "$name: task $i wrote no store $results/shard-$i.sqlite"
    local count
    count=$(node scripts/cluster-store.mjs count "$results/shard-$i.sqlite")
    echo "shard-$i.sqlite: $count runs"
    node scripts/cluster-store.mjs points "$results/shard-$i.sqlite" >>"$T/$name.points"
  done
  local dups
  dups=$(sort "$T/$name.points" | uniq -d)
  [ -z "$dups" ] || fail "$name: shard stores overlap (a task ran points of another shard):
$dups"
  sort "$T/$name.points" | diff -u "$T/unsharded.points" - || fail "$name: the shards' points are not the sweep's"
  say "$name: merged store against the unsharded sweep (campaign, point, seed, status, fingerprint, series, summary)"
  node scripts/cluster-store.mjs rows "$results/all.sqlite" >"$T/$name.rows"
  diff -u "$T/unsharded.rows" "$T/$name.rows" || fail "$name: the merged store differs from the unsharded sweep"
  cat "$T/$name.rows"
  echo "equal: $(wc -l <"$T/$name.rows") runs, same rows and fingerprints"
}

# --- what Slurm does that the script and vnetlab rely on ---------------------------------------------
say "Slurm's array variables in a task resubmitted alone (sbatch --array=3)"
FACT=$("${SBATCH[@]}" --array=3 --output="$T/lone-%a.log" --wrap 'env | grep ^SLURM_ARRAY_TASK_ | sort')
until_ok 120 "job $FACT did not finish" array_done "${FACT%%;*}"
cat "$T/lone-3.log"
grep -qx SLURM_ARRAY_TASK_COUNT=1 "$T/lone-3.log" ||
  fail "Slurm no longer gives a lone task SLURM_ARRAY_TASK_COUNT=1: revisit shardFromEnv's comment"
say "an --output in a missing directory: the task fails without a log (hence mkdir -p results before sbatch)"
FACT=$("${SBATCH[@]}" --output="$T/missing/x.log" --wrap true)
FACT=${FACT%%;*}
until_ok 120 "job $FACT did not finish" array_done "$FACT"
scontrol -o show job "$FACT" | grep -o 'JobState=[A-Z]* .*ExitCode=[0-9:]*' | sed 's/ Reason.*ExitCode/ ExitCode/'
scontrol -o show job "$FACT" | grep -q 'JobState=FAILED' ||
  fail "a job whose --output directory is missing did not fail: revisit docs/cluster/slurm-sweep.sh"

# --- case 1: the whole array, merged by the dependent job of the script's comment ---------------------
R1="$T/results-array"
mkdir -p "$R1"
say "case 1: sbatch --array=0-2 docs/cluster/slurm-sweep.sh (3 shards)"
JOB=$(VNETLAB_SHARD_COUNT=3 VNETLAB_RESULTS="$R1" "${SBATCH[@]}" --array=0-2 --output="$R1/%x-%A_%a.log" \
  docs/cluster/slurm-sweep.sh "${SWEEP[@]}") || fail "sbatch refused the array job"
JOB=${JOB%%;*}
MERGE=$("${SBATCH[@]}" --dependency="afterok:$JOB" --job-name=vnetlab-merge --output="$R1/merge.log" \
  --wrap "node bin/vnetlab.js merge $R1/shard-*.sqlite -o $R1/all.sqlite") || fail "sbatch refused the merge job"
MERGE=${MERGE%%;*}
squeue -o '%.14i %.14j %.8T %.10M %R'
until_ok 600 "array job $JOB did not finish" array_done "$JOB"
until_ok 120 "merge job $MERGE did not finish" array_done "$MERGE"
task_states "$JOB" | tee "$T/case1.states"
[ "$(grep -c ' COMPLETED$' "$T/case1.states")" = 3 ] || fail "case 1: not every array task completed"
for log in "$R1"/vnetlab-sweep-*.log "$R1/merge.log"; do printf -- '--- %s\n' "${log#"$R1"/}"; cat "$log"; done
grep -q "SLURM_ARRAY_TASK_ID" "$R1"/vnetlab-sweep-"${JOB}"_0.log || fail "case 1: task 0 did not take its shard from SLURM_ARRAY_TASK_ID"
check_case case1 "$R1" 3

# --- case 2: a task cancelled mid-run and resubmitted alone ---------------------------------------------
R2="$T/results-resubmit"
mkdir -p "$R2"
say "case 2: sbatch --array=0-1 (2 shards of 3 runs), scancel task 0 after its first run, resubmit --array=0"
JOB=$(VNETLAB_SHARD_COUNT=2 VNETLAB_RESULTS="$R2" "${SBATCH[@]}" --array=0-1 --output="$R2/%x-%A_%a.log" \
  docs/cluster/slurm-sweep.sh "${SWEEP[@]}") || fail "sbatch refused the array job"
JOB=${JOB%%;*}
timeout 300 node scripts/cluster-store.mjs wait "$R2/shard-0.sqlite" 1 || fail "task ${JOB}_0 committed no run"
scancel "${JOB}_0"
until_ok 300 "array job $JOB did not finish" array_done "$JOB"
task_states "$JOB" | tee "$T/case2.states"
grep -q "^${JOB}_0 CANCELLED" "$T/case2.states" ||
  fail "case 2: task ${JOB}_0 was not cancelled mid-run (it finished first?): $(grep "^${JOB}_0" "$T/case2.states")"
echo "shard-0.sqlite after scancel: $(node scripts/cluster-store.mjs count "$R2/shard-0.sqlite") of 3 runs"
AGAIN=$(VNETLAB_SHARD_COUNT=2 VNETLAB_RESULTS="$R2" "${SBATCH[@]}" --array=0 --output="$R2/%x-%A_%a.log" \
  docs/cluster/slurm-sweep.sh "${SWEEP[@]}") || fail "sbatch refused the resubmission"
AGAIN=${AGAIN%%;*}
until_ok 300 "resubmitted task $AGAIN did not finish" array_done "$AGAIN"
task_states "$AGAIN" | tee "$T/case2-again.states"
grep -q "^${AGAIN}_0 COMPLETED" "$T/case2-again.states" || fail "case 2: the resubmitted task did not complete"
for log in "$R2"/vnetlab-sweep-*.log; do printf -- '--- %s\n' "${log#"$R2"/}"; cat "$log"; done
node bin/vnetlab.js merge "$R2"/shard-*.sqlite -o "$R2/all.sqlite"
check_case case2 "$R2" 2

say "test:cluster passed"
