// The command line as a user meets it, through main(): exit codes (0 ok, 1 failed, 2 usage), help, -o on every
// command with the same five formats, the plugin's name in help, completion, and one command run end to end
// (speaker state, against a speaker-shaped /state socket) in every format, equal to its golden output.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { CliIO } from '../../../src/cli/command-args.ts';
import { completionScript } from '../../../src/cli/completion.ts';
import { COMMANDS, main } from '../../../src/cli/main.ts';
import { OUTPUT_FORMATS } from '../../../src/cli/output.ts';
import { buildProgram } from '../../../src/cli/program.ts';
import { cliFixtures, kubeconfigText } from './fixtures.ts';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function run(argv: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  let out = '';
  let err = '';
  const io: CliIO = { out: (s) => void (out += s), err: (s) => void (err += s), env };
  const code = await main(argv, io);
  return { code, out, err };
}

t.test('exit codes and help', async (t) => {
  const bare = await run([]);
  t.equal(bare.code, 0, 'bare kube-lb: help, success');
  t.match(bare.out, /Usage: kube-lb \[options\] \[command\]/);
  t.match(bare.out, /Exit codes: 0 success; 1 .*\n2 usage error/);
  t.equal((await run(['--help'])).code, 0);
  t.equal((await run(['help', 'status'])).code, 0);
  t.equal((await run(['status', '--help'])).code, 0);
  t.match((await run(['--version'])).out, /^\d+\.\d+\.\d+\n$/);

  const unknown = await run(['nope']);
  t.equal(unknown.code, 2, 'unknown command');
  t.match(
    unknown.err,
    /^kube-lb: unknown command 'nope'/,
    "commander's errors name the command, as the actions' errors do",
  );
  t.match(unknown.err, /\(add --help for usage\)/);
  const badFormat = await run(['status', '-o', 'text']);
  t.equal(badFormat.code, 2, 'a format that is not one of the five');
  t.match(
    badFormat.err,
    /^kube-lb status: option '-o, --output <format>' argument 'text' is invalid\. Allowed choices are table, wide, json, yaml, name/,
  );
  t.equal((await run(['status', '--no-such-flag'])).code, 2, 'unknown flag');
  t.equal((await run(['tenant'])).code, 2, 'a group without its subcommand');
  t.equal((await run(['tenant', 'add'])).code, 2, 'missing NAME');
  t.equal((await run(['tenant', 'add', 'shop'])).code, 2, 'missing required --backend-cidr');
  const badCidr = await run(['tenant', 'add', 'shop', '--backend-cidr', '10.0.0.0/33']);
  t.equal(badCidr.code, 2, 'a request that fails its checks is a usage error');
  t.match(badCidr.err, /^kube-lb tenant add: /);
  t.equal(
    (await run(['tenant', 'add', 'shop', '--backend-cidr', '10.0.0.0/24', '--max-vips', 'many'])).code,
    2,
    'a bad number',
  );
  t.equal((await run(['speaker', 'state', '--timeout', 'soon'])).code, 2, 'a bad duration');
  const noFile = await run(['status', '--kubeconfig', '/nonexistent/kubeconfig']);
  t.equal(noFile.code, 2, '--kubeconfig naming no file');
  t.match(noFile.err, /^kube-lb status: --kubeconfig="\/nonexistent\/kubeconfig": no such file/);
});

t.test('every command but completion takes -o with the same five formats', async (t) => {
  const program = buildProgram({ io: { out: () => {}, err: () => {}, env: {} }, finish: () => {} }, COMMANDS);
  const leaves: Command[] = [];
  const walk = (c: Command): void => (c.commands.length ? c.commands.forEach(walk) : void leaves.push(c));
  walk(program);
  t.same(leaves.map((c) => c.name()).sort(), [
    'add',
    'completion',
    'doctor',
    'list',
    'remove',
    'state',
    'status',
    'version',
  ]);
  for (const leaf of leaves.filter((c) => c.name() !== 'completion')) {
    const output = leaf.options.find((o) => o.long === '--output');
    t.same(output?.argChoices, [...OUTPUT_FORMATS], `${leaf.name()} -o`);
    t.equal(output?.short, '-o');
  }
});

t.test('as the kubectl plugin, help names "kubectl kube-lb"', async (t) => {
  const help = await run(['status', '--help'], { KUBE_LB_PROGRAM_NAME: 'kubectl kube-lb' });
  t.match(help.out, /^Usage: kubectl kube-lb status \[options\]/);
  const unknown = await run(['status', '--kubeconfig', '/nonexistent'], { KUBE_LB_PROGRAM_NAME: 'kubectl kube-lb' });
  t.match(unknown.err, /^kubectl kube-lb status: /);
});

t.test('speaker state end to end, every format equal to its golden output', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-lb-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = join(dir, 'state.sock');
  const server = createServer((req, res) => {
    if (req.url !== '/state') return void res.writeHead(404).end('no such path');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(cliFixtures.speakerState));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.teardown(() => server.close());
  for (const format of OUTPUT_FORMATS) {
    const r = await run(['speaker', 'state', '--socket', socket, '-o', format]);
    t.equal(r.code, 0, r.err);
    t.equal(
      r.out,
      readFileSync(join(import.meta.dirname, 'golden', `speaker-state.${format}`), 'utf8'),
      `-o ${format}`,
    );
  }
  t.equal((await run(['speaker', 'state', '--socket', socket, '--output=yaml'])).code, 0, '--output=FORMAT');
  const gone = await run(['speaker', 'state', '--socket', join(dir, 'missing.sock')]);
  t.equal(gone.code, 1, 'nothing answering: the command failed');
  t.match(gone.err, /^kube-lb speaker state: CLI_SPEAKER_STATE: .*missing\.sock: /);
});

t.test('status against an API server that is not there fails with 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-lb-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'config');
  writeFileSync(kubeconfig, kubeconfigText({ server: 'http://127.0.0.1:9', names: ['x'], current: 'x' }));
  const r = await run(['status', '--kubeconfig', kubeconfig, '-o', 'yaml']);
  t.equal(r.code, 1);
  t.match(r.err, /^kube-lb status: KUBE_API: listing claims, tenants and pools: /);
  t.equal(r.out, '', 'nothing on stdout');
  t.equal(
    (await run(['status', '--kubeconfig', kubeconfig, '--context', 'nope'])).code,
    2,
    '--context naming no context',
  );
});

t.test('completion candidates come from the command tree', async (t) => {
  const complete = async (...words: string[]) => (await run(['__complete', ...words])).out;
  t.match(await complete(''), /^status\t.*\ndoctor\t/);
  t.equal(await complete('te'), 'tenant\tonboard (add) or offboard (remove) a consumer cluster\n:4\n');
  t.match(await complete('tenant', ''), /^add\t.*\nremove\t.*\n:4\n$/);
  t.equal(await complete('status', '-o', ''), 'table\nwide\njson\nyaml\nname\n:4\n');
  t.equal(await complete('status', '--output=y'), '--output=yaml\n:4\n');
  t.match(await complete('tenant', 'add', 'shop', '--ba'), /^--backend-cidr\t/);
  t.equal(await complete('status', '--kubeconfig', ''), ':0\n', 'a file flag: the shell completes file names');
  t.equal(await complete('completion', ''), 'bash\nzsh\nfish\n:4\n');
});

t.test('completion scripts are valid shell', async (t) => {
  t.equal(spawnSync('bash', ['-n'], { input: completionScript('bash') }).status, 0, 'bash -n');
  const zsh = spawnSync('zsh', ['-n'], { input: completionScript('zsh') });
  if (zsh.error) t.comment('no zsh here: zsh script not parsed');
  else t.equal(zsh.status, 0, 'zsh -n');
  t.match(completionScript('fish'), /complete -c kube-lb -f -a '\(__kube_lb_complete\)'/);
  t.equal((await run(['completion', 'bash'])).out, completionScript('bash'));
  t.equal((await run(['completion', 'tcsh'])).code, 2);
});
