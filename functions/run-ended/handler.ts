import { executionStatusEventSchema } from '../../shared/usecases/contracts.ts';
import { recordExecutionEnd } from '../../shared/usecases/run-ended.ts';
import { phaseHandler } from '../phase-handler.ts';

/** Target of the rule on Step Functions status changes: every run ends on its record. */
export const handler = phaseHandler('run-ended', executionStatusEventSchema, (deps, event) =>
  recordExecutionEnd(deps, event.detail),
);
