import { SOURCE_CONNECTORS } from '../../shared/connectors/sources/registry.ts';
import { planInputSchema } from '../../shared/usecases/contracts.ts';
import { plan } from '../../shared/usecases/phases/2-plan.ts';
import { phaseHandler } from '../phase-handler.ts';

export const handler = phaseHandler('plan', planInputSchema, (deps, input) => plan(deps, input), {
  sources: SOURCE_CONNECTORS,
});
