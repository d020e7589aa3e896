import { cpus, release, totalmem } from 'node:os';

/** Where a benchmark ran: numbers mean nothing without it. */
export function machineInfo() {
  return {
    kernel: release(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    at: new Date().toISOString(),
  };
}
