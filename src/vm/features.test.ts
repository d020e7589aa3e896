import { describe, expect, it } from 'vitest';
import {
  decideConntrackNetlink,
  decideFeature,
  decideVm,
  featureProbes,
  kernelFeatureNames,
  parseKernelConfig,
  vmMode,
  type KernelFeatures,
} from './features.js';

describe('parseKernelConfig', () => {
  it('reads set, module, string and unset symbols', () => {
    const c = parseKernelConfig(
      'CONFIG_IP_VS=m\nCONFIG_NF_TABLES=y\nCONFIG_LOCALVERSION="-fc"\n# CONFIG_DUMMY is not set\n# comment\n',
    );
    expect(Object.fromEntries(c)).toEqual({
      CONFIG_IP_VS: 'm',
      CONFIG_NF_TABLES: 'y',
      CONFIG_LOCALVERSION: '-fc',
      CONFIG_DUMMY: 'n',
    });
  });
});

describe('decideFeature', () => {
  const p = featureProbes.ipvs;
  it.each([
    [{ live: true, config: 'n', modprobe: undefined }, true, '/proc/net/ip_vs exists'],
    [{ live: false, config: 'y', modprobe: undefined }, true, 'CONFIG_IP_VS=y'],
    [
      { live: false, config: 'm', modprobe: true },
      true,
      'CONFIG_IP_VS=m and module ip_vs is installed',
    ],
    [
      { live: false, config: 'm', modprobe: false },
      false,
      'CONFIG_IP_VS=m but module ip_vs is not installed',
    ],
    [{ live: false, config: 'n', modprobe: undefined }, false, 'CONFIG_IP_VS is not set'],
    [{ live: false, config: undefined, modprobe: true }, true, 'modprobe -n ip_vs succeeded'],
    [
      { live: false, config: undefined, modprobe: false },
      false,
      'no kernel config to read and modprobe -n ip_vs failed',
    ],
  ] as const)('%o -> %s', (evidence, available, text) => {
    expect(decideFeature(p, evidence)).toEqual({ available, evidence: text });
  });
});

describe('decideConntrackNetlink', () => {
  it('reads conntrack -L', () => {
    expect(
      decideConntrackNetlink({
        exitCode: 0,
        stderr: 'conntrack v1.4.7: 0 flow entries have been shown.\n',
      }).available,
    ).toBe(true);
    expect(
      decideConntrackNetlink({
        exitCode: 1,
        stderr: 'conntrack v1.4.7: Operation failed: not supported\n',
      }),
    ).toEqual({
      available: false,
      evidence: 'conntrack -L failed: conntrack v1.4.7: Operation failed: not supported',
    });
    expect(decideConntrackNetlink('missing').available).toBe(false);
  });
});

const hostLike = Object.fromEntries(
  kernelFeatureNames.map((f) => [
    f,
    { available: !['ipvs', 'dummy', 'netem'].includes(f), evidence: `${f} evidence` },
  ]),
) as KernelFeatures;

describe('decideVm', () => {
  it.each([
    [{}, ['ipvs'], true, 'auto'],
    [{ SVCLAB_VM: 'auto' }, ['nftables'], false, 'auto'],
    [{ SVCLAB_VM: 'always' }, ['nftables'], true, 'always'],
    [{ SVCLAB_VM: 'never' }, ['ipvs'], false, 'never'],
    [{ SVCLAB_VM: 'always', SVCLAB_IN_VM: '1' }, ['ipvs'], false, 'always'],
  ] as const)('%o needing %o -> useVm %s', (env, required, useVm, mode) => {
    const d = decideVm(required, env, hostLike);
    expect(d.useVm).toBe(useVm);
    expect(d.mode).toBe(mode);
  });

  it('names what is missing and why', () => {
    const d = decideVm(['ipvs', 'dummy', 'nftables'], {}, hostLike);
    expect(d.missing).toEqual(['ipvs', 'dummy']);
    expect(d.reason).toBe('host kernel lacks ipvs (ipvs evidence), dummy (dummy evidence)');
  });

  it('rejects an unknown mode', () => {
    expect(() => vmMode({ SVCLAB_VM: 'sometimes' })).toThrow(/auto, always or never/);
    expect(vmMode({ SVCLAB_VM: ' Always ' })).toBe('always');
  });
});
