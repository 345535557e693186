#!/usr/bin/env python3
"""Tracing overhead on a web server: lighttpd under ab, untraced vs traced by
`hsbox trace -f` vs `strace -f` (every syscall), and with the same seccomp-bpf
selection (`--seccomp-bpf -e trace=SET`) in both tools. All runs happen in
this one invocation; figures are ratios to the untraced run.

Usage: bench_lighttpd.py [--hsbox BIN] [--requests N] [--concurrency C]
                         [--select SET] [--reps R] [--json FILE]
Prints a Markdown table (requests/s and ratio to untraced) and writes JSON.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError('server exited with %d' % proc.returncode)
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError('server did not listen on %d' % port)


def run_one(name, prefix, work, args):
    port = free_port()
    conf = os.path.join(work, 'lighttpd.conf')
    with open(conf, 'w') as f:
        f.write('server.document-root = "%s"\n' % os.path.join(work, 'www'))
        f.write('server.bind = "127.0.0.1"\nserver.port = %d\n' % port)
        f.write('server.errorlog = "%s"\n' % os.path.join(work, 'error.log'))
        f.write('index-file.names = ("index.html")\nserver.max-keep-alive-requests = 0\n')
        f.write('mimetype.assign = (".html" => "text/html")\n')
        f.write('server.pid-file = "%s"\n' % os.path.join(work, 'lighttpd.pid'))
    pidfile = os.path.join(work, 'lighttpd.pid')
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    cmd = prefix + [shutil.which('lighttpd'), '-D', '-f', conf]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, server)
        ab = subprocess.run(['ab', '-q', '-n', str(args.requests), '-c', str(args.concurrency),
                             'http://127.0.0.1:%d/index.html' % port],
                            capture_output=True, text=True, timeout=600)
        m = re.search(r'Requests per second:\s+([0-9.]+)', ab.stdout)
        failed = re.search(r'Failed requests:\s+(\d+)', ab.stdout)
        if not m or ab.returncode != 0:
            raise RuntimeError('ab failed: ' + ab.stdout[-500:] + ab.stderr[-500:])
        return float(m.group(1)), int(failed.group(1)) if failed else 0
    finally:
        # Stop lighttpd itself (not the tracer), as an operator would.
        try:
            with open(os.path.join(work, 'lighttpd.pid')) as f:
                os.kill(int(f.read()), 15)
        except (OSError, ValueError):
            server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--hsbox', default=os.environ.get('HSBOX_BIN', 'hsbox'))
    ap.add_argument('--requests', type=int, default=20000)
    ap.add_argument('--concurrency', type=int, default=4)
    ap.add_argument('--select', default='%network', help='syscall set for the seccomp-bpf runs')
    ap.add_argument('--reps', type=int, default=3, help='runs per configuration (best is kept)')
    ap.add_argument('--json', default='')
    args = ap.parse_args()
    for tool in ('lighttpd', 'ab', 'strace'):
        if not shutil.which(tool):
            print('skipped: %s is not installed' % tool)
            return 0
    work = tempfile.mkdtemp(prefix='hsbox-bench-tracer-')
    os.makedirs(os.path.join(work, 'www'))
    with open(os.path.join(work, 'www', 'index.html'), 'w') as f:
        f.write('<html><body>' + 'hello hsbox ' * 100 + '</body></html>\n')
    out = lambda n: os.path.join(work, n)
    sel = ['-e', 'trace=' + args.select]
    configs = [
        ('untraced', []),
        ('strace -f', ['strace', '-f', '-qq', '-o', out('strace.txt')]),
        ('hsbox trace -f', [args.hsbox, 'trace', '-f', '-q', '-o', out('hsbox.txt')]),
        ('strace -f --seccomp-bpf -e trace=' + args.select,
         ['strace', '-f', '-qq', '--seccomp-bpf', '-o', out('strace-sel.txt')] + sel),
        ('hsbox trace -f --seccomp-bpf -e trace=' + args.select,
         [args.hsbox, 'trace', '-f', '-q', '--seccomp-bpf', '-o', out('hsbox-sel.txt')] + sel),
    ]
    results = []
    try:
        # Interleave the configurations rep by rep so drift hits all alike.
        best = {name: (0.0, 0) for name, _ in configs}
        for _ in range(args.reps):
            for name, prefix in configs:
                rps, failed = run_one(name, prefix, work, args)
                if rps > best[name][0]:
                    best[name] = (rps, failed)
        base = best['untraced'][0]
        for name, _ in configs:
            rps, failed = best[name]
            results.append({'config': name, 'requests_per_s': rps, 'failed': failed,
                            'throughput_ratio': rps / base, 'slowdown': base / rps})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print('lighttpd %s, ab -n %d -c %d, best of %d' % (
        subprocess.run(['lighttpd', '-v'], capture_output=True, text=True).stdout.split()[0],
        args.requests, args.concurrency, args.reps))
    print()
    print('| configuration | requests/s | throughput vs untraced | time vs untraced |')
    print('|---|---:|---:|---:|')
    for r in results:
        print('| %s | %.0f | %.3f | %.2fx |' % (r['config'], r['requests_per_s'], r['throughput_ratio'], r['slowdown']))
    by = {r['config']: r for r in results}
    full = by['hsbox trace -f']['requests_per_s'] / by['strace -f']['requests_per_s']
    sel_h = [r for r in results if r['config'].startswith('hsbox trace -f --seccomp')][0]
    sel_s = [r for r in results if r['config'].startswith('strace -f --seccomp')][0]
    print()
    print('hsbox / strace throughput: all syscalls %.3f, seccomp-bpf selection %.3f' %
          (full, sel_h['requests_per_s'] / sel_s['requests_per_s']))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'requests': args.requests, 'concurrency': args.concurrency,
                       'select': args.select, 'results': results}, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
