import { TOKEN_ROTATE_MS, TokenIssuer } from '../../src/core/dht-tokens';

let seed = 0;
const randomBytes = (n: number): Buffer => Buffer.alloc(n, ++seed);

describe('write tokens', () => {
  test('bound to the IP, accepted for 5 to 10 minutes, then refused', () => {
    const tokens = new TokenIssuer(randomBytes, 0);
    const t = tokens.issue('10.0.0.2', 1000);
    expect(t).toHaveLength(8);
    expect(tokens.valid('10.0.0.2', t, 1000)).toBe(true);
    expect(tokens.valid('10.0.0.3', t, 1000)).toBe(false);
    expect(tokens.valid('10.0.0.2', t, TOKEN_ROTATE_MS + 1)).toBe(true); // previous secret
    expect(tokens.valid('10.0.0.2', t, 2 * TOKEN_ROTATE_MS)).toBe(false); // rotated out
  });

  test('a token issued just before a rotation lives through the next period', () => {
    const tokens = new TokenIssuer(randomBytes, 0);
    const t = tokens.issue('::1', TOKEN_ROTATE_MS - 1);
    expect(tokens.valid('::1', t, 2 * TOKEN_ROTATE_MS - 1)).toBe(true);
  });

  test('after a long pause every older token is refused; malformed tokens never pass', () => {
    const tokens = new TokenIssuer(randomBytes, 0);
    const t = tokens.issue('10.0.0.2', 0);
    expect(tokens.valid('10.0.0.2', t, 7 * TOKEN_ROTATE_MS)).toBe(false);
    expect(tokens.valid('10.0.0.2', Buffer.alloc(0), 0)).toBe(false);
    expect(tokens.valid('10.0.0.2', Buffer.concat([t, t]), 0)).toBe(false);
  });
});
