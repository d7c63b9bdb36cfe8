/**
 * A raw KRPC client on its own UDP socket, for hostile-input tests: send any bytes, or a query and
 * wait (bounded) for the reply that echoes its transaction id.
 */
import * as dgram from 'node:dgram';
import { KrpcMessage, KrpcQuery, NodeAddress, decodeKrpc, encodeQuery } from '../../src/protocol/krpc';

export class KrpcClient {
  private readonly socket = dgram.createSocket('udp4');
  private readonly waiters = new Map<string, (m: KrpcMessage) => void>();
  private tid = 0;

  static async open(): Promise<KrpcClient> {
    const c = new KrpcClient();
    await new Promise<void>((resolve) => c.socket.bind(0, '127.0.0.1', resolve));
    c.socket.on('message', (data) => {
      try {
        const m = decodeKrpc(data);
        const w = c.waiters.get(m.t.toString('hex'));
        if (w && m.y !== 'q') {
          c.waiters.delete(m.t.toString('hex'));
          w(m);
        }
      } catch {
        // Not for us to judge here.
      }
    });
    return c;
  }

  get port(): number {
    return this.socket.address().port;
  }

  raw(data: Buffer, to: NodeAddress): Promise<void> {
    return new Promise((resolve) => this.socket.send(data, to.port, to.ip, () => resolve()));
  }

  /** Send a query; resolve with the reply, or undefined after `timeoutMs`. */
  async query(q: KrpcQuery, to: NodeAddress, timeoutMs = 2000): Promise<KrpcMessage | undefined> {
    const t = Buffer.from([0xc0 | ((this.tid >> 8) & 0x3f), this.tid++ & 0xff]);
    const reply = new Promise<KrpcMessage | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(t.toString('hex'));
        resolve(undefined);
      }, timeoutMs);
      this.waiters.set(t.toString('hex'), (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
    await this.raw(encodeQuery(t, q), to);
    return reply;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
