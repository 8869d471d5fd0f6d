// `gupsim bench`: placeholder until the benchmark lands.
import type { Command } from 'commander';

export function registerBench(program: Command, setCode: (c: number) => void): void {
  program.command('bench').description('benchmark the model (pin/unpin cost, metadata, big machine)').option('--json', 'JSON output').action(() => {
    process.stdout.write('bench: not implemented yet\n');
    setCode(0);
  });
}
