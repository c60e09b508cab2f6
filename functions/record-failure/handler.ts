import { recordFailureInputSchema } from '../../shared/usecases/contracts.ts';
import { recordFailure } from '../../shared/usecases/phases/8-record-failure.ts';
import { phaseHandler } from '../phase-handler.ts';

export const handler = phaseHandler('record-failure', recordFailureInputSchema, (deps, input) =>
  recordFailure(deps, input),
);
