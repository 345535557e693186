#!/usr/bin/env bash
# Metadata-heavy workloads natively, under `hsbox run`, under PRoot and (when
# it works here) under bubblewrap, in one invocation; timed with hyperfine.
# Prints a Markdown table of mean wall times and ratios to native and writes
# the figures as JSON (default: bench/supervisor/results.json, not committed).
#
# Each runner's output is first checked against native's (same line count,
# same extracted tree); a runner that errs, hangs or answers differently is a
# finding: it is reported with what it printed and is not timed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

usage() {
    cat <<EOF
usage: $0 [--hsbox PATH] [--runs N] [--json FILE] [--workloads LIST] [--runners LIST]
          [--untar-src DIR] [--untar-exclude LIST] [--timeout SECONDS]
  --hsbox PATH      the hsbox binary (default: \$HSBOX_BIN, else $repo/build/hsbox)
  --runs N          timed runs per command after one warm-up (default 3)
  --json FILE       where to write the JSON (default $here/results.json)
  --workloads LIST  comma-separated subset of find,tar,untar,startup,spawn (default: all)
  --runners LIST    comma-separated subset of native,hsbox,proot,bwrap (default: all;
                    a peer that is not installed or cannot run here is skipped with a note)
  --untar-src DIR   the tree tarred once and untarred each run (default /usr/include)
  --untar-exclude LIST  comma-separated names left out of that tarball (tar --exclude, diff -x);
                    default boost,node,llvm-*: their 240 MB of headers make the untar measure
                    the disk rather than metadata (pass '' to keep them)
  --timeout S       a single run taking longer than S seconds is a hang (default 600)
EOF
}

die() { echo "run.sh: $*" >&2; exit 2; }

hsbox=${HSBOX_BIN:-$repo/build/hsbox}
runs=3
json=$here/results.json
workloads=find,tar,untar,startup,spawn
runners=native,hsbox,proot,bwrap
untar_src=/usr/include
untar_exclude='boost,node,llvm-*'
timeout_s=600
while [[ $# -gt 0 ]]; do
    case $1 in
        --hsbox) [[ $# -ge 2 ]] || die "--hsbox needs a value"; hsbox=$2; shift 2 ;;
        --runs) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive integer"; runs=$2; shift 2 ;;
        --json) [[ $# -ge 2 ]] || die "--json needs a value"; json=$2; shift 2 ;;
        --workloads) [[ $# -ge 2 ]] || die "--workloads needs a value"; workloads=$2; shift 2 ;;
        --runners) [[ $# -ge 2 ]] || die "--runners needs a value"; runners=$2; shift 2 ;;
        --untar-src) [[ $# -ge 2 ]] || die "--untar-src needs a value"; untar_src=$2; shift 2 ;;
        --untar-exclude) [[ $# -ge 2 ]] || die "--untar-exclude needs a value"; untar_exclude=$2; shift 2 ;;
        --timeout) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || die "--timeout needs a positive integer"; timeout_s=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option '$1'" ;;
    esac
done

for w in ${workloads//,/ }; do
    [[ $w =~ ^(find|tar|untar|startup|spawn)$ ]] || die "--workloads: unknown workload '$w' (find, tar, untar, startup, spawn)"
done
for r in ${runners//,/ }; do
    [[ $r =~ ^(native|hsbox|proot|bwrap)$ ]] || die "--runners: unknown runner '$r' (native, hsbox, proot, bwrap)"
done
[[ ,$runners, == *,native,* ]] || die "--runners must include native (every figure is a ratio to it)"
command -v hyperfine >/dev/null || die "hyperfine is not installed (apt-get install hyperfine)"
command -v python3 >/dev/null || die "python3 is not installed"
if [[ ,$runners, == *,hsbox,* ]]; then
    [[ -x $hsbox ]] || die "--hsbox $hsbox: not an executable file (build it: cmake --build build --target hsbox)"
    hsbox=$(cd "$(dirname "$hsbox")" && pwd)/$(basename "$hsbox")
fi
[[ -d $untar_src ]] || die "--untar-src $untar_src: not a directory"

# The work dir must be visible inside the space: under /tmp, never under $HOME.
work=$(mktemp -d /tmp/hsbox-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Runner prefixes (words; the work dir and the binaries have no spaces).
declare -A prefix=(
    [native]=""
    [hsbox]="$hsbox run --"
    [proot]="proot"
    [bwrap]="bwrap --bind / / --dev /dev --proc /proc"
)
active=()
for r in ${runners//,/ }; do
    case $r in
        proot)
            if ! command -v proot >/dev/null; then echo "note: proot is not installed; skipping it"; continue; fi ;;
        bwrap)
            if ! command -v bwrap >/dev/null; then echo "note: bwrap is not installed; skipping it"; continue; fi
            if ! bwrap --bind / / --dev /dev --proc /proc /bin/true 2>"$work/bwrap.err"; then
                echo "note: bwrap cannot run here ($(head -1 "$work/bwrap.err")); skipping it"; continue
            fi ;;
    esac
    active+=("$r")
done

# The workloads, one script each; each prints what the check compares.
tarball=$work/src.tar
out=$work/untar-out
cat >"$work/find.sh" <<'EOF'
find /usr/share /usr/lib -xdev -printf '%s\n' 2>/dev/null | wc -l
EOF
cat >"$work/tar.sh" <<'EOF'
tar cf - -C / usr/share/doc 2>/dev/null | tar tf - | wc -l
EOF
cat >"$work/untar.sh" <<EOF
tar xf $tarball -C $out
EOF
cat >"$work/untar-prepare.sh" <<EOF
rm -rf $out && mkdir $out
EOF
cat >"$work/startup.sh" <<'EOF'
exit 0
EOF
cat >"$work/spawn.sh" <<'EOF'
/usr/bin/python3 -c "import subprocess
for _ in range(50): subprocess.run(['/bin/true'])
print('spawned')"
EOF
excl_tar=() excl_diff=()
IFS=, read -r -a excl_names <<<"$untar_exclude"
for x in "${excl_names[@]}"; do
    [[ -n $x ]] && excl_tar+=("--exclude=$x") && excl_diff+=(-x "$x")
done
declare -A describe=(
    [find]="find /usr/share /usr/lib -xdev -printf '%s\\n' | wc -l"
    [tar]="tar cf - -C / usr/share/doc | tar tf - | wc -l"
    [untar]="tar xf src.tar -C fresh-dir (src.tar = ${untar_src}${untar_exclude:+ without $untar_exclude})"
    [startup]="bash -c 'exit 0' (the runner's start-up cost)"
    [spawn]="python3 subprocess.run(['/bin/true']) x50 (vfork + exec)"
)
if [[ ,$workloads, == *,untar,* ]]; then
    tar cf "$tarball" "${excl_tar[@]}" -C "$(dirname "$untar_src")" "$(basename "$untar_src")" 2>/dev/null ||
        die "could not tar $untar_src"
    describe[untar]+=", $(tar tf "$tarball" | wc -l) entries, $(($(stat -c %s "$tarball") >> 20)) MiB"
fi

cmd_for() {  # runner workload -> the command line hyperfine runs
    local p=${prefix[$1]}
    echo "timeout -k 10 $timeout_s ${p:+$p }/bin/bash $work/$2.sh"
}

# What a run of `workload` produced, for the check: its stdout, and for
# untar the extracted tree (entry count, and whether it equals the source).
check_output() {  # runner workload
    local r=$1 w=$2 o rc=0
    [[ $w == untar ]] && bash "$work/untar-prepare.sh"
    # shellcheck disable=SC2046
    o=$($(cmd_for "$r" "$w") 2>"$work/$r-$w.err") || rc=$?
    if [[ $rc -ne 0 ]]; then
        [[ $rc -eq 124 || $rc -eq 137 ]] && echo "hang: no result within ${timeout_s}s" && return 1
        echo "exit status $rc: $(head -c 400 "$work/$r-$w.err" | tr '\n' ' ')"
        return 1
    fi
    if [[ $w == untar ]]; then
        local n d
        n=$(find "$out" | wc -l)
        if diff -r --no-dereference "${excl_diff[@]}" "$untar_src" "$out/$(basename "$untar_src")" >"$work/$r-diff" 2>&1; then
            d=same
        else
            d="differs: $(head -3 "$work/$r-diff" | tr '\n' ' ')"
        fi
        o="$n entries, $d"
    fi
    echo "$o"
}

echo "hsbox benchmark: metadata-heavy workloads, $runs runs after 1 warm-up (hyperfine)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); kernel $(uname -r); $(nproc) CPUs;" \
     "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); user $(id -un);" \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "runners: ${active[*]}"
echo

: >"$work/checks.tsv"
for w in ${workloads//,/ }; do
    expected=""
    timed=()
    for r in "${active[@]}"; do
        got=$(check_output "$r" "$w") && ok=1 || ok=0
        if [[ $r == native ]]; then
            expected=$got
            [[ $ok == 1 ]] || die "native $w failed: $got"
            [[ $w != untar || $got == *", same" ]] || die "native untar does not reproduce the tree: $got"
        elif [[ $ok == 1 && $got != "$expected" ]]; then
            ok=0
            got="wrong output: '$got', native gave '$expected'"
        fi
        printf '%s\t%s\t%s\t%s\n' "$w" "$r" "$ok" "$got" >>"$work/checks.tsv"
        if [[ $ok == 1 ]]; then
            timed+=(-n "$r" "$(cmd_for "$r" "$w")")
        else
            echo "FINDING: $r on $w: $got" >&2
            echo "  command: $(cmd_for "$r" "$w")" >&2
        fi
    done
    prep=()
    [[ $w == untar ]] && prep=(--prepare "bash $work/untar-prepare.sh")
    echo "== $w: ${describe[$w]}" >&2
    hyperfine -N --style basic --warmup 1 --runs "$runs" "${prep[@]}" \
        --export-json "$work/$w.json" "${timed[@]}" >&2
done

python3 - "$work" "$json" "$workloads" "${active[*]}" "$runs" <<'EOF'
import json, sys, platform, subprocess, datetime, os
work, out, workloads, runners, runs = sys.argv[1], sys.argv[2], sys.argv[3].split(','), sys.argv[4].split(), int(sys.argv[5])
checks = {}
for line in open(os.path.join(work, 'checks.tsv')):
    w, r, ok, got = line.rstrip('\n').split('\t', 3)
    checks[(w, r)] = (ok == '1', got)
cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), '?')
doc = {
    'benchmark': 'bench/supervisor/run.sh',
    'date': datetime.datetime.utcnow().strftime('%Y-%m-%dT%H:%M:%SZ'),
    'machine': {'kernel': platform.release(), 'cpus': os.cpu_count(), 'cpu': cpu},
    'loadavg_at_end': ' '.join(open('/proc/loadavg').read().split()[:3]),
    'runs': runs, 'warmup': 1, 'runners': runners, 'workloads': [],
}
for w in workloads:
    res = {r['command']: r for r in json.load(open(os.path.join(work, w + '.json')))['results']}
    entry = {'name': w, 'results': {}}
    base = res.get('native', {}).get('mean')
    for r in runners:
        ok, got = checks[(w, r)]
        e = {'output': got, 'ok': ok}
        if r in res:
            e.update(mean_s=res[r]['mean'], stddev_s=res[r]['stddev'], min_s=res[r]['min'], max_s=res[r]['max'],
                     ratio=res[r]['mean'] / base if base else None)
        entry['results'][r] = e
    doc['workloads'].append(entry)
with open(out, 'w') as f:
    json.dump(doc, f, indent=2)
    f.write('\n')

head = '| workload |' + ''.join(f' {r} |' + ('' if r == 'native' else ' × native |') for r in runners)
sep = '|---|' + ''.join('---:|' if r == 'native' else '---:|---:|' for r in runners)
print(head); print(sep)
for e in doc['workloads']:
    row = f"| {e['name']} |"
    for r in runners:
        x = e['results'][r]
        if 'mean_s' not in x:
            row += ' failed |' + ('' if r == 'native' else ' – |')
            continue
        sd = f" ± {x['stddev_s']*1000:.0f}" if x['stddev_s'] is not None else ''  # null with --runs 1
        row += f" {x['mean_s']*1000:.0f}{sd} ms |"
        if r != 'native':
            row += f" {x['ratio']:.2f}× |"
    print(row)
print()
for e in doc['workloads']:
    for r in runners:
        x = e['results'][r]
        if not x['ok']:
            print(f"FINDING: {r} on {e['name']}: {x['output']}")
print(f"JSON: {out}")
EOF
