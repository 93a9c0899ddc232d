// Shell completion, computed from the same commander tree that parses the command line, so it cannot drift from
// the commands. The shells ask the program itself: `kube-lb __complete WORD... CURRENT` prints one candidate a
// line (VALUE or VALUE<TAB>DESCRIPTION) and a last line `:DIRECTIVE`, which is cobra's protocol: kubectl (1.26+)
// runs `kubectl_complete-kube_lb WORD...` for plugin completion and reads exactly this, and the bash, zsh and fish
// scripts that `kube-lb completion SHELL` prints read it too.
import type { Command, Option } from 'commander';
import { Argument } from 'commander';
import { EXIT, type CliIO } from './command-args.ts';
import type { CliContext } from './program.ts';
import { assertNever } from '../shared/errors.ts';

export const COMPLETE_COMMAND = '__complete';

/** cobra's ShellCompDirective: 0 lets the shell complete file names when there are no candidates, 4 does not. */
const DIRECTIVE = { files: 0, noFiles: 4 } as const;

export interface Completion {
  candidates: Array<{ value: string; description?: string }>;
  directive: (typeof DIRECTIVE)[keyof typeof DIRECTIVE];
}

const SHELLS = ['bash', 'zsh', 'fish'] as const;
type Shell = (typeof SHELLS)[number];

export function registerCompletion(parent: Command, ctx: CliContext): void {
  parent
    .command('completion')
    .description('print a shell completion script (source <(kube-lb completion bash))')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .addHelpText(
      'after',
      `
Load it in the current shell:   source <(kube-lb completion bash)        (zsh: the same with zsh)
                                kube-lb completion fish | source
As the kubectl plugin, put bin/kubectl_complete-kube_lb on PATH beside kubectl-kube_lb: kubectl 1.26+ completes
"kubectl kube-lb …" through it.`,
    )
    .action((shell: Shell) => {
      ctx.io.out(completionScript(shell));
      ctx.finish(EXIT.ok);
    });
}

/** Answers `__complete WORD... CURRENT` in cobra's format. */
export async function printCompletion(program: Command, words: readonly string[], io: CliIO): Promise<number> {
  const { candidates, directive } = await complete(program, words, io);
  io.out(
    candidates.map((c) => (c.description ? `${c.value}\t${c.description}\n` : `${c.value}\n`)).join('') +
      `:${directive}\n`,
  );
  return EXIT.ok;
}

/** What may stand at the last word, given the words before it (the program's name not included). */
export async function complete(program: Command, words: readonly string[], io: CliIO): Promise<Completion> {
  const current = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  let command = program;
  let pendingValue: Option | undefined;
  const given = new Map<string, string>();
  for (const word of before) {
    if (pendingValue) {
      given.set(pendingValue.attributeName(), word);
      pendingValue = undefined;
      continue;
    }
    if (word.startsWith('-')) {
      const option = findOption(command, word.split('=')[0]!);
      if (option && takesValue(option)) {
        if (word.includes('=')) given.set(option.attributeName(), word.slice(word.indexOf('=') + 1));
        else pendingValue = option;
      }
      continue;
    }
    command = command.commands.find((c) => c.name() === word || c.aliases().includes(word)) ?? command;
  }

  if (pendingValue) return values(pendingValue, current, '', given, io);
  if (current.startsWith('--') && current.includes('=')) {
    const name = current.slice(0, current.indexOf('='));
    const option = findOption(command, name);
    return option && takesValue(option)
      ? values(option, current.slice(name.length + 1), `${name}=`, given, io)
      : none();
  }
  if (current.startsWith('-')) {
    const flags = [
      ...command.options.map((o) => ({ value: o.long ?? o.short ?? '', description: o.description })),
      { value: '--help', description: 'help for this command' },
    ];
    return { candidates: flags.filter((f) => f.value.startsWith(current)), directive: DIRECTIVE.noFiles };
  }
  const subcommands = command.commands.map((c) => ({ value: c.name(), description: c.description() }));
  if (command === program) subcommands.push({ value: 'help', description: 'help for a command' });
  const choices = command.registeredArguments[0]?.argChoices ?? [];
  return {
    candidates: [...subcommands, ...choices.map((value) => ({ value }))].filter((c) => c.value.startsWith(current)),
    directive: DIRECTIVE.noFiles,
  };
}

function findOption(command: Command, flag: string): Option | undefined {
  return command.options.find((o) => o.long === flag || o.short === flag);
}

const takesValue = (o: Option): boolean => o.required || o.optional;

function none(): Completion {
  return { candidates: [], directive: DIRECTIVE.noFiles };
}

/** An option's value: its choices, the kubeconfig's contexts, or file names for the flags that take a path. */
async function values(
  option: Option,
  current: string,
  prefix: string,
  given: ReadonlyMap<string, string>,
  io: CliIO,
): Promise<Completion> {
  let candidates: string[];
  if (option.argChoices) candidates = option.argChoices;
  else if (option.long === '--context') candidates = await contexts(given.get('kubeconfig'), io);
  else if (/<(file|dir|path)>/.test(option.flags)) return { candidates: [], directive: DIRECTIVE.files };
  else return none();
  return {
    candidates: candidates.filter((c) => c.startsWith(current)).map((c) => ({ value: `${prefix}${c}` })),
    directive: DIRECTIVE.noFiles,
  };
}

async function contexts(kubeconfig: string | undefined, io: CliIO): Promise<string[]> {
  // Loaded only for this flag: every other TAB stays quick without the Kubernetes client.
  const { loadMergedKubeConfig } = await import('../kube/kubeconfig.ts');
  try {
    return loadMergedKubeConfig({ kubeconfig, env: io.env }).contexts.map((c) => c.name);
  } catch {
    // No kubeconfig (yet): nothing to offer.
    return [];
  }
}

/** The script a shell sources; each asks `kube-lb __complete` at every TAB. */
export function completionScript(shell: Shell): string {
  switch (shell) {
    case 'bash':
      return BASH;
    case 'zsh':
      // zsh runs the bash function through its bash-completion emulation.
      return `#compdef kube-lb\nautoload -U +X bashcompinit && bashcompinit\n${BASH}`;
    case 'fish':
      return FISH;
    default:
      return assertNever(shell, 'shell');
  }
}

const BASH = `# kube-lb completion for bash: source <(kube-lb completion bash)
_kube_lb_complete() {
  local line directive=4 candidates=()
  while IFS= read -r line; do
    case "$line" in
      :*) directive="\${line#:}" ;;
      *) candidates+=("\${line%%$'\\t'*}") ;;
    esac
  done < <("\${COMP_WORDS[0]}" ${COMPLETE_COMMAND} "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
  if [ "\${#candidates[@]}" -eq 0 ] && [ "$directive" = 0 ]; then
    mapfile -t COMPREPLY < <(compgen -f -- "\${COMP_WORDS[COMP_CWORD]}")
  else
    COMPREPLY=("\${candidates[@]}")
  fi
}
complete -F _kube_lb_complete kube-lb
`;

const FISH = `# kube-lb completion for fish: kube-lb completion fish | source
function __kube_lb_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l out ($words[1] ${COMPLETE_COMMAND} $words[2..-1] 2>/dev/null)
    set -l candidates (string match -v -r '^:' -- $out)
    if test (count $candidates) -eq 0; and contains -- ':0' $out
        __fish_complete_path (commandline -ct)
    else
        printf '%s\\n' $candidates
    end
end
complete -c kube-lb -f -a '(__kube_lb_complete)'
`;
