/**
 * Environment for every test file (jest `setupFiles`). The machines that run tests reach nothing but
 * loopback: the DHT stays off (no public routers are resolved or asked) in every process a test
 * starts, unless a test runs its own loopback DHT network and says so explicitly.
 */
process.env.RXTORRENT_NO_DHT ??= '1';
