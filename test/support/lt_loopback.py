"""A python3-libtorrent session for loopback tests: the settings every lt-*.py script shares, and
reports of how each peer connection is encrypted.

libtorrent on loopback needs allow_multiple_connections_per_ip (every peer shares 127.0.0.1) and uTP
off (it tries uTP first); DHT, LSD, UPnP and NAT-PMP stay off (tests talk only to 127.0.0.1).

LT_ENCRYPTION in the environment sets libtorrent's MSE/PE policy for both directions:
  rc4        out_enc_policy = in_enc_policy = forced, allowed_enc_level = rc4
  plaintext  forced, allowed_enc_level = plaintext (an encrypted header, then plaintext)
  disabled   out_enc_policy = in_enc_policy = disabled (plain BitTorrent only)
unset: libtorrent's defaults (enabled both ways, both levels, plaintext preferred).
"""
import os
import sys

import libtorrent as lt

FORCED = int(lt.enc_policy.forced)
ENCRYPTION = {
    'rc4': {'out_enc_policy': FORCED, 'in_enc_policy': FORCED,
            'allowed_enc_level': int(lt.enc_level.rc4), 'prefer_rc4': True},
    'plaintext': {'out_enc_policy': FORCED, 'in_enc_policy': FORCED,
                  'allowed_enc_level': int(lt.enc_level.plaintext)},
    'disabled': {'out_enc_policy': int(lt.enc_policy.disabled), 'in_enc_policy': int(lt.enc_policy.disabled)},
}


def loopback_session():
    settings = {
        'listen_interfaces': '127.0.0.1:0',
        'enable_dht': False,
        'enable_lsd': False,
        'enable_upnp': False,
        'enable_natpmp': False,
        'enable_outgoing_utp': False,
        'enable_incoming_utp': False,
        'allow_multiple_connections_per_ip': True,
        'alert_mask': 0,
    }
    mode = os.environ.get('LT_ENCRYPTION')
    if mode:
        if mode not in ENCRYPTION:
            sys.exit('LT_ENCRYPTION must be one of %s, not %r' % (', '.join(ENCRYPTION), mode))
        settings.update(ENCRYPTION[mode])
    return lt.session(settings)


def report_peers(handle, seen):
    """Prints `peer <ip:port> rc4|plaintext|none` once for each new peer connection."""
    for p in handle.get_peer_info():
        key = '%s:%d' % p.ip
        # The encryption flags are set once the handshakes are done.
        if key in seen or p.flags & (lt.peer_info.connecting | lt.peer_info.handshake):
            continue
        seen.add(key)
        kind = ('rc4' if p.flags & lt.peer_info.rc4_encrypted
                else 'plaintext' if p.flags & lt.peer_info.plaintext_encrypted else 'none')
        print('peer', key, kind, flush=True)
