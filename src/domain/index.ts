export * from './account';
export * from './duration';
export * from './expiry';
export * from './grant';
export * from './identifiers';
export * from './levels';
export * from './errors';
export * from './reconcile';
