/**
 * Schema drift: how a source's columns changed since the schema a pipeline last accepted, and
 * what each `schema.onDrift` policy does about it. Pure; Discover applies the decision.
 */

/** One column as the source's catalog describes it (a connector's `FieldInfo`). */
export interface SchemaField {
  readonly name: string;
  /** The source's own type name, e.g. `numeric(12,2)` or `timestamp with time zone`. */
  readonly type: string;
  readonly nullable: boolean;
}

export interface TypeChange {
  readonly name: string;
  readonly from: string;
  readonly to: string;
}

/**
 * The difference between two schemas of one source. A change of nullability alone is not drift:
 * it changes no value's form and no target column.
 */
export interface SchemaDrift {
  readonly added: readonly SchemaField[];
  readonly removed: readonly SchemaField[];
  readonly typeChanged: readonly TypeChange[];
}

export const DRIFT_POLICIES = ['evolve', 'freeze', 'discard'] as const;
export type DriftPolicy = (typeof DRIFT_POLICIES)[number];

/** What the accepted schema was compared with, column by column, in the source's order. */
export function diffSchema(accepted: readonly SchemaField[], current: readonly SchemaField[]): SchemaDrift {
  const before = new Map(accepted.map((f) => [f.name, f]));
  const now = new Set(current.map((f) => f.name));
  const typeChanged: TypeChange[] = [];
  for (const field of current) {
    const was = before.get(field.name);
    if (was && was.type !== field.type)
      typeChanged.push({ name: field.name, from: was.type, to: field.type });
  }
  return {
    added: current.filter((f) => !before.has(f.name)),
    removed: accepted.filter((f) => !now.has(f.name)),
    typeChanged,
  };
}

/** Changes in a drift: columns added, removed and retyped. */
export const driftChanges = (drift: SchemaDrift): number =>
  drift.added.length + drift.removed.length + drift.typeChanged.length;

/** `added phone (text); removed fax (text); amount changed type from integer to numeric(12,2)` */
export function describeDrift(drift: SchemaDrift): string {
  return [
    ...drift.added.map((f) => `added ${f.name} (${f.type})`),
    ...drift.removed.map((f) => `removed ${f.name} (${f.type})`),
    ...drift.typeChanged.map((c) => `${c.name} changed type from ${c.from} to ${c.to}`),
  ].join('; ');
}

/**
 * The fields `discard` leaves out of every record: the added columns. A retyped column keeps
 * loading (a target with a fixed schema must hold its new values: see
 * `TargetConnector.evolveSchema`), since leaving it out would leave the values the target
 * stores behind the source's. A removed column needs nothing left out.
 */
export const discardedFields = (drift: SchemaDrift): string[] => drift.added.map((f) => f.name);

/**
 * The schema the pipeline accepts after this run: the current one under `evolve` (the target
 * took the change); the earlier one under `freeze` (the run fails); under `discard` the current
 * one without the added columns (the records keep the earlier set of fields). So each later run
 * meets an unaccepted change again, until the policy or the source changes.
 */
export function acceptedAfter(
  policy: DriftPolicy,
  accepted: readonly SchemaField[],
  current: readonly SchemaField[],
): readonly SchemaField[] {
  if (policy === 'evolve') return current;
  if (policy === 'freeze') return accepted;
  const before = new Set(accepted.map((f) => f.name));
  return current.filter((f) => before.has(f.name));
}

/** Leaves `fields` out of a record's data, in place; how many it left out (0 when it had none of them). */
export function discardFields(data: Record<string, unknown>, fields: readonly string[]): number {
  let dropped = 0;
  for (const field of fields)
    if (Object.hasOwn(data, field)) {
      delete data[field];
      dropped++;
    }
  return dropped;
}
