/**
 * Answers to the queries other DHT nodes send us (BEP 5, BEP 32 `want`).
 *
 * Owns: what each query gets back — ping: our id; find_node: the k closest nodes we have verified;
 * get_peers: a write token, the peers announced to us (when any) and the closest nodes (always, as
 * libtorrent does, so an asker never walks into a dead end); announce_peer: stored when the token is
 * ours for that IP, else error 203; an unknown method: treated as find_node when it names a target
 * (forward compatibility, as libtorrent does), else error 204. Does not own: rate limits or the
 * routing-table update for the asker (the DHT node does both before calling here).
 *
 * Node families: our socket has one family; we answer `nodes` (IPv4) or `nodes6` (IPv6) by the
 * asker's family unless its `want` says otherwise, and we only know nodes of our own family.
 */
import { isIPv4 } from 'node:net';
import type { PeerStore } from './dht-peer-store';
import type { TokenIssuer } from './dht-tokens';
import type { RoutingTable } from './routing-table';
import {
  KrpcErrorCode,
  KrpcQuery,
  KrpcResponse,
  NodeAddress,
  Want,
  encodeError,
  encodeResponse,
} from '../protocol/krpc';
import type { PeerAddress } from '../protocol/tracker-codec';

export interface ResponderContext {
  id: Buffer;
  family: 4 | 6;
  k: number;
  version: Buffer;
  table: RoutingTable;
  tokens: TokenIssuer;
  peers: PeerStore;
  /** Peers per get_peers answer, at most (keeps the datagram under one Ethernet frame). */
  maxValues: number;
}

export interface Answer {
  reply: Buffer;
  /** The peer an announce_peer stored (or refreshed). */
  stored?: PeerAddress & { infoHash: Buffer };
  /** announce_peer refused for a bad token. */
  badToken?: boolean;
  isError: boolean;
}

export function answerQuery(
  ctx: ResponderContext,
  t: Buffer,
  q: KrpcQuery,
  from: NodeAddress,
  now: number,
): Answer {
  const respond = (r: Omit<KrpcResponse, 'id'>): Answer => ({
    reply: encodeResponse(t, { id: ctx.id, ...r }, { v: ctx.version, ip: from }),
    isError: false,
  });
  const fail = (code: number, message: string): Answer => ({
    reply: encodeError(t, code, message, { v: ctx.version }),
    isError: true,
  });
  switch (q.method) {
    case 'ping':
      return respond({});
    case 'find_node':
      return respond(nodesFor(ctx, q.target, q.want, from, now));
    case 'get_peers': {
      const values = ctx.peers.get(q.infoHash, ctx.maxValues, now);
      return respond({
        token: ctx.tokens.issue(from.ip, now),
        ...(values.length > 0 ? { values } : {}),
        ...nodesFor(ctx, q.infoHash, q.want, from, now),
      });
    }
    case 'announce_peer': {
      if (!ctx.tokens.valid(from.ip, q.token, now))
        return { ...fail(KrpcErrorCode.Protocol, 'bad token'), badToken: true };
      const peer = { ip: from.ip, port: q.impliedPort ? from.port : q.port };
      ctx.peers.add(q.infoHash, peer, now);
      return { ...respond({}), stored: { ...peer, infoHash: q.infoHash } };
    }
    case 'unknown':
      if (q.target) return respond(nodesFor(ctx, q.target, undefined, from, now));
      return fail(KrpcErrorCode.MethodUnknown, 'Method Unknown');
  }
}

function nodesFor(
  ctx: ResponderContext,
  target: Buffer,
  want: readonly Want[] | undefined,
  from: NodeAddress,
  now: number,
): Pick<KrpcResponse, 'nodes' | 'nodes6'> {
  const wanted: readonly Want[] = want ?? [isIPv4(from.ip) ? 'n4' : 'n6'];
  const mine: Want = ctx.family === 4 ? 'n4' : 'n6';
  if (!wanted.includes(mine)) return {};
  const closest = ctx.table.closest(target, ctx.k, now);
  return ctx.family === 4 ? { nodes: closest } : { nodes6: closest };
}
