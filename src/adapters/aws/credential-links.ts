import {
  CreateTableCommand,
  DescribeTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  type CreateTableCommandInput,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

import type { CredentialLink, CredentialLinkStore } from '../credential-links';
import { awsErrorName, awsFailure } from './errors';

// The one-time credential links. One item per GRANTED event:
//
//   linkId (PK) = the GRANTED audit event id    tokenHash (GSI byTokenHash)
//   ttl = linkExpiresAt + 7 days: DynamoDB deletes the item a week after the
//   link stopped working (until then a late click gets "used or expired", after
//   it "not valid").
//
// IAM: the worker needs dynamodb:PutItem on the table (markMailed is a put too); the API needs
// dynamodb:Query on table/NAME/index/byTokenHash, GetItem and UpdateItem on the table.

export const CREDENTIAL_LINKS_INDEX_BY_TOKEN = 'byTokenHash';
export const CREDENTIAL_LINKS_TTL_ATTRIBUTE = 'ttl';
const KEEP_AFTER_EXPIRY_SECONDS = 7 * 24 * 3600;

/** The links table, without its name (CREDENTIAL_LINKS_TABLE). Time to live on `ttl` is set separately. */
export const CREDENTIAL_LINKS_TABLE_DEFINITION = {
  AttributeDefinitions: [
    { AttributeName: 'linkId', AttributeType: 'S' },
    { AttributeName: 'tokenHash', AttributeType: 'S' },
  ],
  KeySchema: [{ AttributeName: 'linkId', KeyType: 'HASH' }],
  GlobalSecondaryIndexes: [
    {
      IndexName: CREDENTIAL_LINKS_INDEX_BY_TOKEN,
      KeySchema: [{ AttributeName: 'tokenHash', KeyType: 'HASH' }],
      Projection: { ProjectionType: 'KEYS_ONLY' },
    },
  ],
  BillingMode: 'PAY_PER_REQUEST',
} as const satisfies Omit<CreateTableCommandInput, 'TableName'>;

const TEXT_FIELDS = ['linkId', 'tokenHash', 'grantId', 'secretName', 'account', 'project', 'database', 'email', 'accessLevel', 'expiresAt', 'workflowId', 'runId', 'createdAt'] as const;

function fromItem(item: Record<string, unknown>): CredentialLink {
  const link = Object.fromEntries(TEXT_FIELDS.map((f) => [f, typeof item[f] === 'string' ? item[f] : ''])) as unknown as CredentialLink;
  link.linkExpiresAt = typeof item['linkExpiresAt'] === 'number' ? item['linkExpiresAt'] : 0;
  if (typeof item['mailedAt'] === 'string') link.mailedAt = item['mailedAt'];
  if (typeof item['usedAt'] === 'string') link.usedAt = item['usedAt'];
  return link;
}

function toItem(link: CredentialLink): Record<string, string | number> {
  const item: Record<string, string | number> = {};
  for (const f of TEXT_FIELDS) item[f] = link[f];
  item['linkExpiresAt'] = link.linkExpiresAt;
  item[CREDENTIAL_LINKS_TTL_ATTRIBUTE] = link.linkExpiresAt + KEEP_AFTER_EXPIRY_SECONDS;
  return item;
}

export class DynamoCredentialLinkStore implements CredentialLinkStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async put(link: CredentialLink): Promise<{ written: boolean }> {
    try {
      // A mailed or used link stays: a late retry of the notify must not hand out a second one.
      await this.doc.send(
        new PutCommand({ TableName: this.tableName, Item: toItem(link), ConditionExpression: 'attribute_not_exists(usedAt) AND attribute_not_exists(mailedAt)' }),
      );
      return { written: true };
    } catch (err) {
      if (awsErrorName(err) === 'ConditionalCheckFailedException') return { written: false };
      throw awsFailure(`could not store credential link ${link.linkId}`, err);
    }
  }

  async markMailed(link: CredentialLink, mailedAt: string): Promise<void> {
    try {
      // A put of the same item (the worker needs no UpdateItem), only while it still holds this token and is unused.
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...toItem(link), mailedAt },
          ConditionExpression: 'tokenHash = :h AND attribute_not_exists(usedAt)',
          ExpressionAttributeValues: { ':h': link.tokenHash },
        }),
      );
    } catch (err) {
      if (awsErrorName(err) === 'ConditionalCheckFailedException') return;
      throw awsFailure(`could not mark credential link ${link.linkId} mailed`, err);
    }
  }

  async findByTokenHash(tokenHash: string): Promise<CredentialLink | undefined> {
    let linkId: unknown;
    try {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: CREDENTIAL_LINKS_INDEX_BY_TOKEN,
          KeyConditionExpression: 'tokenHash = :h',
          ExpressionAttributeValues: { ':h': tokenHash },
          Limit: 1,
        }),
      );
      linkId = page.Items?.[0]?.['linkId'];
    } catch (err) {
      throw awsFailure('could not look up a credential link', err);
    }
    if (typeof linkId !== 'string') return undefined;
    // The index is eventually consistent: the item itself says whether this hash is still its token.
    let item: Record<string, unknown> | undefined;
    try {
      item = (await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { linkId }, ConsistentRead: true }))).Item;
    } catch (err) {
      throw awsFailure(`could not read credential link ${linkId}`, err);
    }
    if (!item || item['tokenHash'] !== tokenHash) return undefined;
    return fromItem(item);
  }

  async markUsed(linkId: string, tokenHash: string, usedAt: string, nowSeconds: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { linkId },
          UpdateExpression: 'SET usedAt = :at',
          ConditionExpression: 'attribute_not_exists(usedAt) AND tokenHash = :h AND linkExpiresAt > :now',
          ExpressionAttributeValues: { ':at': usedAt, ':h': tokenHash, ':now': nowSeconds },
        }),
      );
      return true;
    } catch (err) {
      if (awsErrorName(err) === 'ConditionalCheckFailedException') return false;
      throw awsFailure(`could not mark credential link ${linkId} used`, err);
    }
  }

  async unmarkUsed(linkId: string, tokenHash: string, usedAt: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { linkId },
          UpdateExpression: 'REMOVE usedAt',
          ConditionExpression: 'usedAt = :at AND tokenHash = :h',
          ExpressionAttributeValues: { ':at': usedAt, ':h': tokenHash },
        }),
      );
    } catch (err) {
      if (awsErrorName(err) === 'ConditionalCheckFailedException') return;
      throw awsFailure(`could not release credential link ${linkId}`, err);
    }
  }
}

/**
 * Creates the links table (index and time to live) unless it exists, and waits
 * until it is ACTIVE. For the dev stack, the seed and tests; production tables
 * come from IaC with CREDENTIAL_LINKS_TABLE_DEFINITION and TTL on `ttl`.
 */
export async function ensureCredentialLinksTable(client: DynamoDBClient, tableName: string, options: { maxWaitSeconds?: number } = {}): Promise<void> {
  const maxWaitTime = options.maxWaitSeconds ?? 120;
  let table = await describe(client, tableName);
  if (!table) {
    try {
      await client.send(new CreateTableCommand({ TableName: tableName, ...structuredClone(CREDENTIAL_LINKS_TABLE_DEFINITION) }));
    } catch (err) {
      if (awsErrorName(err) !== 'ResourceInUseException') throw awsFailure(`could not create credential links table ${tableName}`, err);
    }
    await waitUntilTableExists({ client, maxWaitTime, minDelay: 1, maxDelay: 5 }, { TableName: tableName });
    table = await describe(client, tableName);
  }
  if (!(table?.GlobalSecondaryIndexes ?? []).some((i) => i.IndexName === CREDENTIAL_LINKS_INDEX_BY_TOKEN)) {
    throw new Error(`credential links table ${tableName} exists but lacks the index ${CREDENTIAL_LINKS_INDEX_BY_TOKEN}`);
  }
  const deadline = Date.now() + maxWaitTime * 1000;
  while (table?.TableStatus !== 'ACTIVE' || (table.GlobalSecondaryIndexes ?? []).some((i) => i.IndexStatus !== undefined && i.IndexStatus !== 'ACTIVE')) {
    if (Date.now() > deadline) throw new Error(`credential links table ${tableName} did not become ACTIVE within ${maxWaitTime}s`);
    await new Promise((r) => setTimeout(r, 1000));
    table = await describe(client, tableName);
  }
  try {
    await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { Enabled: true, AttributeName: CREDENTIAL_LINKS_TTL_ATTRIBUTE } }));
  } catch (err) {
    // Already enabled on this attribute (a restart): that is the state wanted.
    if (awsErrorName(err) !== 'ValidationException') throw awsFailure(`could not enable time to live on ${tableName}`, err);
  }
}

async function describe(client: DynamoDBClient, tableName: string): Promise<TableDescription | undefined> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (err) {
    if (awsErrorName(err) === 'ResourceNotFoundException') return undefined;
    throw awsFailure(`could not describe credential links table ${tableName}`, err);
  }
}
