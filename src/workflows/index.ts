// The worker's workflowsPath: every workflow type this service registers.
export { grantAccess } from './grant-access';
export { reconcileAccess } from './reconcile';
export { streamAuditEvent } from './stream-audit-event';
