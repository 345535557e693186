#!/usr/bin/env python3
"""fusefs benchmark: native vs hsbox views vs fuse-overlayfs vs unionfs-fuse.

Every figure is printed with its ratio to the native run made in the same
invocation (time ratio: >1 is slower; throughput ratio: <1 is slower).

  bench_fusefs.py --hsbox build/hsbox [--quick] [--json out.json] [--usr /usr]

Workloads
  fio        sequential/random read (cached: a warm-up pass first) and write,
             psync, 4 s each (1 s with --quick)
  metadata   `find` + `tar cf /dev/null` over a lower tree (default /usr),
             first pass after mounting (cold) and second pass (warm)
  create     create, stat, rename and unlink 2000 files in the writable view
  aide       `aide --check` of a tree of files with 0/10/50/100 % changed,
             on each merged view, and on hsbox's upper-only view restricted
             (--limit) to the entries that view lists

Configurations
  native            the directories themselves
  hsbox-root        hsbox mount --upper U --lower L (read-write union)
  hsbox-merged      hsbox mount --view merged (read-only; reads only)
  hsbox-upper       hsbox mount --view upper (read-only; aide only)
  fuse-overlayfs    fuse-overlayfs -o lowerdir=L,upperdir=U,workdir=W
  unionfs-fuse      unionfs -o cow U=RW:L=RO
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def is_mountpoint(p):
    try:
        return os.stat(p).st_dev != os.stat(os.path.join(p, "..")).st_dev
    except OSError:
        return False


class Mount:
    """A FUSE mount run in the foreground by a child process."""

    def __init__(self, kind, mnt, lower, upper, work, hsbox, view="root"):
        self.kind, self.mnt = kind, mnt
        os.makedirs(mnt, exist_ok=True)
        if kind == "hsbox":
            cmd = [hsbox, "mount", "--upper", upper, "--lower", lower, "--view", view, "-f", mnt]
            if view == "upper":
                cmd = [hsbox, "mount", "--upper", upper, "--view", "upper", "-f", mnt]
        elif kind == "fuse-overlayfs":
            cmd = ["fuse-overlayfs", "-f", "-o", f"lowerdir={lower},upperdir={upper},workdir={work}", mnt]
        elif kind == "unionfs-fuse":
            cmd = ["unionfs", "-f", "-o", "cow", f"{upper}=RW:{lower}=RO", mnt]
        else:
            raise ValueError(kind)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(1000):
            if is_mountpoint(mnt):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{kind} failed to mount: {self.proc.stderr.read().decode()}")
            time.sleep(0.01)
        raise RuntimeError(f"{kind} did not mount {mnt}")

    def kill(self):
        """For a server that hung: kill it, then detach the mount."""
        self.proc.kill()
        self.proc.wait()
        subprocess.run(["fusermount3", "-uz", self.mnt], check=False, stderr=subprocess.DEVNULL)

    def stop(self):
        if self.proc.poll() is not None:
            subprocess.run(["fusermount3", "-uz", self.mnt], check=False, stderr=subprocess.DEVNULL)
            return
        if self.kind == "hsbox":
            self.proc.send_signal(signal.SIGTERM)
        else:
            subprocess.run(["fusermount3", "-u", self.mnt], check=False,
                           stderr=subprocess.DEVNULL)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if is_mountpoint(self.mnt):
            subprocess.run(["fusermount3", "-uz", self.mnt], check=False)


def timed(cmd, **kw):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t


def drop_cache_hint():
    # Without privilege the page cache cannot be dropped; every config gets a
    # warm-up pass instead so all read figures are cached reads.
    pass


# ---------------------------------------------------------------- fio

def fio(path, rw, bs, runtime, size):
    out = subprocess.run(
        ["fio", "--name=b", f"--filename={path}", f"--rw={rw}", f"--bs={bs}", f"--size={size}",
         "--ioengine=psync", "--direct=0", f"--runtime={runtime}", "--time_based", "--invalidate=0",
         "--output-format=json"],
        check=True, capture_output=True, text=True).stdout
    j = json.loads(out[out.index("{"):])["jobs"][0]
    part = j["read"] if "read" in rw else j["write"]
    return part["bw_bytes"] / 1e6  # MB/s


def bench_fio(cfg_paths, runtime, size):
    """cfg_paths: name -> (read file path or None, write dir or None)."""
    res = {}
    for name, (rfile, wdir) in cfg_paths.items():
        r = {}
        if rfile:
            subprocess.run(["cat", rfile], stdout=subprocess.DEVNULL, check=True)  # warm
            fio(rfile, "read", "1m", 1, size)
            r["seq_read_MBps"] = fio(rfile, "read", "1m", runtime, size)
            r["rand_read_MBps"] = fio(rfile, "randread", "4k", runtime, size)
        if wdir:
            wf = os.path.join(wdir, "fio-write.dat")
            r["seq_write_MBps"] = fio(wf, "write", "1m", runtime, size)
            r["rand_write_MBps"] = fio(wf, "randwrite", "4k", runtime, size)
            os.unlink(wf)
        res[name] = r
    return res


# ---------------------------------------------------------------- metadata

def bench_metadata(root):
    cold = timed(["find", root]) + timed(["tar", "cf", "/dev/null", root], stderr=subprocess.DEVNULL)
    warm = timed(["find", root]) + timed(["tar", "cf", "/dev/null", root], stderr=subprocess.DEVNULL)
    return cold, warm


def bench_create(d, n=2000):
    os.makedirs(d, exist_ok=True)
    t = time.perf_counter()
    for i in range(n):
        with open(os.path.join(d, f"f{i}"), "w") as f:
            f.write("x")
    for i in range(n):
        os.stat(os.path.join(d, f"f{i}"))
    for i in range(n):
        os.rename(os.path.join(d, f"f{i}"), os.path.join(d, f"g{i}"))
    for i in range(n):
        os.unlink(os.path.join(d, f"g{i}"))
    return time.perf_counter() - t


# ---------------------------------------------------------------- aide

def make_tree(root, files):
    for i in range(files):
        d = os.path.join(root, "srv", f"d{i // 100}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}"), "wb") as f:
            f.write(bytes([i % 251]) * 8192)


def aide_conf(path, db, prefix):
    with open(path, "w") as f:
        f.write(f"database_in=file:{db}\ndatabase_out=file:{db}.new\ngzip_dbout=no\n"
                f"report_url=stdout\nroot_prefix={prefix}\n"
                "Check = p+u+g+s+m+sha256+ftype\n/srv f,l,c,b,p,s Check\n")


def aide(conf, *extra):
    t = time.perf_counter()
    p = subprocess.run(["aide", "-c", conf, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if p.returncode >= 14:  # bits 1|2|4 are findings; higher codes are errors
        raise RuntimeError(f"aide failed ({p.returncode}): {p.stderr.decode()[:300]}")
    return time.perf_counter() - t


def upper_limit_regexes(mnt, max_len=20000):
    """Regexes for aide --limit matching exactly the non-directories the
    upper-only view lists, grouped by directory and split so that each stays
    within what PCRE compiles."""
    by_dir = {}
    for dirpath, dirnames, filenames in os.walk(mnt):
        rel = dirpath[len(mnt):] or "/"
        for f in filenames:
            by_dir.setdefault(rel.rstrip("/") + "/", []).append(f)
    parts = [d + "(" + "|".join(sorted(fs)) + ")" for d, fs in sorted(by_dir.items())]
    out, cur = [], []
    for p in parts:
        if cur and sum(len(x) + 1 for x in cur) + len(p) > max_len:
            out.append("(" + "|".join(cur) + ")$")
            cur = []
        cur.append(p)
    if cur:
        out.append("(" + "|".join(cur) + ")$")
    return out


CHANGE_SCRIPT = """
import os, sys
root = sys.argv[1]
for n in open(sys.argv[2]).read().split():
    with open(os.path.join(root, n), "ab") as f:
        f.write(b"changed")
"""


def change_files(root, names, listfile, timeout=120, mount=None):
    """Appends to each file in a child process, so a hung server cannot hang
    the bench: after `timeout` the server is killed (a request it holds cannot
    be interrupted otherwise) and TimeoutExpired is raised."""
    with open(listfile, "w") as f:
        f.write("\n".join(names))
    p = subprocess.Popen([sys.executable, "-c", CHANGE_SCRIPT, root, listfile])
    try:
        if p.wait(timeout=timeout) != 0:
            raise subprocess.CalledProcessError(p.returncode, "change files")
    except subprocess.TimeoutExpired:
        if mount:
            mount.kill()
        p.kill()
        p.wait()
        raise


def bench_aide(base, hsbox, files, rates, have):
    lower = os.path.join(base, "aide-lower")
    make_tree(lower, files)
    names = sorted(os.path.relpath(os.path.join(dp, f), lower)
                   for dp, _, fs in os.walk(lower) for f in fs)
    out = {}
    for rate in rates:
        changed = random.Random(rate).sample(names, int(len(names) * rate / 100))
        row = {}
        tag = f"r{rate}"
        # native: a copy of the tree, changed in place
        nat = os.path.join(base, f"aide-native-{tag}")
        shutil.copytree(lower, nat, symlinks=True)
        db = os.path.join(base, f"aide-{tag}-native.db")
        aide_conf(db + ".conf", db, nat)
        aide(db + ".conf", "--init")
        os.replace(db + ".new", db)
        change_files(nat, changed, os.path.join(base, "changed.txt"))
        row["native"] = aide(db + ".conf", "--check")
        shutil.rmtree(nat)
        # unions: init on the merged view, change through the writable view
        kinds = [("hsbox", "hsbox-merged")]
        if have["fuse-overlayfs"]:
            kinds.append(("fuse-overlayfs", "fuse-overlayfs"))
        if have["unionfs"]:
            kinds.append(("unionfs-fuse", "unionfs-fuse"))
        for kind, label in kinds:
            up = os.path.join(base, f"aide-up-{tag}-{label}")
            wk = os.path.join(base, f"aide-wk-{tag}-{label}")
            os.makedirs(up)
            os.makedirs(wk)
            mnt = os.path.join(base, f"aide-mnt-{tag}-{label}")
            m = Mount(kind, mnt, lower, up, wk, hsbox)
            ro = None
            hung = False
            try:
                view = mnt
                if kind == "hsbox":
                    ro = Mount("hsbox", mnt + "-ro", lower, up, wk, hsbox, view="merged")
                    view = mnt + "-ro"
                db = os.path.join(base, f"aide-{tag}-{label}.db")
                aide_conf(db + ".conf", db, view)
                aide(db + ".conf", "--init")
                os.replace(db + ".new", db)
                try:
                    change_files(mnt, changed, os.path.join(base, "changed.txt"), mount=m)
                except subprocess.TimeoutExpired:
                    hung = True
                    row[label] = None
                    print(f"bench_fusefs: {label} hung while {rate}% of files were changed; "
                          "killed it", file=sys.stderr)
                    continue
                time.sleep(1.1)  # the read-only view's attribute cache (1 s)
                row[label] = aide(db + ".conf", "--check")
                if kind == "hsbox":
                    um = Mount("hsbox", mnt + "-up", lower, up, wk, hsbox, view="upper")
                    try:
                        t = time.perf_counter()
                        aide_conf(db + ".upconf", db, mnt + "-up")
                        for rx in upper_limit_regexes(mnt + "-up"):
                            aide(db + ".upconf", "--check", "--limit", rx)
                        row["hsbox-upper"] = time.perf_counter() - t
                    finally:
                        um.stop()
            except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
                row[label] = None
                print(f"bench_fusefs: {label} failed at {rate}%: {e}", file=sys.stderr)
            finally:
                if ro:
                    ro.stop()
                if not hung:
                    m.stop()
        out[rate] = row
    return out


# ---------------------------------------------------------------- report

def ratio(v, base, higher_is_better):
    if not base or v is None:
        return None
    return v / base


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hsbox", required=True)
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    ap.add_argument("--json", help="write the results here too")
    ap.add_argument("--usr", default="/usr", help="lower tree for the metadata storm")
    a = ap.parse_args()
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        print("bench_fusefs: /dev/fuse cannot be opened; nothing to measure", file=sys.stderr)
        return 1
    have = {t: shutil.which(b) is not None for t, b in
            [("fuse-overlayfs", "fuse-overlayfs"), ("unionfs", "unionfs"), ("fio", "fio"), ("aide", "aide")]}
    runtime = 1 if a.quick else 4
    size = "32m" if a.quick else "256m"
    files = 300 if a.quick else 5000
    rates = [0, 10] if a.quick else [0, 10, 50, 100]
    base = tempfile.mkdtemp(prefix="hsbox-bench-fusefs-")
    os.chmod(base, 0o755)
    results = {"fio": {}, "metadata": {}, "create": {}, "aide": {}}
    mounts = []
    try:
        # ---- fio
        if have["fio"]:
            lower = os.path.join(base, "lower")
            os.makedirs(lower)
            with open(os.path.join(lower, "read.dat"), "wb") as f:
                chunk = os.urandom(1 << 20)
                for _ in range(int(size[:-1])):
                    f.write(chunk)
            paths = {"native": (os.path.join(lower, "read.dat"), os.path.join(base, "native-w"))}
            os.makedirs(paths["native"][1])
            for label, kind, view in [("hsbox-root", "hsbox", "root"), ("hsbox-merged", "hsbox", "merged"),
                                      ("hsbox-upper", "hsbox", "upper"),
                                      ("fuse-overlayfs", "fuse-overlayfs", None),
                                      ("unionfs-fuse", "unionfs-fuse", None)]:
                if kind == "fuse-overlayfs" and not have["fuse-overlayfs"]:
                    continue
                if kind == "unionfs-fuse" and not have["unionfs"]:
                    continue
                up = os.path.join(base, f"up-{label}")
                wk = os.path.join(base, f"wk-{label}")
                os.makedirs(up)
                os.makedirs(wk)
                if view == "upper":  # the upper view serves what the upper holds
                    shutil.copy(os.path.join(lower, "read.dat"), os.path.join(up, "read.dat"))
                m = Mount(kind, os.path.join(base, f"mnt-{label}"), lower, up, wk, a.hsbox,
                          view=view or "root")
                mounts.append(m)
                writable = view not in ("merged", "upper")
                paths[label] = (os.path.join(m.mnt, "read.dat"), m.mnt if writable else None)
            results["fio"] = bench_fio(paths, runtime, size)
            for m in mounts:
                m.stop()
            mounts.clear()
        # ---- metadata storm and create storm
        for label, kind, view in [("native", None, None), ("hsbox-root", "hsbox", "root"),
                                  ("hsbox-merged", "hsbox", "merged"),
                                  ("fuse-overlayfs", "fuse-overlayfs", None),
                                  ("unionfs-fuse", "unionfs-fuse", None)]:
            if kind == "fuse-overlayfs" and not have["fuse-overlayfs"]:
                continue
            if kind == "unionfs-fuse" and not have["unionfs"]:
                continue
            up = os.path.join(base, f"mup-{label}")
            wk = os.path.join(base, f"mwk-{label}")
            os.makedirs(up)
            os.makedirs(wk)
            if kind is None:
                root = a.usr
                cdir = os.path.join(base, "create-native")
            else:
                m = Mount(kind, os.path.join(base, f"mmnt-{label}"), a.usr, up, wk, a.hsbox, view=view or "root")
                mounts.append(m)
                root = m.mnt
                cdir = os.path.join(m.mnt, "create-storm") if view != "merged" else None
            if a.quick:
                root = os.path.join(root, "include") if os.path.isdir(os.path.join(root, "include")) else root
            cold, warm = bench_metadata(root)
            results["metadata"][label] = {"cold_s": cold, "warm_s": warm}
            if cdir:
                results["create"][label] = {"s": bench_create(cdir, 300 if a.quick else 2000)}
            for m in mounts:
                m.stop()
            mounts.clear()
        # ---- aide
        if have["aide"]:
            results["aide"] = bench_aide(base, a.hsbox, files, rates, have)
    finally:
        for m in mounts:
            m.stop()
        subprocess.run(["chmod", "-R", "u+rwx", base], check=False)
        shutil.rmtree(base, ignore_errors=True)

    # ---- report
    print("## fusefs benchmark (ratios to native in this run)\n")
    if results["fio"]:
        print("### fio (MB/s; ratio = config / native, higher is better)\n")
        cols = ["seq_read_MBps", "rand_read_MBps", "seq_write_MBps", "rand_write_MBps"]
        print("| config | " + " | ".join(cols) + " |")
        print("|---|" + "---:|" * len(cols))
        nat = results["fio"]["native"]
        for name, r in results["fio"].items():
            cells = []
            for c in cols:
                if c in r:
                    cells.append(f"{r[c]:.0f} ({r[c] / nat[c]:.2f}×)")
                else:
                    cells.append("n/a")
            print(f"| {name} | " + " | ".join(cells) + " |")
        print()
    print(f"### metadata storm: find + tar cf /dev/null over {a.usr} (seconds; ratio = config / native, lower is better)\n")
    print("| config | cold | warm | create/stat/rename/unlink |")
    print("|---|---:|---:|---:|")
    nat = results["metadata"]["native"]
    natc = results["create"].get("native", {}).get("s")
    for name, r in results["metadata"].items():
        c = results["create"].get(name, {}).get("s")
        cs = f"{c:.2f} ({c / natc:.2f}×)" if c and natc else "n/a (read-only)"
        print(f"| {name} | {r['cold_s']:.2f} ({r['cold_s'] / nat['cold_s']:.2f}×) | "
              f"{r['warm_s']:.2f} ({r['warm_s'] / nat['warm_s']:.2f}×) | {cs} |")
    print()
    if results["aide"]:
        print(f"### aide --check of {files} files by change rate (seconds; ratio = config / native)\n")
        labels = []
        for row in results["aide"].values():
            for k in row:
                if k not in labels:
                    labels.append(k)
        print("| changed | " + " | ".join(labels) + " |")
        print("|---:|" + "---:|" * len(labels))
        for rate, row in results["aide"].items():
            cells = [f"{row[l]:.2f} ({row[l] / row['native']:.2f}×)" if row.get(l) is not None
                     else ("failed" if l in row else "n/a") for l in labels]
            print(f"| {rate}% | " + " | ".join(cells) + " |")
        print("\nhsbox-upper: listing /.dserverfs and checking only those entries (aide --limit) "
              "against the database of the merged view.\n")
    print("```json")
    print(json.dumps(results, indent=1, sort_keys=True))
    print("```")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
