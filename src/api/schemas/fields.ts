import { Type } from 'typebox';
import { ACCESS_LEVEL_NAME, DATABASE_KEY, EMAIL, EMAIL_MAX_LENGTH, GRANT_STATUSES, PROJECT_KEY } from '../../domain';

// The fields the API takes, as JSON schemas whose patterns accept exactly what the
// handlers accept: a request the schema allows is never refused for its shape (the
// contract test fuzzes the API with the OpenAPI document to hold this). What the
// schema cannot say (the configuration: which projects and databases exist, which
// levels a database has, the allowed domains; the clock: an expiry in the past) is
// refused by the handlers, with its own message.
//
// TypeBox schemas: the same JSON Schema for the validator and the document, and the
// request types the handlers get (@fastify/type-provider-typebox).
//
// Patterns are ECMAScript regular expressions (the `u` flag, as the validator runs
// them); character classes are spelled out rather than `\s`, whose meaning differs
// between regex dialects and so between this API and clients generating from the document.

/** What String.prototype.trim() removes, and `\s` matches, in ECMAScript. */
const WS = '\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
/** What isSafeText refuses: control, bidi, separator and invisible format characters. */
const UNSAFE = '\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2069\\ufeff';
/** Whitespace isSafeText allows. */
const SAFE_WS = ' \\u00a0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u3000';

/** Years 0100–9999 (the domain's calendar check refuses 0000–0099), months and days of the calendar, 29 February in leap years only. */
const YEAR = '(?:0[1-9]\\d\\d|[1-9]\\d{3})';
const MONTH_DAY = '(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|02-(?:0[1-9]|1\\d|2[0-8]))';
const LEAP_YEAR = '(?:(?:0[1-9]|[1-9]\\d)(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)';
const DATE = `(?:${YEAR}-${MONTH_DAY}|${LEAP_YEAR}-02-29)`;
const TIME = '(?:[01]\\d|2[0-3]):[0-5]\\d(?::[0-5]\\d(?:\\.\\d{1,9})?)?';
const OFFSET = '(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)';

const source = (re: RegExp) => re.source;

/** Human words for each pattern, for the 400 message (errors.ts): the pattern itself is no message. */
export const PATTERN_MEANINGS = new Map<string, string>();
function meaning<T extends { pattern: string }>(schema: T, words: string): T {
  PATTERN_MEANINGS.set(schema.pattern, words);
  return schema;
}

export const emailField = Type.String({
  
  minLength: 3,
  maxLength: EMAIL_MAX_LENGTH,
  ...meaning({ pattern: source(EMAIL) }, 'must be a valid e-mail address (ASCII letters, digits and . _ % + - before the @)'),
  not: { pattern: '\\.\\.' },
  description: 'an e-mail address in one of the allowed domains (ASCII; no consecutive dots)',
});

export const personName = Type.String({
  
  minLength: 1,
  maxLength: 100,
  ...meaning(
    { pattern: `^[${WS}]*[\\p{L}\\p{M}\\p{N}][\\p{L}\\p{M}\\p{N} .,'()_-]*[${WS}]*$` },
    "must be a person's name (letters, digits, spaces and . , ' ( ) _ -)",
  ),
  description: "a person's name: letters of any script, digits, spaces and . , ' ( ) _ - (surrounding whitespace is trimmed)",
});

export const projectKey = Type.String({ minLength: 1, maxLength: 63, ...meaning({ pattern: source(PROJECT_KEY) }, 'must be a project key (lower-case letters, digits, _ and -)') });
export const databaseKey = Type.String({ minLength: 1, maxLength: 64, ...meaning({ pattern: source(DATABASE_KEY) }, 'must be a database key (letters, digits, _ and -)') });

/** Where the configured level names are: a shared schema (`accessLevelSchema`) that buildApp adds from the configuration. */
export const ACCESS_LEVEL_ID = 'dbaccess-access-level';

/** A level name: one of the levels the configuration defines (which of them a database has is the handler's 400). */
export const accessLevel = Type.Unsafe<string>({ $ref: `${ACCESS_LEVEL_ID}#` });

/** The shared schema of `accessLevel`: every level name of the configuration, on any database. */
export function accessLevelSchema(levels: readonly string[]) {
  return {
    $id: ACCESS_LEVEL_ID,
    title: 'AccessLevel',
    type: 'string',
    enum: [...levels],
    description: `a level of the database (${source(ACCESS_LEVEL_NAME)}); those the configuration defines are listed, and a database may have fewer`,
  } as const;
}

export const reason = Type.String({
  
  maxLength: 500,
  ...meaning({ pattern: `^[^${UNSAFE}]*$` }, 'must not contain control or invisible characters'),
});

/** deny's reason: told to the grantee, so not blank either. */
export const requiredReason = Type.String({
  
  minLength: 1,
  maxLength: 500,
  ...meaning({ pattern: `^[^${UNSAFE}]*[^${UNSAFE}${SAFE_WS}][^${UNSAFE}]*$` }, 'must be a readable reason (no control or invisible characters)'),
});

export const expiresAt = Type.String({
  
  minLength: 1,
  maxLength: 40,
  ...meaning(
    { pattern: `^${DATE}(?:T${TIME}${OFFSET})?$` },
    'must be a calendar date (YYYY-MM-DD, end of that day UTC) or an ISO-8601 timestamp with a time zone (2026-12-31T18:00:00Z)',
  ),
  description: 'YYYY-MM-DD (end of that day, UTC) or an ISO-8601 timestamp with a time zone',
});

/** A new grant's expiry: as expiresAt, or NA (no end: a standing grant, where the database allows one). */
export const requestExpiresAt = Type.String({
  minLength: 1,
  maxLength: 40,
  ...meaning(
    { pattern: `^(?:${DATE}(?:T${TIME}${OFFSET})?|[Nn][Aa])$` },
    'must be a calendar date (YYYY-MM-DD, end of that day UTC), an ISO-8601 timestamp with a time zone (2026-12-31T18:00:00Z), or NA (no end: a standing grant, reviewed, where the database allows one)',
  ),
  description: 'YYYY-MM-DD (end of that day, UTC), an ISO-8601 timestamp with a time zone, or NA: no end, a standing grant reviewed every period (only on databases with `standing`; their review deadline becomes the expiry)',
});

export const duration = Type.String({
  
  minLength: 1,
  maxLength: 20,
  ...meaning({ pattern: `^[${WS}]*(?:\\d+[wdhms])*0*[1-9]\\d*[wdhms](?:\\d+[wdhms])*[${WS}]*$` }, 'must be a duration such as 30m, 8h, 14d or 1d12h'),
  description: 'instead of expiresAt: 30m, 8h, 14d, 1d12h; counted from when access is granted (at least 1m, at most the database maximum)',
});

export const grantStatus = Type.Union(GRANT_STATUSES.map((status) => Type.Literal(status)));

/** `limit` of GET /grants: 1 to 1000, as the query string carries it (text). */
export const listLimit = Type.String({ ...meaning({ pattern: '^0*(?:[1-9]\\d{0,2}|1000)$' }, 'must be from 1 to 1000') });

/**
 * A grant id, `grant/{project}/{database}/{email}`: printable ASCII (control, bidi and
 * invisible characters never reach Temporal or a message). Any other printable id is a 404.
 */
export const grantId = Type.String({ minLength: 1, maxLength: 400, ...meaning({ pattern: '^[!-~]+$' }, 'must be printable ASCII') });
