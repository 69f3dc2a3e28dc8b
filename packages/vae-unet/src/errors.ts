/** Error thrown by @gq/vae-unet, with a stable machine-readable `code`. */
export class VaeUnetError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'VaeUnetError';
    this.code = code;
  }
}
