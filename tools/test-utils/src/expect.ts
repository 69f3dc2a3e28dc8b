import { expect } from 'vitest';

/** Any of our packages' error classes (each has a string `code`). */
export type CodedErrorClass = abstract new (code: string, message: string) => Error;

/**
 * Assert that `run` (sync or async) throws an instance of `errorClass` with the given `code`,
 * whose message contains every fragment.
 */
export async function expectCodedError(run: () => unknown, errorClass: CodedErrorClass, code: string, ...fragments: string[]): Promise<void> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ${errorClass.name} ${code}`).toBeInstanceOf(errorClass);
  expect((caught as { code?: unknown }).code).toBe(code);
  for (const fragment of fragments) expect((caught as Error).message).toContain(fragment);
}
