import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityErrorTypeName } from '../../src/adapters/errors';

/** Awaits `promise`, which must reject with an ApplicationFailure of `type`; returns it. */
export async function expectFailure(promise: Promise<unknown>, type: ActivityErrorTypeName): Promise<ApplicationFailure> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    assert.equal(err.type, type, err.message);
    return err;
  }
  assert.fail(`expected ${type}`);
}
