import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from '../exec/index.js';

export interface QemuBinaries {
  qemu: string;
  /** util-linux setpriv, used for --pdeathsig; undefined if missing (then only handlers guard). */
  setpriv: string | undefined;
}

/** Finds an executable on PATH (or at an absolute path). */
export async function which(
  name: string,
  path = process.env.PATH ?? '/usr/bin:/bin',
): Promise<string | undefined> {
  const candidates = name.includes('/')
    ? [name]
    : path
        .split(':')
        .filter(Boolean)
        .map((d) => join(d, name));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** qemu-system-x86_64 ($SVCLAB_QEMU overrides), plus setpriv. */
export async function findQemu(env: NodeJS.ProcessEnv = process.env): Promise<QemuBinaries> {
  const want = env.SVCLAB_QEMU || 'qemu-system-x86_64';
  const qemu = await which(want);
  if (!qemu)
    throw new LabError(
      `${want} not found: install qemu-system-x86 (apt-get install qemu-system-x86)`,
    );
  return { qemu, setpriv: await which('setpriv') };
}
