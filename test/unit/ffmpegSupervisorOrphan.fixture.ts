/**
 * A server stand-in for the orphan test: starts one supervised ffmpeg with
 * pid files in argv[2], prints its pid, and waits to be SIGKILLed (a "crash"
 * that leaves the ffmpeg running).
 */
import { pino } from 'pino';
import { FfmpegPidFiles } from '../../server/ffmpeg/ffmpegPidFiles.js';
import { FfmpegSupervisor } from '../../server/ffmpeg/ffmpegSupervisor.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: ffmpegSupervisorOrphan.fixture.ts <pid dir>');
const pidFiles = new FfmpegPidFiles(dir, pino({ level: 'silent' }));
await pidFiles.reapOrphans();
const supervisor = new FfmpegSupervisor({
  label: 'orphan fixture',
  job: () => ({
    input: 'testsrc=size=64x64:rate=5',
    inputOptions: ['-loglevel', 'error', '-re', '-f', 'lavfi'],
    outputs: [{ url: '/dev/null', options: ['-f', 'null'] }],
  }),
  logger: pino({ level: 'silent' }),
  pidFiles,
});
supervisor.on('started', ({ pid }) => process.stdout.write(`${pid}\n`));
supervisor.start();
setInterval(() => undefined, 60_000);
