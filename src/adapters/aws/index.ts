export { createAwsClients, type AwsClientOptions, type AwsClients } from './clients';
export {
  SecretsManagerAdminCredentials,
  SecretsManagerGrantSecretStore,
  SecretInvalidError,
  parseAdminSecret,
  readJsonSecret,
  type AdminCredentialsOptions,
} from './secrets';
export {
  AUDIT_INDEX_BY_DATABASE,
  AUDIT_INDEX_BY_GRANTEE,
  AUDIT_TABLE_DEFINITION,
  DynamoAuditStore,
  auditSortKey,
  ensureAuditTable,
} from './audit';
export {
  CREDENTIAL_LINKS_INDEX_BY_TOKEN,
  CREDENTIAL_LINKS_TABLE_DEFINITION,
  DynamoCredentialLinkStore,
  ensureCredentialLinksTable,
} from './credential-links';
