/**
 * The end of a benchmark script: run its main, then exit by itself (clients'
 * keep-alive sockets and werift must not keep the process up) with the code
 * main returns (0 if none), 1 with the error on failure.
 */
export async function exitAfter(name: string, main: () => Promise<unknown>): Promise<never> {
  try {
    const code = await main();
    process.exit(typeof code === 'number' ? code : 0);
  } catch (error) {
    console.error(`[${name}] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  }
}
