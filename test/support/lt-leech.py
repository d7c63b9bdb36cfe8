"""Download a torrent with python3-libtorrent (a real third-party client) on loopback.

Usage: [LT_ENCRYPTION=rc4|plaintext|disabled] /usr/bin/python3 lt-leech.py TORRENT SAVE_DIR [PEER_PORT...]
Prints `ready <listen port>` once the torrent is added, `peer <ip:port> <encryption>` for each peer
connection (see lt_loopback.py), `finished` when every piece is verified, then exits 0; exits 1 with the
torrent state after 60 s. Connects to 127.0.0.1:PEER_PORT directly as well as through the torrent's
tracker.
"""
import sys
import time

import libtorrent as lt
from lt_loopback import loopback_session, report_peers

torrent, save_dir, *peer_ports = sys.argv[1:]
ses = loopback_session()
h = ses.add_torrent({'ti': lt.torrent_info(torrent), 'save_path': save_dir})
print('ready', ses.listen_port(), flush=True)
for p in peer_ports:
    h.connect_peer(('127.0.0.1', int(p)))

seen = set()
deadline = time.time() + 60
while time.time() < deadline:
    report_peers(h, seen)
    s = h.status()
    if s.is_seeding or s.is_finished:
        print('finished', s.total_payload_download, flush=True)
        sys.exit(0)
    time.sleep(0.05)
s = h.status()
print('timeout', s.state, s.progress, s.num_peers, file=sys.stderr, flush=True)
sys.exit(1)
