import { parseFileConfig, type FileConfig } from '../../src/config';

/** A small valid configuration, for apps built without the test stack (nothing in it is ever reached). */
export function minimalConfig(): FileConfig {
  return parseFileConfig({
    secretPrefix: 'dbaccess',
    allowedEmailDomains: ['example.com'],
    administrators: [{ name: 'Admin', email: 'admin@example.com' }],
    accessLevels: { READ: ['SELECT'] },
    projects: { demo: { ownerName: 'Owner', ownerEmail: 'owner@example.com', databases: { main: { schema: 'demo_main', adminSecretId: 'admin/demo' } } } },
    apiClients: { ops: { role: 'admin' } },
  });
}
