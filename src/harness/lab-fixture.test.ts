import { describe, expect, it } from 'vitest';
import { labSetupTimeoutMs } from './lab-fixture.js';

describe('suite lab setup deadlines', () => {
  it('a kind lab gets longer than kind create cluster --wait 300s; namespaces keep the e2e default', () => {
    expect(labSetupTimeoutMs('kind')).toBeGreaterThan(300_000);
    expect(labSetupTimeoutMs('kubeconfig')).toBeGreaterThan(120_000);
    expect(labSetupTimeoutMs('netns')).toBeUndefined();
  });
});
