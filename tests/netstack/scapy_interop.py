#!/usr/bin/python3
"""Interop with an independent ESP implementation (scapy's).

Starts one space and plays its peer with scapy: ESP-in-UDP (RFC 3948) AES-GCM
(RFC 4106) packets carrying ICMP and ICMPv6 echo, UDP and a whole TCP
exchange; checks the decrypted replies. Then wrong-key, replayed, truncated,
bit-flipped, unknown-SPI and spoofed packets: each must be dropped, counted
under its cause, and never answered.

The space is `hsbox tunnel` (TCP/UDP echo on port 7, counters on demand), or
with --portspace a real portspace, `hsbox run --portspace --tunnel F --stats S`,
running a Python TCP/UDP echo server on port 7 through the socket emulation;
its counters are checked once, from the stats file written at exit.

usage: scapy_interop.py HSBOX_BIN [--portspace]    exit 0 pass, 1 fail, 77 skip (no scapy)
"""
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile

try:
    import logging
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    from scapy.layers.inet import IP, ICMP, UDP, TCP
    from scapy.layers.inet6 import IPv6, ICMPv6EchoRequest, ICMPv6EchoReply
    from scapy.layers.ipsec import ESP, SecurityAssociation
    from scapy.packet import Raw
except Exception as e:  # pragma: no cover - environment without scapy
    print(f"SKIP: scapy not importable: {e}")
    sys.exit(77)

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Space:
    """A running `hsbox tunnel` instance, driven over stdin/stdout."""

    def __init__(self, hsbox, config):
        self.p = subprocess.Popen([hsbox, "tunnel", "--config", config, "--echo", "7"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().strip()
        if not line.startswith("ready "):
            raise RuntimeError(f"tunnel did not start: {line!r}")

    def stats(self):
        self.p.stdin.write("stats\n")
        self.p.stdin.flush()
        out = {}
        while True:
            line = self.p.stdout.readline().strip()
            if line in ("end", ""):
                return out
            k, v = line.split()
            out[k] = int(v)

    def close(self):
        self.p.stdin.close()
        return self.p.wait(timeout=10)


# A dual-stack TCP and UDP echo server on port 7, as a confined program runs it.
ECHO = r"""
import selectors, socket, sys
sel = selectors.DefaultSelector()
t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
t.bind(("::", 7)); t.listen(8); t.setblocking(False)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.bind(("::", 7)); u.setblocking(False)
sel.register(t, selectors.EVENT_READ); sel.register(u, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if s is t:
            c, _ = t.accept(); c.setblocking(False); sel.register(c, selectors.EVENT_READ)
        elif s is u:
            data, addr = u.recvfrom(65536); u.sendto(data, addr)
        else:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data:
                s.sendall(data)
            else:
                sel.unregister(s); s.close()
"""


class PortSpace:
    """A portspace running ECHO; counters only at exit (--stats)."""

    def __init__(self, hsbox, config, stats):
        self.stats_path = stats
        self.p = subprocess.Popen([hsbox, "run", "--portspace", "--tunnel", config, "--stats", stats, "--",
                                   "/usr/bin/python3", "-c", ECHO], stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"portspace did not start: {line!r}")

    def stats(self):
        return None  # not while it runs

    def close(self):
        self.p.terminate()  # forwarded to the echo server
        self.p.wait(timeout=40)
        out = {}
        with open(self.stats_path) as f:
            for line in f:
                k, v = line.split()
                out[k] = int(v)
        return out


def main():
    hsbox = os.path.abspath(sys.argv[1])
    portspace = "--portspace" in sys.argv[2:]
    tmp = tempfile.mkdtemp(prefix="hsbox-scapy-")
    expected = {}  # drop counter -> how many drops this run caused
    space = None
    try:
        for k, bits in (("in", "128"), ("out", "256"), ("wrong", "128")):
            subprocess.run([hsbox, "keygen", "--bits", bits, f"{tmp}/{k}.key"], check=True)
        key = {k: bytes.fromhex(open(f"{tmp}/{k}.key").read().strip()[2:]) for k in ("in", "out", "wrong")}

        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # scapy's end of the tunnel
        peer.bind(("127.0.0.1", 0))
        peer_port = peer.getsockname()[1]
        a_port = free_udp_port()
        with open(f"{tmp}/a.toml", "w") as f:
            f.write(f'''name = "ids"
[local]
endpoint = "127.0.0.1:{a_port}"
address = ["10.77.0.1", "fd77::1"]
[[peer]]
name = "scapy"
endpoint = "127.0.0.1:{peer_port}"
address = ["10.77.0.2", "fd77::2"]
spi_in = 0x1001
spi_out = 0x2001
key_in = "in.key"
key_out = "out.key"
iv_epochs = false                 # scapy picks its IVs at random
''')
        space = PortSpace(hsbox, f"{tmp}/a.toml", f"{tmp}/stats") if portspace else Space(hsbox, f"{tmp}/a.toml")

        def sa(spi, k, seq=1):
            return SecurityAssociation(ESP, spi=spi, crypt_algo="AES-GCM", crypt_key=k, seq_num=seq,
                                       tunnel_header=IP(src="127.0.0.1", dst="127.0.0.1"),
                                       nat_t_header=UDP(sport=peer_port, dport=a_port))

        to_a = sa(0x1001, key["in"])
        from_a = sa(0x2001, key["out"])

        def seal(sa_, inner):
            return bytes(sa_.encrypt(inner)[UDP].payload)

        def send(data):
            peer.sendto(data, ("127.0.0.1", a_port))

        def recv(timeout=2.0):
            """The next decrypted inner packet from the space, or None."""
            r, _, _ = select.select([peer], [], [], timeout)
            if not r:
                return None
            data = peer.recv(65536)
            outer = IP(src="127.0.0.1", dst="127.0.0.1") / UDP(sport=a_port, dport=peer_port) / ESP(data)
            return from_a.decrypt(outer)  # raises if the space's ICV were wrong

        # --- good traffic -------------------------------------------------
        send(seal(to_a, IP(src="10.77.0.2", dst="10.77.0.1") / ICMP(id=7, seq=1) / b"ping-v4"))
        r = recv()
        check(r is not None and r.haslayer(ICMP) and r[ICMP].type == 0 and bytes(r[ICMP].payload) == b"ping-v4"
              and r[IP].src == "10.77.0.1" and r[IP].dst == "10.77.0.2", "ICMP echo is answered")

        send(seal(to_a, IPv6(src="fd77::2", dst="fd77::1") / ICMPv6EchoRequest(id=9, seq=1, data=b"ping-v6")))
        r = recv()
        check(r is not None and r.haslayer(ICMPv6EchoReply) and r[ICMPv6EchoReply].data == b"ping-v6",
              "ICMPv6 echo is answered")

        send(seal(to_a, IP(src="10.77.0.2", dst="10.77.0.1") / UDP(sport=5555, dport=7) / b"udp-hello"))
        r = recv()
        check(r is not None and r.haslayer(UDP) and r[UDP].sport == 7 and r[UDP].dport == 5555
              and bytes(r[UDP].payload) == b"udp-hello", "UDP echo is answered")

        send(seal(to_a, IPv6(src="fd77::2", dst="fd77::1") / UDP(sport=5556, dport=7) / b"udp6-hello"))
        r = recv()
        check(r is not None and r.haslayer(UDP) and bytes(r[UDP].payload) == b"udp6-hello",
              "UDP over IPv6 echo is answered")

        ip = IP(src="10.77.0.2", dst="10.77.0.1")
        send(seal(to_a, ip / TCP(sport=40000, dport=7, flags="S", seq=1000, window=65535)))
        r = recv()
        synack = r is not None and r.haslayer(TCP) and r[TCP].flags == "SA" and r[TCP].ack == 1001
        check(synack, "TCP SYN gets SYN-ACK")
        if synack:
            srv = r[TCP].seq + 1
            send(seal(to_a, ip / TCP(sport=40000, dport=7, flags="A", seq=1001, ack=srv)))
            send(seal(to_a, ip / TCP(sport=40000, dport=7, flags="PA", seq=1001, ack=srv) / b"tcp-data"))
            got = b""
            for _ in range(4):
                r = recv()
                if r is None:
                    break
                got += bytes(r[TCP].payload)
                if got == b"tcp-data":
                    break
            check(got == b"tcp-data", "TCP data is echoed after the handshake")
            send(seal(to_a, ip / TCP(sport=40000, dport=7, flags="R", seq=1009)))
            while recv(0.3) is not None:  # drain ACKs
                pass

        send(seal(to_a, ip / TCP(sport=40001, dport=9, flags="S", seq=5)))
        r = recv()
        check(r is not None and r.haslayer(TCP) and "R" in str(r[TCP].flags), "TCP SYN to a closed port gets RST")

        # --- reordering inside the window, and the window's edge ------------
        def ping_at(seq, n):
            return bytes(to_a.encrypt(IP(src="10.77.0.2", dst="10.77.0.1") / ICMP(id=11, seq=n) / b"r",
                                      seq_num=seq)[UDP].payload)

        def answered(data):
            send(data)
            r = recv(1.0)
            return r is not None and r.haslayer(ICMP) and r[ICMP].type == 0

        base = to_a.seq_num + 10
        order = [5, 3, 1, 4, 2]
        check(all(answered(ping_at(base + i, i)) for i in order), "packets reordered inside the window are all answered")
        top = base + 5 + 3000
        check(answered(ping_at(top, 100)), "a jump far ahead is accepted")
        check(answered(ping_at(top - 1983, 101)), "1983 behind the top: inside the 1984-packet window, accepted")
        before = space.stats()
        send(ping_at(top - 1984, 102))
        expected["drop_replay"] = expected.get("drop_replay", 0) + 1
        check(recv(0.7) is None, "1984 behind the top: outside the window, no reply")
        if before is not None:
            check(space.stats()["drop_replay"] == before["drop_replay"] + 1, "... and counted as a replay")
        to_a.seq_num = top + 1

        # --- hostile traffic: dropped, counted, never answered ---------------
        ping = IP(src="10.77.0.2", dst="10.77.0.1") / ICMP(id=8, seq=2) / b"x"

        def dropped(data, counter, what):
            before = space.stats()
            send(data)
            expected[counter] = expected.get(counter, 0) + 1
            r = recv(0.7)
            check(r is None, f"{what}: no reply")
            if before is None:
                return  # a portspace: counted at the end
            after = space.stats()
            check(after.get(counter, 0) == before.get(counter, 0) + 1, f"{what}: counted as {counter}")
            check(after["rx_packets"] == before["rx_packets"], f"{what}: nothing delivered")

        # (ahead of the window, so the ICV check is what stops it)
        dropped(seal(sa(0x1001, key["wrong"], seq=to_a.seq_num + 1000), ping), "drop_auth_failed",
                "valid SPI, other key")
        dropped(seal(sa(0x1001, key["wrong"], seq=2), ping), "drop_replay",
                "valid SPI, other key, old sequence number")
        dropped(seal(sa(0x7777, key["in"]), ping), "drop_unknown_spi", "unknown SPI")

        good = seal(to_a, ping)
        send(good)
        check(recv() is not None, "a fresh ping is answered")
        dropped(good, "drop_replay", "replayed packet")

        good = seal(to_a, ping)
        dropped(good[:-5], "drop_auth_failed", "truncated packet")
        dropped(good[:12], "drop_too_short", "packet cut inside the header")
        flipped = bytearray(good)
        flipped[30] ^= 0x04
        dropped(bytes(flipped), "drop_auth_failed", "bit-flipped packet")
        flipped = bytearray(good)
        flipped[-1] ^= 0x80
        dropped(bytes(flipped), "drop_auth_failed", "bit-flipped ICV")
        send(good)
        check(recv() is not None, "the unflipped original still verifies (failures never move the window)")

        dropped(seal(to_a, IP(src="10.77.0.9", dst="10.77.0.1") / ICMP() / b"x"), "drop_inner_source",
                "authentic packet with a spoofed inner source")
        dropped(seal(to_a, IP(src="10.77.0.2", dst="10.77.0.3") / ICMP() / b"x"), "drop_inner_destination",
                "authentic packet for another inner address")

        if portspace:
            s = space.close()
            space = None
            print("counters:", {k: v for k, v in s.items() if v})
            check(s.get("rx_packets", 0) > 0, "the portspace received the good packets")
        else:
            s = space.stats()
            print("counters:", {k: v for k, v in s.items() if v})
            check(space.close() == 0, "the space exits cleanly")
            space = None
        drops = {k: v for k, v in s.items() if k.startswith("drop_") and v}
        check(drops == expected, f"every drop counted under its cause, nothing else dropped: {drops} == {expected}")
    finally:
        if space:
            space.p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    if FAILS:
        print(f"{len(FAILS)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
