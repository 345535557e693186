# Python side of tests/portspace/test_portspace.cpp: small clients and servers
# run INSIDE a portspace (`hsbox run --portspace ... -- python3 pt_helper.py
# CMD ARGS`). Each prints one "key value" line per observation (flushed) and
# the C++ test checks the lines, so a wrong errno or address shows in the log.
import errno
import os
import select
import socket
import struct
import sys
import threading
import time
import urllib.request


def say(*a):
    print(*a, flush=True)


def fam(host):
    return socket.AF_INET6 if ':' in host else socket.AF_INET


def connect_retry(host, port, secs=15):
    """TCP connect, retrying while the server in the other space starts up."""
    end = time.time() + secs
    while True:
        s = socket.socket(fam(host), socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect((host, port))
            return s
        except ConnectionRefusedError:
            s.close()
            if time.time() > end:
                raise
            time.sleep(0.1)


def greeting(host, port, secs=15):
    """Connects and reads until EOF, retrying while that gives nothing (the
    server in the other space may not listen yet). Returns the bytes read."""
    end = time.time() + secs
    while True:
        s = connect_retry(host, port, secs)
        try:
            data = recv_all(s)
        except OSError:
            data = b''
        if data or time.time() > end:
            return data
        time.sleep(0.1)


def recv_all(s):
    b = b''
    while True:
        d = s.recv(65536)
        if not d:
            return b
        b += d


def errno_of(fn):
    try:
        fn()
        return 0
    except OSError as e:
        return e.errno


# fetch URL...: writes the bodies to stdout (retries while the server starts).
def fetch(*urls):
    for url in urls:
        fetch_one(url)


def fetch_one(url):
    end = time.time() + 15
    while True:
        try:
            body = urllib.request.urlopen(url, timeout=10).read()
            break
        except urllib.error.URLError as e:
            if not isinstance(e.reason, ConnectionRefusedError) or time.time() > end:
                raise
            time.sleep(0.1)
    sys.stdout.buffer.write(body)
    sys.stdout.flush()


# try_tcp HOST PORT SECS: one connect attempt with a timeout (the intruder).
def try_tcp(host, port, secs):
    s = socket.socket(fam(host), socket.SOCK_STREAM)
    s.settimeout(float(secs))
    try:
        s.connect((host, int(port)))
        s.sendall(b'GET / HTTP/1.0\r\n\r\n')
        say('connected', s.recv(100))
    except socket.timeout:
        say('result timeout')
    except OSError as e:
        say('result errno', e.errno)


# udp_server BINDADDR PORT N: answers N datagrams (the last ones through
# recvmsg) with b'echo:' + data, to the address they came from.
def udp_server(bindaddr, port, n):
    s = socket.socket(fam(bindaddr), socket.SOCK_DGRAM)
    s.bind((bindaddr, int(port)))
    say('ready')
    for i in range(int(n)):
        if i % 2:
            data, anc, flags, addr = s.recvmsg(2048)
        else:
            data, addr = s.recvfrom(2048)
        say('from', addr[0], data.decode())
        s.sendto(b'echo:' + data, addr)
    say('done')


# udp_client SERVER PORT: unconnected sendto/recvfrom, recvmsg with a name,
# connected send/recv; prints the source of every reply.
def udp_client(server, port):
    port = int(port)
    u = socket.socket(fam(server), socket.SOCK_DGRAM)
    u.settimeout(5)
    u.sendto(b'one', (server, port))
    data, addr = u.recvfrom(100)
    say('recvfrom', data.decode(), addr[0], addr[1])
    u.sendto(b'two', (server, port))
    data, anc, flags, addr = u.recvmsg(100)
    say('recvmsg', data.decode(), addr[0], addr[1])
    c = socket.socket(fam(server), socket.SOCK_DGRAM)
    c.settimeout(5)
    c.connect((server, port))
    c.send(b'three')
    say('recv', c.recv(100).decode(), 'peer', c.getpeername()[0], 'local', c.getsockname()[0])
    c.send(b'four')
    say('recv', c.recv(100).decode())


# same_port PORT NAME PEER: binds TCP and UDP PORT on the wildcard, checks a
# second bind of each is EADDRINUSE, then serves one TCP connection and one
# datagram with NAME while asking PEER's same port for its name.
def same_port(port, name, peer):
    port = int(port)
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(('0.0.0.0', port))
    t.listen(4)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(('0.0.0.0', port))
    say('bound')
    say('second tcp', errno_of(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).bind(('0.0.0.0', port))))
    say('second udp', errno_of(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(('0.0.0.0', port))))

    def serve():
        c, _ = t.accept()
        c.sendall(name.encode())
        c.close()
        data, addr = u.recvfrom(100)
        u.sendto(name.encode(), addr)
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    say('tcp answer', greeting(peer, port).decode())
    q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    q.settimeout(1)
    for _ in range(15):  # the peer may not have bound yet
        q.sendto(b'who', (peer, port))
        try:
            say('udp answer', q.recv(100).decode())
            break
        except socket.timeout:
            pass
    th.join(15)


# unreach ADDR...: TCP connect, UDP sendto and UDP connect to each address.
def unreach(*addrs):
    for a in addrs:
        t = socket.socket(fam(a), socket.SOCK_STREAM)
        t.settimeout(5)
        u = socket.socket(fam(a), socket.SOCK_DGRAM)
        u2 = socket.socket(fam(a), socket.SOCK_DGRAM)
        say('addr', a, 'tcp', errno_of(lambda: t.connect((a, 7))), 'udp', errno_of(lambda: u.sendto(b'x', (a, 7))),
            'udpconnect', errno_of(lambda: u2.connect((a, 7))))


# no_tunnel: a portspace without --tunnel: bind/listen work, connects do not.
def no_tunnel():
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(('0.0.0.0', 0))
    t.listen(1)
    say('listen port', t.getsockname()[1])
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.bind(('::', 0))
    say('udp bound', u.getsockname()[1] != 0)
    unreach('127.0.0.1', '::1', '10.77.0.2', '8.8.8.8')


# hold_server PORT: accepts one connection and keeps it open until stdin-less
# sleep ends (the test looks at the space's fds meanwhile).
def hold_server(port):
    t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    t.bind(('::', int(port)))
    t.listen(1)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(('0.0.0.0', int(port)))
    c, addr = t.accept()
    c.sendall(b'hi')
    say('accepted', addr[0])
    time.sleep(30)


def hold_client(host, port):
    end = time.time() + 15
    while True:  # a connect that "succeeded" before the server listened reads nothing
        s = connect_retry(host, int(port))
        if s.recv(2) == b'hi' or time.time() > end:
            break
        time.sleep(0.1)
    say('connected', s.getsockname()[0])
    time.sleep(30)


# errors_server PORT: accept with SO_RCVTIMEO, then three connections from
# errors_client: names, EOF on close, EOF on shutdown(SHUT_WR) and a reply.
def errors_server(port):
    port = int(port)
    w = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    w.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack('ll', 0, 300000))
    w.bind(('10.77.0.1', 0))
    w.listen(1)
    t0 = time.time()
    say('accept timeout', errno_of(lambda: w.accept()), 'returned', time.time() - t0 < 10)
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(('10.77.0.1', port))
    t.listen(4)
    say('ready')
    c, _ = t.accept()  # 1: the client's readiness probe
    c.close()
    c, addr = t.accept()  # 2: names, then the client sends and closes
    say('server sockname', *c.getsockname())
    say('server peername', *addr)
    say('server getpeername', *c.getpeername())
    say('eof after close', repr(recv_all(c)))
    c.close()
    c, _ = t.accept()  # 3: the client shuts down its write side
    say('eof after shutdown', repr(recv_all(c)))
    c.sendall(b'reply-after-eof')
    c.close()
    say('done')


def errors_client(server, port, closed_port):
    port, closed_port = int(port), int(closed_port)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    say('refused', errno_of(lambda: s.connect((server, closed_port))))
    n = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    n.setblocking(False)
    say('nonblocking refused connect', errno_of(lambda: n.connect((server, closed_port))))
    p = select.poll()
    p.register(n, select.POLLOUT)
    say('nonblocking refused polled', len(p.poll(10000)),
        'so_error', n.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
    c = connect_retry(server, port)  # 1
    c.close()
    n = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    n.setblocking(False)
    # 2: non-blocking connect, names, send and close
    say('nonblocking connect', errno_of(lambda: n.connect((server, port))))
    r, wr, _ = select.select([], [n], [], 10)
    say('writable', len(wr), 'so_error', n.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
    say('client sockname', *n.getsockname())
    say('client peername', *n.getpeername())
    n.setblocking(True)
    n.sendall(b'bye')
    n.close()
    h = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # 3
    h.settimeout(10)
    h.connect((server, port))
    h.sendall(b'half')
    h.shutdown(socket.SHUT_WR)
    say('reply', repr(recv_all(h)))


# resolve: netlink sockets, name lookups that must not hang, numeric names.
def resolve():
    say('netlink', errno_of(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)))
    for name in ('localhost', 'no-such-host-hsbox.invalid'):
        t0 = time.time()
        try:
            r = socket.getaddrinfo(name, 80)
            say('getaddrinfo', name, 'ok', sorted({x[4][0] for x in r}))
        except socket.gaierror as e:
            say('getaddrinfo', name, 'gaierror', e.errno)
        say('took', name, round(time.time() - t0, 1))
    say('gethostbyname', socket.gethostbyname('10.77.0.2'))


if __name__ == '__main__':
    globals()[sys.argv[1]](*sys.argv[2:])
