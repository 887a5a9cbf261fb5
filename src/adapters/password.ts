import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A random password of `length` characters from [A-Za-z0-9] (about 5.95 bits
 * each: 32 characters ≈ 190 bits). Letters and digits only, so that it survives
 * every client, URL and shell quoting unchanged. Rejection sampling keeps the
 * distribution uniform.
 */
export function generatePassword(length = 32): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/**
 * Whether a password is one the engines accept: 8-256 printable ASCII characters
 * without spaces, quotes or backslashes. Generated passwords always are; so must
 * any other that reaches a statement, so that its literal is the same under every
 * quoting and escaping mode.
 */
export function isSafePassword(password: unknown): password is string {
  return typeof password === 'string' && /^[\x21-\x7e]{8,256}$/.test(password) && !/['"\\]/.test(password);
}

export const SAFE_PASSWORD_RULE = 'password must be 8-256 printable ASCII characters without spaces, quotes or backslashes';
