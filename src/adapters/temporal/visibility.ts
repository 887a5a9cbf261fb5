import { Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload, type PayloadCodec, type TypedSearchAttributes } from '@temporalio/common';

// Listing grants from Temporal's visibility store with the SDK's `workflow.list`,
// through a client that does not read memos. The SDK decodes every listed
// workflow's memo through the data converter, so one memo written with a key this
// process does not hold (another deployment in the namespace, a key retired too
// early) would fail the whole listing. A listing needs only search attributes,
// which are never encrypted.

export interface VisibleWorkflow {
  workflowId: string;
  runId: string;
  /** RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, CONTINUED_AS_NEW, TIMED_OUT. */
  status: string;
  startTime: Date;
  closeTime?: Date;
  searchAttributes: TypedSearchAttributes;
}

const NULL_PAYLOAD = defaultPayloadConverter.toPayload(null);

/** Reads every payload (here: memo fields) as null, without decrypting it. */
const skipPayloads: PayloadCodec = {
  encode: async (payloads: Payload[]) => payloads,
  decode: async (payloads: Payload[]) => payloads.map(() => NULL_PAYLOAD),
};

const listers = new WeakMap<Client, Client>();

/** A client on the same connection and namespace whose data converter reads memos as null. */
function listerFor(client: Client): Client {
  let lister = listers.get(client);
  if (!lister) {
    lister = new Client({ connection: client.connection, namespace: client.options.namespace, dataConverter: { payloadCodecs: [skipPayloads] } });
    listers.set(client, lister);
  }
  return lister;
}

export async function* listWorkflows(client: Client, query: string, pageSize = 1000): AsyncGenerator<VisibleWorkflow> {
  for await (const wf of listerFor(client).workflow.list({ query, pageSize })) {
    yield {
      workflowId: wf.workflowId,
      runId: wf.runId,
      status: wf.status.name,
      startTime: wf.startTime,
      ...(wf.closeTime ? { closeTime: wf.closeTime } : {}),
      searchAttributes: wf.typedSearchAttributes,
    };
  }
}
