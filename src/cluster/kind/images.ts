import type { KindCli } from './cli.js';

/**
 * Copies the lab's images into the new cluster's nodes where this machine already has them (the
 * kind workflow pulls them once on the runner for the external-host containers), so each node
 * does not pull them again from its registry: one pull per image instead of one per node, and no
 * registry rate limit per node. Best effort: an image that is not local, or that `kind load`
 * cannot copy, is pulled by the nodes as before, and the returned notes say which.
 */
export async function preloadImages(
  kind: Pick<KindCli, 'loadImage'>,
  cluster: string,
  images: string[],
  isLocal: (image: string) => Promise<boolean>,
): Promise<{ loaded: string[]; notes: string[] }> {
  const loaded: string[] = [];
  const notes: string[] = [];
  for (const image of [...new Set(images)]) {
    if (!(await isLocal(image))) {
      notes.push(`${image} is not in the local Docker: the nodes pull it`);
      continue;
    }
    try {
      await kind.loadImage(cluster, image);
      loaded.push(image);
    } catch (err) {
      notes.push(
        `kind load docker-image ${image} failed, the nodes pull it: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
  return { loaded, notes };
}
