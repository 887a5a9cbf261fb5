// Every statement the account manager sends, in three modules: checks.ts (what
// may be spliced into SQL), account-sql.ts (grantees' accounts), server-sql.ts
// (session, admin, connections). One import for their callers.
export * from './checks';
export * from './account-sql';
export * from './server-sql';
