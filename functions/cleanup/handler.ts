import { cleanupRun } from '../../shared/usecases/cleanup.ts';
import { cleanupInputSchema } from '../../shared/usecases/contracts.ts';
import { phaseHandler } from '../phase-handler.ts';

export const handler = phaseHandler('cleanup', cleanupInputSchema, (deps, input) => cleanupRun(deps, input));
