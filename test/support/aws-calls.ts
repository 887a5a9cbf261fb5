import { randomUUID } from 'node:crypto';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/** The Secrets Manager calls made through a client from now on, by command name, in order, until `stop()`. */
export function recordCalls(client: SecretsManagerClient): { names: string[]; stop(): void } {
  const names: string[] = [];
  const name = `record-calls-${randomUUID()}`;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      names.push(context.commandName ?? '?');
      return next(args);
    },
    { step: 'initialize', name },
  );
  return { names, stop: () => void client.middlewareStack.remove(name) };
}
