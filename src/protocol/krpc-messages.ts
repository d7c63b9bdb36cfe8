/**
 * KRPC's vocabulary (BEP 5, BEP 32, BEP 42, BEP 43): node addresses and contacts, queries,
 * responses, messages, the size limits, the error codes and `KrpcError`.
 *
 * Owns: these types and limits. Does not own: bytes (krpc.ts decodes and encodes messages,
 * krpc-compact.ts the compact node and peer strings). Why apart: the routing table, lookups and the
 * UDP socket speak in `NodeAddress` and `NodeContact` without needing the codec.
 */
import type { PeerAddress } from './compact-peers';

export const NODE_ID_LENGTH = 20;
/** Largest datagram we decode. Real messages fit one Ethernet frame; 8 KiB leaves room for long `values`. */
export const MAX_KRPC_BYTES = 8192;
/** Longest transaction id we accept (real clients use 2–4 bytes). */
export const MAX_TRANSACTION_BYTES = 16;
/** Longest token we accept or store. */
export const MAX_TOKEN_BYTES = 64;

/** KRPC error codes (BEP 5). */
export const KrpcErrorCode = {
  Generic: 201,
  Server: 202,
  Protocol: 203,
  MethodUnknown: 204,
} as const;
export type KrpcErrorCodeValue = (typeof KrpcErrorCode)[keyof typeof KrpcErrorCode];

export interface NodeAddress {
  ip: string;
  port: number;
}

export interface NodeContact extends NodeAddress {
  id: Buffer;
}

/** BEP 32 `want`: which node families a requester wants back. */
export type Want = 'n4' | 'n6';

export type KrpcQuery =
  | { method: 'ping'; id: Buffer }
  | { method: 'find_node'; id: Buffer; target: Buffer; want?: Want[] }
  | { method: 'get_peers'; id: Buffer; infoHash: Buffer; want?: Want[] }
  | {
      method: 'announce_peer';
      id: Buffer;
      infoHash: Buffer;
      /** The peer's TCP port (ignored by the receiver when `impliedPort`). */
      port: number;
      token: Buffer;
      /** Use the datagram's source port instead of `port` (BEP 5, for peers behind NAT using uTP). */
      impliedPort: boolean;
    }
  /** A method we do not know; `target` is its `target` or `info_hash` argument, when 20 bytes. */
  | { method: 'unknown'; name: string; id: Buffer; target?: Buffer };

export type KrpcMethod = KrpcQuery['method'];

/** Response fields: which ones must be present depends on the query, which the node checks. */
export interface KrpcResponse {
  id: Buffer;
  nodes?: NodeContact[];
  nodes6?: NodeContact[];
  values?: PeerAddress[];
  token?: Buffer;
}

interface Envelope {
  /** Transaction id, echoed in the answer. */
  t: Buffer;
  /** Client version (`v`), when sent. */
  v?: Buffer;
}

export type KrpcMessage =
  | (Envelope & { y: 'q'; query: KrpcQuery; /** BEP 43 read-only node */ ro: boolean })
  | (Envelope & {
      y: 'r';
      response: KrpcResponse;
      /** BEP 42: our address as the sender saw it */ ip?: NodeAddress;
    })
  | (Envelope & { y: 'e'; error: { code: number; message: string } });

export type KrpcProblem =
  | 'too-large'
  | 'bencode'
  | 'not-dict'
  | 'bad-transaction'
  | 'bad-type'
  | 'bad-method'
  | 'missing-args'
  | 'bad-id'
  | 'bad-target'
  | 'bad-info-hash'
  | 'bad-port'
  | 'bad-token'
  | 'bad-want'
  | 'bad-response'
  | 'bad-nodes'
  | 'bad-values'
  | 'bad-error';

/** A malformed KRPC message. `t` is set when the transaction id could be read. */
export class KrpcError extends Error {
  constructor(
    readonly problem: KrpcProblem,
    detail: string,
    /** Transaction id of the bad message, when it could be read. */
    readonly t?: Buffer,
    /** For a bad query: the error to answer with. Undefined: answer nothing. */
    readonly reply?: KrpcErrorCodeValue,
  ) {
    super(`krpc: ${detail}`);
    this.name = 'KrpcError';
  }
}
