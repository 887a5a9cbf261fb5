import type { EngineGuide } from '../../contract/engine-guide';
import { mysqlGuide } from './mysql/guide';
import { postgresqlGuide } from './postgresql/guide';

// The guide of each engine, without its driver: the API and the e-mails use these.

const GUIDES: Readonly<Record<string, EngineGuide>> = { mysql: mysqlGuide, mariadb: mysqlGuide, postgresql: postgresqlGuide };

/** The guide of an engine key or a dialect (`mariadb` is MySQL's); MySQL's when unknown. */
export function guideFor(engine: string | undefined): EngineGuide {
  return (engine && GUIDES[engine]) || mysqlGuide;
}
