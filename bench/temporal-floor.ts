import { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';

import { forEachConcurrently, summarize, type Summary } from './measure';

// The Temporal floor: what the same Temporal server does with a workflow of a
// grant's shape whose activities do nothing (bench/floor-workflow.ts), run by a
// worker with the service's settings. The grant path's throughput divided by
// this is what dbaccess's own work costs; the rest is Temporal's.

export interface TemporalFloor {
  /** Workflows per second, per run, at each concurrency. */
  throughput: Record<number, number[]>;
  /** Start to result, ms, at concurrency 1. */
  latencyMs: Summary;
}

/** The floor with activities (as grants run), and with local activities (what they could run as). */
export interface TemporalFloors {
  activities: TemporalFloor;
  local: TemporalFloor;
}

export async function temporalFloor(
  address: string,
  client: Client,
  options: { runs: number; sizes: Record<number, number>; log: (line: string) => void },
): Promise<TemporalFloors> {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed already (once per process)
  }
  const connection = await NativeConnection.connect({ address });
  const taskQueue = `bench-floor-${Date.now().toString(36)}`;
  const worker = await Worker.create({
    connection,
    namespace: 'default',
    taskQueue,
    workflowsPath: require.resolve('./floor-workflow'),
    activities: { step: async () => undefined },
    // As the service's worker (src/worker/index.ts).
    maxConcurrentActivityTaskExecutions: 50,
  });
  const running = worker.run();
  const measure = async (workflowType: string): Promise<TemporalFloor> => {
    const throughput: Record<number, number[]> = {};
    const latencies: number[] = [];
    for (const concurrency of Object.keys(options.sizes).map(Number)) {
      throughput[concurrency] = [];
      for (let run = 0; run < options.runs; run++) {
        const ids = Array.from({ length: options.sizes[concurrency]! }, (_, i) => `${taskQueue}-${workflowType}-c${concurrency}-${run}-${i}`);
        const t0 = performance.now();
        await forEachConcurrently(ids, concurrency, async (workflowId) => {
          const w0 = performance.now();
          await client.workflow.execute(workflowType, { taskQueue, workflowId, args: [] });
          if (concurrency === 1) latencies.push(performance.now() - w0);
        });
        throughput[concurrency]!.push(ids.length / ((performance.now() - t0) / 1000));
      }
      options.log(`Temporal floor (${workflowType}) at concurrency ${concurrency}: ${summarize(throughput[concurrency]!).median.toFixed(1)} workflows/s`);
    }
    return { throughput, latencyMs: summarize(latencies) };
  };
  try {
    return { activities: await measure('grantShaped'), local: await measure('grantShapedLocal') };
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
  }
}