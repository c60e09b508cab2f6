/** How long each kind of record is kept when a pipeline says nothing (or is no longer deployed). */
export const RETENTION_DEFAULTS = {
  keepHistory: false,
  historyDays: 30,
  runDays: 90,
  auditDays: 365,
} as const;
