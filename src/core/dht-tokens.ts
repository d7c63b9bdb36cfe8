/**
 * Write tokens for announce_peer (BEP 5): a get_peers answer hands the asker a token bound to its IP;
 * only an announce carrying a recent one is stored.
 *
 * Owns: the two secrets and their rotation (every 5 minutes, so a token is accepted for 5 to 10
 * minutes after it was issued). A token is the first 8 bytes of SHA1(secret ‖ IP): opaque to the
 * asker, checkable without storing anything per asker. Does not own: the clock (`now` comes in) or
 * randomness (`randomBytes` is injected).
 *
 * @example
 *   const tokens = new TokenIssuer(crypto.randomBytes, now);
 *   const t = tokens.issue('10.0.0.2', now);
 *   tokens.valid('10.0.0.2', t, now + 9 * 60_000); // true
 *   tokens.valid('10.0.0.3', t, now);              // false: another IP
 */
import { createHash } from 'node:crypto';

export const TOKEN_ROTATE_MS = 5 * 60_000;
export const TOKEN_BYTES = 8;

export class TokenIssuer {
  private current: Buffer;
  private previous: Buffer;
  private rotatedAt: number;

  constructor(
    private readonly randomBytes: (n: number) => Buffer,
    now: number,
  ) {
    this.current = randomBytes(16);
    this.previous = randomBytes(16);
    this.rotatedAt = now;
  }

  issue(ip: string, now: number): Buffer {
    this.rotate(now);
    return tokenOf(this.current, ip);
  }

  valid(ip: string, token: Buffer, now: number): boolean {
    this.rotate(now);
    if (token.length !== TOKEN_BYTES) return false;
    return token.equals(tokenOf(this.current, ip)) || token.equals(tokenOf(this.previous, ip));
  }

  private rotate(now: number): void {
    if (now - this.rotatedAt < TOKEN_ROTATE_MS) return;
    // After a long pause both secrets are replaced: tokens from before it are all too old.
    const periods = Math.floor((now - this.rotatedAt) / TOKEN_ROTATE_MS);
    this.previous = periods === 1 ? this.current : this.randomBytes(16);
    this.current = this.randomBytes(16);
    this.rotatedAt += periods * TOKEN_ROTATE_MS;
  }
}

function tokenOf(secret: Buffer, ip: string): Buffer {
  return createHash('sha1').update(secret).update(ip, 'latin1').digest().subarray(0, TOKEN_BYTES);
}
