#!/usr/bin/env python3
"""TCP throughput and request/response latency between two portspaces joined by
an ESP tunnel (`hsbox run --portspace --tunnel FILE`), versus native loopback
and versus a plain `hsbox run` (server space on the host network, no tunnel),
all measured interleaved in the same invocation so machine noise hits each alike.

Throughput is iperf3 (server in portspace A, client in portspace B); latency is
a small echo server / client pair (python3, one TCP connection, TCP_NODELAY,
fixed-size request/responses) timed per round trip. Prints medians, the ratio
to native, a Markdown table and one JSON line. Exits 1 with a one-line error
if any part fails (e.g. iperf3 missing).

usage: bench_portspace.py --hsbox PATH [--runs N] [--seconds S] [--rr N]
                          [--size BYTES] [--no-extra]
"""
import argparse
import json
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

INNER_A = "10.77.0.1"  # portspace A's inner address (the servers)
INNER_B = "10.77.0.2"  # portspace B's inner address (the clients)
SPACE_PORT = 5201      # port inside the portspaces: their stacks are private

# Echo server run as `python3 -c ECHO_SERVER HOST PORT`: accepts one
# connection, echoes until EOF. Prints "ready" once listening.
ECHO_SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while True:
    b = c.recv(65536)
    if not b:
        break
    c.sendall(b)
c.close()
"""

# Client run as `python3 -c RR_CLIENT HOST PORT COUNT SIZE`: COUNT timed
# request/responses of SIZE bytes (after a short untimed warm-up), prints one
# JSON line {"median_us", "p99_us", "count"}. Retries the connect for a few
# seconds because the server may still be starting.
RR_CLIENT = r"""
import json, socket, sys, time
host, port, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
deadline = time.monotonic() + 20
while True:
    try:
        s = socket.create_connection((host, port))
        break
    except OSError as e:
        if time.monotonic() > deadline:
            sys.exit("rr client: connect %s:%d: %s" % (host, port, e))
        time.sleep(0.05)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
req = b"r" * size
def one():
    s.sendall(req)
    got = 0
    while got < size:
        b = s.recv(size - got)
        if not b:
            sys.exit("rr client: server closed early")
        got += len(b)
for _ in range(min(200, count // 10 + 1)):
    one()
rtt = []
clock = time.perf_counter_ns
for _ in range(count):
    t0 = clock()
    one()
    rtt.append(clock() - t0)
s.close()
rtt.sort()
print(json.dumps({"median_us": rtt[len(rtt) // 2] / 1e3,
                  "p99_us": rtt[min(len(rtt) - 1, len(rtt) * 99 // 100)] / 1e3,
                  "count": count}))
"""


class BenchError(Exception):
    """A part of the benchmark failed; the message is the one line to print."""


def free_port(kind):
    """An ephemeral port on 127.0.0.1 that is free now (UDP or TCP)."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_tunnels(hsbox, d):
    """Keys and the two tunnel files a.toml / b.toml in `d`; returns their paths."""
    os.makedirs(os.path.join(d, "keys"))
    for k in ("ab.key", "ba.key"):
        r = subprocess.run([hsbox, "keygen", os.path.join(d, "keys", k)], capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError("hsbox keygen failed: " + (r.stderr.strip() or "exit %d" % r.returncode))
    pa, pb = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    while pb == pa:
        pb = free_port(socket.SOCK_DGRAM)
    spec = {  # side: (own port, peer name, peer port, own inner, peer inner, spi_in, spi_out, key_in, key_out)
        "a": (pa, "b", pb, INNER_A, INNER_B, "0x1002", "0x2001", "ba.key", "ab.key"),
        "b": (pb, "a", pa, INNER_B, INNER_A, "0x2001", "0x1002", "ab.key", "ba.key"),
    }
    paths = {}
    for side, (port, peer, peer_port, me, them, spi_in, spi_out, key_in, key_out) in spec.items():
        path = os.path.join(d, side + ".toml")
        with open(path, "w") as f:
            f.write('name = "bench"\n[local]\nendpoint = "127.0.0.1:%d"\naddress = "%s"\n'
                    '[[peer]]\nname = "%s"\nendpoint = "127.0.0.1:%d"\naddress = "%s"\n'
                    'spi_in = %s\nspi_out = %s\nkey_in = "keys/%s"\nkey_out = "keys/%s"\n'
                    % (port, me, peer, peer_port, them, spi_in, spi_out, key_in, key_out))
        paths[side] = path
    return paths


class Setup:
    """How to run a server and a client for one configuration."""

    def __init__(self, name, server_prefix, client_prefix, server_host, client_host):
        self.name = name
        self.server_prefix = server_prefix  # argv prefix wrapping the server
        self.client_prefix = client_prefix  # argv prefix wrapping the client
        self.server_host = server_host      # address the server binds
        self.client_host = client_host      # address the client connects to


def start_server(argv, ready_word, what, timeout=20):
    """Starts a server and waits for `ready_word` on its stdout."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    seen = b""
    while ready_word.encode() not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or p.poll() is not None:
            err = p.stderr.read().decode(errors="replace").strip() if p.poll() is not None else "timed out"
            stop(p)
            raise BenchError("%s server did not start: %s" % (what, err.splitlines()[-1] if err else "no output"))
        r, _, _ = select.select([p.stdout], [], [], min(left, 0.5))
        if r:  # raw reads: a buffered readline could hide later lines from select
            seen += os.read(p.stdout.fileno(), 4096)
    return p


def stop(p, timeout=10):
    """Waits for `p` to end (it should, after one client); kills it if it hangs."""
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def run_client(argv, what, timeout):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        msg = r.stderr.strip().splitlines()[-1:] or r.stdout.strip().splitlines()[-1:] or ["exit %d" % r.returncode]
        # iperf3 -J reports its errors in the JSON
        try:
            msg = [json.loads(r.stdout)["error"]]
        except (ValueError, KeyError):
            pass
        raise BenchError("%s client failed: %s" % (what, msg[0]))
    return r.stdout


def iperf(setup, port, seconds, extra):
    """Gbit/s received in one iperf3 run (server -1 in one place, client in the other)."""
    what = "iperf3 %s%s" % (setup.name, (" " + " ".join(extra)) if extra else "")
    srv = start_server(setup.server_prefix + ["iperf3", "-s", "-1", "--forceflush", "-B", setup.server_host,
                                               "-p", str(port)], "Server listening", what)
    try:
        out = run_client(setup.client_prefix + ["iperf3", "-c", setup.client_host, "-p", str(port), "-t",
                                                str(seconds), "-J"] + extra, what, seconds + 60)
    finally:
        stop(srv)
    try:
        return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9
    except (ValueError, KeyError) as e:
        raise BenchError("%s: unreadable JSON (%s)" % (what, e))


def rr(setup, port, count, size):
    """(median µs, p99 µs) of `count` request/responses."""
    what = "rr %s" % setup.name
    srv = start_server(setup.server_prefix + ["python3", "-c", ECHO_SERVER, setup.server_host, str(port)],
                       "ready", what)
    try:
        out = run_client(setup.client_prefix + ["python3", "-c", RR_CLIENT, setup.client_host, str(port), str(count),
                                                str(size)], what, 600)
    finally:
        stop(srv)
    try:
        j = json.loads(out.strip().splitlines()[-1])
        return j["median_us"], j["p99_us"]
    except (ValueError, KeyError, IndexError) as e:
        raise BenchError("%s: unreadable result %r (%s)" % (what, out[-200:], e))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hsbox", required=True, help="path to the hsbox binary")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5, help="iperf3 -t")
    ap.add_argument("--rr", type=int, default=20000, help="request/responses per run")
    ap.add_argument("--size", type=int, default=64, help="bytes per request and response")
    ap.add_argument("--no-extra", action="store_true", help="skip the -R and -P 4 iperf3 runs")
    args = ap.parse_args()

    for tool in ("iperf3", "python3"):
        if not shutil.which(tool):
            raise BenchError("%s not found in PATH" % tool)
    hsbox = os.path.abspath(args.hsbox)
    if not os.access(hsbox, os.X_OK):
        raise BenchError("%s is not an executable" % hsbox)

    with tempfile.TemporaryDirectory(prefix="bench_portspace.") as d:
        t = write_tunnels(hsbox, d)
        native = Setup("native", [], [], "127.0.0.1", "127.0.0.1")
        plain = Setup("hsbox run", [hsbox, "run", "--"], [], "127.0.0.1", "127.0.0.1")
        tunnel = Setup("portspace tunnel", [hsbox, "run", "--portspace", "--tunnel", t["a"], "--"],
                       [hsbox, "run", "--portspace", "--tunnel", t["b"], "--"], INNER_A, INNER_A)
        setups = [tunnel, native, plain]
        # rows: key -> (label, unit, {setup name: [values per run]})
        rows = {}

        def add(key, label, unit, setup, value):
            rows.setdefault(key, (label, unit, {}))[2].setdefault(setup.name, []).append(value)

        iperf_modes = [("tcp", "TCP throughput, 1 stream", [])]
        if not args.no_extra:
            iperf_modes += [("tcp_reverse", "TCP throughput, -R (reverse)", ["-R"]),
                            ("tcp_p4", "TCP throughput, -P 4", ["-P", "4"])]
        for run in range(args.runs):
            for s in setups:
                port = SPACE_PORT if s is tunnel else free_port(socket.SOCK_STREAM)
                for key, label, extra in iperf_modes:
                    add(key, label, "Gbit/s", s, iperf(s, port, args.seconds, extra))
                med, p99 = rr(s, port, args.rr, args.size)
                add("rtt", "TCP round trip, median", "µs", s, med)
                add("rtt_p99", "TCP round trip, p99", "µs", s, p99)
            print("run %d/%d done" % (run + 1, args.runs), file=sys.stderr, flush=True)

    med = {k: {n: statistics.median(v) for n, v in r[2].items()} for k, r in rows.items()}
    print("## portspace: two portspaces through the ESP tunnel vs native loopback\n")
    print("median of %d runs; iperf3 -t %d; %d request/responses of %d bytes (python3 client and echo server, "
          "TCP_NODELAY)\n" % (args.runs, args.seconds, args.rr, args.size))
    print("| measure | portspace tunnel | native loopback | plain `hsbox run` server | ratio tunnel/native | "
          "ratio hsbox run/native |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, (label, unit, _) in rows.items():
        m = med[key]
        fmt = "%.3f" if unit == "Gbit/s" else "%.1f"
        cell = lambda n: (fmt % m[n]) + " " + unit
        print("| %s | %s | %s | %s | %.3f | %.3f |" % (label, cell(tunnel.name), cell(native.name), cell(plain.name),
                                                      m[tunnel.name] / m[native.name], m[plain.name] / m[native.name]))
    print("\nper run (tunnel / native / hsbox run):\n")
    for key, (label, unit, per) in rows.items():
        print("- %s: %s" % (label, " / ".join(", ".join("%.3g" % v for v in per[s.name]) for s in setups)))
    print()
    out = {"bench": "portspace", "runs": args.runs, "seconds": args.seconds, "rr": args.rr, "size": args.size}
    for key in rows:
        out["tunnel_" + key] = round(med[key][tunnel.name], 4)
        out["native_" + key] = round(med[key][native.name], 4)
        out["hsbox_run_" + key] = round(med[key][plain.name], 4)
        out[key + "_ratio"] = round(med[key][tunnel.name] / med[key][native.name], 4)
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print("bench_portspace: %s" % e, file=sys.stderr)
        sys.exit(1)
    except subprocess.TimeoutExpired as e:
        print("bench_portspace: timed out: %s" % " ".join(e.cmd[-8:]), file=sys.stderr)
        sys.exit(1)
