/**
 * `enforce`: a call the caller's policies do not allow is refused with AccessDenied, as on AWS.
 * `report`: it goes through and is listed. `off`: nothing is checked.
 */
export type IamMode = 'enforce' | 'report' | 'off';

export const IAM_MODES: readonly IamMode[] = ['enforce', 'report', 'off'];

/** A call that the template's policies do not allow. */
export interface IamDenial {
  /** Who called: `function esync-dev-core-load`, `state machine ...`, `rule ...`. */
  readonly caller: string;
  readonly action: string;
  readonly resource: string;
  /** AWS's message for it. */
  readonly message: string;
}
