// Self time per function in a V8 `.cpuprofile` (what `node --cpu-prof` writes), so a profile of a
// benchmark can be read in a terminal and quoted with numbers:
//
//   node --cpu-prof --cpu-prof-dir=/tmp/prof --conditions=source --import tsx bench/clip-cpu.ts --impl ours --tower image
//   node --import tsx bench/cpuprofile-summary.ts /tmp/prof/*.cpuprofile [--top 25]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values: args, positionals } = parseArgs({
  options: { top: { type: 'string', default: '25' } },
  allowPositionals: true,
});
for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const where = url ? `${url.replace(/^.*\/(packages|node_modules)\//, '$1/')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
    total += dt;
  });
  console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled`);
  console.log('  self ms   share  function');
  for (const [key, us] of [...selfUs].sort((a, b) => b[1] - a[1]).slice(0, Number(args.top))) {
    console.log(
      `  ${(us / 1000).toFixed(1).padStart(7)}  ${((us / total) * 100).toFixed(1).padStart(5)}%  ${key}`,
    );
  }
}
