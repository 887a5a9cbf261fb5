import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';

// The Temporal floor's workflows: the shape of a grant's way to ACTIVE (two steps
// side by side, then four in a row: audit REQUESTED ∥ check target, account,
// privileges, audit GRANTED, e-mail) with activities that do nothing. What Temporal
// alone costs a grant on the same server (bench/temporal-floor.ts).

type Steps = { step(): Promise<void> };
const activity = proxyActivities<Steps>({ startToCloseTimeout: '30s' });
const local = proxyLocalActivities<Steps>({ startToCloseTimeout: '30s' });

async function grantShape(step: () => Promise<void>): Promise<void> {
  await Promise.all([step(), step()]);
  for (let i = 0; i < 4; i++) await step();
}

/** As a grant runs today: every step an activity. */
export async function grantShaped(): Promise<void> {
  await grantShape(activity.step);
}

/** The same steps as local activities: what the grant path could reach with them. */
export async function grantShapedLocal(): Promise<void> {
  await grantShape(local.step);
}
