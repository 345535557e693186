#!/usr/bin/env python3
"""Runs one program under strace 6.1 and under `hsbox trace`, and compares.

For each process (matched by position in the process tree: the root, then
the children in the order their parent's fork/clone returned them), the
sequence of syscall names and results must be equal, and so must every
decoded path and flag argument where both tools print one. Addresses and
process ids are normalised (they legitimately differ between two runs).

Usage: compare_strace.py --hsbox BIN [--filter SET] [--setup CMD] [--client CMD]
                         [--ignore NAME,...] -- PROGRAM [ARG...]
Exit status 0 when equal, 1 with a report of the first differences otherwise.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

PID_RETURNING = {"clone", "clone3", "fork", "vfork", "getpid", "gettid", "getppid",
                 "set_tid_address", "wait4", "waitid", "getpgrp", "getsid", "setsid", "getpgid"}
SPAWNING = {"clone", "clone3", "fork", "vfork"}
# Kinds whose spelling must agree with strace when both print them.
COMPARED_KINDS = {"path", "open_flags", "at_flags", "prot", "map_flags", "clone_flags", "domain",
                  "sock_type", "protocol", "sock_flags", "msg_flags", "access_mode", "whence",
                  "fd_flags", "grnd_flags", "wait_options", "how", "signal", "level", "optname",
                  "sockaddr", "fcntl_cmd", "clock", "resource", "epoll_op", "advice", "dirfd",
                  "fd", "argv", "rename_flags", "mode"}
FLAGISH = re.compile(r'^[A-Z_][A-Z0-9_]*(\|[A-Z0-9_]+)*$')


def split_args(s):
    """Splits an argument list at top-level commas (respecting quotes and brackets)."""
    out, depth, cur, i, q = [], 0, [], 0, False
    while i < len(s):
        c = s[i]
        if q:
            cur.append(c)
            if c == '\\' and i + 1 < len(s):
                cur.append(s[i + 1])
                i += 1
            elif c == '"':
                q = False
        elif c == '"':
            q = True
            cur.append(c)
        elif c in '([{':
            depth += 1
            cur.append(c)
        elif c in ')]}':
            depth -= 1
            cur.append(c)
        elif c == ',' and depth == 0:
            out.append(''.join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    if cur or out:
        out.append(''.join(cur).strip())
    return out


LINE = re.compile(r'^(\d+)\s+(.*)$')
CALL = re.compile(r'^([a-z_0-9]+)\((.*)\)\s+= (.*)$')


def parse_strace(path):
    """Returns {pid: [(name, [args], ret)]} from `strace -f -o` output."""
    calls, pending = {}, {}
    with open(path, errors='replace') as f:
        for raw in f:
            raw = raw.rstrip('\n')
            m = LINE.match(raw)
            if not m:
                continue
            pid, rest = int(m.group(1)), m.group(2)
            if rest.startswith('+++') or rest.startswith('---'):
                continue
            if rest.endswith('<unfinished ...>'):
                pending[pid] = rest[:-len('<unfinished ...>')].rstrip()
                continue
            r = re.match(r'^<\.\.\. ([a-z_0-9]+) resumed>(.*)$', rest)
            if r:
                head = pending.pop(pid, r.group(1) + '(')
                tail = r.group(2)
                rest = head + (' ' if head.endswith(',') and not tail.startswith(' ') else '') + tail
                rest = rest.replace('( ', '(')
            c = CALL.match(rest)
            if not c:
                continue
            calls.setdefault(pid, []).append((c.group(1), split_args(c.group(2)), c.group(3)))
        for pid, head in pending.items():  # never resumed (killed inside the call)
            m = re.match(r'^([a-z_0-9]+)\((.*)$', head)
            if m:
                calls.setdefault(pid, []).append((m.group(1), split_args(m.group(2).rstrip(', ')), '?'))
    return calls


def parse_hsbox(path):
    """Returns {tid: [(name, [(kind, text)], ret)]} from `hsbox trace --json` output."""
    calls = {}
    with open(path) as f:
        for line in f:
            o = json.loads(line)
            if o.get('type') != 'syscall':
                continue
            if o['return'] is None:
                ret = '?'
            elif o['errno']:
                ret = '-1 ' + o['errno']
            else:
                ret = str(o['return'])
            args = [(a['kind'], a['text']) for a in o['args']]
            calls.setdefault(o['tid'], []).append((o['syscall'], args, ret))
    return calls


def norm_ret(name, ret, pidmap):
    ret = ret.strip()
    if ret.startswith('?'):
        parts = ret.split()
        return parts[1] if len(parts) > 1 else '?'
    if ret.startswith('-1 '):
        e = ret.split()[1]
        # strace prints kernel restart codes as "? ERESTART...": no -1 is returned.
        return e if e.startswith('ERESTART') else '-1 ' + e
    first = ret.split()[0]
    try:
        v = int(first, 0)
    except ValueError:
        return first
    if name in PID_RETURNING and v > 0:
        return pidmap.get(v, 'PID')
    if v >= 1 << 32:
        return 'ADDR'
    return str(v)


def tree(calls):
    """Maps each pid to a stable name: P for the root, P.1, P.2 ... for its
    children in the order they were created, recursively."""
    if not calls:
        return {}
    names = {}
    # The root is the pid whose first call is the initial execve.
    root = min(calls, key=lambda p: p)
    for p, seq in calls.items():
        if seq and seq[0][0] == 'execve':
            root = p
            break
    names[root] = 'P'
    todo = [root]
    while todo:
        p = todo.pop()
        k = 0
        for name, _, ret in calls.get(p, []):
            if name in SPAWNING:
                try:
                    child = int(ret.split()[0])
                except ValueError:
                    continue
                if child > 0:
                    k += 1
                    names[child] = names[p] + '.' + str(k)
                    todo.append(child)
    return names


def norm_arg(text):
    """Addresses and ports differ between two runs (ASLR, ephemeral ports)."""
    t = re.sub(r'0x[0-9a-f]{6,}', 'ADDR', text)
    t = re.sub(r'htons\(\d+\)', 'htons(PORT)', t)
    # glibc passes one word as clone3's parent_tid and child_tid: a thread that
    # already ended has cleared it (0) by the time a tracer reads it.
    t = re.sub(r'=> \{parent_tid=\[\d+\]\}', '=> {parent_tid=[TID]}', t)
    return t


def fold_restarts(seq):
    """A call interrupted by a signal (ERESTART*) is re-issued by the kernel:
    as the same call, or as restart_syscall after ERESTART_RESTARTBLOCK.
    Whether a signal lands inside a call is timing, so keep only the call
    that completed (under the original name)."""
    out, pending = [], None
    for name, args, ret in seq:
        if name == 'restart_syscall' and pending:
            name, args = pending  # possibly interrupted again
        if 'ERESTART' in ret:
            pending = (name, args)
            continue
        pending = None
        out.append((name, args, ret))
    return out


def compare(sc, hc, ignore):
    sn, hn = tree(sc), tree(hc)
    problems = []
    s_by = {sn[p]: p for p in sn}
    h_by = {hn[p]: p for p in hn}
    if set(s_by) != set(h_by):
        problems.append('process trees differ: strace %s, hsbox %s' % (sorted(s_by), sorted(h_by)))
    compared_args = 0
    for key in sorted(set(s_by) & set(h_by)):
        s_seq = [c for c in fold_restarts(sc.get(s_by[key], [])) if c[0] not in ignore]
        h_seq = [c for c in fold_restarts(hc.get(h_by[key], [])) if c[0] not in ignore]
        if len(s_seq) != len(h_seq):
            problems.append('%s: %d calls under strace, %d under hsbox' % (key, len(s_seq), len(h_seq)))
        for i, (s, h) in enumerate(zip(s_seq, h_seq)):
            sname, sargs, sret = s
            hname, hargs, hret = h
            if sname != hname:
                problems.append('%s call %d: strace %s, hsbox %s' % (key, i, sname, hname))
                break
            rs, rh = norm_ret(sname, sret, sn), norm_ret(hname, hret, hn)
            if rs != rh:
                problems.append('%s call %d %s: result strace %r, hsbox %r' % (key, i, sname, sret, hret))
            for j, (kind, htext) in enumerate(hargs):
                if kind not in COMPARED_KINDS or j >= len(sargs):
                    continue
                stext = sargs[j]
                if kind in ('fd', 'dirfd', 'mode'):
                    if not re.match(r'^-?\d+$|^AT_FDCWD$|^0\d*$', stext):
                        continue
                if kind == 'sockaddr' or kind == 'argv':
                    if not stext.startswith(('{', '[')):
                        continue
                if kind == 'path' and not stext.startswith('"'):
                    continue
                if kind not in ('path', 'sockaddr', 'argv', 'fd', 'dirfd', 'mode') and not FLAGISH.match(stext.split('=')[-1]):
                    continue
                compared_args += 1
                if norm_arg(stext) != norm_arg(htext):
                    problems.append('%s call %d %s arg %d (%s): strace %s, hsbox %s' %
                                    (key, i, sname, j, kind, stext, htext))
            if len(problems) > 40:
                return problems, compared_args
    return problems, compared_args


def compare_text(sc, tc, ignore):
    """Every line of every process equal, after normalising what differs
    between any two runs: addresses, pids, ports, random bytes."""
    sn, tn = tree(sc), tree(tc)
    s_by = {sn[p]: p for p in sn}
    t_by = {tn[p]: p for p in tn}
    problems = []
    for key in sorted(set(s_by) | set(t_by)):
        s_seq = [c for c in fold_restarts(sc.get(s_by.get(key), [])) if c[0] not in ignore]
        t_seq = [c for c in fold_restarts(tc.get(t_by.get(key), [])) if c[0] not in ignore]
        for i in range(max(len(s_seq), len(t_seq))):
            def line(seq, names):
                if i >= len(seq):
                    return '<missing>'
                name, args, ret = seq[i]
                if name == 'getrandom':
                    args = ['RANDOM'] + args[1:]
                text = norm_arg(', '.join(args))
                # Thread and process ids inside arguments (futex values, parent_tid).
                text = re.sub(r'\b\d{2,}\b', lambda m: names.get(int(m.group(0)), m.group(0)), text)
                return '%s(%s) = %s' % (name, text, norm_ret(name, ret, names))
            ls, lt = line(s_seq, sn), line(t_seq, tn)
            if ls != lt:
                problems.append('%s line %d:\n  strace %s\n  hsbox  %s' % (key, i, ls, lt))
                if len(problems) > 20:
                    return problems
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--hsbox', required=True)
    ap.add_argument('--filter', default='')
    ap.add_argument('--client', default='', help='shell command run while the program runs')
    ap.add_argument('--ignore', default='', help='syscall names left out of the comparison')
    ap.add_argument('--seccomp', action='store_true', help='trace with --seccomp-bpf in both tools')
    ap.add_argument('--keep', default='', help='directory to keep the outputs in')
    ap.add_argument('--exact-text', action='store_true',
                    help='also trace in text mode and require every line equal to strace\'s')
    ap.add_argument('cmd', nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == '--' else a.cmd
    work = a.keep or tempfile.mkdtemp(prefix='hsbox-cmp-')
    s_out, h_out = os.path.join(work, 'strace.txt'), os.path.join(work, 'hsbox.jsonl')
    sel = ['-e', 'trace=' + a.filter] if a.filter else []
    sec = ['--seccomp-bpf'] if a.seccomp else []
    runs = [
        ['strace', '-f', '-qq', '-o', s_out] + sec + sel + ['--'] + cmd,
        [a.hsbox, 'trace', '-f', '-q', '--json', '-o', h_out] + sec + sel + ['--'] + cmd,
    ]
    statuses = []
    for argv in runs:
        env = dict(os.environ, HSBOX_CMP_WORK=work)
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=env)
        if a.client:
            subprocess.run(['sh', '-c', a.client], env=env, check=True, timeout=60)
        statuses.append(p.wait(timeout=120))
    # hsbox trace exits with the traced program's status, as strace does.
    if statuses[0] != statuses[1]:
        print('exit status: strace %d, hsbox %d' % tuple(statuses))
        return 1
    if a.exact_text:
        t_out = os.path.join(work, 'hsbox.txt')
        argv = [a.hsbox, 'trace', '-f', '-q', '-o', t_out] + sec + sel + ['--'] + cmd
        env = dict(os.environ, HSBOX_CMP_WORK=work)
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=env)
        if a.client:
            subprocess.run(['sh', '-c', a.client], env=env, check=True, timeout=60)
        if p.wait(timeout=120) != statuses[0]:
            print('text run: different exit status')
            return 1
        problems = compare_text(parse_strace(s_out), parse_strace(t_out),
                                set(filter(None, a.ignore.split(','))))
        if problems:
            print('text mode differs from strace:')
            print('\n'.join(problems))
            return 1
    sc, hc = parse_strace(s_out), parse_hsbox(h_out)
    ignore = set(filter(None, a.ignore.split(',')))
    problems, compared = compare(sc, hc, ignore)
    ncalls = sum(len(v) for v in hc.values())
    print('%d processes, %d calls, %d decoded arguments compared (outputs in %s)' %
          (len(hc), ncalls, compared, work))
    if problems:
        print('\n'.join(problems))
        return 1
    if ncalls == 0:
        print('no calls traced')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
