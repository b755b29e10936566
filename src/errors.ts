/** An error whose message is meant for the user: printed as one line, no stack. */
export class BaleError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = "BaleError";
  }
}
