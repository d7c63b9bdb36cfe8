"""Download a magnet link with python3-libtorrent (a real third-party client) on loopback.

Usage: /usr/bin/python3 lt-magnet.py MAGNET SAVE_DIR [PEER_PORT...]
Prints `ready <listen port>` and `up <epoch s>` once the link is added, `metadata <epoch s>` when the info dictionary has
arrived, `firstbyte <epoch s>` when the first payload byte has, `finished <bytes>` when every piece is
verified, then exits 0; exits 1 with the torrent's state after TIMEOUT seconds (default 60). Dials
127.0.0.1:PEER_PORT as well as the link's own peers and trackers. Times are wall-clock seconds with
millisecond precision (status polled every 2 ms), for the magnet start-up benchmark.
"""
import os
import sys
import time

import libtorrent as lt
from lt_loopback import loopback_session

magnet, save_dir, *peer_ports = sys.argv[1:]
timeout = float(os.environ.get('TIMEOUT', '60'))
ses = loopback_session()
atp = lt.parse_magnet_uri(magnet)
atp.save_path = save_dir
h = ses.add_torrent(atp)
print('ready', ses.listen_port(), flush=True)
print('up', '%.3f' % time.time(), flush=True)
for p in peer_ports:
    h.connect_peer(('127.0.0.1', int(p)))

deadline = time.time() + timeout
said_metadata = False
said_first = False
while time.time() < deadline:
    s = h.status()
    if not said_metadata and s.has_metadata:
        said_metadata = True
        print('metadata', '%.3f' % time.time(), flush=True)
    if not said_first and s.total_payload_download > 0:
        said_first = True
        print('firstbyte', '%.3f' % time.time(), flush=True)
    if s.has_metadata and (s.is_seeding or s.is_finished):
        print('finished', s.total_payload_download, flush=True)
        sys.exit(0)
    time.sleep(0.002)
s = h.status()
print('timeout', s.state, s.progress, s.num_peers, s.has_metadata, file=sys.stderr, flush=True)
sys.exit(1)
