/**
 * Runs before every test file (jest `setupFiles`). Machines that run the tests have no network beyond
 * loopback and must not send multicast onto a real interface or ask the public DHT routers, so in every
 * test and every process a test starts (children inherit the environment):
 * - local service discovery is off; tests that create their own network namespaces remove the variable
 *   for the processes they run inside them;
 * - the DHT is off, unless a test runs its own loopback DHT network and says so explicitly.
 */
process.env.RXTORRENT_NO_LSD = '1';
process.env.RXTORRENT_NO_DHT ??= '1';
