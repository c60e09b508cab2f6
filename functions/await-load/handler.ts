import { awaitLoadInputSchema } from '../../shared/usecases/contracts.ts';
import { awaitLoad } from '../../shared/usecases/phases.ts';
import { phaseHandler } from '../phase-handler.ts';

export const handler = phaseHandler('await-load', awaitLoadInputSchema, (deps, input) =>
  awaitLoad(deps, input),
);
