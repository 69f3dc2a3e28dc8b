/** Error thrown by @gq/safetensors for malformed files or inputs. */
export class SafetensorsError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'SafetensorsError';
    this.code = code;
  }
}
