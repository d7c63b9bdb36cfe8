/**
 * A scripted raw-UDP client for tracker tests: sends datagrams from one socket and hands back the
 * replies in arrival order (each wait bounded in time). Loopback keeps datagram order, so "no reply
 * to X" is checked by sending X, then a connect, and seeing the connect's reply come first.
 */
import * as dgram from 'node:dgram';
import { decodeUdpReply, encodeConnectRequest, UdpReply } from '../../src/protocol/udp-tracker-codec';

export interface UdpProbe {
  port: number;
  send(datagram: Buffer): void;
  /** The next datagram received (or a rejection after `timeoutMs`). */
  next(timeoutMs?: number): Promise<Buffer>;
  /** Send and wait for the reply. */
  ask(datagram: Buffer, timeoutMs?: number): Promise<Buffer>;
  /** Decode a reply as the probe's family would. */
  decode(reply: Buffer): UdpReply;
  /** A fresh connection id from the tracker. */
  connect(): Promise<Buffer>;
  close(): void;
}

export async function udpProbe(host: string, port: number): Promise<UdpProbe> {
  const family = host.includes(':') ? 6 : 4;
  const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
  await new Promise<void>((r) => socket.bind(0, family === 6 ? '::1' : '127.0.0.1', () => r()));
  const inbox: Buffer[] = [];
  let wake: (() => void) | null = null;
  socket.on('message', (m) => {
    inbox.push(m);
    wake?.();
  });
  let tid = 0x1000;
  const next = (timeoutMs = 3000): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const take = (): boolean => {
        const m = inbox.shift();
        if (!m) return false;
        clearTimeout(t);
        wake = null;
        resolve(m);
        return true;
      };
      const t = setTimeout(() => {
        wake = null;
        reject(new Error(`no UDP reply within ${timeoutMs} ms`));
      }, timeoutMs);
      if (!take()) wake = () => void take();
    });
  const probe: UdpProbe = {
    port: socket.address().port,
    send: (d) => socket.send(d, port, host),
    next,
    ask: (d, timeoutMs) => {
      socket.send(d, port, host);
      return next(timeoutMs);
    },
    decode: (reply) => {
      const d = decodeUdpReply(reply, family);
      if (!d.ok) throw new Error(d.reason);
      return d.reply;
    },
    connect: async () => {
      const r = probe.decode(await probe.ask(encodeConnectRequest(++tid)));
      if (r.action !== 'connect') throw new Error(`connect answered with ${r.action}`);
      return r.connectionId;
    },
    close: () => socket.close(),
  };
  return probe;
}
