/**
 * Labs this process made for itself (ephemeral labs: the test harness, `svclab bench`, `matrix`,
 * `fidelity`) and removes when it is done with them. On SIGINT or SIGTERM they are removed before
 * the process exits, as `svclab up` removes a half-made lab: a Ctrl-C during a 20-minute benchmark
 * must not leave its namespaces, control plane and kube-proxy running. A process that dies
 * without a signal it can handle still leaves them; `svclab sweep` removes labs whose owner died.
 */

type Teardown = () => Promise<unknown>;

interface OwnedLab {
  teardown: Teardown;
  /** A teardown already under way (the lab's own down): a signal waits for it, not a second one. */
  running?: Promise<unknown> | undefined;
}

/**
 * One registry per process, not per module instance. A test runner that evaluates modules afresh
 * for each test file in one process (vitest's e2e project: singleFork, isolated files) would
 * otherwise add a pair of handlers per file (Node's MaxListenersExceededWarning after ten), and on
 * Ctrl-C the first file's handler, its map empty, exited before the running file's labs went.
 */
interface Registry {
  owned: Map<string, OwnedLab>;
  installed: boolean;
}
const REGISTRY = Symbol.for('svclab.owned-labs');
const registry = ((globalThis as Record<symbol, unknown>)[REGISTRY] ??= {
  owned: new Map(),
  installed: false,
}) as Registry;
const owned = registry.owned;

export function ownLab(name: string, teardown: Teardown): void {
  owned.set(name, { teardown });
  installHandlers();
}

/** Records that `name` is being removed by `running`: two teardowns at once race each other. */
function tearingDown(name: string, running: Promise<unknown>): void {
  const lab = owned.get(name);
  if (lab) lab.running = running;
}

/**
 * Removes an owned lab through `teardown` (already started): a signal meanwhile waits for it
 * instead of starting a second one, and the lab is disowned once it is done, whatever the outcome.
 */
export async function tearDownOwned<T>(name: string, teardown: Promise<T>): Promise<T> {
  tearingDown(name, teardown);
  try {
    return await teardown;
  } finally {
    disownLab(name);
  }
}

export function disownLab(name: string): void {
  owned.delete(name);
}

/** The labs a signal would remove now (for tests and messages). */
export function ownedLabs(): string[] {
  return [...owned.keys()];
}

function installHandlers(): void {
  if (registry.installed) return;
  registry.installed = true;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    const code = signal === 'SIGINT' ? 130 : 143;
    // A second signal while removing: leave now, the sweep finds what is left.
    if (stopping || owned.size === 0) process.exit(code);
    stopping = true;
    const labs = [...owned];
    process.stderr.write(`svclab: ${signal}: removing lab ${labs.map(([n]) => n).join(', ')}\n`);
    void Promise.allSettled(labs.map(([, l]) => l.running ?? l.teardown())).then((results) => {
      results.forEach((r, i) => {
        if (r.status === 'rejected')
          process.stderr.write(
            `svclab: removing lab ${labs[i]![0]}: ${(r.reason as Error).message ?? String(r.reason)}; run svclab sweep\n`,
          );
      });
      process.exit(code);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
