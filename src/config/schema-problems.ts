import type { TSchema } from 'typebox';
import { Settings } from 'typebox/system';
import Value from 'typebox/value';

// TypeBox's validation errors as an operator reads them: one line per key,
// `$.projects.demo.databases.main.maxDuration: must be a duration such as 90d`.
//
// The reason is the `errorMessage` of the outermost schema node that describes the
// failing value (a union's, not one of its branches'; one text, or one per keyword),
// a refinement's own message, or TypeBox's. Each key is reported once; a key inside a value that is itself
// refused (a branch of a union, a field of something that is not an object) is not.

/** Every problem of a configuration file is reported, not the first few. */
const MAX_ERRORS = 1000;

type Node = Record<string, unknown>;
type Segment = string | number;

/** Keywords whose schema describes a value inside this one. */
const INTO_VALUE = new Set(['properties', 'patternProperties', 'additionalProperties', 'items', 'prefixItems']);
/** Keywords followed by a name or an index in a schema path. */
const NAMED = new Set(['properties', 'patternProperties', 'anyOf', 'allOf', 'oneOf', 'prefixItems', '$defs']);
/** Which error wins when one value fails several keywords: its type, then a refinement, then the rest. */
const RANK: Record<string, number> = { type: 0, '~refine': 1 };

const decode = (pointer: string): string[] =>
  pointer
    .replace(/^#/, '')
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));

/**
 * The schema node at `schemaPath`, and the outermost node that describes the same
 * value and has an `errorMessage` (a union's rather than one of its branches').
 */
function resolve(root: TSchema, schemaPath: string): { node: Node; messageNode?: Node } {
  let node = root as unknown as Node;
  let messageNode: Node | undefined = node.errorMessage ? node : undefined;
  const segments = decode(schemaPath);
  for (let i = 0; i < segments.length; i++) {
    const keyword = segments[i]!;
    const child = node[keyword] as Record<string, Node> | Node | undefined;
    const next = (NAMED.has(keyword) ? (child as Record<string, Node> | undefined)?.[segments[++i]!] : child) as Node | undefined;
    if (!next || typeof next !== 'object') break;
    if (INTO_VALUE.has(keyword)) messageNode = next.errorMessage ? next : undefined;
    else messageNode ??= next.errorMessage ? next : undefined;
    node = next;
  }
  return { node, ...(messageNode ? { messageNode } : {}) };
}

/** A node's `errorMessage`: one text, or one per keyword (`_` for the others). */
function messageOf(node: Node, keyword: string): string | undefined {
  const m = node.errorMessage as string | Record<string, string> | undefined;
  return typeof m === 'string' || m === undefined ? m : (m[keyword] ?? m._);
}

/** `$.a.b[0].c` for the instance path `/a/b/0/c` of `value` (array indices in brackets). */
export function displayPath(segments: readonly Segment[]): string {
  return `$${segments.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('')}`;
}

function instanceSegments(value: unknown, pointer: string): Segment[] {
  const out: Segment[] = [];
  let at = value;
  for (const key of decode(`#${pointer}`)) {
    if (Array.isArray(at)) {
      out.push(Number(key));
      at = at[Number(key)];
    } else {
      out.push(key);
      at = at && typeof at === 'object' ? (at as Record<string, unknown>)[key] : undefined;
    }
  }
  return out;
}

export interface Problem {
  path: Segment[];
  reason: string;
}

/** The problems `value` has against `schema`, in schema order, one per key. */
export function schemaProblems(schema: TSchema, value: unknown): Problem[] {
  const saved = Settings.Get().maxErrors;
  Settings.Set({ maxErrors: MAX_ERRORS });
  let errors;
  try {
    errors = Value.Errors(schema, value);
  } finally {
    Settings.Set({ maxErrors: saved });
  }

  const found = new Map<string, Problem & { rank: number }>();
  const add = (path: Segment[], reason: string, rank: number) => {
    const key = JSON.stringify(path);
    const seen = found.get(key);
    if (!seen || rank < seen.rank) found.set(key, { path, reason, rank: seen ? Math.min(rank, seen.rank) : rank });
  };
  for (const e of errors) {
    const path = instanceSegments(value, e.instancePath);
    const { node, messageNode } = resolve(schema, e.schemaPath);
    const message = messageNode && messageOf(messageNode, e.keyword);
    switch (e.keyword) {
      case 'boolean': // `additionalProperties: false` said it again, for each key
        break;
      case 'additionalProperties':
        // With a schema for additional keys, that schema's error names the key and says why.
        if (node.additionalProperties === false) {
          for (const key of (e.params as { additionalProperties: string[] }).additionalProperties) add([...path, key], 'is not a known setting', 0);
        }
        break;
      case 'required':
        for (const key of (e.params as { requiredProperties: string[] }).requiredProperties) {
          const property = (node.properties as Record<string, Node> | undefined)?.[key];
          add([...path, key], (property?.requiredMessage as string | undefined) ?? 'is required', 0);
        }
        break;
      case '~refine':
        // A refinement says why, unless it is one branch of something that has its own reason.
        add(path, messageNode && messageNode !== node ? message! : (e.params as { message: string }).message, RANK['~refine']!);
        break;
      default:
        add(path, message ?? e.message, RANK[e.keyword] ?? 2);
    }
  }

  const problems = [...found.values()];
  const isInside = (inner: Segment[], outer: Segment[]) => inner.length > outer.length && outer.every((s, i) => s === inner[i]);
  return problems.filter((p) => !problems.some((q) => isInside(p.path, q.path))).map(({ path, reason }) => ({ path, reason }));
}

/**
 * Removes the settings written without a value (`maxDuration:` in YAML is null):
 * a setting of an object with known keys is then not set. An entry of a map or a
 * list written without a value is kept, and refused.
 */
export function withoutNullSettings(schema: TSchema, value: unknown): unknown {
  const node = schema as unknown as Node;
  if (Array.isArray(value)) {
    if (node.items && typeof node.items === 'object') for (const item of value) withoutNullSettings(node.items as TSchema, item);
  } else if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const properties = node.properties as Record<string, TSchema> | undefined;
    const patterns = Object.entries((node.patternProperties ?? {}) as Record<string, TSchema>);
    for (const [key, v] of Object.entries(record)) {
      const property = properties && Object.prototype.hasOwnProperty.call(properties, key) ? properties[key] : undefined;
      if (property && v === null) delete record[key];
      else if (property) withoutNullSettings(property, v);
      else for (const [pattern, entry] of patterns) if (new RegExp(pattern, 'u').test(key)) withoutNullSettings(entry, v);
    }
  }
  return value;
}
