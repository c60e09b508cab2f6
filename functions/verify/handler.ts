import { createSource } from '../../shared/connectors/sources/registry.ts';
import { createTarget } from '../../shared/connectors/targets/registry.ts';
import { verifyInputSchema } from '../../shared/usecases/contracts.ts';
import { verifyRun } from '../../shared/usecases/verify.ts';
import { phaseHandler } from '../phase-handler.ts';

export const handler = phaseHandler('verify', verifyInputSchema, (deps, input) => verifyRun(deps, input), {
  sources: createSource,
  targets: createTarget,
});
