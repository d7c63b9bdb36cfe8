// A bittorrent-protocol (WebTorrent's wire, with its own MSE) peer for interop tests, run as a child
// process because the package is ESM-only and jest runs CommonJS. It prints one line per fact:
//   LISTENING <port> | CIPHER rc4|plaintext | HANDSHAKE <peerIdHex> | BLOCK <sha1Hex> | GOT <event> | ERROR <msg>
//
//   node bt-protocol-peer.mjs listen <infoHashHex> <pe>          accept one connection, serve one block
//                                                                (it has piece 0: its bitfield says so)
//   node bt-protocol-peer.mjs dial <port> <infoHashHex> <pe>     dial, ask for block 0/0/16384, print it
// <pe>: 1 = MSE, plaintext allowed (offers both; as responder prefers plaintext), 2 = MSE with RC4 only.
// The served block is bytes (i * 7) & 255 for i in 0..16383, so the test can check its hash.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { setTimeout } from 'node:timers';
import Protocol from 'bittorrent-protocol';

const [mode, ...args] = process.argv.slice(2);
const PEER_ID = Buffer.from('-BP0509-' + 'wiretest0000');
const BLOCK = Buffer.from(Array.from({ length: 16384 }, (_, i) => (i * 7) & 255));
const say = (line) => process.stdout.write(line + '\n');
const sha1 = (b) => createHash('sha1').update(b).digest('hex');
const methodName = (m) => (m === 2 ? 'rc4' : m === 1 ? 'plaintext' : String(m));
// Never linger: the test kills us too, but a stuck child must not outlive it.
setTimeout(() => process.exit(3), 30_000).unref();

function wire(socket, type, pe) {
  const w = new Protocol(type, pe);
  socket.pipe(w).pipe(socket);
  socket.on('error', (e) => say('ERROR socket ' + e.message));
  socket.on('close', () => say('GOT close'));
  w.on('error', (e) => say('ERROR wire ' + e.message));
  w.on('crypto-handshake', () => say('CIPHER ' + methodName(w._encryptionMethod)));
  for (const ev of ['interested', 'unchoke', 'choke', 'have', 'keep-alive']) w.on(ev, () => say('GOT ' + ev));
  return w;
}

if (mode === 'listen') {
  const [infoHashHex, pe] = args;
  const req2 = sha1(Buffer.concat([Buffer.from('req2'), Buffer.from(infoHashHex, 'hex')]));
  const server = net.createServer((socket) => {
    server.close();
    const w = wire(socket, 'tcpIncoming', Number(pe));
    w.on('crypto-infohash', (hash) => {
      if (hash === req2) w.setInfoHash(infoHashHex);
      else say('ERROR unknown torrent ' + hash);
    });
    w.on('handshake', (infoHash, peerId) => {
      say('HANDSHAKE ' + peerId);
      w.handshake(infoHashHex, PEER_ID);
      w.bitfield(Buffer.from([0x80]));
    });
    w.on('interested', () => w.unchoke());
    w.on('request', (index, offset, length, cb) => {
      say(`GOT request ${index} ${offset} ${length}`);
      cb(null, BLOCK.subarray(0, length));
    });
  });
  server.listen(0, '127.0.0.1', () => say('LISTENING ' + server.address().port));
} else if (mode === 'dial') {
  const [port, infoHashHex, pe] = args;
  const socket = net.connect(Number(port), '127.0.0.1');
  const w = wire(socket, 'tcpOutgoing', Number(pe));
  socket.on('connect', () => w.startEncryption(infoHashHex));
  w.on('crypto-handshake', () => w.handshake(infoHashHex, PEER_ID));
  w.on('handshake', (infoHash, peerId) => {
    say('HANDSHAKE ' + peerId);
    w.interested();
  });
  w.on('unchoke', () =>
    w.request(0, 0, 16384, (err, block) => {
      if (err) say('ERROR request ' + err.message);
      else say('BLOCK ' + sha1(block));
      w.destroy();
      socket.end();
    }),
  );
} else {
  say('ERROR usage: listen <infoHashHex> <pe> | dial <port> <infoHashHex> <pe>');
  process.exit(2);
}
