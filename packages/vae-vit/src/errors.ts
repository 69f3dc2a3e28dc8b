/** Error thrown by @gq/vae-vit, with a stable machine-readable `code`. */
export class VaeVitError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'VaeVitError';
    this.code = code;
  }
}
