/**
 * The one convention every command-line entry point follows (issue 14): yargs; `-h`/`--help` prints
 * the usage on stdout and exits 0; an unknown or malformed flag prints one line on stderr, naming the
 * flag, and exits 2 (EXIT_USAGE); failures of the work itself exit 1. Only CLI modules import this.
 */
import yargs, { type Argv } from 'yargs';

export const EXIT_USAGE = 2;
export const EXIT_FAILURE = 1;

/** Print `<name>: <message>` on stderr and exit with `code`. */
export function cliFail(name: string, message: string, code: number = EXIT_USAGE): never {
  process.stderr.write(`${name}: ${message}${code === EXIT_USAGE ? ' (see --help)' : ''}\n`);
  process.exit(code);
}

/** A yargs parser with the shared conventions; add options, then parse. */
export function cliParser(name: string, scriptName: string, usage: string, args: string[]): Argv {
  return yargs(args)
    .scriptName(scriptName)
    .usage(usage)
    .strict()
    .version(false)
    .help('help')
    .alias('help', 'h')
    .wrap(Math.min(120, process.stdout.columns || 100))
    .fail((msg, err) => cliFail(name, (err?.message ?? msg).split('\n')[0]!, EXIT_USAGE));
}

/**
 * A setting given as a flag or, failing that, an environment variable: the value and the name to put
 * in an error about it (the flag when the flag was given, else the variable).
 */
export function flagOrEnv(
  flagValue: string | undefined,
  flag: string,
  envName: string,
  env: NodeJS.ProcessEnv = process.env,
): { value: string | undefined; name: string } {
  if (flagValue !== undefined) return { value: flagValue, name: flag };
  const fromEnv = env[envName];
  return fromEnv !== undefined && fromEnv !== '' ? { value: fromEnv, name: envName } : { value: undefined, name: flag };
}
