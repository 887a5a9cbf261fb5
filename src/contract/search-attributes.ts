import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Custom search attributes, so operators can find grants in the Temporal UI
// (`DbAccessGrantee = "john.doe@example.com"`). They must be registered on the
// namespace before the first grant starts (the dev stack and docs/operations.md show how).

export const SA = {
  grantee: defineSearchAttributeKey('DbAccessGrantee', SearchAttributeType.KEYWORD),
  project: defineSearchAttributeKey('DbAccessProject', SearchAttributeType.KEYWORD),
  database: defineSearchAttributeKey('DbAccessDatabase', SearchAttributeType.KEYWORD),
  accessLevel: defineSearchAttributeKey('DbAccessLevel', SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey('DbAccessStatus', SearchAttributeType.KEYWORD),
  expiresAt: defineSearchAttributeKey('DbAccessExpiresAt', SearchAttributeType.DATETIME),
  /** `true` while the grant's access has ended but the server refuses to drop its account; absent otherwise. */
  retained: defineSearchAttributeKey('DbAccessRetained', SearchAttributeType.KEYWORD),
  /** A standing grant's next review deadline (its expiry); set only on standing grants. */
  reviewBy: defineSearchAttributeKey('DbAccessReviewBy', SearchAttributeType.DATETIME),
  /** A break-glass grant's review: pending, acknowledged, flagged or unreviewed; set only on break-glass grants. */
  breakGlass: defineSearchAttributeKey('DbAccessBreakGlass', SearchAttributeType.KEYWORD),
} as const;

/** Name → type, for registering them (`temporal operator search-attribute create`). */
export const SEARCH_ATTRIBUTE_DEFINITIONS: Record<string, 'Keyword' | 'Datetime'> = Object.fromEntries(
  Object.values(SA).map((k) => [k.name, k.type === SearchAttributeType.DATETIME ? 'Datetime' : 'Keyword']),
);
