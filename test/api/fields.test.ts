import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkEmail, isSafeText, parseDuration, parseExpiry } from '../../src/domain';
import { PERSON_NAME } from '../../src/api/grants/requests';
import { duration, emailField, expiresAt, personName, reason, requiredReason } from '../../src/api/schemas/fields';

// The patterns of the OpenAPI document against the rules the handlers apply: for
// every string, the schema accepts it exactly when the handler does. Generated over
// the characters that matter (ASCII, whitespace of every kind, control, bidi and
// invisible characters, letters and marks of other scripts, astral characters).

const handler = {
  name: (s: string) => {
    const name = s.trim();
    return name !== '' && isSafeText(name) && PERSON_NAME.test(name);
  },
  reason: (s: string) => isSafeText(s),
  requiredReason: (s: string) => isSafeText(s) && s.trim() !== '',
  expiresAt: (s: string) => parseExpiry(s).ok,
  duration: (s: string) => parseDuration(s) !== undefined,
  email: (s: string) => checkEmail(s) === undefined,
};

/** What a JSON schema string with a pattern (and a `not` pattern) accepts, as the validator runs it. */
function accepts(field: object, value: string): boolean {
  const schema = field as { pattern: string; not?: { pattern: string } };
  return new RegExp(schema.pattern, 'u').test(value) && !(schema.not && new RegExp(schema.not.pattern, 'u').test(value));
}

const interesting = fc.constantFrom(
  ...'aZ09 .,\'()_-@%+:TZ/\\"<>&;!?#',
  '\t', '\n', '\v', '\f', '\r', '\u00a0', '\u1680', '\u2003', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff',
  '\u0000', '\u0007', '\u001b', '\u007f', '\u0085', '\u009f', '\u00ad', '\u061c', '\u180e', '\u200b', '\u200e', '\u202e', '\u2066', '\u2069',
  'é', 'Ł', 'Зоя', '東', '\u0301', '\u20d0', '\u20f4', '²', 'Ⅻ', '🚀', '\ud83d', '€',
);
const text = fc.array(interesting, { maxLength: 12 }).map((parts) => parts.join(''));
const digits = fc.integer({ min: 0, max: 9999 }).map(String);
const dateLike = fc
  .tuple(fc.integer({ min: 0, max: 10000 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 }), fc.constantFrom('', ':00', ':59', ':60', ':07.5', ':07.123456789'), fc.constantFrom('', 'Z', '+01:00', '-23:59', '+24:00', '+05:60'))
  .map(([y, m, d, hh, mm, ss, zone]) => {
    const p = (n: number, w = 2) => String(n).padStart(w, '0');
    const date = `${p(y, 4)}-${p(m)}-${p(d)}`;
    return zone === '' && ss === '' ? date : `${date}T${p(hh)}:${p(mm)}${ss}${zone}`;
  });
// At most four digits a term: a sum beyond 2^53 ms parses to nothing, but it is beyond every database's maximum anyway (the handler's 400).
const durationLike = fc.array(fc.tuple(digits, fc.constantFrom('w', 'd', 'h', 'm', 's', 'y', ' ')), { minLength: 1, maxLength: 3 }).chain((terms) =>
  fc.tuple(fc.constantFrom('', ' ', '\t', '\u00a0'), fc.constantFrom('', ' ', '\u3000')).map(([a, b]) => `${a}${terms.map(([n, u]) => n + u).join('')}${b}`),
);
const emailLike = fc
  .tuple(fc.stringMatching(/^[A-Za-z0-9._%+'-]{0,8}$/), fc.constantFrom('@', '@@', ''), fc.stringMatching(/^[A-Za-z0-9.-]{0,8}$/), fc.constantFrom('.com', '.c', '', '.co.uk', '..org'))
  .map(([local, at, domain, tld]) => `${local}${at}${domain}${tld}`);

function same(name: string, schema: Parameters<typeof accepts>[0], rule: (s: string) => boolean, arbitrary: fc.Arbitrary<string>): void {
  fc.assert(
    fc.property(arbitrary, (value) => {
      assert.equal(accepts(schema, value), rule(value), `${name}: ${JSON.stringify(value)}: schema ${accepts(schema, value)}, handler ${rule(value)}`);
    }),
    { numRuns: 3000, seed: 20261205 },
  );
}

describe('API fields: the document accepts exactly what the handlers accept', () => {
  it('When a name is checked, then the schema and the handler (trim, safe text, a person\'s name) agree', () => {
    same('name', personName, handler.name, text);
    for (const ok of ['Ada Lovelace', "Zoë O'Brien-Łukasz (Зоя)", '  Ada  ', 'e\u0301mile']) assert.ok(accepts(personName, ok), ok);
  });

  it('When a reason is checked, then the schema and the handler agree: any text without control or invisible characters', () => {
    same('reason', reason, handler.reason, text);
    same('deny reason', requiredReason, handler.requiredReason, text);
  });

  it('When an expiry is checked, then the schema and parseExpiry agree, calendar and time zone included', () => {
    same('expiresAt', expiresAt, handler.expiresAt, dateLike);
    for (const ok of ['2028-02-29', '2000-02-29', '2026-12-31T18:00Z', '2026-12-31T18:00:00.123+05:30']) assert.ok(accepts(expiresAt, ok), ok);
    for (const bad of ['2027-02-29', '1900-02-29', '2026-12-31T18:00', '0099-01-01', '2026-04-31']) assert.ok(!accepts(expiresAt, bad), bad);
  });

  it('When a duration is checked, then the schema and parseDuration agree', () => {
    same('duration', duration, handler.duration, durationLike);
  });

  it('When an e-mail address is checked, then the schema and checkEmail agree', () => {
    same('email', emailField, handler.email, emailLike);
  });
});
