"""Waits for PORTFILE, fetches PATH from 127.0.0.1:PORT N times, removes PORTFILE."""
import os
import sys
import time
import urllib.request

portfile, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
deadline = time.time() + 60
while not os.path.exists(portfile):
    if time.time() > deadline:
        sys.exit('server did not start')
    time.sleep(0.05)
port = int(open(portfile).read())
for _ in range(n):
    with urllib.request.urlopen('http://127.0.0.1:%d/%s' % (port, path), timeout=30) as r:
        r.read()
os.unlink(portfile)
