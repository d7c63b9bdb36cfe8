"""Seed a torrent with python3-libtorrent (a real third-party client) on loopback.

Usage: [LT_ENCRYPTION=rc4|plaintext|disabled] /usr/bin/python3 lt-seed.py TORRENT SAVE_DIR
SAVE_DIR holds the complete file or folder. Prints `ready <listen port>` once libtorrent has checked the
data and is seeding, then `uploaded <bytes>` every second and `peer <ip:port> <encryption>` for each
peer connection (see lt_loopback.py); runs until its stdin closes or it is killed. Exits 1 if the data
does not check out within 30 s.
"""
import sys
import threading
import time

import libtorrent as lt
from lt_loopback import loopback_session, report_peers

torrent, save_dir = sys.argv[1:]
ses = loopback_session()
h = ses.add_torrent({'ti': lt.torrent_info(torrent), 'save_path': save_dir})

deadline = time.time() + 30
while not h.status().is_seeding:
    if time.time() > deadline:
        s = h.status()
        print('not seeding', s.state, s.progress, file=sys.stderr, flush=True)
        sys.exit(1)
    time.sleep(0.05)
print('ready', ses.listen_port(), flush=True)

stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
seen = set()
ticks = 0
# Peers are polled every 10 ms: a leecher that takes a few MiB and exits may hold its connection for
# less than 100 ms, and a peer gone before a poll is never reported.
while not stop.wait(0.01):
    report_peers(h, seen)
    ticks += 1
    if ticks % 100 == 0:
        print('uploaded', h.status().total_payload_upload, flush=True)
