"""Seed one torrent with python3-libtorrent on loopback, for bench:transfer.

Run with the Debian interpreter (/usr/bin/python3), which has the libtorrent bindings:

    /usr/bin/python3 lt_seed.py TORRENT SAVE_DIR PORT [MAX_SECONDS] [--seed-mode] [--rc4]

PORT 0 picks a free port. Prints `ready PORT` on stdout once listening and seeding, then seeds until
SIGTERM/SIGINT or until MAX_SECONDS (default 3600) pass. On exit prints `uploaded N` (payload bytes
sent) on stderr. Errors reported by libtorrent go to stderr. --rc4 forces MSE/PE with RC4 both ways
(see lt_settings.py); otherwise libtorrent's defaults.
"""

import signal
import sys
import time

import libtorrent as lt

from lt_settings import loopback_settings


def main() -> int:
    seed_mode = "--seed-mode" in sys.argv
    args = [a for a in sys.argv[1:] if a not in ("--seed-mode", "--rc4")]
    if len(args) < 3:
        sys.stderr.write("usage: lt_seed.py TORRENT SAVE_DIR PORT [MAX_SECONDS] [--seed-mode] [--rc4]\n")
        return 2
    torrent, save_dir, port = args[0], args[1], int(args[2])
    max_seconds = float(args[3]) if len(args) > 3 else 3600.0

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))

    cat = lt.alert.category_t
    settings = loopback_settings(port, "--rc4" in sys.argv)
    settings["alert_mask"] = cat.error_notification | cat.status_notification
    ses = lt.session(settings)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save_dir
    # Not paused, not auto-managed. By default libtorrent checks the whole file before `ready` (as our
    # seeder does), so no hashing happens during the timed transfer. With --seed-mode it trusts the
    # file and instead hashes each piece the first time a peer requests it, i.e. during the transfer.
    atp.flags = lt.torrent_flags.seed_mode if seed_mode else 0
    handle = ses.add_torrent(atp)

    deadline = time.monotonic() + max_seconds
    ready = False
    while not stopping and time.monotonic() < deadline:
        ses.wait_for_alert(200)
        for a in ses.pop_alerts():
            if isinstance(a, lt.listen_failed_alert):
                sys.stderr.write("listen failed: %s\n" % a.message())
                return 1
            if a.category() & cat.error_notification:
                sys.stderr.write("%s: %s\n" % (a.what(), a.message()))
        if not ready and ses.is_listening() and handle.status().state == lt.torrent_status.seeding:
            sys.stdout.write("ready %d\n" % ses.listen_port())
            sys.stdout.flush()
            ready = True

    st = handle.status()
    sys.stderr.write("uploaded %d\n" % st.total_payload_upload)
    sys.stderr.flush()
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
