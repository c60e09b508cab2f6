import { discoverInputSchema } from '../../shared/usecases/contracts.ts';
import { discover } from '../../shared/usecases/phases.ts';
import { phaseHandler } from '../phase-handler.ts';

export const handler = phaseHandler('discover', discoverInputSchema, (deps, input) => discover(deps, input));
