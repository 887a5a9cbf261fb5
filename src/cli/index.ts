#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { COMMANDS, GLOBAL_HELP, GLOBAL_OPTIONS, contextFor, type Command, type Options } from './commands';
import { clean } from './format';
import { CliError, EXIT, type Io } from './http';
import { importCommand } from './import';
import { LEGACY_HELP, LEGACY_OPTIONS, legacy } from './legacy';

// `dbaccess`: the command line over the dbaccess API. `dbaccess <command> ...`,
// or the old script's flags (`dbaccess --action ADD ...`, see legacy.ts).

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: dbaccess <command> [flags]
       dbaccess --action ADD|UPDATE|REMOVE ...   (the old script's flags: dbaccess help legacy)

Time-limited access to MySQL, MariaDB and PostgreSQL databases, through the dbaccess API.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}
  ${'import'.padEnd(width)}  import grants from elsewhere
  ${'help'.padEnd(width)}  dbaccess help <command>

${GLOBAL_HELP}
Examples:
  export DBACCESS_URL=https://dbaccess.internal.example.com DBACCESS_API_KEY_FILE=~/.dbaccess-key
  dbaccess grant --email john.doe@example.com --name "John Doe" --project demo \\
      --database dev_project --level READ_WRITE --expires 2026-12-31
  dbaccess list --email john.doe@example.com
  dbaccess show grant/demo/dev_project/john.doe@example.com

Run dbaccess <command> --help for a command's flags and examples.
`;
}

const isHelp = (a: string) => a === '--help' || a === '-h';

function parse(argv: string[], options: Options, where: string): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    // No option is `multiple`: every value is a string or a boolean.
    const { values, positionals } = parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (err) {
    const e = err as Error & { code?: string };
    if (typeof e.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS')) {
      throw new CliError(EXIT.USAGE, `${clean(e.message.split('\n')[0]?.replace(/\. To specify a positional.*$/, ''))} (see ${where} --help)`);
    }
    throw err;
  }
}

/** Runs the command line `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[], io: Io): Promise<number> {
  let json = argv.includes('--json');
  try {
    const first = argv[0];
    if (first === 'import') return await importCommand(argv.slice(1), io);

    // The old script's flags.
    if (argv.some((a) => a === '--action' || a.startsWith('--action='))) {
      if (argv.some(isHelp)) return help(io, LEGACY_HELP);
      if (first !== undefined && !first.startsWith('-')) throw new CliError(EXIT.USAGE, `--action is the old script's style and takes no command (got ${clean(first)}): see dbaccess help legacy`);
      const { values, positionals } = parse(argv, LEGACY_OPTIONS, 'dbaccess --action ADD');
      if (positionals.length > 0) throw new CliError(EXIT.USAGE, `unexpected argument ${clean(positionals[0])} (see dbaccess help legacy)`);
      return await legacy(values, contextFor(io, values));
    }

    if (first === undefined || isHelp(first)) return help(io, mainHelp(), first === undefined ? EXIT.USAGE : EXIT.OK);
    if (first === 'help') {
      const topic = argv[1];
      if (topic === undefined) return help(io, mainHelp());
      if (topic === 'legacy') return help(io, LEGACY_HELP);
      const command = COMMANDS.find((c) => c.name === topic);
      if (!command) throw new CliError(EXIT.USAGE, `no command ${clean(topic)} (see dbaccess --help)`);
      return help(io, commandHelp(command));
    }
    const command = COMMANDS.find((c) => c.name === first);
    if (!command) {
      throw new CliError(EXIT.USAGE, first.startsWith('-') ? `a command comes first, e.g. dbaccess list ${clean(first)} (see dbaccess --help)` : `unknown command ${clean(first)} (see dbaccess --help)`);
    }
    const rest = argv.slice(1);
    if (rest.some(isHelp)) return help(io, commandHelp(command));
    const { values, positionals } = parse(rest, command.options, `dbaccess ${command.name}`);
    json = values.json === true;
    return await command.run(values, positionals, contextFor(io, values));
  } catch (err) {
    if (err instanceof CliError) {
      if (json && err.body !== undefined) io.stdout.write(`${JSON.stringify(err.body, null, 2)}\n`);
      io.stderr.write(`dbaccess: ${err.message}\n`);
      return err.exitCode;
    }
    io.stderr.write(`dbaccess: unexpected error: ${clean((err as Error)?.message ?? err)}\n`);
    return EXIT.FAILED;
  }
}

function commandHelp(command: Command): string {
  return `${command.help}\n${GLOBAL_HELP}`;
}

function help(io: Io, text: string, code: number = EXIT.OK): number {
  (code === EXIT.OK ? io.stdout : io.stderr).write(text);
  return code;
}

if (require.main === module) {
  void main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then((code) => {
    process.exitCode = code;
  });
}
