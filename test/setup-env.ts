/**
 * Runs before every test file (jest `setupFiles`). Machines that run the tests have no network beyond
 * loopback and must not send multicast onto a real interface, so local service discovery is off for
 * every test and every process a test starts (children inherit the environment). Tests that create
 * their own network namespaces remove the variable for the processes they run inside them.
 */
process.env.RXTORRENT_NO_LSD = '1';
