import { awaitLoadInputSchema } from '../../shared/usecases/contracts.ts';
import { awaitLoad } from '../../shared/usecases/phases/5-await-load.ts';
import { phaseHandler } from '../phase-handler.ts';

export const handler = phaseHandler('await-load', awaitLoadInputSchema, (deps, input) =>
  awaitLoad(deps, input),
);
