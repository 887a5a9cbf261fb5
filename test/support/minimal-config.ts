import { parseFileConfig, type FileConfig } from '../../src/config';

/** The file of a small valid configuration (nothing in it is ever reached). */
export const MINIMAL_CONFIG_FILE = {
  secretPrefix: 'dbaccess',
  allowedEmailDomains: ['example.com'],
  administrators: [{ name: 'Admin', email: 'admin@example.com' }],
  accessLevels: { READ: ['SELECT'] },
  projects: { demo: { ownerName: 'Owner', ownerEmail: 'owner@example.com', databases: { main: { schema: 'demo_main', adminSecretId: 'admin/demo' } } } },
  apiClients: { ops: { role: 'admin' } },
};

/** A small valid configuration, for apps built without the test stack. */
export function minimalConfig(): FileConfig {
  return parseFileConfig(structuredClone(MINIMAL_CONFIG_FILE));
}
