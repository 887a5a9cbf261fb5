import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

// 404 for a path the API does not have; 405 with `Allow` (RFC 9110) for a method a
// path does not have (TRACE, PUT on /grants …). Fastify's router answers both with
// its not-found handler, so the routes are collected as they are added and the
// handler tells the two apart.

interface KnownRoute {
  pattern: RegExp;
  /** A route without parameters: on its path it hides the parametric ones (/grants/adopt is not a grant id). */
  fixed: boolean;
  method: string;
}

/** A router pattern (`/grants/:grantId`, `/docs/*`) as a regular expression over the raw path. */
function patternOf(url: string): RegExp {
  const parts = url.split(/(:[A-Za-z0-9_]+|\*)/).map((part) => {
    if (part === '*') return '.*';
    if (part.startsWith(':')) return '[^/]+';
    return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return new RegExp(`^${parts.join('')}$`);
}

/**
 * Collects the routes added from now on; call first in buildApp. Returns the
 * not-found handler to install.
 */
export function methodRouting(app: FastifyInstance): (request: FastifyRequest, reply: FastifyReply) => void {
  const routes: KnownRoute[] = [];
  app.addHook('onRoute', (route) => {
    const url = route.url ?? route.path;
    for (const method of [route.method].flat()) routes.push({ pattern: patternOf(url), fixed: !/[:*]/.test(url), method: method.toUpperCase() });
  });
  return (request, reply) => {
    const path = request.url.split('?')[0]!;
    const matching = routes.filter((r) => r.pattern.test(path));
    const fixed = matching.filter((r) => r.fixed);
    const allowed = [...new Set((fixed.length > 0 ? fixed : matching).map((r) => r.method))].sort();
    // A route of this method exists and sent the request here itself (a static file that is not there).
    if (allowed.length === 0 || allowed.includes(request.method)) {
      void reply.status(404).send({ error: 'not_found', message: `no route ${request.method} ${path}` });
      return;
    }
    void reply
      .status(405)
      .header('allow', allowed.join(', '))
      .send({ error: 'method_not_allowed', message: `${request.method} is not a method of ${path}: use ${allowed.join(', ')}` });
  };
}
