/** A forbidden or invalid field found by a policy check, at its path in the document. */
export interface PolicyIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
  /** The key itself is wrong (an unknown field), not its value. */
  readonly atKey: boolean;
}
