/**
 * One peer connection's protocol logic, as a transition: BEP 3 with BEP 6 (fast) when both sides set
 * the bit, and BEP 10 when both set its bit: our extended handshake after the first message, the peer's
 * handshakes and messages decoded by src/core/peer-extensions.ts and passed up as typed facts (a
 * malformed one closes the connection), and `SendExtended` by name, with the id the peer declared.
 *
 * Owns: the handshake step, the first-message rules, choke/interest state both ways, keep-alive and idle
 * deadlines, validating every frame against the torrent (`validateMessage`), the bounded queue of the
 * peer's requests and how many of them are being read, request-flood and unrequested-block counters,
 * byte counters and rate meters. Does not own: the socket (src/actors/peer-connection.ts performs the
 * effects), which blocks to ask for (the scheduler), whether a block is good (the verifier), or reading
 * piece data (the uploader answers `PeerWantsBlock` with `SendBlock`).
 *
 * Shape (STYLE.md): commands and facts in, `{ state, effects, events }` out. The state object is mutable
 * and owned by exactly one actor (it carries rate meters and a request queue touched per block); every
 * effect is data — `Write`, `WriteRequests`, `SendPiece`, `Pump`, `Close` — so the logic is tested
 * without sockets. Any protocol violation ends the connection with one `PeerClosed` event.
 */
import {
  BitSet,
  Handshake,
  WireMessage,
  supportsDht,
  supportsExtensions,
  supportsFast,
  validateMessage,
} from '../protocol/wire-codec';
import { extensionIdFor, readExtendedFrame } from './peer-extensions';
import type { BlockSpan } from './piece-picker';
import type { Step } from './step';
import {
  KEEPALIVE_MS,
  MAX_EXCESS_REQUESTS,
  MAX_READS_IN_FLIGHT,
  PeerCommand,
  PeerEffect,
  PeerEvent,
  PeerIn,
  PeerState,
} from './peer-state';

// The vocabulary lives in peer-state.ts; importers of the protocol get it from here as before.
export {
  KEEPALIVE_MS,
  MAX_EXCESS_REQUESTS,
  MAX_READS_IN_FLIGHT,
  initialPeerState,
  type PeerCommand,
  type PeerConfig,
  type PeerEffect,
  type PeerEvent,
  type PeerIn,
  type PeerInput,
  type PeerState,
} from './peer-state';

type PeerStep = Step<PeerState, PeerEffect, PeerEvent>;

/** Collects effects and events for one step. */
class Out {
  readonly effects: PeerEffect[] = [];
  readonly events: PeerEvent[] = [];
  constructor(readonly s: PeerState) {}
  write(message: WireMessage): void {
    this.effects.push({ type: 'Write', message });
  }
  emit(e: PeerEvent): void {
    this.events.push(e);
  }
  close(reason: string, violation: boolean): void {
    if (this.s.closed) return;
    this.s.closed = true;
    this.s.uploads.length = 0;
    this.events.push({ type: 'PeerClosed', reason, violation });
    this.effects.push({ type: 'Close' });
  }
  step(): PeerStep {
    return { state: this.s, effects: this.effects, events: this.events };
  }
}

const NOTHING: PeerStep['effects'] = [];

export function peerTransition(s: PeerState, m: PeerIn): PeerStep {
  if (s.closed) return { state: s, effects: NOTHING };
  const out = new Out(s);
  switch (m.type) {
    case 'GotFrame':
      s.lastReceived = m.now;
      if (m.frame.type === 'Handshake') onHandshake(out, m.frame);
      else onMessage(out, m.frame, m.now);
      break;
    case 'WireFailed':
      out.close(m.reason, m.violation);
      break;
    case 'Tick':
      onTick(out, m.now);
      break;
    case 'Pump':
      pump(out, m.canSend);
      break;
    case 'PieceSent':
      s.readsInFlight--;
      if (m.sent) {
        s.uploaded += m.bytes;
        s.upRate.add(m.bytes, m.now);
        s.lastSent = m.now;
      }
      pump(out, m.canSend); // one step per block sent, not two (PieceSent, then Pump)
      break;
    default:
      onCommand(out, m);
  }
  return out.step();
}

function onCommand(out: Out, c: PeerCommand): void {
  const s = out.s;
  switch (c.type) {
    case 'RequestBlocks':
      if (c.spans.length > 0) out.effects.push({ type: 'WriteRequests', spans: c.spans });
      return;
    case 'CancelBlock':
      return out.write({ type: 'Cancel', ...c.span });
    case 'SendHave':
      return out.write({ type: 'Have', index: c.index });
    case 'Choke':
      if (s.amChoking) return;
      s.amChoking = true;
      out.write({ type: 'Choke' });
      // Without BEP 6 a choke silently drops their queue; with it, each request gets a reject.
      for (const span of s.uploads.splice(0)) if (s.fast) out.write({ type: 'Reject', ...span });
      return;
    case 'Unchoke':
      if (!s.amChoking) return;
      s.amChoking = false;
      s.excessRequests = 0; // requests that raced earlier chokes are forgiven
      out.write({ type: 'Unchoke' });
      return;
    case 'SetInterested':
      if (s.amInterested === c.interested) return;
      s.amInterested = c.interested;
      out.write({ type: c.interested ? 'Interested' : 'NotInterested' });
      return;
    case 'SendBlock':
      // Choked since it was asked for: a fast peer still gets it (it can reject on its side), others not.
      if (s.amChoking && !s.fast) {
        s.readsInFlight--;
        out.effects.push({ type: 'Pump' });
        return;
      }
      out.effects.push({ type: 'SendPiece', span: c.span, data: c.data });
      return;
    case 'BlockUnavailable':
      s.readsInFlight--;
      if (s.fast) out.write({ type: 'Reject', ...c.span });
      out.effects.push({ type: 'Pump' });
      return;
    case 'SendExtended': {
      const id = s.extensions ? extensionIdFor(s.ext, c.name) : undefined;
      if (id !== undefined) out.write({ type: 'Extended', id, payload: c.payload });
      return;
    }
    case 'Close':
      return out.close(c.reason, false);
  }
}

function onHandshake(out: Out, h: Handshake): void {
  const s = out.s;
  if (s.handshaked) return out.close('protocol error: second handshake', true);
  if (h.peerId.equals(s.config.ourPeerId)) return out.close('connected to ourselves', false);
  s.peerId = Buffer.from(h.peerId);
  s.fast = supportsFast(h.reserved) && supportsFast(s.config.reserved);
  s.extensions = supportsExtensions(h.reserved) && supportsExtensions(s.config.reserved);
  if (!s.config.outgoing) out.effects.push({ type: 'SendHandshake' });
  s.handshaked = true;
  out.emit({
    type: 'PeerHandshaked',
    peerId: s.peerId,
    fast: s.fast,
    extensions: s.extensions,
    reserved: Buffer.from(h.reserved),
  });
  const bits = s.config.geometry ? s.config.ourBitfield() : null; // no metadata yet: nothing to have
  if (s.fast && bits?.isComplete()) out.write({ type: 'HaveAll' });
  else if (s.fast && (!bits || bits.isEmpty())) out.write({ type: 'HaveNone' });
  else if (bits && !bits.isEmpty()) out.write({ type: 'Bitfield', bits: bits.toBuffer() });
  const ext = s.config.extensions;
  if (s.extensions && ext) out.write({ type: 'Extended', id: 0, payload: ext.handshake() });
  const dhtPort = s.config.dhtPort;
  if (dhtPort && supportsDht(h.reserved) && supportsDht(s.config.reserved))
    out.write({ type: 'Port', port: dhtPort });
}

/** Without the metadata (a magnet's connection) only these mean something; HAVE, BITFIELD… are dropped. */
const WITHOUT_METADATA: ReadonlySet<WireMessage['type']> = new Set([
  'KeepAlive', 'Choke', 'Unchoke', 'Interested', 'NotInterested', 'Request', 'Cancel', 'Port',
]); // prettier-ignore

function onMessage(out: Out, f: WireMessage, now: number): void {
  const s = out.s;
  if (!s.handshaked) return out.close('protocol error: message before the handshake', true);
  if (f.type === 'Extended') {
    const got = readExtendedFrame(s.ext, s.config.extensions?.local, f.id, f.payload);
    if (got.violation) return out.close(`protocol error: ${got.violation}`, true);
    if (got.ext) s.ext = got.ext;
    return got.event && out.emit(got.event);
  }
  const geometry = s.config.geometry;
  if (geometry === null && !WITHOUT_METADATA.has(f.type)) {
    if (f.type === 'Piece' || f.type === 'Reject')
      return out.close(`protocol error: ${f.type} before we asked for anything`, true);
    return;
  }
  const bad = geometry && validateMessage(f, geometry);
  if (bad) return out.close(`protocol error: ${bad.message}`, true);
  // Extended messages do not count: Transmission sends its extended handshake before its BITFIELD.
  const first = !s.gotFirstMessage;
  if (f.type !== 'KeepAlive') s.gotFirstMessage = true;
  switch (f.type) {
    case 'KeepAlive':
    case 'Suggest':
      return;
    case 'Port':
      return out.emit({ type: 'PeerSentPort', port: f.port });
    case 'Bitfield':
    case 'HaveAll':
    case 'HaveNone':
      // BEP 3/6 want these first. aria2, having opened with one, later sends a fresh BITFIELD (or HAVE
      // ALL) instead of a run of HAVEs: take that as an update. Without an opening one it is a violation.
      if (first) s.openedWithPieces = true;
      else if (!s.openedWithPieces)
        return out.close(`protocol error: ${f.type} after the first message`, true);
      else if (f.type === 'HaveNone') return;
      if (f.type === 'Bitfield')
        out.emit({ type: 'PeerGotBitfield', bits: BitSet.fromBuffer(f.bits, geometry?.pieceCount ?? 0) });
      else if (f.type === 'HaveAll') out.emit({ type: 'PeerGotHaveAll' });
      return;
    case 'Have':
      return out.emit({ type: 'PeerGotHave', index: f.index });
    case 'AllowedFast':
      return out.emit({ type: 'PeerGotAllowedFast', index: f.index });
    case 'Choke':
      s.peerChoking = true;
      return out.emit({ type: 'PeerChokedUs' });
    case 'Unchoke':
      s.peerChoking = false;
      return out.emit({ type: 'PeerUnchokedUs' });
    case 'Interested':
      s.peerInterested = true;
      return out.emit({ type: 'PeerInterested' });
    case 'NotInterested':
      s.peerInterested = false;
      return out.emit({ type: 'PeerNotInterested' });
    case 'Request':
      return onRequest(out, { index: f.index, begin: f.begin, length: f.length });
    case 'Cancel': {
      // Only an exact match of a queued request is removed; a cancel for anything else raced its answer.
      const i = s.uploads.findIndex(
        (u) => u.index === f.index && u.begin === f.begin && u.length === f.length,
      );
      if (i >= 0) s.uploads.splice(i, 1);
      return;
    }
    case 'Reject':
      if (!s.fast) return out.close('protocol error: reject without the fast extension', true);
      return out.emit({ type: 'PeerRejected', span: { index: f.index, begin: f.begin, length: f.length } });
    case 'Piece':
      s.downloaded += f.block.length;
      s.downRate.add(f.block.length, now);
      return out.emit({
        type: 'PeerSentBlock',
        span: { index: f.index, begin: f.begin, length: f.block.length },
        data: f.block,
      });
  }
}

function onRequest(out: Out, span: BlockSpan): void {
  const s = out.s;
  if (s.amChoking || s.uploads.length >= s.config.maxQueuedRequests) {
    // Requests while choked may race a choke, and a fast peer may overrun the queue a little: answer with
    // a reject when we can. A flood far past either (every reject is a queued write, so a peer that never
    // reads would grow our send buffer without bound) is an attack.
    if (++s.excessRequests > MAX_EXCESS_REQUESTS) return out.close('request flood', true);
    if (s.fast) out.write({ type: 'Reject', ...span });
    return;
  }
  s.uploads.push(span);
  out.effects.push({ type: 'Pump' });
}

/** Hands queued requests to the uploader while the socket has room and few reads are pending. */
function pump(out: Out, canSend: boolean): void {
  const s = out.s;
  if (!canSend) return;
  // The peer reads what we send: overrunning the queue (by a little, often, over a long transfer from a
  // busy seeder) is not a flood. A peer that never reads never gets here once our buffers are full.
  s.excessRequests = 0;
  while (s.uploads.length > 0 && s.readsInFlight < MAX_READS_IN_FLIGHT) {
    const span = s.uploads.shift() as BlockSpan;
    s.readsInFlight++;
    out.emit({ type: 'PeerWantsBlock', span });
  }
}

function onTick(out: Out, now: number): void {
  const s = out.s;
  if (!s.handshaked && now > s.handshakeDeadline) return out.close('handshake timeout', false);
  if (now - s.lastReceived > s.config.idleTimeoutMs) return out.close('idle timeout', false);
  if (s.handshaked && now - s.lastSent > KEEPALIVE_MS) {
    s.lastSent = now;
    out.write({ type: 'KeepAlive' });
  }
}
