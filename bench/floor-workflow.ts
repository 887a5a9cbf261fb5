import { proxyActivities } from '@temporalio/workflow';

// The Temporal floor's workflow: the shape of a grant's way to ACTIVE (two steps
// side by side, then four in a row: audit REQUESTED ∥ check target, account,
// privileges, audit GRANTED, e-mail) with activities that do nothing. What Temporal
// alone costs a grant on the same server (bench/temporal-floor.ts).

const { step } = proxyActivities<{ step(): Promise<void> }>({ startToCloseTimeout: '30s' });

export async function grantShaped(): Promise<void> {
  await Promise.all([step(), step()]);
  for (let i = 0; i < 4; i++) await step();
}
