import { SOURCE_CONNECTORS } from '../../shared/connectors/sources/registry.ts';
import { TARGET_CONNECTORS } from '../../shared/connectors/targets/registry.ts';
import { verifyInputSchema } from '../../shared/usecases/contracts.ts';
import { planVerify, summarizeVerify } from '../../shared/usecases/phases/6-verify.ts';
import { verifyPartition } from '../../shared/usecases/phases/6-verify-partition.ts';
import { readTargetSegment } from '../../shared/usecases/phases/6-verify-target.ts';
import { phaseHandler } from '../phase-handler.ts';

/** The four steps of Verify, told apart by `step`: plan, one segment of the target read, one partition, summary. */
export const handler = phaseHandler(
  'verify',
  verifyInputSchema,
  (deps, input, context): Promise<object> => {
    switch (input.step) {
      case 'plan':
        return planVerify(deps, input);
      case 'target-segment':
        return readTargetSegment(deps, input, { remainingMs: () => context.getRemainingTimeInMillis() });
      case 'partition':
        return verifyPartition(deps, input, { remainingMs: () => context.getRemainingTimeInMillis() });
      case 'summary':
        return summarizeVerify(deps, input);
    }
  },
  { sources: SOURCE_CONNECTORS, targets: TARGET_CONNECTORS },
);
