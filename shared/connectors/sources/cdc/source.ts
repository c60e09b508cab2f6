import { PushOnlySource } from '../support/push-only.ts';
import { sourceFactory } from '../support/source-base.ts';

/** The CDC source: change events arrive on the ESync bus; a batch run reads nothing. */
export const createCdcSource = sourceFactory<'cdc'>(PushOnlySource);
