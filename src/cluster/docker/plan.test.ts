import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTopology } from '../../model/index.js';
import { planAgentSpecs } from '../common/agents.js';
import { agentCommand, agentPlace } from './agents.js';
import { externalRoutesScript } from './external.js';
import { bridgeName, containerName, labFilter } from './labels.js';
import { overlappingNetwork, planNetwork } from './network.js';
import { NODE_CAPABILITIES, NODE_READONLY_PATHS, planNodeContainer } from './node.js';
import { nodeWiringScript, planDockerLab } from './provision.js';

const root = join(import.meta.dirname, '..', '..', '..');
const mounts = {
  nodeBinary: '/usr/bin/node',
  packageDir: '/opt/svclab',
  labDir: '/run/svclab/lab1',
};
const opts = { image: 'svclab/node:test', mounts };
const topo = await loadTopology(join(root, 'topologies', 'three-node.yaml'));

describe('docker lab plan', () => {
  it('makes one internal, labelled network on the node subnet with the bridge as the .1 gateway', () => {
    const net = planNetwork('lab1', topo);
    expect(net).toMatchObject({
      Name: 'svclab.lab1',
      Driver: 'bridge',
      Internal: true,
      IPAM: { Config: [{ Subnet: '172.18.0.0/24', Gateway: '172.18.0.1' }] },
      Labels: { 'svclab.lab': 'lab1' },
    });
    expect(net.Options!['com.docker.network.bridge.enable_ip_masquerade']).toBe('false');
    const bridge = net.Options!['com.docker.network.bridge.name']!;
    expect(bridge).toBe(bridgeName('lab1'));
    expect(bridge.length).toBeLessThanOrEqual(15);
  });

  it('plans node containers with the node IP, labels, named capabilities and the agent mounts', () => {
    const node = topo.nodes.find((n) => n.name === 'node-b')!;
    const c = planNodeContainer('lab1', node, opts);
    expect(c.name).toBe('svclab.lab1.node-b');
    expect(c.Image).toBe('svclab/node:test');
    expect(c.Labels).toEqual({
      'svclab.lab': 'lab1',
      'svclab.role': 'node',
      'svclab.target': 'node-b',
    });
    expect(c.NetworkingConfig).toEqual({
      EndpointsConfig: { 'svclab.lab1': { IPAMConfig: { IPv4Address: node.ip } } },
    });
    expect(c.HostConfig!.NetworkMode).toBe('svclab.lab1');
    // Not --privileged: it fails where CAP_SYS_RESOURCE is outside the bounding set.
    expect(c.HostConfig!.Privileged).toBeUndefined();
    expect(c.HostConfig!.CapAdd).toEqual(['NET_ADMIN', 'SYS_ADMIN', 'NET_RAW']);
    expect(c.HostConfig!.CapAdd).not.toContain('SYS_MODULE');
    // /proc/sys writable (the proxy's sysctls), everything else Docker keeps read-only stays so.
    expect(c.HostConfig!.ReadonlyPaths).toEqual(NODE_READONLY_PATHS);
    expect(c.HostConfig!.ReadonlyPaths).not.toContain('/proc/sys');
    expect(c.HostConfig!.ReadonlyPaths).toContain('/proc/sysrq-trigger');
    expect(c.HostConfig!.Binds).toEqual([
      '/usr/bin/node:/usr/local/bin/node:ro',
      '/opt/svclab/dist:/svclab/dist:ro',
      '/opt/svclab/package.json:/svclab/package.json:ro',
      '/run/svclab/lab1:/run/svclab/lab1',
    ]);
  });

  it('plans external hosts as labelled containers with fewer capabilities and the same mounts', () => {
    const plan = planDockerLab('lab1', topo, opts);
    expect(plan.nodes.map((n) => n.container.name)).toEqual([
      'svclab.lab1.node-a',
      'svclab.lab1.node-b',
      'svclab.lab1.node-c',
    ]);
    const [ext] = plan.externals;
    expect(ext!.container.Labels).toEqual({
      'svclab.lab': 'lab1',
      'svclab.role': 'ext',
      'svclab.target': 'client',
    });
    expect(ext!.container.HostConfig!.CapAdd).toEqual(['NET_ADMIN', 'NET_RAW']);
    expect(ext!.container.HostConfig!.CapAdd).not.toEqual(
      expect.arrayContaining([...NODE_CAPABILITIES]),
    );
    expect(ext!.container.HostConfig!.Binds).toEqual(plan.nodes[0]!.container.HostConfig!.Binds);
    expect(
      ext!.container.NetworkingConfig!.EndpointsConfig!['svclab.lab1']!.IPAMConfig!.IPv4Address,
    ).toBe(ext!.ext.ip);
  });

  it('wires pods inside the node: namespace and veth per pod, sysctls after the veths, then routes', () => {
    const script = nodeWiringScript(
      topo,
      topo.nodes.find((n) => n.name === 'node-c')!,
    ).split('\n');
    expect(script[0]).toBe('set -e');
    expect(script).toContain('netns add web-c');
    expect(
      script.some((l) => /^link add eth0 netns web-c type veth peer name veth[0-9a-f]{8}$/.test(l)),
    ).toBe(true);
    // host-c is hostNetwork: no namespace of its own.
    expect(script.some((l) => l.includes('host-c'))).toBe(false);
    const rp = script.findIndex((l) => l.includes('rp_filter'));
    const veth = script.findIndex((l) => l.startsWith('link add eth0'));
    expect(rp).toBeGreaterThan(veth);
    expect(script).toContain('echo 1 > /proc/sys/net/ipv4/ip_forward');
    expect(script).toContain('route replace default via 172.18.0.1 dev eth0');
    for (const other of topo.nodes.filter((n) => n.name !== 'node-c'))
      expect(script).toContain(`route add ${other.podCIDR} via ${other.ip} dev eth0`);
    expect(script).toContain("ip -n web-c -batch - <<'EOF'");
    expect(script).toContain('route add default via 169.254.1.1 dev eth0');
  });

  it('gives external hosts only the topology routes (no default route out)', () => {
    const ext = topo.externalHosts[0]!;
    const script = externalRoutesScript(ext);
    expect(script.split('\n')[0]).toBe('ip route del default 2>/dev/null || true');
    for (const r of ext.routes) expect(script).toContain(`route add ${r.to} via ${r.via} dev eth0`);
  });

  it('runs pod agents in the pod namespace of the node container, logging to the mounted lab folder', () => {
    const specs = planAgentSpecs(topo);
    const web = specs.find((s) => s.target === 'web-b')!;
    expect(agentPlace('lab1', web)).toEqual({ container: 'svclab.lab1.node-b', netns: 'web-b' });
    const cmd = agentCommand('lab1', '/run/svclab/lab1', web);
    expect(cmd.slice(0, 2)).toEqual(['sh', '-c']);
    expect(cmd[2]).toBe(
      'exec ip netns exec web-b /usr/local/bin/node /svclab/dist/traffic/agent.js --lab lab1 --name web-b --hostname web-b --control /run/svclab/lab1/agents/web-b.sock --listen tcp:8080,udp:8081 >>/run/svclab/lab1/logs/web-b.log 2>&1',
    );
    const nodeC = specs.find((s) => s.target === 'node-c')!;
    expect(agentPlace('lab1', nodeC)).toEqual({ container: 'svclab.lab1.node-c' });
    expect(nodeC.listen).toEqual(['tcp:9090']);
    expect(
      agentPlace(
        'lab1',
        specs.find((s) => s.target === 'client')!,
      ),
    ).toEqual({ container: 'svclab.lab1.client' });
  });
});

describe('docker names and labels', () => {
  it('cannot collide across labs ("." is not allowed in lab or object names)', () => {
    expect(containerName('a-b', 'c')).not.toBe(containerName('a', 'b-c'));
    expect(labFilter('lab1')).toEqual({ label: ['svclab.lab=lab1'] });
    expect(labFilter()).toEqual({ label: ['svclab.lab'] });
  });

  it('finds a Docker network whose subnet overlaps the node subnet', () => {
    const nets = [
      { name: 'other', subnets: ['10.0.0.0/8'] },
      { name: 'svclab.x', lab: 'x', subnets: ['172.18.0.0/16'] },
    ];
    expect(overlappingNetwork('172.18.0.0/24', nets)?.name).toBe('svclab.x');
    expect(overlappingNetwork('192.168.0.0/24', nets)).toBeUndefined();
  });
});
