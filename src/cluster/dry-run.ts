import { LabError } from '../exec/errors.js';

/**
 * Thrown by a provider's `up` in dry-run mode once the plan is printed: nothing was created. Its
 * own module so `svclab up` can recognise it without loading the kind provider.
 */
export class DryRunComplete extends LabError {
  constructor(lab: string) {
    super(`dry run of lab ${lab}: printed the plan, created nothing`);
  }
}
