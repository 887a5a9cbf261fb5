import type { Client } from '@temporalio/client';
import { decodeTypedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes';
import type { TypedSearchAttributes } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

// Listing grants from Temporal's visibility store without decoding memos.
// The SDK's `client.workflow.list` decodes every workflow's memo through the
// data converter, so one workflow written with a key this process does not hold
// (another deployment in the namespace, a key retired too early) would fail the
// whole listing. Search attributes are never encrypted, and they are all a
// listing needs.

export interface VisibleWorkflow {
  workflowId: string;
  runId: string;
  /** RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, CONTINUED_AS_NEW, TIMED_OUT. */
  status: string;
  startTime: Date;
  closeTime?: Date;
  searchAttributes: TypedSearchAttributes;
}

const STATUS = temporal.api.enums.v1.WorkflowExecutionStatus;

function toDate(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): Date | undefined {
  if (!ts || ts.seconds === undefined || ts.seconds === null) return undefined;
  return new Date(Number(ts.seconds) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6));
}

export async function* listWorkflows(client: Client, query: string, pageSize = 1000): AsyncGenerator<VisibleWorkflow> {
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.listWorkflowExecutions({ namespace: client.options.namespace, query, pageSize, ...(nextPageToken ? { nextPageToken } : {}) });
    for (const raw of page.executions ?? []) {
      const closeTime = toDate(raw.closeTime);
      yield {
        workflowId: raw.execution?.workflowId ?? '',
        runId: raw.execution?.runId ?? '',
        status: (STATUS[raw.status ?? 0] ?? 'UNSPECIFIED').replace(/^WORKFLOW_EXECUTION_STATUS_/, ''),
        startTime: toDate(raw.startTime) ?? new Date(0),
        ...(closeTime ? { closeTime } : {}),
        searchAttributes: decodeTypedSearchAttributes(raw.searchAttributes?.indexedFields),
      };
    }
    nextPageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
  } while (nextPageToken);
}
