import * as z from 'zod';

const connectorName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/, 'a connector name is lower-kebab-case, e.g. orders-api');

const options = z
  .record(z.string(), z.unknown())
  .default({})
  .describe(
    "The connector's own settings, checked by the options schema it registers (esync validate reports their problems here).",
  );

/** A source registered in code by an extension module (`defineSource`, shared/extensions). */
export const customSourceConfigSchema = z.strictObject({
  type: z.literal('custom'),
  connector: connectorName.describe(
    'Name of a source an extension module registers with defineSource (see the README, Extending ESync); esync validate and synth refuse a name no extension registers.',
  ),
  options,
});

/** A target registered in code by an extension module (`defineTarget`, shared/extensions). */
export const customTargetConfigSchema = z.strictObject({
  type: z.literal('custom'),
  connector: connectorName.describe(
    'Name of a target an extension module registers with defineTarget (see the README, Extending ESync); esync validate and synth refuse a name no extension registers.',
  ),
  options,
});
