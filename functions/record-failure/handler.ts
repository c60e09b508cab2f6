import { recordFailureInputSchema } from '../../shared/usecases/contracts.ts';
import { recordFailure } from '../../shared/usecases/phases.ts';
import { phaseHandler } from '../phase-handler.ts';

export const handler = phaseHandler('record-failure', recordFailureInputSchema, (deps, input) =>
  recordFailure(deps, input),
);
