import { createSource } from '../../shared/connectors/sources/registry.ts';
import { createTarget } from '../../shared/connectors/targets/registry.ts';
import { discoverInputSchema } from '../../shared/usecases/contracts.ts';
import { discover } from '../../shared/usecases/phases/1-discover.ts';
import { phaseHandler } from '../phase-handler.ts';

export const handler = phaseHandler('discover', discoverInputSchema, (deps, input) => discover(deps, input), {
  sources: createSource,
  targets: createTarget,
});
