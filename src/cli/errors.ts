import { LabError } from '../exec/index.js';

/** Bad input from the user (flags, files, names): exit code 2, as for validation errors. */
export class UsageError extends LabError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    Object.defineProperty(this, 'name', { value: 'UsageError' });
  }
}

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
