"""A python3-libtorrent session for loopback tests: the settings every lt-*.py script shares.

libtorrent on loopback needs allow_multiple_connections_per_ip (every peer shares 127.0.0.1) and uTP
off (it tries uTP first); DHT, LSD, UPnP and NAT-PMP stay off (tests talk only to 127.0.0.1).
"""
import libtorrent as lt


def loopback_session():
    return lt.session({
        'listen_interfaces': '127.0.0.1:0',
        'enable_dht': False,
        'enable_lsd': False,
        'enable_upnp': False,
        'enable_natpmp': False,
        'enable_outgoing_utp': False,
        'enable_incoming_utp': False,
        'allow_multiple_connections_per_ip': True,
        'alert_mask': 0,
    })
