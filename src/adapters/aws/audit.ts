import {
  CreateTableCommand,
  DescribeTableCommand,
  waitUntilTableExists,
  type CreateTableCommandInput,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { PutCommand, QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';

import type { AuditEventType } from '../../domain';
import type { AuditRecord, AuditStore } from '../ports';
import { awsErrorName, awsFailure } from './errors';

// The compliance audit trail. One item per event, keyed so that a grant id's
// events sort by time across its successive lifecycles (the same person can be
// granted the same database again later; runId and eventId tell lifecycles apart):
//
//   grantId (PK)  sk (SK) = `${at}#${eventId}`   target = `${project}/${database}`   email
//   GSI byDatabase: target + sk   "who had access to database D, when"
//   GSI byGrantee:  email + sk    "what access did person P have"
//
// `at` in the sort key is the canonical ISO-8601 UTC form (`toISOString`), so
// that string order is time order (see auditSortKey).
//
// The service only ever puts and queries: nothing in it updates or deletes an
// audit item. The worker's IAM policy for the table should say so:
//
//   {
//     "Effect": "Allow",
//     "Action": ["dynamodb:PutItem", "dynamodb:Query"],
//     "Resource": [
//       "arn:aws:dynamodb:REGION:ACCOUNT:table/AUDIT_TABLE",
//       "arn:aws:dynamodb:REGION:ACCOUNT:table/AUDIT_TABLE/index/*"
//     ]
//   }
//
// In production also enable point-in-time recovery on the table; deletion
// protection is part of the definition below.

export const AUDIT_INDEX_BY_DATABASE = 'byDatabase';
export const AUDIT_INDEX_BY_GRANTEE = 'byGrantee';

/** The audit table, without its name (AUDIT_TABLE): what `ensureAuditTable` creates and IaC should declare. */
export const AUDIT_TABLE_DEFINITION = {
  AttributeDefinitions: [
    { AttributeName: 'grantId', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'S' },
    { AttributeName: 'target', AttributeType: 'S' },
    { AttributeName: 'email', AttributeType: 'S' },
  ],
  KeySchema: [
    { AttributeName: 'grantId', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ],
  GlobalSecondaryIndexes: [
    {
      IndexName: AUDIT_INDEX_BY_DATABASE,
      KeySchema: [
        { AttributeName: 'target', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
    {
      IndexName: AUDIT_INDEX_BY_GRANTEE,
      KeySchema: [
        { AttributeName: 'email', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
  ],
  BillingMode: 'PAY_PER_REQUEST',
  DeletionProtectionEnabled: true,
} as const satisfies Omit<CreateTableCommandInput, 'TableName'>;

function canonicalTime(value: string, what: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new Error(`${what} must be an ISO-8601 time`);
  return new Date(ms).toISOString();
}

/**
 * `${at}#${eventId}`, with the event id's trailing sequence number zero-padded:
 * events of one workflow task share their time, and "10" must sort after "9".
 */
export function auditSortKey(record: Pick<AuditRecord, 'at' | 'eventId'>): string {
  const id = record.eventId.replace(/(\d+)$/, (seq) => seq.padStart(10, '0'));
  return `${canonicalTime(record.at, 'audit event time')}#${id}`;
}

const RECORD_FIELDS = [
  'grantId',
  'eventId',
  'at',
  'event',
  'actor',
  'email',
  'project',
  'database',
  'accessLevel',
  'expiresAt',
  'account',
  'workflowId',
  'runId',
] as const satisfies readonly (keyof AuditRecord)[];

function fromItem(item: Record<string, unknown>): AuditRecord {
  const text = (key: string): string => (typeof item[key] === 'string' ? (item[key] as string) : '');
  const record = Object.fromEntries(RECORD_FIELDS.map((f) => [f, text(f)])) as unknown as AuditRecord;
  record.event = text('event') as AuditEventType;
  if (typeof item['reason'] === 'string') record.reason = item['reason'];
  if (typeof item['detail'] === 'string') record.detail = item['detail'];
  if (typeof item['accessEndedAt'] === 'string') record.accessEndedAt = item['accessEndedAt'];
  if (typeof item['clientAddress'] === 'string') record.clientAddress = item['clientAddress'];
  if (typeof item['userAgent'] === 'string') record.userAgent = item['userAgent'];
  return record;
}

/** Appends and queries the audit trail in DynamoDB. Never updates or deletes. */
export class DynamoAuditStore implements AuditStore {
  private readonly pageSize: number | undefined;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    /** `pageSize` caps the items per Query call (DynamoDB's 1 MB page otherwise); mostly for tests. */
    options: { pageSize?: number } = {},
  ) {
    this.pageSize = options.pageSize;
  }

  async append(record: AuditRecord): Promise<{ written: boolean }> {
    const item: Record<string, string> = {};
    for (const f of RECORD_FIELDS) item[f] = record[f];
    if (record.reason !== undefined) item['reason'] = record.reason;
    if (record.detail !== undefined) item['detail'] = record.detail;
    if (record.accessEndedAt !== undefined) item['accessEndedAt'] = record.accessEndedAt;
    if (record.clientAddress !== undefined) item['clientAddress'] = record.clientAddress;
    if (record.userAgent !== undefined) item['userAgent'] = record.userAgent;
    // The grantee index is searched by address; one spelling per person.
    item['email'] = record.email.trim().toLowerCase();
    item['sk'] = auditSortKey(record);
    item['target'] = `${record.project}/${record.database}`;
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(sk)' }));
      return { written: true };
    } catch (err) {
      // The same grant id, time and event id: this write already happened (a retry).
      if (awsErrorName(err) === 'ConditionalCheckFailedException') return { written: false };
      throw awsFailure(`could not write audit event ${record.event} of ${record.grantId}`, err);
    }
  }

  async forGrant(grantId: string): Promise<AuditRecord[]> {
    return this.query(
      {
        KeyConditionExpression: 'grantId = :pk',
        ExpressionAttributeValues: { ':pk': grantId },
        // What the API shows right after a write must include that write.
        ConsistentRead: true,
      },
      `audit events of ${grantId}`,
    );
  }

  async forDatabase(project: string, database: string, from?: string, to?: string): Promise<AuditRecord[]> {
    return this.query(
      { IndexName: AUDIT_INDEX_BY_DATABASE, ...keyCondition('target', `${project}/${database}`, from, to) },
      `audit events of ${project}/${database}`,
    );
  }

  async forGrantee(email: string, from?: string, to?: string): Promise<AuditRecord[]> {
    return this.query({ IndexName: AUDIT_INDEX_BY_GRANTEE, ...keyCondition('email', email.trim().toLowerCase(), from, to) }, `audit events of ${email}`);
  }

  private async query(input: Omit<QueryCommandInput, 'TableName'>, what: string): Promise<AuditRecord[]> {
    const out: AuditRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      let page;
      try {
        page = await this.doc.send(
          new QueryCommand({
            ...input,
            TableName: this.tableName,
            ScanIndexForward: true,
            ...(this.pageSize ? { Limit: this.pageSize } : {}),
            ...(startKey ? { ExclusiveStartKey: startKey } : {}),
          }),
        );
      } catch (err) {
        throw awsFailure(`could not read ${what}`, err);
      }
      for (const item of page.Items ?? []) out.push(fromItem(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return out;
  }
}

/**
 * Key condition for an index partition with optional inclusive time bounds.
 * `${to}$` is above every `${to}#eventId` ('$' follows '#') and below any later
 * time, because canonical times all have the same length.
 */
function keyCondition(attr: string, value: string, from?: string, to?: string): Pick<QueryCommandInput, 'KeyConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'> {
  const lo = from ? canonicalTime(from, '"from"') : undefined;
  const hi = to ? `${canonicalTime(to, '"to"')}$` : undefined;
  const names = { '#pk': attr };
  if (lo && hi) {
    return { KeyConditionExpression: '#pk = :pk AND sk BETWEEN :lo AND :hi', ExpressionAttributeNames: names, ExpressionAttributeValues: { ':pk': value, ':lo': lo, ':hi': hi } };
  }
  if (lo) return { KeyConditionExpression: '#pk = :pk AND sk >= :lo', ExpressionAttributeNames: names, ExpressionAttributeValues: { ':pk': value, ':lo': lo } };
  if (hi) return { KeyConditionExpression: '#pk = :pk AND sk <= :hi', ExpressionAttributeNames: names, ExpressionAttributeValues: { ':pk': value, ':hi': hi } };
  return { KeyConditionExpression: '#pk = :pk', ExpressionAttributeNames: names, ExpressionAttributeValues: { ':pk': value } };
}

const INDEX_NAMES = [AUDIT_INDEX_BY_DATABASE, AUDIT_INDEX_BY_GRANTEE];

function missingIndexes(table: TableDescription | undefined): string[] {
  const present = new Set((table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
  return INDEX_NAMES.filter((n) => !present.has(n));
}

function allActive(table: TableDescription | undefined): boolean {
  return table?.TableStatus === 'ACTIVE' && (table.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === undefined || i.IndexStatus === 'ACTIVE');
}

/**
 * Creates the audit table (with both indexes, on-demand) unless it exists, and
 * waits until it and its indexes are ACTIVE. For the dev stack and tests;
 * production tables come from IaC with AUDIT_TABLE_DEFINITION. Fails when an
 * existing table lacks the indexes, since the queries would fail later anyway.
 */
export async function ensureAuditTable(client: DynamoDBClient, tableName: string, options: { maxWaitSeconds?: number } = {}): Promise<void> {
  const maxWaitTime = options.maxWaitSeconds ?? 120;
  let table = await describe(client, tableName);
  if (!table) {
    try {
      await client.send(new CreateTableCommand({ TableName: tableName, ...structuredClone(AUDIT_TABLE_DEFINITION) }));
    } catch (err) {
      // Someone else (another worker starting) is creating it: wait for theirs.
      if (awsErrorName(err) !== 'ResourceInUseException') throw awsFailure(`could not create audit table ${tableName}`, err);
    }
    await waitUntilTableExists({ client, maxWaitTime, minDelay: 1, maxDelay: 5 }, { TableName: tableName });
    table = await describe(client, tableName);
  }
  const missing = missingIndexes(table);
  if (missing.length > 0) throw new Error(`audit table ${tableName} exists but lacks the index(es) ${missing.join(', ')}`);
  const deadline = Date.now() + maxWaitTime * 1000;
  while (!allActive(table)) {
    if (Date.now() > deadline) throw new Error(`audit table ${tableName} did not become ACTIVE within ${maxWaitTime}s`);
    await new Promise((r) => setTimeout(r, 1000));
    table = await describe(client, tableName);
  }
}

async function describe(client: DynamoDBClient, tableName: string): Promise<TableDescription | undefined> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (err) {
    if (awsErrorName(err) === 'ResourceNotFoundException') return undefined;
    throw awsFailure(`could not describe audit table ${tableName}`, err);
  }
}
