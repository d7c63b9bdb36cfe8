"""libtorrent settings the bench:transfer drivers (lt_seed.py, lt_leech.py) share: loopback only, no DHT,
LSD, UPnP or uTP, every loopback peer allowed, and optionally MSE/PE forced with RC4 both ways."""

import libtorrent as lt


def loopback_settings(port: int, rc4: bool) -> dict:
    settings = {
        "listen_interfaces": "127.0.0.1:%d" % port,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
    }
    if rc4:
        settings.update(
            {
                "out_enc_policy": int(lt.enc_policy.forced),
                "in_enc_policy": int(lt.enc_policy.forced),
                "allowed_enc_level": int(lt.enc_level.rc4),
                "prefer_rc4": True,
            }
        )
    return settings
