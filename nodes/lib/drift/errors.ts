/** An error of lib/drift that says what was expected; `code` and `params` give the node its translated text. */
export class DriftError extends Error {
  constructor(
    readonly code: string,
    readonly params: Record<string, string | number>,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
