/**
 * A child process hosting many SimulatedAgents, so that tests can kill sidecars
 * for real (SIGKILL leaves their socket files behind, as a crashed sidecar does)
 * and the scale benchmark can keep the agents' CPU out of the shim's.
 *
 * Started with fork(); argv[2] is a JSON file holding SimulatedAgentOptions[].
 * Sends {ready: n} once every agent listens. Answers {cmd: 'received'} with each
 * agent's SetTarget count and last receipt time (Unix ms).
 */
import { readFileSync } from 'node:fs';
import { SimulatedAgent, type SimulatedAgentOptions } from './simulated-agent.js';

export interface AgentHostReport {
  received: Array<{ name: string; count: number; lastAtMs: number }>;
}

async function main(): Promise<void> {
  const configs = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as SimulatedAgentOptions[];
  const agents: SimulatedAgent[] = [];
  // Start in batches: 500 binds at once is fine for the kernel, but keeps memory spikes down.
  for (let i = 0; i < configs.length; i += 50) {
    const batch = configs.slice(i, i + 50).map((c) => new SimulatedAgent(c));
    await Promise.all(batch.map((a) => a.start()));
    agents.push(...batch);
  }
  process.on('message', (message: { cmd: string }) => {
    if (message.cmd === 'received') {
      const report: AgentHostReport = {
        received: agents.map((a) => ({ name: a.options.name, count: a.received.length, lastAtMs: a.received[a.received.length - 1]?.atMs ?? 0 })),
      };
      process.send?.(report);
    } else if (message.cmd === 'stop') {
      void Promise.all(agents.map((a) => a.stop())).then(() => process.exit(0));
    }
  });
  process.send?.({ ready: agents.length });
}

await main();
