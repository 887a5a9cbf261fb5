// `dbaccess import`: a placeholder so that the build compiles; the real command
// replaces this file (keep the signature).

export async function importCommand(argv: string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; env: NodeJS.ProcessEnv }): Promise<number> {
  void argv;
  io.stderr.write('dbaccess import: not available in this build\n');
  return 2;
}
