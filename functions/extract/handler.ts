import { SOURCE_CONNECTORS } from '../../shared/connectors/sources/registry.ts';
import { extractInputSchema } from '../../shared/usecases/contracts.ts';
import { extractPartition } from '../../shared/usecases/phases/3-extract.ts';
import { phaseHandler } from '../phase-handler.ts';

export const handler = phaseHandler(
  'extract',
  extractInputSchema,
  (deps, input, context) =>
    extractPartition(deps, input, { remainingMs: () => context.getRemainingTimeInMillis() }),
  { sources: SOURCE_CONNECTORS },
);
