'use strict';
// A TCP proxy that holds every chunk DELAY_MS in each direction: distance for one peer on loopback, where
// this machine's kernel has no netem. Not a link model (no loss, no window limits), just latency, which
// is what request pipelining has to cover.
//
//   node bench/transfer/delay-proxy.js LISTEN_PORT TARGET_PORT DELAY_MS   # prints "proxy ready"
//   rxtorrent leech -f x.torrent -o out --peer 127.0.0.1:LISTEN_PORT --exit-on-done
const net = require('node:net');
const { setTimeout } = require('node:timers');

const [listenPort, targetPort, delayMs] = process.argv.slice(2).map(Number);

function forward(from, to) {
  from.on('data', (chunk) => setTimeout(() => to.destroyed || to.write(chunk), delayMs));
  from.on('end', () => setTimeout(() => to.end(), delayMs));
  from.on('error', () => to.destroy());
}

net
  .createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    forward(client, upstream);
    forward(upstream, client);
  })
  .listen(listenPort, '127.0.0.1', () => console.log('proxy ready'));
