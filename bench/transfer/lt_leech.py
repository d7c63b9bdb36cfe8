"""Download one torrent with python3-libtorrent on loopback, for bench:transfer.

Run with the Debian interpreter (/usr/bin/python3), which has the libtorrent bindings:

    /usr/bin/python3 lt_leech.py TORRENT SAVE_DIR PEER_PORT [--rc4]

Connects to 127.0.0.1:PEER_PORT (and whatever the torrent's tracker names), downloads and verifies
every piece, and exits 0 once finished; exits 1 after an hour or on a libtorrent error. --rc4 forces
MSE/PE with RC4 both ways (see lt_settings.py). Prints `finished BYTES` on stdout.
"""

import sys
import time

import libtorrent as lt

from lt_settings import loopback_settings


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--rc4"]
    if len(args) != 3:
        sys.stderr.write("usage: lt_leech.py TORRENT SAVE_DIR PEER_PORT [--rc4]\n")
        return 2
    torrent, save_dir, peer_port = args[0], args[1], int(args[2])
    cat = lt.alert.category_t
    settings = loopback_settings(0, "--rc4" in sys.argv)
    settings["alert_mask"] = cat.error_notification
    ses = lt.session(settings)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save_dir
    handle = ses.add_torrent(atp)
    handle.connect_peer(("127.0.0.1", peer_port))

    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        ses.wait_for_alert(100)
        for a in ses.pop_alerts():
            if a.category() & cat.error_notification:
                sys.stderr.write("%s: %s\n" % (a.what(), a.message()))
        st = handle.status()
        if st.is_finished or st.is_seeding:
            print("finished", st.total_payload_download, flush=True)
            return 0
    sys.stderr.write("not finished within an hour\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
