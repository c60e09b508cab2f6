import { cleanupInputSchema } from '../../shared/usecases/contracts.ts';
import { cleanupRun } from '../../shared/usecases/phases/7-cleanup.ts';
import { phaseHandler } from '../phase-handler.ts';

export const handler = phaseHandler('cleanup', cleanupInputSchema, (deps, input) => cleanupRun(deps, input));
